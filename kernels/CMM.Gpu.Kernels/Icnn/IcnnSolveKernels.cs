using System.Runtime.CompilerServices;
using CMM.Gpu.Kernels.Conjugate;
using CMM.Gpu.Kernels.Linalg;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>Settings of <see cref="IcnnSolveKernels.SolveNewton{TAct}"/> (those of the batched solver, ConjugateOptions).</summary>
/// <param name="AbsoluteTolerance">A point converges when |grad w(y) - x| &lt;= this + RelativeTolerance |x|.</param>
/// <param name="RelativeTolerance">See <paramref name="AbsoluteTolerance"/>.</param>
/// <param name="Armijo">Sufficient-decrease constant.</param>
/// <param name="MinStep">Smallest line-search step before the point stalls.</param>
/// <param name="MaxIterations">Newton iterations per point.</param>
public readonly record struct NewtonSettings(float AbsoluteTolerance, float RelativeTolerance, float Armijo, float MinStep, int MaxIterations);

/// <summary>The residual |grad w(y) - x| of a solve's iterate and the status its tolerance test gives (<see cref="IcnnSolveKernels.ToleranceTest{TF}"/>).</summary>
/// <param name="Residual">|grad w(y) - x|.</param>
/// <param name="Status">StatusNonFinite, StatusConverged or StatusRunning (ConjugateKernels).</param>
internal readonly record struct SolveTest(float Residual, int Status);

