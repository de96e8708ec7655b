using ILGPU;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's entry points of the ICNN point kernels: the same signatures, slot loops and
/// arithmetic as <see cref="IcnnKernels.Evaluate{TAct}"/> and its siblings, with every float buffer read
/// through a pointer taken once per launch (<see cref="PointerFloats"/>) instead of ArrayView element
/// accesses. Results are bit-identical to the ArrayView entries (tested). The library loads them on ILGPU's CPU
/// accelerator only; they are in the kernel catalog and compile to PTX, but have never run on a GPU. Every buffer
/// they are given is non-empty (point sets have at least one point, see <c>DevicePoints</c>).
/// </summary>
public static unsafe class IcnnCpuKernels
{
    /// <summary>
    /// Host form of <see cref="IcnnKernels.ReduceSlots"/> over columns 0 .. count - 1 (the CPU accelerator's light-kernel
    /// form: called on the host, not launched): the same body through pointers, so the result is bit-identical.
    /// </summary>
    /// <param name="count">Columns (P + 1).</param>
    /// <param name="partial">Partials.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="raw">Free parameters.</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale.</param>
    /// <param name="scaleGrad">Scale of the gradient columns.</param>
    /// <param name="scaleExtra">Scale of column P.</param>
    /// <param name="grad">Output gradient [P].</param>
    /// <param name="extra">Output [1].</param>
    [HostCode]
    public static void ReduceSlotsHost(int count, ArrayView<float> partial, IcnnDims dm, ArrayView<float> raw, ArrayView<int> mask, ArrayView<float> scale,
        float scaleGrad, float scaleExtra, ArrayView<float> grad, ArrayView<float> extra)
    {
        fixed (float* pp = &partial[0L], pr = &raw[0L], ps = &scale[0L], pg = &grad[0L], pe = &extra[0L])
        {
            for (int j = 0; j < count; j++)
            {
                IcnnKernels.ReduceSlotsAt(j, new PointerFloats(pp), dm, new PointerFloats(pr), mask, new PointerFloats(ps), scaleGrad, scaleExtra,
                    new PointerFloats(pg), new PointerFloats(pe));
            }
        }
    }

    /// <summary>Host form of <see cref="IcnnKernels.AdamStep"/> over parameters 0 .. count - 1 (as <see cref="ReduceSlotsHost"/>).</summary>
    /// <param name="count">Parameters.</param>
    /// <param name="raw">Free parameters (updated).</param>
    /// <param name="eff">Effective parameters (output).</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale.</param>
    /// <param name="grad">Gradient.</param>
    /// <param name="m">First moment (updated).</param>
    /// <param name="v">Second moment (updated).</param>
    /// <param name="scalars">[norm, clip factor].</param>
    /// <param name="c">Coefficients.</param>
    [HostCode]
    public static void AdamStepHost(int count, ArrayView<float> raw, ArrayView<float> eff, ArrayView<int> mask, ArrayView<float> scale,
        ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v, ArrayView<float> scalars, AdamCoefficients c)
    {
        fixed (float* pr = &raw[0L], pe = &eff[0L], ps = &scale[0L], pg = &grad[0L], pm = &m[0L], pv = &v[0L], pc = &scalars[0L])
        {
            for (int j = 0; j < count; j++)
            {
                IcnnKernels.AdamStepAt(j, new PointerFloats(pr), new PointerFloats(pe), mask, new PointerFloats(ps), new PointerFloats(pg),
                    new PointerFloats(pm), new PointerFloats(pv), new PointerFloats(pc), c);
            }
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.Evaluate{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="values">Output [n] (at least one element).</param>
    /// <param name="grads">Output [n, d] (at least one element).</param>
    /// <param name="mode">1 = values, 2 = gradients, 3 = both.</param>
    public static void Evaluate<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> values, ArrayView<float> grads, int mode)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], pw = &ws[0L], pv = &values[0L], pg = &grads[0L])
        {
            IcnnKernels.EvaluateSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px),
                new PointerFloats(pw), new PointerFloats(pv), new PointerFloats(pg), mode);
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.Hessian{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="hess">Output [n, d, d].</param>
    public static void Hessian<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> hess)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], pw = &ws[0L], ph = &hess[0L])
        {
            IcnnKernels.HessianSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px),
                new PointerFloats(pw), new PointerFloats(ph));
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.HessianVector{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="directions">Directions v [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="output">Output [n, d].</param>
    public static void HessianVector<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> directions, ArrayView<float> ws, ArrayView<float> output)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], pd = &directions[0L], pw = &ws[0L], po = &output[0L])
        {
            IcnnKernels.HessianVectorSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px),
                new PointerFloats(pd), new PointerFloats(pw), new PointerFloats(po));
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.ValueParameterGradient{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void ValueParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], pw = &ws[0L], pp = &partial[0L])
        {
            IcnnKernels.ValueGradientSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px),
                new PointerFloats(pw), new PointerFloats(pp));
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.LossParameterGradient{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="targets">Targets t [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void LossParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> y, ArrayView<float> targets, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], py = &y[0L], pt = &targets[0L], pw = &ws[0L], pp = &partial[0L])
        {
            IcnnKernels.LossGradientSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(py),
                new PointerFloats(pt), new PointerFloats(pw), new PointerFloats(pp));
        }
    }

    /// <summary>CPU form of <see cref="IcnnKernels.LikelihoodParameterGradient{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="y">Data points [n, d].</param>
    /// <param name="encoded">Output [n, d]: grad w(y_i).</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void LikelihoodParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> y, ArrayView<float> encoded, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], py = &y[0L], px = &encoded[0L], pw = &ws[0L], pp = &partial[0L])
        {
            IcnnKernels.LikelihoodGradientSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(py),
                new PointerFloats(px), new PointerFloats(pw), new PointerFloats(pp));
        }
    }

    /// <summary>CPU form of <see cref="IcnnSolveKernels.SolveNewton{TAct}"/> (same arguments).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts on entry, solutions on exit [n, d].</param>
    /// <param name="ws">ICNN scratch.</param>
    /// <param name="work">Per-point work.</param>
    /// <param name="ints">Status [n] then iterations [n].</param>
    /// <param name="residual">Residuals [n].</param>
    /// <param name="settings">Tolerances and limits.</param>
    public static void SolveNewton<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> y, ArrayView<float> ws, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, NewtonSettings settings)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], py = &y[0L], pw = &ws[0L], pk = &work[0L], pr = &residual[0L])
        {
            IcnnSolveKernels.SolveNewtonSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px), new PointerFloats(py),
                new PointerFloats(pw), new PointerFloats(pk), ints, new PointerFloats(pr), settings);
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries() => IcnnKernels.PointKernelEntries(typeof(IcnnCpuKernels));
}
