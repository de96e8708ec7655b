using System.Runtime.CompilerServices;
using CMM.Gpu.Kernels.Conjugate;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>Settings of <see cref="IcnnLbfgsKernels.SolveLbfgs{TAct}"/> (those of the batched solver, ConjugateOptions).</summary>
/// <param name="AbsoluteTolerance">A point converges when |grad w(y) - x| &lt;= this + RelativeTolerance |x|.</param>
/// <param name="RelativeTolerance">See <paramref name="AbsoluteTolerance"/>.</param>
/// <param name="Armijo">Sufficient-decrease constant.</param>
/// <param name="MinStep">Smallest line-search step before the point stalls.</param>
/// <param name="MaxIterations">L-BFGS iterations per point.</param>
/// <param name="History">History length m (pairs kept per point, at least 1).</param>
public readonly record struct LbfgsSettings(float AbsoluteTolerance, float RelativeTolerance, float Armijo, float MinStep, int MaxIterations, int History);

/// <summary>
/// The whole conjugate solve y = argmin_y w(y) - &lt;x, y&gt; of an ICNN w by L-BFGS in one launch: each slot runs, on its
/// points (s, s + G, ...) to the end, exactly the iteration the batched solver drives from the host with
/// <see cref="ConjugateKernels"/> (Residual, LbfgsUpdate, LbfgsDirection, CopyActive and the LineSearch kernels), in the same
/// arithmetic order: the same pair-acceptance rule, two-loop recursion, initial scaling, steepest-descent fallback, Armijo
/// backtracking with its float slack, tolerance test, iteration cap and statuses. w and grad w come from the ICNN's forward
/// and reverse passes (<see cref="IcnnKernels"/>) inside the thread: no launch and no host synchronisation per iteration.
/// Per point, so a point's result does not depend on its batch.
/// Buffers: work holds per point, at i <see cref="WorkPerPoint"/>: the steps s [m, d], the gradient changes v [m, d],
/// rho [m], the two-loop scratch alpha [m], then the direction, the trial point, the previous iterate and the previous
/// gradient (d each); ints holds the status at i and the iterations at n + i.
/// </summary>
public static class IcnnLbfgsKernels
{
    /// <summary>Floats of work per point: 2 m d + 2 m + 4 d.</summary>
    /// <param name="d">Dimension.</param>
    /// <param name="m">History length.</param>
    /// <returns>The floats.</returns>
    public static long WorkPerPoint(int d, int m) => (2L * m * d) + (2L * m) + (4L * d);

