using System.Runtime.CompilerServices;
using CMM.Gpu.Kernels.Linalg;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Conjugate;

/// <summary>L-BFGS history shape for <see cref="ConjugateKernels.LbfgsDirection"/>.</summary>
/// <param name="Dimension">d.</param>
/// <param name="History">History length m.</param>
/// <param name="Newest">Slot of the newest pair.</param>
/// <param name="Count">Number of stored pairs (at most m).</param>
public readonly record struct LbfgsShape(int Dimension, int History, int Newest, int Count);

/// <summary>Line-search constants for <see cref="ConjugateKernels.LineSearchUpdate"/>.</summary>
/// <param name="Armijo">Sufficient-decrease constant c.</param>
/// <param name="MinStep">Smallest step before a point stalls.</param>
public readonly record struct LineSearchConstants(float Armijo, float MinStep);

/// <summary>
/// Batched conjugate solve y = argmin_y phi(y), phi(y) = w(y) - &lt;x, y&gt;. Each thread handles the points of a
/// <see cref="PointRange"/> (one point per thread on GPUs, a block of points on the CPU accelerator); the still-active
/// and still-pending counters get one integer atomic per thread.
/// Per-point state: active (1 while iterating), status (0 running/converged, see <see cref="StatusConverged"/>...),
/// iteration count, residual |grad w(y) - x|, line-search step t and pending flag.
/// </summary>
public static class ConjugateKernels
{
    /// <summary>Point status: still iterating.</summary>
    public const int StatusRunning = 0;

    /// <summary>Point status: |grad w(y) - x| below tolerance.</summary>
    public const int StatusConverged = 1;

    /// <summary>Point status: the line search could not decrease phi (stalled at float precision or bad direction).</summary>
    public const int StatusStalled = 2;

    /// <summary>Point status: w or grad w was not finite.</summary>
    public const int StatusNonFinite = 3;

