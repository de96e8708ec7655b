using CMM.Gpu.Compute;
using CMM.Gpu.Kernels.Icnn;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Icnn;

/// <summary>
/// The ICNN kernels of one activation, loaded once per context. The point kernels (Evaluate, Hessian,
/// HessianVector and the three parameter gradients) come in two forms with the same signatures and bit-identical
/// results: <see cref="IcnnKernels"/> (ArrayView accesses; the GPU form) and <see cref="IcnnCpuKernels"/> (pointer
/// accesses; 3-5x faster on ILGPU's CPU accelerator, where they are the default). The staged kernels exist in
/// the ArrayView form only.
/// </summary>
internal sealed class IcnnActivationKernels
{
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> likelihood;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings>> solveLbfgs;

    private IcnnActivationKernels(Accelerator acc, DeviceTally tally, bool pointerForm, Type activation)
    {
        var point = pointerForm ? typeof(IcnnCpuKernels) : typeof(IcnnKernels);
        Evaluate = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(point, nameof(IcnnKernels.Evaluate), activation)));
        Hessian = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.Hessian), activation)));
        HessianVector = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.HessianVector), activation)));
        ValueParameterGradient = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.ValueParameterGradient), activation)));
        LossParameterGradient = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.LossParameterGradient), activation)));
        // Compiled on first use: only the likelihood objective needs it (on GPUs it is the largest ICNN kernel to compile).
        likelihood = new(() => tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.LikelihoodParameterGradient), activation))));
        var solve = pointerForm ? typeof(IcnnCpuKernels) : typeof(IcnnSolveKernels);
        SolveNewton = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings>>(solve, nameof(IcnnSolveKernels.SolveNewton), activation)));
        // The SIMD form of the fused Newton solve (CPU accelerator only): host code over the CPU accelerator's buffers, not a kernel.
        if (pointerForm)
        {
            var simd = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings, int, bool>>(
                typeof(IcnnSimdSolver), nameof(IcnnSimdSolver.TrySolveNewton), activation);
            SolveNewtonSimd = tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings, int>(
                (eff, lay, dm, x, y, ints, res, settings, blocks) =>
                {
                    if (!simd(eff, lay, dm, x, y, ints, res, settings, blocks))
                    {
                        throw new InvalidOperationException($"the SIMD Newton solve does not run here (d = {dm.Dim})");
                    }
                });
        }
        else
        {
            SolveNewtonSimd = (_, _, _, _, _, _, _, _, _) => throw new InvalidOperationException("the SIMD Newton solve runs on the CPU accelerator only");
        }

        // The SIMD form of the value parameter gradient (CPU accelerator only), likewise host code counted as one launch.
        if (pointerForm)
        {
            var simdGrad = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int, bool>>(
                typeof(IcnnSimdSolver), nameof(IcnnSimdSolver.TryValueParameterGradient), activation);
            ValueParameterGradientSimd = tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int>(
                (eff, lay, dm, x, part, blocks) =>
                {
                    if (!simdGrad(eff, lay, dm, x, part, blocks))
                    {
                        throw new InvalidOperationException($"the SIMD value parameter gradient does not run here (d = {dm.Dim})");
                    }
                });
        }
        else
        {
            ValueParameterGradientSimd = (_, _, _, _, _, _) => throw new InvalidOperationException("the SIMD value parameter gradient runs on the CPU accelerator only");
        }

        // Compiled on first use: only L-BFGS conjugate solves (d > 16 by default) need it.
        var lbfgs = pointerForm ? typeof(IcnnLbfgsCpuKernels) : typeof(IcnnLbfgsKernels);
        solveLbfgs = new(() => tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings>>(lbfgs, nameof(IcnnLbfgsKernels.SolveLbfgs), activation))));
        EvaluateStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(typeof(IcnnKernels), nameof(IcnnKernels.EvaluateStaged), activation)));
        ValueParameterGradientStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(typeof(IcnnKernels), nameof(IcnnKernels.ValueParameterGradientStaged), activation)));
        LossParameterGradientStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(typeof(IcnnKernels), nameof(IcnnKernels.LossParameterGradientStaged), activation)));
    }

    /// <summary>Loads the kernels of <paramref name="activation"/>.</summary>
    /// <param name="acc">The accelerator.</param>
    /// <param name="tally">The context's counters (every kernel is wrapped to count its launches).</param>
    /// <param name="activation">The activation.</param>
    /// <param name="pointerForm">Use the pointer form of the point kernels (CPU accelerator only).</param>
    /// <returns>The kernels.</returns>
    public static IcnnActivationKernels Load(Accelerator acc, DeviceTally tally, IcnnActivation activation, bool pointerForm)
    {
        if (pointerForm && acc.AcceleratorType != AcceleratorType.CPU)
        {
            throw new InvalidOperationException("the pointer form of the ICNN kernels runs on the CPU accelerator only");
        }

        return new IcnnActivationKernels(acc, tally, pointerForm, activation == IcnnActivation.Elu ? typeof(EluActivation) : typeof(SoftplusActivation));
    }

    private static TDelegate Delegate<TDelegate>(Type kernels, string name, Type activation)
        where TDelegate : Delegate =>
        kernels.GetMethod(name)!.MakeGenericMethod(activation).CreateDelegate<TDelegate>();

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> Evaluate { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> Hessian { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> HessianVector { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradient { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradient { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LikelihoodParameterGradient => likelihood.Value;

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings> SolveNewton { get; }

    /// <summary>The SIMD form of <see cref="SolveNewton"/> (<see cref="IcnnSimdSolver.TrySolveNewton{TAct}"/>; pointer form only), counted as one launch.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings, int> SolveNewtonSimd { get; }

    /// <summary>The SIMD form of <see cref="ValueParameterGradient"/> (<see cref="IcnnSimdSolver.TryValueParameterGradient{TAct}"/>; pointer form only),
    /// counted as one launch: writes <see cref="IcnnSimdSolver.GradientBlocks"/> partial rows.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int> ValueParameterGradientSimd { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings> SolveLbfgs => solveLbfgs.Value;

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> EvaluateStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradientStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradientStaged { get; }
}

/// <summary>All ICNN kernels for a context (per-activation and per-form sets are compiled on first use).</summary>
internal sealed class IcnnKernelSet
{
    private readonly Accelerator acc;
    private readonly DeviceTally tally;
    private readonly Dictionary<(IcnnActivation, bool), IcnnActivationKernels> sets = [];

    private IcnnKernelSet(CmmContext context)
    {
        acc = context.Accelerator;
        tally = context.Tally;
        Materialize = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(IcnnKernels.Materialize));
        // On the CPU accelerator the slot reduction and AddScaled run as host loops over the same kernel bodies (bit-identical
        // results, still counted as one launch each): launched, ILGPU's CPU accelerator spends about a microsecond per thread,
        // which for one thread per parameter (P ~ 10^4) cost more than the SIMD parameter gradient itself.
        ReduceSlots = context.IsGpu
            ? tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, float, float, ArrayView<float>, ArrayView<float>>(IcnnKernels.ReduceSlots))
            : tally.Counted<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, float, float, ArrayView<float>, ArrayView<float>>(
                (n, part, dm, raw, mask, scale, sg, se, grad, extra) =>
                {
                    for (int j = 0; j < n.X; j++)
                    {
                        IcnnKernels.ReduceSlots(j, part, dm, raw, mask, scale, sg, se, grad, extra);
                    }
                });
        ReduceSlotsWeighted = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ReduceSlotsWeighted));
        SlotColumn = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, IcnnDims, int, ArrayView<float>>(IcnnKernels.SlotColumn));
        AddScaled = context.IsGpu
            ? tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(IcnnKernels.AddScaled))
            : tally.Counted<Index1D, ArrayView<float>, ArrayView<float>, float>(
                (n, y, x, a) =>
                {
                    for (int i = 0; i < n.X; i++)
                    {
                        IcnnKernels.AddScaled(i, y, x, a);
                    }
                });
        SumSquaresPartial = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>>(IcnnKernels.SumSquaresPartial));
        ClipFactor = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float, ArrayView<float>>(IcnnKernels.ClipFactor));
        AdamStep = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients>(IcnnKernels.AdamStep));
        SgdStep = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(IcnnKernels.SgdStep));
    }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>> Materialize { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, float, float, ArrayView<float>, ArrayView<float>> ReduceSlots { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>> ReduceSlotsWeighted { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, int, ArrayView<float>> SlotColumn { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, float> AddScaled { get; }

    public Action<Index1D, ArrayView<float>, int, int, ArrayView<float>> SumSquaresPartial { get; }

    public Action<Index1D, ArrayView<float>, int, float, ArrayView<float>> ClipFactor { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients> AdamStep { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> SgdStep { get; }

    public static IcnnKernelSet For(CmmContext context) => context.GetComponent(c => new IcnnKernelSet(c));

    /// <summary>The kernels of an activation, compiled on first use.</summary>
    /// <param name="activation">The activation.</param>
    /// <param name="pointerForm">The pointer form of the point kernels (CPU accelerator only).</param>
    /// <returns>The kernels.</returns>
    public IcnnActivationKernels For(IcnnActivation activation, bool pointerForm)
    {
        lock (sets)
        {
            if (!sets.TryGetValue((activation, pointerForm), out var k))
            {
                k = IcnnActivationKernels.Load(acc, tally, activation, pointerForm);
                sets.Add((activation, pointerForm), k);
            }

            return k;
        }
    }
}