    /// <summary>ArrayView form: solves grad w(y_i) = x_i for every point from y's contents.</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n, Slots, scratch strides).</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts on entry, solutions on exit [n, d].</param>
    /// <param name="ws">ICNN scratch.</param>
    /// <param name="work">Per-point work, n <see cref="WorkPerPoint"/>.</param>
    /// <param name="ints">Status [n] then iterations [n].</param>
    /// <param name="residual">|grad w(y) - x| at the returned y [n].</param>
    /// <param name="settings">Tolerances, limits and history length.</param>
    public static void SolveLbfgs<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> y, ArrayView<float> ws, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, LbfgsSettings settings)
        where TAct : struct, IIcnnActivation =>
        SolveLbfgsSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(y), new ViewFloats(ws),
            new ViewFloats(work), ints, new ViewFloats(residual), settings);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SolveLbfgsSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm, TF x, TF y, TF ws, TF work,
        ArrayView<int> ints, TF residual, LbfgsSettings settings)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        int d = dm.Dim, n = dm.Count, m = settings.History;
        long perPoint = WorkPerPoint(d, m);
        for (int i = slot; i < n; i += dm.Slots)
        {
            long o = (long)i * d;
            long sb = i * perPoint, vb = sb + ((long)m * d), rb = vb + ((long)m * d), ab = rb + m;
            long dir = ab + m, trial = dir + d, yPrev = trial + d, gPrev = yPrev + d;
            for (int j = 0; j < m; j++)
            {
                work[rb + j] = 0f;
            }

            int status = ConjugateKernels.StatusRunning;
            int it = 0;
            float res = 0f;
            bool forwardAtY = false; // the row holds the forward state at y, and wAtY its value (an accepted line-search trial)
            float wAtY = 0f;
            for (; ; it++)
            {
                // w(y) and grad w(y) (grad w stays in the row's G region until the next reverse pass). After an accepted step
                // the line search's last forward pass was at the new y: it is reused (same inputs, same value).
                float w = forwardAtY ? wAtY : IcnnKernels.Forward<TAct, TF>(eff, lay, dm, y, o, row);
                IcnnKernels.Backward<TAct, TF>(eff, lay, dm, y, o, row);

                // ConjugateKernels.LbfgsUpdate: the pair s = y - yPrev, v = g - gPrev into slot (it - 1) mod m,
                // rho = 1 / s'v, or 0 (slot skipped) when s'v is not safely positive.
                if (it > 0)
                {
                    int newSlot = (it - 1) % m;
                    long so = sb + ((long)newSlot * d), vo = vb + ((long)newSlot * d);
                    float sy = 0f, ss = 0f, vv = 0f;
                    for (int k = 0; k < d; k++)
                    {
                        float sk = y[o + k] - work[yPrev + k];
                        float vk = row.Get(dm.RG + k) - work[gPrev + k];
                        work[so + k] = sk;
                        work[vo + k] = vk;
                        sy += sk * vk;
                        ss += sk * sk;
                        vv += vk * vk;
                    }

                    work[rb + newSlot] = sy > 1e-10f * XMath.Sqrt(ss * vv) && sy > 0f && XMath.IsFinite(sy) ? 1f / sy : 0f;
                }

                // ConjugateKernels.Residual: the tolerance test.
                var test = IcnnSolveKernels.ToleranceTest(row, dm, x, o, settings.AbsoluteTolerance, settings.RelativeTolerance);
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

                float slope = Direction(work, row, dm, x, o, sb, vb, rb, ab, dir, m, it == 0 ? 0 : (it - 1) % m, it < m ? it : m);

                // ConjugateKernels.CopyActive: keep the iterate and the gradient for the next pair.
                for (int k = 0; k < d; k++)
                {
                    work[yPrev + k] = y[o + k];
                    work[gPrev + k] = row.Get(dm.RG + k);
                }

                // ConjugateKernels.LineSearchTrial / LineSearchUpdate: Armijo backtracking on phi(y) = w(y) - <x, y>.
                float wNext = IcnnSolveKernels.ArmijoStep<TAct, TF>(eff, lay, dm, row, x, y, o, work, dir, trial, w, slope, settings.Armijo, settings.MinStep);
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
    /// ConjugateKernels.LbfgsDirection for one point: p = -H_k (g - x) by the two-loop recursion over the pairs in slots
    /// newest, newest - 1, ... (mod m), count of them, skipping those with rho = 0; initial scaling gamma = s'v / v'v of the
    /// newest valid pair; steepest descent p = -(g - x) when p is not a finite descent direction. Writes p at dir; returns
    /// the slope (g - x)'p. g is read from the row's G region.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Direction<TF>(TF work, StridedRow<TF> row, IcnnDims dm, TF x, long o, long sb, long vb, long rb, long ab, long dir,
        int m, int newest, int count)
        where TF : struct, IFloats
    {
        int d = dm.Dim;
        for (int k = 0; k < d; k++)
        {
            work[dir + k] = row.Get(dm.RG + k) - x[o + k];
        }

        float gamma = 1f;
        bool haveGamma = false;
        for (int j = 0; j < count; j++)
        {
            int pair = (newest - j + m) % m;
            float r = work[rb + pair];
            if (r == 0f)
            {
                continue;
            }

            long so = sb + ((long)pair * d), vo = vb + ((long)pair * d);
            float a = 0f;
            for (int k = 0; k < d; k++)
            {
                a += work[so + k] * work[dir + k];
            }

            a *= r;
            work[ab + pair] = a;
            float yy = 0f;
            for (int k = 0; k < d; k++)
            {
                work[dir + k] -= a * work[vo + k];
                yy += work[vo + k] * work[vo + k];
            }

            if (!haveGamma && yy > 0f)
            {
                gamma = 1f / (r * yy);
                haveGamma = true;
            }
        }

        for (int k = 0; k < d; k++)
        {
            work[dir + k] *= gamma;
        }

        for (int j = count - 1; j >= 0; j--)
        {
            int pair = (newest - j + m) % m;
            float r = work[rb + pair];
            if (r == 0f)
            {
                continue;
            }

            long so = sb + ((long)pair * d), vo = vb + ((long)pair * d);
            float b = 0f;
            for (int k = 0; k < d; k++)
            {
                b += work[vo + k] * work[dir + k];
            }

            b *= r;
            float coef = work[ab + pair] - b;
            for (int k = 0; k < d; k++)
            {
                work[dir + k] += coef * work[so + k];
            }
        }

        float sl = 0f;
        for (int k = 0; k < d; k++)
        {
            work[dir + k] = -work[dir + k];
            sl += (row.Get(dm.RG + k) - x[o + k]) * work[dir + k];
        }

        if (!(sl < 0f) || !XMath.IsFinite(sl))
        {
            sl = 0f;
            for (int k = 0; k < d; k++)
            {
                float r = row.Get(dm.RG + k) - x[o + k];
                work[dir + k] = -r;
                sl -= r * r;
            }
        }

        return sl;
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        foreach (var a in new[] { typeof(SoftplusActivation), typeof(EluActivation) })
        {
            yield return KernelCatalog.Entry(typeof(IcnnLbfgsKernels), nameof(SolveLbfgs), KernelGrouping.Implicit, a);
            yield return KernelCatalog.Entry(typeof(IcnnLbfgsCpuKernels), nameof(IcnnLbfgsCpuKernels.SolveLbfgs), KernelGrouping.Implicit, a);
        }
    }
}

/// <summary>
/// The CPU accelerator's form of <see cref="IcnnLbfgsKernels.SolveLbfgs{TAct}"/>: the same arguments, slot loop and arithmetic,
/// with every float buffer read through a pointer taken once per launch (<see cref="PointerFloats"/>; see
/// <see cref="IcnnCpuKernels"/>). Bit-identical to the ArrayView form (tested). Loaded on ILGPU's CPU accelerator only.
/// </summary>
public static unsafe class IcnnLbfgsCpuKernels
{
    /// <summary>CPU form of <see cref="IcnnLbfgsKernels.SolveLbfgs{TAct}"/> (same arguments).</summary>
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
    /// <param name="settings">Tolerances, limits and history length.</param>
    public static void SolveLbfgs<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> y, ArrayView<float> ws, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, LbfgsSettings settings)
        where TAct : struct, IIcnnActivation
    {
        fixed (float* pe = &eff[0L], px = &x[0L], py = &y[0L], pw = &ws[0L], pk = &work[0L], pr = &residual[0L])
        {
            IcnnLbfgsKernels.SolveLbfgsSlot<TAct, PointerFloats>(slot, new PointerFloats(pe), lay, dm, new PointerFloats(px), new PointerFloats(py),
                new PointerFloats(pw), new PointerFloats(pk), ints, new PointerFloats(pr), settings);
        }
    }
}