    /// <summary>
    /// Residual and convergence test: residual[i] = |g_i - x_i|; an active point whose residual is at most
    /// atol + rtol |x_i| converges; a non-finite one fails; the others stay active, are counted in
    /// counter[0] and get iterations[i] = iteration.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="g">grad w(y) [n, d].</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="residual">Output [n].</param>
    /// <param name="active">Active flags [n].</param>
    /// <param name="status">Status [n].</param>
    /// <param name="iterations">Iterations [n].</param>
    /// <param name="counter">counter[0] += number still active.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="atol">Absolute tolerance.</param>
    /// <param name="rtol">Relative tolerance (times |x|).</param>
    /// <param name="iteration">Current iteration number.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Residual(Index1D t, PointRange range, ArrayView<float> g, ArrayView<float> x, ArrayView<float> residual,
        ArrayView<int> active, ArrayView<int> status, ArrayView<int> iterations, ArrayView<int> counter,
        int d, float atol, float rtol, int iteration)
    {
        int stillActive = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            stillActive += ResidualPoint(i, g, x, residual, active, status, iterations, d, atol, rtol, iteration);
        }

        if (stillActive != 0)
        {
            Atomic.Add(ref counter[0], stillActive);
        }
    }

    /// <summary>The residual test of point i; returns 1 if it stays active, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ResidualPoint(long i, ArrayView<float> g, ArrayView<float> x, ArrayView<float> residual,
        ArrayView<int> active, ArrayView<int> status, ArrayView<int> iterations, int d, float atol, float rtol, int iteration)
    {
        if (active[i] == 0)
        {
            return 0;
        }

        long o = i * d;
        float r2 = 0f, x2 = 0f;
        for (int k = 0; k < d; k++)
        {
            float r = g[o + k] - x[o + k];
            r2 += r * r;
            x2 += x[o + k] * x[o + k];
        }

        float res = XMath.Sqrt(r2);
        residual[i] = res;
        iterations[i] = iteration;
        if (!XMath.IsFinite(res))
        {
            status[i] = StatusNonFinite;
            active[i] = 0;
            return 0;
        }

        if (res <= atol + rtol * XMath.Sqrt(x2))
        {
            status[i] = StatusConverged;
            active[i] = 0;
            return 0;
        }

        return 1;
    }

    /// <summary>
    /// Newton direction p = -H^-1 (g - x) by an in-place Cholesky factorisation of the point's Hessian block
    /// (overwritten; <see cref="DeviceCholesky"/>). If H is not numerically positive definite, or p is not a descent direction, p = -(g - x).
    /// slope[i] = (g - x)'p.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="hessians">Hessians, n d^2 (destroyed).</param>
    /// <param name="g">grad w(y) [n, d].</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="direction">Output [n, d].</param>
    /// <param name="slope">Output [n].</param>
    /// <param name="active">Active flags.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void NewtonDirection(Index1D t, PointRange range, ArrayView<float> hessians, ArrayView<float> g, ArrayView<float> x,
        ArrayView<float> direction, ArrayView<float> slope, ArrayView<int> active, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            NewtonDirectionPoint(i, hessians, g, x, direction, slope, active, d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NewtonDirectionPoint(long i, ArrayView<float> hessians, ArrayView<float> g, ArrayView<float> x,
        ArrayView<float> direction, ArrayView<float> slope, ArrayView<int> active, int d)
    {
        if (active[i] == 0)
        {
            return;
        }

        long h = i * d * d;
        long o = i * d;
        var hv = new ViewFloats(hessians);
        bool ok = DeviceCholesky.Factor(hv, h, d); // H = L L', L in the lower triangle
        float sl = 0f;
        if (ok)
        {
            // p = -H^-1 (g - x): the right-hand side x - g, solved in place.
            for (int r = 0; r < d; r++)
            {
                direction[o + r] = x[o + r] - g[o + r];
            }

            DeviceCholesky.Solve(hv, h, d, new ViewFloats(direction), o);
            for (int k = 0; k < d; k++)
            {
                sl += (g[o + k] - x[o + k]) * direction[o + k];
            }

            ok = sl < 0f && XMath.IsFinite(sl);
        }

        if (!ok)
        {
            sl = SteepestDescent(g, x, direction, o, d);
        }

        slope[i] = sl;
    }

    /// <summary>Fallback direction p = -(g - x) for point offset o; returns its slope -|g - x|^2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float SteepestDescent(ArrayView<float> g, ArrayView<float> x, ArrayView<float> direction, long o, int d)
    {
        float sl = 0f;
        for (int k = 0; k < d; k++)
        {
            float r = g[o + k] - x[o + k];
            direction[o + k] = -r;
            sl -= r * r;
        }

        return sl;
    }

    /// <summary>
    /// L-BFGS two-loop recursion: p = -H_k (g - x) from the stored pairs (s_j, y_j) with rho_j = 1 / s_j'y_j
    /// (slots with rho_j = 0 are skipped), initial scaling gamma = s'y / y'y of the newest valid pair.
    /// History layout: s, y [n, m, d]; rho, alpha [n, m]. Slots newest, newest - 1, ... (mod m), count of them.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="g">grad w(y) [n, d].</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="s">Steps [n, m, d].</param>
    /// <param name="yv">Gradient changes [n, m, d].</param>
    /// <param name="rho">1 / s'y per slot (0 = empty) [n, m].</param>
    /// <param name="alpha">Scratch [n, m].</param>
    /// <param name="direction">Output [n, d].</param>
    /// <param name="slope">Output [n].</param>
    /// <param name="active">Active flags.</param>
    /// <param name="shape">Dimension, history length, newest slot and number of stored pairs.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LbfgsDirection(Index1D t, PointRange range, ArrayView<float> g, ArrayView<float> x, ArrayView<float> s,
        ArrayView<float> yv, ArrayView<float> rho, ArrayView<float> alpha, ArrayView<float> direction,
        ArrayView<float> slope, ArrayView<int> active, LbfgsShape shape)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            LbfgsDirectionPoint(i, g, x, s, yv, rho, alpha, direction, slope, active, shape);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LbfgsDirectionPoint(long i, ArrayView<float> g, ArrayView<float> x, ArrayView<float> s,
        ArrayView<float> yv, ArrayView<float> rho, ArrayView<float> alpha, ArrayView<float> direction,
        ArrayView<float> slope, ArrayView<int> active, LbfgsShape shape)
    {
        int d = shape.Dimension, m = shape.History, newest = shape.Newest, count = shape.Count;
        if (active[i] == 0)
        {
            return;
        }

        long o = i * d;
        long hm = i * m;
        for (int k = 0; k < d; k++)
        {
            direction[o + k] = g[o + k] - x[o + k];
        }

        float gamma = 1f;
        bool haveGamma = false;
        for (int j = 0; j < count; j++)
        {
            int slot = (newest - j + m) % m;
            float r = rho[hm + slot];
            if (r == 0f)
            {
                continue;
            }

            long so = (hm + slot) * d;
            float a = 0f;
            for (int k = 0; k < d; k++)
            {
                a += s[so + k] * direction[o + k];
            }

            a *= r;
            alpha[hm + slot] = a;
            float yy = 0f;
            for (int k = 0; k < d; k++)
            {
                direction[o + k] -= a * yv[so + k];
                yy += yv[so + k] * yv[so + k];
            }

            if (!haveGamma && yy > 0f)
            {
                gamma = 1f / (r * yy);
                haveGamma = true;
            }
        }

        for (int k = 0; k < d; k++)
        {
            direction[o + k] *= gamma;
        }

        for (int j = count - 1; j >= 0; j--)
        {
            int slot = (newest - j + m) % m;
            float r = rho[hm + slot];
            if (r == 0f)
            {
                continue;
            }

            long so = (hm + slot) * d;
            float b = 0f;
            for (int k = 0; k < d; k++)
            {
                b += yv[so + k] * direction[o + k];
            }

            b *= r;
            float coef = alpha[hm + slot] - b;
            for (int k = 0; k < d; k++)
            {
                direction[o + k] += coef * s[so + k];
            }
        }

        float sl = 0f;
        for (int k = 0; k < d; k++)
        {
            direction[o + k] = -direction[o + k];
            sl += (g[o + k] - x[o + k]) * direction[o + k];
        }

        if (!(sl < 0f) || !XMath.IsFinite(sl))
        {
            sl = SteepestDescent(g, x, direction, o, d);
        }

        slope[i] = sl;
    }

    /// <summary>
    /// Stores the pair s = y - yPrev, v = g - gPrev in history slot <paramref name="slot"/> for active
    /// points (rho = 1 / s'v, or 0 when s'v is not safely positive, which skips the slot).
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="y">Current iterates [n, d].</param>
    /// <param name="yPrev">Previous iterates [n, d].</param>
    /// <param name="g">Current gradients [n, d].</param>
    /// <param name="gPrev">Previous gradients [n, d].</param>
    /// <param name="s">Steps [n, m, d].</param>
    /// <param name="yv">Gradient changes [n, m, d].</param>
    /// <param name="rho">[n, m].</param>
    /// <param name="active">Active flags.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="m">History length.</param>
    /// <param name="slot">Slot to write.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LbfgsUpdate(Index1D t, PointRange range, ArrayView<float> y, ArrayView<float> yPrev, ArrayView<float> g,
        ArrayView<float> gPrev, ArrayView<float> s, ArrayView<float> yv, ArrayView<float> rho, ArrayView<int> active,
        int d, int m, int slot)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            LbfgsUpdatePoint(i, y, yPrev, g, gPrev, s, yv, rho, active, d, m, slot);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LbfgsUpdatePoint(long i, ArrayView<float> y, ArrayView<float> yPrev, ArrayView<float> g,
        ArrayView<float> gPrev, ArrayView<float> s, ArrayView<float> yv, ArrayView<float> rho, ArrayView<int> active,
        int d, int m, int slot)
    {
        if (active[i] == 0)
        {
            return;
        }

        long o = i * d;
        long so = (i * m + slot) * d;
        float sy = 0f, ss = 0f, vv = 0f;
        for (int k = 0; k < d; k++)
        {
            float sk = y[o + k] - yPrev[o + k];
            float vk = g[o + k] - gPrev[o + k];
            s[so + k] = sk;
            yv[so + k] = vk;
            sy += sk * vk;
            ss += sk * sk;
            vv += vk * vk;
        }

        rho[i * m + slot] = sy > 1e-10f * XMath.Sqrt(ss * vv) && sy > 0f && XMath.IsFinite(sy) ? 1f / sy : 0f;
    }

    /// <summary>Starts a line search: step[i] = 1 and pending[i] = active[i].</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="step">Steps [n].</param>
    /// <param name="pending">Pending flags [n].</param>
    /// <param name="active">Active flags [n].</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LineSearchStart(Index1D t, PointRange range, ArrayView<float> step, ArrayView<int> pending, ArrayView<int> active)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            step[i] = 1f;
            pending[i] = active[i];
        }
    }

    /// <summary>trial = y + t p for pending points, trial = y otherwise (so every trial is finite when y is).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="y">Iterates [n, d].</param>
    /// <param name="direction">Directions [n, d].</param>
    /// <param name="step">Steps [n].</param>
    /// <param name="pending">Pending flags.</param>
    /// <param name="trial">Output [n, d].</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LineSearchTrial(Index1D t, PointRange range, ArrayView<float> y, ArrayView<float> direction, ArrayView<float> step,
        ArrayView<int> pending, ArrayView<float> trial, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            float ti = pending[i] != 0 ? step[i] : 0f;
            for (int k = 0; k < d; k++)
            {
                trial[o + k] = y[o + k] + ti * direction[o + k];
            }
        }
    }

    /// <summary>
    /// Armijo test phi(trial) &lt;= phi(y) + c t slope + slack, slack = 8 eps (|w(y)| + |x'y|) absorbing float
    /// rounding near the minimum. Accepted: y = trial, pending = 0. Rejected: t /= 2; below
    /// the minimum step the point stalls (status Stalled, inactive). counter[0] += still pending.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Iterates [n, d].</param>
    /// <param name="trial">Trial points [n, d].</param>
    /// <param name="wy">w(y) [n].</param>
    /// <param name="wt">w(trial) [n].</param>
    /// <param name="step">Steps [n].</param>
    /// <param name="slope">Directional derivatives [n].</param>
    /// <param name="pending">Pending flags.</param>
    /// <param name="active">Active flags.</param>
    /// <param name="status">Status.</param>
    /// <param name="counter">counter[0] += still pending.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="constants">Armijo constant c and the smallest step before stalling.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LineSearchUpdate(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> y, ArrayView<float> trial,
        ArrayView<float> wy, ArrayView<float> wt, ArrayView<float> step, ArrayView<float> slope, ArrayView<int> pending,
        ArrayView<int> active, ArrayView<int> status, ArrayView<int> counter, int d, LineSearchConstants constants)
    {
        int stillPending = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            stillPending += LineSearchUpdatePoint(i, x, y, trial, wy, wt, step, slope, pending, active, status, d, constants);
        }

        if (stillPending != 0)
        {
            Atomic.Add(ref counter[0], stillPending);
        }
    }

    /// <summary>The Armijo test of point i; returns 1 if it is still pending (its step was halved), else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int LineSearchUpdatePoint(long i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> trial,
        ArrayView<float> wy, ArrayView<float> wt, ArrayView<float> step, ArrayView<float> slope, ArrayView<int> pending,
        ArrayView<int> active, ArrayView<int> status, int d, LineSearchConstants constants)
    {
        float armijo = constants.Armijo, minStep = constants.MinStep;
        if (pending[i] == 0)
        {
            return 0;
        }

        long o = i * d;
        float xy = 0f, xt = 0f, axy = 0f;
        for (int k = 0; k < d; k++)
        {
            xy += x[o + k] * y[o + k];
            xt += x[o + k] * trial[o + k];
            axy += XMath.Abs(x[o + k] * y[o + k]);
        }

        float t = step[i];
        float phiY = wy[i] - xy;
        float phiT = wt[i] - xt;
        float slack = 8f * 1.1920929e-7f * (XMath.Abs(wy[i]) + axy + XMath.Abs(phiY));
        if (XMath.IsFinite(phiT) && phiT <= phiY + armijo * t * slope[i] + slack)
        {
            for (int k = 0; k < d; k++)
            {
                y[o + k] = trial[o + k];
            }

            pending[i] = 0;
            return 0;
        }

        t *= 0.5f;
        step[i] = t;
        if (t < minStep)
        {
            pending[i] = 0;
            active[i] = 0;
            status[i] = StatusStalled;
            return 0;
        }

        return 1;
    }

    /// <summary>Copies a [n, d] block for active points only (saving the previous iterate and gradient).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="source">Source [n, d].</param>
    /// <param name="destination">Destination [n, d].</param>
    /// <param name="active">Active flags.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CopyActive(Index1D t, PointRange range, ArrayView<float> source, ArrayView<float> destination, ArrayView<int> active, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            if (active[i] == 0)
            {
                continue;
            }

            long o = i * d;
            for (int k = 0; k < d; k++)
            {
                destination[o + k] = source[o + k];
            }
        }
    }

    /// <summary>
    /// Lists the active points: for every point i with active[i] != 0, index[k] = i at a slot k reserved with one
    /// atomic per thread (counter[0], zeroed by the caller, ends as the number listed). The order of the list depends
    /// on thread timing; the solver only uses it to evaluate the potential at the listed points and write the results
    /// back to their own rows, so a point's result does not depend on it.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="active">Active flags [n].</param>
    /// <param name="index">Output: the listed point indices (first counter[0] entries).</param>
    /// <param name="counter">counter[0]: entries listed so far.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ListActive(Index1D t, PointRange range, ArrayView<int> active, ArrayView<int> index, ArrayView<int> counter)
    {
        long first = range.First(t), end = range.Limit(t);
        int mine = 0;
        for (long i = first; i < end; i += range.Stride)
        {
            mine += active[i] != 0 ? 1 : 0;
        }

        if (mine == 0)
        {
            return;
        }

        int k = Atomic.Add(ref counter[0], mine);
        for (long i = first; i < end; i += range.Stride)
        {
            if (active[i] != 0)
            {
                index[k++] = (int)i;
            }
        }
    }

    /// <summary>Row k of <paramref name="destination"/> = row index[k] of <paramref name="source"/> (rows of <paramref name="width"/> floats), k below the range's count.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The listed entries of each thread.</param>
    /// <param name="source">Source rows.</param>
    /// <param name="destination">Packed rows.</param>
    /// <param name="index">Row indices.</param>
    /// <param name="width">Floats per row.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GatherRows(Index1D t, PointRange range, ArrayView<float> source, ArrayView<float> destination, ArrayView<int> index, int width)
    {
        for (long k = range.First(t), end = range.Limit(t); k < end; k += range.Stride)
        {
            long s = (long)index[k] * width, o = k * width;
            for (int c = 0; c < width; c++)
            {
                destination[o + c] = source[s + c];
            }
        }
    }

    /// <summary>Row index[k] of <paramref name="destination"/> = row k of <paramref name="source"/> (the inverse of <see cref="GatherRows"/>).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The listed entries of each thread.</param>
    /// <param name="source">Packed rows.</param>
    /// <param name="destination">Destination rows.</param>
    /// <param name="index">Row indices.</param>
    /// <param name="width">Floats per row.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterRows(Index1D t, PointRange range, ArrayView<float> source, ArrayView<float> destination, ArrayView<int> index, int width)
    {
        for (long k = range.First(t), end = range.Limit(t); k < end; k += range.Stride)
        {
            long s = k * width, o = (long)index[k] * width;
            for (int c = 0; c < width; c++)
            {
                destination[o + c] = source[s + c];
            }
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        foreach (var name in new[] { nameof(Residual), nameof(NewtonDirection), nameof(LbfgsDirection), nameof(LbfgsUpdate),
                     nameof(LineSearchStart), nameof(LineSearchTrial), nameof(LineSearchUpdate), nameof(CopyActive),
                     nameof(ListActive), nameof(GatherRows), nameof(ScatterRows) })
        {
            yield return KernelCatalog.Entry(typeof(ConjugateKernels), name, KernelGrouping.Implicit);
        }
    }
}