/// <summary>
/// The whole conjugate solve y = argmin_y w(y) - &lt;x, y&gt; of an ICNN w in one launch: each slot runs damped Newton with
/// Armijo backtracking on its points (s, s + G, ...) to the end, with the ICNN's forward, reverse and tangent passes
/// (<see cref="IcnnKernels"/>), the Hessian's Cholesky factorisation (<see cref="DeviceCholesky"/>) and the line search
/// inside the thread (the Hessian from the layer Jacobians, <see cref="IcnnKernels.HessianJacobian{TAct, TF, TO}"/>): no launch and no host synchronisation per iteration. Same iteration, tests and statuses as the
/// batched solver's Newton path (ConjugateKernels); per point, so a point's result does not depend on its batch.
/// Buffers: work holds per point the Hessian (d^2), the direction (d) and the trial point (d) at i (d^2 + 2d);
/// ints holds the status at i and the iterations at n + i.
/// </summary>
public static class IcnnSolveKernels
{
    /// <summary>ArrayView form: solves grad w(y_i) = x_i for every point from y's contents.</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n, Slots, scratch strides).</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts on entry, solutions on exit [n, d].</param>
    /// <param name="ws">ICNN scratch, <see cref="IcnnDims.HessianScratchPerSlot"/> floats per slot.</param>
    /// <param name="work">Per-point work, n (d^2 + 2d).</param>
    /// <param name="ints">Status [n] then iterations [n].</param>
    /// <param name="residual">|grad w(y) - x| at the returned y [n].</param>
    /// <param name="settings">Tolerances and limits.</param>
    public static void SolveNewton<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> y, ArrayView<float> ws, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, NewtonSettings settings)
        where TAct : struct, IIcnnActivation =>
        SolveNewtonSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(y), new ViewFloats(ws),
            new ViewFloats(work), ints, new ViewFloats(residual), settings);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SolveNewtonSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm, TF x, TF y, TF ws, TF work,
        ArrayView<int> ints, TF residual, NewtonSettings settings)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        int d = dm.Dim, n = dm.Count;
        long perPoint = ((long)d * d) + (2L * d);
        for (int i = slot; i < n; i += dm.Slots)
        {
            long o = (long)i * d;
            long h = i * perPoint, dir = h + ((long)d * d), trial = dir + d;
            int status = ConjugateKernels.StatusRunning;
            int it = 0;
            float res = 0f;
            bool forwardAtY = false; // the row holds the forward state at y, and wAtY its value (an accepted line-search trial)
            float wAtY = 0f;
            for (; ; it++)
            {
                // After an accepted step the line search's last forward pass was at the new y: reuse it (same inputs, same value).
                float w = forwardAtY ? wAtY : IcnnKernels.Forward<TAct, TF>(eff, lay, dm, y, o, row);
                IcnnKernels.Backward<TAct, TF>(eff, lay, dm, y, o, row);
                var test = ToleranceTest(row, dm, x, o, settings.AbsoluteTolerance, settings.RelativeTolerance);
                res = test.Residual;
                if (test.Status != ConjugateKernels.StatusRunning)
                {
                    status = test.Status;
                    break;
                }

                if (it == settings.MaxIterations)
                {
                    break; // StatusRunning: the cap
                }

                // Hessian from the layer Jacobians and the forward and reverse state at y kept in the row.
                IcnnKernels.HessianJacobian<TAct, TF, TF>(eff, lay, dm, row, dm.RJ, work, h);

                // Newton direction p = -H^-1 (g - x), or steepest descent when H is not numerically positive definite.
                float slope = 0f;
                bool ok = DeviceCholesky.Factor(work, h, d);
                if (ok)
                {
                    for (int k = 0; k < d; k++)
                    {
                        work[dir + k] = x[o + k] - row.Get(dm.RG + k);
                    }

                    DeviceCholesky.Solve(work, h, d, work, dir);
                    for (int k = 0; k < d; k++)
                    {
                        slope += (row.Get(dm.RG + k) - x[o + k]) * work[dir + k];
                    }

                    ok = slope < 0f && XMath.IsFinite(slope);
                }

                if (!ok)
                {
                    slope = 0f;
                    for (int k = 0; k < d; k++)
                    {
                        float r = row.Get(dm.RG + k) - x[o + k];
                        work[dir + k] = -r;
                        slope -= r * r;
                    }
                }

                // Armijo backtracking on phi(y) = w(y) - <x, y>, with the batched solver's float slack.
                float wNext = ArmijoStep<TAct, TF>(eff, lay, dm, row, x, y, o, work, dir, trial, w, slope, settings.Armijo, settings.MinStep);
                if (!XMath.IsFinite(wNext))
                {
                    status = ConjugateKernels.StatusStalled;
                    break;
                }

                wAtY = wNext;
                forwardAtY = true;
            }

            residual[i] = res;
            ints[i] = status;
            ints[n + i] = it;
        }
    }

    /// <summary>
    /// The tolerance test of a conjugate solve at the point at <paramref name="o"/>, with grad w(y) in the row's gradient
    /// region: the residual |grad w(y) - x| and StatusNonFinite when it is not finite, StatusConverged when it is at most
    /// abs + rel |x|, else StatusRunning. Shared by the fused Newton and L-BFGS solves (ConjugateKernels.Residual's test).
    /// </summary>
    internal static SolveTest ToleranceTest<TF>(StridedRow<TF> row, IcnnDims dm, TF x, long o, float absoluteTolerance, float relativeTolerance)
        where TF : struct, IFloats
    {
        float r2 = 0f, x2 = 0f;
        for (int k = 0; k < dm.Dim; k++)
        {
            float r = row.Get(dm.RG + k) - x[o + k];
            r2 += r * r;
            x2 += x[o + k] * x[o + k];
        }

        float res = XMath.Sqrt(r2);
        int status = !XMath.IsFinite(res) ? ConjugateKernels.StatusNonFinite
            : res <= absoluteTolerance + (relativeTolerance * XMath.Sqrt(x2)) ? ConjugateKernels.StatusConverged
            : ConjugateKernels.StatusRunning;
        return new SolveTest(res, status);
    }

    /// <summary>
    /// Armijo backtracking on phi(y) = w(y) - &lt;x, y&gt; from the point at <paramref name="o"/> along the direction at
    /// <paramref name="dir"/> (steps 1, 1/2, ... down to <paramref name="minStep"/>), with the batched solver's float slack
    /// 8 eps (|w| + sum |x_k y_k| + |phi(y)|). On acceptance y moves to the trial point, the row holds the ICNN's forward state
    /// there, and the return value is w at it (finite); NaN when no step is accepted (y unchanged: the point stalls).
    /// Shared by the fused Newton and L-BFGS solves.
    /// </summary>
    internal static float ArmijoStep<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm, StridedRow<TF> row, TF x, TF y, long o, TF work,
        long dir, long trial, float w, float slope, float armijo, float minStep)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        int d = dm.Dim;
        float xy = 0f, axy = 0f;
        for (int k = 0; k < d; k++)
        {
            xy += x[o + k] * y[o + k];
            axy += XMath.Abs(x[o + k] * y[o + k]);
        }

        float phiY = w - xy;
        float slack = 8f * 1.1920929e-7f * (XMath.Abs(w) + axy + XMath.Abs(phiY));
        float t = 1f;
        while (t >= minStep)
        {
            float xt = 0f;
            for (int k = 0; k < d; k++)
            {
                float v = y[o + k] + (t * work[dir + k]);
                work[trial + k] = v;
                xt += x[o + k] * v;
            }

            float wT = IcnnKernels.Forward<TAct, TF>(eff, lay, dm, work, trial, row);
            float phiT = wT - xt;
            if (XMath.IsFinite(phiT) && phiT <= phiY + (armijo * t * slope) + slack)
            {
                for (int k = 0; k < d; k++)
                {
                    y[o + k] = work[trial + k];
                }

                return wT;
            }

            t *= 0.5f;
        }

        return float.NaN;
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        foreach (var a in new[] { typeof(SoftplusActivation), typeof(EluActivation) })
        {
            yield return KernelCatalog.Entry(typeof(IcnnSolveKernels), nameof(SolveNewton), KernelGrouping.Implicit, a);
            yield return KernelCatalog.Entry(typeof(IcnnCpuKernels), nameof(IcnnCpuKernels.SolveNewton), KernelGrouping.Implicit, a);
        }
    }
}
