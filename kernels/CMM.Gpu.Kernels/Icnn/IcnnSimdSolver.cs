using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CMM.Gpu.Kernels.Conjugate;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;
using VI = System.Runtime.Intrinsics.Vector256<int>;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's SIMD form of the fused Newton conjugate solve (<see cref="IcnnSolveKernels.SolveNewton{TAct}"/>):
/// the same damped Newton iteration with Armijo backtracking, per point, run on <see cref="Lanes"/> points at once, one per
/// lane of a <see cref="Vector256{T}"/> (AVX2; W = 8). Every pass (forward, reverse, the Hessian from the layer Jacobians,
/// the Cholesky factorisation and solves, the line search) is the scalar kernel's, with the same operations in the same order
/// on each lane (weights broadcast, no fused multiply-adds), so the only difference from the scalar form is the activations'
/// exp and log: float polynomial approximations after Cephes' expf and logf (<see cref="VecMath"/>, about 1 ulp) instead of
/// MathF's, which differ in the last bits; a point's result is therefore not bit-identical to the scalar form's (its status
/// and iteration count are the same but for points near a tolerance or step threshold), and does not depend on its group,
/// thread or batch. Lanes are independent, and points stream through them: a lane whose point has stopped (converged, capped,
/// stalled, non-finite) writes it out and takes its block's next point, whose forward pass runs with the next round's (so no
/// lane waits for the slowest point of a group); in the line search a lane that accepted keeps its trial (and the trial's
/// forward state, reused at the next iteration as the scalar kernel does) while the others halve their step. Once a block
/// has no points left its lanes idle on a copy of the block's first point.
/// This is host code, not an ILGPU kernel: ILGPU's CPU accelerator builds its IR from every kernel (verification), which
/// has no form for System.Runtime.Intrinsics; the library calls it instead of launching the pointer kernel
/// (<see cref="IcnnCpuKernels.SolveNewton{TAct}"/>) when the accelerator is the CPU (its buffers are host memory and its
/// launches synchronous), on blocks of points run in parallel.
/// </summary>
public static unsafe partial class IcnnSimdSolver
{
    /// <summary>Largest input dimension of the SIMD Newton solve (its Hessian is d x d vectors per block; larger d run the scalar pointer kernel, where the solver uses Newton at all).</summary>
    public const int MaxDimension = 64;

    /// <summary>Points per group (lanes).</summary>
    public static int Lanes => V.Count;

    /// <summary>Whether the SIMD Newton solve runs here for input dimension <paramref name="d"/>: AVX2 (256-bit vectors) and d &lt;= <see cref="MaxDimension"/>.</summary>
    /// <param name="d">Input dimension.</param>
    /// <returns>True when <see cref="TrySolveNewton{TAct}"/> would run.</returns>
    public static bool IsSupported(int d) => Vector256.IsHardwareAccelerated && d >= 1 && d <= MaxDimension;

    /// <summary>
    /// Solves grad w(y_i) = x_i for every point from y's contents, as <see cref="IcnnSolveKernels.SolveNewton{TAct}"/> does
    /// (status at ints[i], iterations at ints[n + i], residual[i], y[i] the solution), when <see cref="IsSupported"/>;
    /// returns false and does nothing otherwise. Buffers must be CPU accelerator (host) memory; runs synchronously.
    /// </summary>
    /// <typeparam name="TAct">Activation (<see cref="SoftplusActivation"/> or <see cref="EluActivation"/>).</typeparam>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n; slots and scratch strides unused).</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts on entry, solutions on exit [n, d].</param>
    /// <param name="ints">Status [n] then iterations [n].</param>
    /// <param name="residual">|grad w(y) - x| at the returned y [n].</param>
    /// <param name="settings">Tolerances and limits.</param>
    /// <param name="blocks">Contiguous blocks of points run in parallel (at least 1).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TrySolveNewton<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x, ArrayView<float> y,
        ArrayView<int> ints, ArrayView<float> residual, NewtonSettings settings, int blocks)
        where TAct : struct, IIcnnActivation
    {
        if (!IsSupported(dm.Dim))
        {
            return false;
        }

        var limits = new Limits(settings.AbsoluteTolerance, settings.RelativeTolerance, settings.Armijo, settings.MinStep, settings.MaxIterations);
        RunBlocks(eff, lay, dm, x, y, ints, residual, blocks, typeof(TAct) == typeof(EluActivation)
            ? (a, start, end) => Solver<EluVec>.Newton(a, dm, limits, start, end)
            : (a, start, end) => Solver<SoftplusVec>.Newton(a, dm, limits, start, end));
        return true;
    }

    /// <summary>
    /// Runs <paramref name="block"/> on contiguous blocks of whole groups of <see cref="Lanes"/> points (the last one shorter),
    /// at most <paramref name="blocks"/> of them, in parallel; nothing when there are no points. Shared by the SIMD solves.
    /// </summary>
    private static void RunBlocks(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x, ArrayView<float> y,
        ArrayView<int> ints, ArrayView<float> residual, int blocks, Action<Buffers, int, int> block)
    {
        int n = dm.Count, w = V.Count;
        if (n < 1)
        {
            return;
        }

        fixed (float* pe = &eff[0L], px = &x[0L], py = &y[0L], pr = &residual[0L])
        fixed (int* pl = &lay[0L], pi = &ints[0L])
        {
            var a = new Buffers((nint)pe, (nint)pl, (nint)px, (nint)py, (nint)pi, (nint)pr);
            HostBlocks.ForEach((n + w - 1) / w, blocks, (_, first, end) => block(a, first * w, Math.Min(n, end * w)));
        }
    }

    private readonly record struct Buffers(nint Eff, nint Lay, nint X, nint Y, nint Ints, nint Residual);

    /// <summary>The settings the SIMD solves share (those of <see cref="NewtonSettings"/> and <see cref="LbfgsSettings"/>).</summary>
    private readonly record struct Limits(float AbsoluteTolerance, float RelativeTolerance, float Armijo, float MinStep, int MaxIterations);

    /// <summary>A vector form of an activation: act(s), and act'(s), act''(s), lane-wise, with the scalar form's formulas.</summary>
    private interface IVecActivation
    {
        V Value(V s);

        void Derivatives(V s, out V d1, out V d2);
    }

    /// <summary><see cref="SoftplusActivation"/> lane-wise (<see cref="DeviceMath.Softplus"/>, <see cref="DeviceMath.Sigmoid"/>).</summary>
    private readonly struct SoftplusVec : IVecActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public V Value(V s)
        {
            // s > 20 ? s : (s < -20 ? e^s : log(1 + e^s)); e^s may overflow where s > 20 (not selected); NaN stays NaN.
            var e = VecMath.Exp(s);
            var mid = VecMath.Log(V.One + e);
            var r = Vector256.ConditionalSelect(Vector256.LessThan(s, Vector256.Create(-20f)), e, mid);
            r = Vector256.ConditionalSelect(Vector256.GreaterThan(s, Vector256.Create(20f)), s, r);
            return Vector256.ConditionalSelect(Vector256.Equals(s, s), r, s); // NaN stays NaN
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Derivatives(V s, out V d1, out V d2)
        {
            // sigmoid: s >= 0 ? 1 / (1 + e^-s) : e^s / (1 + e^s), both e^-|s|; D2 = g (1 - g).
            var e = VecMath.Exp(-Vector256.Abs(s));
            var g = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(s, V.Zero), V.One, e) / (V.One + e);
            g = Vector256.ConditionalSelect(Vector256.Equals(s, s), g, s); // NaN stays NaN
            d1 = g;
            d2 = g * (V.One - g);
        }
    }

    /// <summary><see cref="EluActivation"/> lane-wise.</summary>
    private readonly struct EluVec : IVecActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public V Value(V s)
        {
            var pos = Vector256.GreaterThan(s, V.Zero);
            var r = Vector256.ConditionalSelect(pos, s, VecMath.Exp(s) - V.One);
            return Vector256.ConditionalSelect(Vector256.Equals(s, s), r, s); // NaN stays NaN
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Derivatives(V s, out V d1, out V d2)
        {
            var pos = Vector256.GreaterThan(s, V.Zero);
            var e = VecMath.Exp(s);
            e = Vector256.ConditionalSelect(Vector256.Equals(s, s), e, s); // NaN stays NaN
            d1 = Vector256.ConditionalSelect(pos, V.One, e);
            d2 = Vector256.ConditionalSelect(pos, V.Zero, e);
        }
    }

    /// <summary>
    /// Float exp and log, lane-wise, after Cephes' expf and logf (about 1 ulp; float arithmetic only, about 3x the
    /// throughput of <see cref="Vector256.Exp(Vector256{float})"/>, which works in double). Exp is meant for x &lt;= 88 (larger
    /// arguments give a finite or infinite value that the activations never select: they use e^s only where s &lt;= 20) and
    /// flushes results below 2^-126 to 0; Log for positive normal finite x (the activations call it on 1 + e^s &gt;= 1).
    /// NaN is not propagated: the callers select it back.
    /// </summary>
    internal static class VecMath
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static V Exp(V x)
        {
            x = Vector256.Max(x, Vector256.Create(-87.33654f));
            x = Vector256.Min(x, Vector256.Create(88f));
            var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
            var r = x - (n * Vector256.Create(0.693359375f));
            r -= n * Vector256.Create(-2.12194440e-4f);
            var z = r * r;
            var p = Vector256.Create(1.9875691500e-4f);
            p = (p * r) + Vector256.Create(1.3981999507e-3f);
            p = (p * r) + Vector256.Create(8.3334519073e-3f);
            p = (p * r) + Vector256.Create(4.1665795894e-2f);
            p = (p * r) + Vector256.Create(1.6666665459e-1f);
            p = (p * r) + Vector256.Create(5.0000001201e-1f);
            p = (p * z) + r + V.One;
            var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
            return p * scale;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static V Log(V x)
        {
            var bits = x.AsInt32();
            var e = Vector256.ConvertToSingle(Vector256.ShiftRightArithmetic(bits, 23) - Vector256.Create(126));
            var m = ((bits & Vector256.Create(unchecked((int)0x807FFFFF))) | Vector256.Create(0x3F000000)).AsSingle(); // [0.5, 1)
            var small = Vector256.LessThan(m, Vector256.Create(0.707106781186547524f));
            e -= V.One & small;
            m = Vector256.ConditionalSelect(small, m + m, m) - V.One;
            var z = m * m;
            var y = Vector256.Create(7.0376836292e-2f);
            y = (y * m) - Vector256.Create(1.1514610310e-1f);
            y = (y * m) + Vector256.Create(1.1676998740e-1f);
            y = (y * m) - Vector256.Create(1.2420140846e-1f);
            y = (y * m) + Vector256.Create(1.4249322787e-1f);
            y = (y * m) - Vector256.Create(1.6668057665e-1f);
            y = (y * m) + Vector256.Create(2.0000714765e-1f);
            y = (y * m) - Vector256.Create(2.4999993993e-1f);
            y = (y * m) + Vector256.Create(3.3333331174e-1f);
            y = y * m * z;
            y += e * Vector256.Create(-2.12194440e-4f);
            y -= z * Vector256.Create(0.5f);
            return m + y + (e * Vector256.Create(0.693359375f));
        }
    }

    private static partial class Solver<TA>
        where TA : struct, IVecActivation
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static V B(float v) => Vector256.Create(v);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static V Finite(V v) => Vector256.Equals(v - v, V.Zero);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool Any(V mask) => Vector256.ExtractMostSignificantBits(mask) != 0u;

        /// <summary>The Newton solve of the block's points [start, end) (<see cref="TrySolveNewton{TAct}"/>).</summary>
        public static void Newton(Buffers a, IcnnDims dm, Limits limits, int start, int end)
        {
            // Two layer Jacobians (M d each), u act'' (M), the Hessian and its per-layer sums (d^2 each), then the constant
            // part of the Hessian (d^2 floats).
            int d = dm.Dim, M = dm.MaxWidth;
            long vectors = (2L * M * d) + M + (2L * d * d) + (((d * d) + V.Count - 1) / V.Count);
            Solve(a, dm, limits, start, end, vectors, new NewtonStep(new Net((float*)a.Eff, (int*)a.Lay, dm), M));
        }

        /// <summary>
        /// Runs a SIMD solve on the block's points [start, end): <see cref="Stream"/>'s rounds (forward and reverse passes,
        /// tolerance test, points streaming through the lanes) with <paramref name="step"/>'s direction and the Armijo line
        /// search, in <see cref="Stream.Vectors"/> plus <paramref name="stepVectors"/> vectors of scratch.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Solve<TStep>(Buffers a, IcnnDims dm, Limits limits, int start, int end, long stepVectors, TStep step)
            where TStep : struct, IStep
        {
            long shared = Stream.Vectors(dm);
            var mem = (V*)NativeMemory.AlignedAlloc((nuint)((shared + stepVectors + 1) * sizeof(V)), 64);
            try
            {
                int* idx = stackalloc int[V.Count];
                var lanes = new Stream(new Net((float*)a.Eff, (int*)a.Lay, dm), dm, a, limits, mem, idx, start, end);
                step.Init(mem + shared);
                while (lanes.Next(out var stepping))
                {
                    if (Any(stepping))
                    {
                        var slope = step.Direction(ref lanes, stepping);
                        lanes.LineSearch(stepping, slope);
                    }
                }
            }
            finally
            {
                NativeMemory.AlignedFree(mem);
            }
        }

        /// <summary>The part of a SIMD solve's iteration between the tolerance test and the line search: the search direction.</summary>
        private interface IStep
        {
            /// <summary>Takes the solver's own scratch (the vectors after <see cref="Stream"/>'s).</summary>
            void Init(V* scratch);

            /// <summary>
            /// Writes the search direction of the <paramref name="stepping"/> lanes at <see cref="Stream.Dir"/> (from the
            /// forward and reverse state at y) and returns its slope (g - x)'p; other lanes' values are never used.
            /// </summary>
            V Direction(ref Stream lanes, V stepping);
        }

        /// <summary>The damped Newton direction p = -H^-1 (g - x), H from the layer Jacobians, or steepest descent.</summary>
        private struct NewtonStep : IStep
        {
            private readonly Net net;
            private readonly int maxWidth;
            private V* ja;
            private V* jb;
            private V* a0;
            private V* hs;
            private V* tt;
            private float* baseHess;

            public NewtonStep(Net net, int maxWidth)
            {
                this.net = net;
                this.maxWidth = maxWidth;
            }

            public void Init(V* scratch)
            {
                int d = net.D, r = net.R;
                ja = scratch;
                jb = ja + (maxWidth * d);
                a0 = jb + (maxWidth * d);
                hs = a0 + maxWidth;
                tt = hs + (d * d);
                baseHess = (float*)(tt + (d * d));

                // The constant part of the Hessian, diag(alpha + D) + R R' (lower triangle), as the scalar kernel sums it.
                for (int k = 0; k < d; k++)
                {
                    for (int c = 0; c <= k; c++)
                    {
                        float v = k == c ? net.Alpha + net.Eff[net.OffDiag + k] : 0f;
                        for (int m = 0; m < r; m++)
                        {
                            v += net.Eff[net.OffLowRank + (k * r) + m] * net.Eff[net.OffLowRank + (c * r) + m];
                        }

                        baseHess[(k * d) + c] = v;
                    }
                }
            }

            public V Direction(ref Stream lanes, V stepping)
            {
                int d = net.D;
                Hessian(net, baseHess, lanes.U, lanes.D1, lanes.D2, ja, jb, a0, hs, tt);

                // Newton direction p = -H^-1 (g - x), or steepest descent where H is not numerically positive definite.
                var ok = Factor(hs, d);
                V* dir = lanes.Dir, g = lanes.G, xv = lanes.X;
                for (int k = 0; k < d; k++)
                {
                    dir[k] = xv[k] - g[k];
                }

                SolveFactored(hs, d, dir);
                return lanes.SlopeOrSteepest(ok);
            }
        }

        /// <summary>
        /// The lanes of a SIMD solve and the iteration's shared passes. Lanes stream through the block: a lane whose point
        /// has stopped writes it out and takes the block's next point (fresh: its forward pass runs at the next round), so no
        /// lane idles while points remain. Vectors: y, x, trial, direction, gradient, centred point (d each); forward state at
        /// y and at the trial (s, z: H each; R'x: r each); adjoints u and act', act'' (H each).
        /// </summary>
        private struct Stream
        {
            public readonly V* Y;
            public readonly V* X;
            public readonly V* T;
            public readonly V* Dir;
            public readonly V* G;
            public readonly V* Yc;
            public readonly V* SY;
            public readonly V* ZY;
            public readonly V* ST;
            public readonly V* ZT;
            public readonly V* U;
            public readonly V* D1;
            public readonly V* D2;
            public readonly V* QY;
            public readonly V* QT;
            private readonly Net net;
            private readonly Limits limits;
            private readonly int* idx;
            private readonly float* px;
            private readonly float* py;
            private readonly float* pres;
            private readonly int* pints;
            private readonly int n;
            private readonly int start;
            private readonly int end;
            private int next;
            private VI runningI;
            private VI freshI;
            private VI status;
            private VI iters;
            private V res;
            private V wY;

            public Stream(Net net, IcnnDims dm, Buffers a, Limits limits, V* mem, int* idx, int start, int end)
            {
                int d = dm.Dim, H = dm.Hidden, r = dm.Rank;
                Y = mem;
                X = Y + d;
                T = X + d;
                Dir = T + d;
                G = Dir + d;
                Yc = G + d;
                SY = Yc + d;
                ZY = SY + H;
                ST = ZY + H;
                ZT = ST + H;
                U = ZT + H;
                D1 = U + H;
                D2 = D1 + H;
                QY = D2 + H;
                QT = QY + r;
                this.net = net;
                this.limits = limits;
                this.idx = idx;
                px = (float*)a.X;
                py = (float*)a.Y;
                pres = (float*)a.Residual;
                pints = (int*)a.Ints;
                n = dm.Count;
                this.start = start;
                this.end = end;
                next = start;
                runningI = VI.Zero;
                status = Vector256.Create(ConjugateKernels.StatusRunning);
                iters = VI.Zero;
                res = V.Zero;
                wY = V.Zero;
                for (int l = 0; l < V.Count; l++)
                {
                    LoadLane(l, next < end ? next : start);
                    idx[l] = next < end ? next++ : -1;
                    if (idx[l] >= 0)
                    {
                        runningI = runningI.WithElement(l, -1);
                    }
                }

                freshI = runningI;
            }

            /// <summary>Vectors of scratch a stream takes: 6 d + 7 H + 2 r.</summary>
            public static long Vectors(IcnnDims dm) => (6L * dm.Dim) + (7L * dm.Hidden) + (2L * dm.Rank);

            /// <summary>Accepted steps of each lane's point so far.</summary>
            public readonly VI Iterations => iters;

            /// <summary>
            /// Starts a round: the forward pass of fresh lanes, the reverse pass, the tolerance test and the cap; stopped points
            /// are written out and their lanes take new points. Returns false once no lane runs; <paramref name="stepping"/>
            /// is the mask of the lanes that take a step this round (possibly none).
            /// </summary>
            public bool Next(out V stepping)
            {
                var running = runningI.AsSingle();
                stepping = V.Zero;
                if (!Any(running))
                {
                    return false;
                }

                int d = net.D;
                V* yv = Y, xv = X, g = G;
                var fresh = freshI.AsSingle();
                if (Any(fresh))
                {
                    KeepTrialState(fresh, Forward(net, yv, Yc, ST, ZT, QT));
                    freshI = VI.Zero;
                }

                Backward(net, yv, Yc, SY, QY, U, D1, D2, g);
                var r2 = V.Zero;
                var x2 = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    var rk = g[k] - xv[k];
                    r2 += rk * rk;
                    x2 += xv[k] * xv[k];
                }

                var resNow = Vector256.Sqrt(r2);
                res = Vector256.ConditionalSelect(running, resNow, res);
                var nonFinite = running & ~Finite(resNow);
                status = Vector256.ConditionalSelect(nonFinite.AsInt32(), Vector256.Create(ConjugateKernels.StatusNonFinite), status);
                var still = running & ~nonFinite;
                var converged = still & Vector256.LessThanOrEqual(resNow, B(limits.AbsoluteTolerance) + (B(limits.RelativeTolerance) * Vector256.Sqrt(x2)));
                status = Vector256.ConditionalSelect(converged.AsInt32(), Vector256.Create(ConjugateKernels.StatusConverged), status);
                still &= ~converged;
                still &= ~Vector256.Equals(iters, Vector256.Create(limits.MaxIterations)).AsSingle(); // the cap: StatusRunning
                var stopped = running & ~still;
                if (Any(stopped))
                {
                    Retire(Vector256.ExtractMostSignificantBits(stopped));
                }

                stepping = still;
                return true;
            }

            /// <summary>
            /// The slope (g - x)'p of the direction p at <see cref="Dir"/> where <paramref name="ok"/> holds and it is a
            /// finite descent direction; elsewhere p becomes steepest descent -(g - x) and the slope -|g - x|^2.
            /// </summary>
            public readonly V SlopeOrSteepest(V ok)
            {
                int d = net.D;
                V* dir = Dir, g = G, xv = X;
                var slope = V.Zero;
                var sdSlope = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    var rk = g[k] - xv[k];
                    slope += rk * dir[k];
                    sdSlope -= rk * rk;
                }

                ok &= Vector256.LessThan(slope, V.Zero) & Finite(slope);
                for (int k = 0; k < d; k++)
                {
                    dir[k] = Vector256.ConditionalSelect(ok, dir[k], -(g[k] - xv[k]));
                }

                return Vector256.ConditionalSelect(ok, slope, sdSlope);
            }

            /// <summary>
            /// Armijo backtracking on phi(y) = w(y) - &lt;x, y&gt; along <see cref="Dir"/> for the <paramref name="stepping"/>
            /// lanes, with the batched solver's float slack. A lane that accepts keeps its trial and the trial's forward state
            /// (reused at the next round) while the others halve their step; lanes that accept none stall and are retired.
            /// </summary>
            public void LineSearch(V stepping, V slope)
            {
                int d = net.D;
                V* yv = Y, xv = X, tv = T, dir = Dir;
                var xy = V.Zero;
                var axy = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    var p = xv[k] * yv[k];
                    xy += p;
                    axy += Vector256.Abs(p);
                }

                var phiY = wY - xy;
                var slack = B(8f * 1.1920929e-7f) * (Vector256.Abs(wY) + axy + Vector256.Abs(phiY));
                var t = V.One;
                var accepted = V.Zero;
                var searching = 1f >= limits.MinStep ? stepping : V.Zero;
                while (Any(searching))
                {
                    var xt = V.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        var v = yv[k] + (t * dir[k]);
                        tv[k] = v;
                        xt += xv[k] * v;
                    }

                    var wT = Forward(net, tv, Yc, ST, ZT, QT);
                    var phiT = wT - xt;
                    var acc = searching & Finite(phiT) & Vector256.LessThanOrEqual(phiT, phiY + (B(limits.Armijo) * t * slope) + slack);
                    if (Any(acc))
                    {
                        // Accepting lanes take the trial and its forward state (reused at the next iteration).
                        for (int k = 0; k < d; k++)
                        {
                            yv[k] = Vector256.ConditionalSelect(acc, tv[k], yv[k]);
                        }

                        KeepTrialState(acc, wT);
                        accepted |= acc;
                        searching &= ~acc;
                    }

                    t = Vector256.ConditionalSelect(searching, t * B(0.5f), t);
                    searching &= Vector256.GreaterThanOrEqual(t, B(limits.MinStep));
                }

                var stalled = stepping & ~accepted;
                status = Vector256.ConditionalSelect(stalled.AsInt32(), Vector256.Create(ConjugateKernels.StatusStalled), status);
                iters = Vector256.ConditionalSelect(accepted.AsInt32(), iters + Vector256.Create(1), iters);
                if (Any(stalled))
                {
                    Retire(Vector256.ExtractMostSignificantBits(stalled));
                }
            }

            /// <summary>The forward state of the last pass at the trial (s, z, R'x; w = <paramref name="wT"/>) becomes y's in the lanes of <paramref name="mask"/>.</summary>
            private void KeepTrialState(V mask, V wT)
            {
                int H = net.Hidden, r = net.R;
                V* sY = SY, zY = ZY, qY = QY, sT = ST, zT = ZT, qT = QT;
                for (int j = 0; j < H; j++)
                {
                    sY[j] = Vector256.ConditionalSelect(mask, sT[j], sY[j]);
                    zY[j] = Vector256.ConditionalSelect(mask, zT[j], zY[j]);
                }

                for (int m = 0; m < r; m++)
                {
                    qY[m] = Vector256.ConditionalSelect(mask, qT[m], qY[m]);
                }

                wY = Vector256.ConditionalSelect(mask, wT, wY);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private readonly void LoadLane(int l, int i)
            {
                int d = net.D;
                for (int k = 0; k < d; k++)
                {
                    long o = ((long)i * d) + k;
                    Y[k] = Y[k].WithElement(l, py[o]);
                    X[k] = X[k].WithElement(l, px[o]);
                }
            }

            /// <summary>Writes out the points of the lanes in <paramref name="bits"/> (stopped) and gives each the block's next point, if any.</summary>
            private void Retire(uint bits)
            {
                int d = net.D;
                for (int l = 0; l < V.Count; l++)
                {
                    if ((bits & (1u << l)) == 0)
                    {
                        continue;
                    }

                    int i = idx[l];
                    for (int k = 0; k < d; k++)
                    {
                        py[((long)i * d) + k] = Y[k].GetElement(l);
                    }

                    pres[i] = res.GetElement(l);
                    pints[i] = status.GetElement(l);
                    pints[n + i] = iters.GetElement(l);
                    if (next < end)
                    {
                        LoadLane(l, next);
                        idx[l] = next++;
                        freshI = freshI.WithElement(l, -1);
                        status = status.WithElement(l, ConjugateKernels.StatusRunning);
                        iters = iters.WithElement(l, 0);
                        res = res.WithElement(l, 0f);
                    }
                    else
                    {
                        // No point left: the lane idles on a copy of the block's first point (finite work, results never written).
                        LoadLane(l, start);
                        idx[l] = -1;
                        runningI = runningI.WithElement(l, 0);
                    }
                }
            }
        }


        /// <summary>Forward pass at yIn (lane-wise <see cref="IcnnKernels.Forward{TAct, TF}"/>): s, z, R'(y - m); returns w.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static V Forward(in Net net, V* yIn, V* yc, V* s, V* z, V* q)
        {
            var act = default(TA);
            int d = net.D;
            float* e = net.Eff;
            for (int k = 0; k < d; k++)
            {
                yc[k] = yIn[k] - B(e[net.Centre + k]);
            }

            int hp = 0, soPrev = 0;
            for (int l = 0; l < net.L; l++)
            {
                int* ly = net.Lay + (5 * l);
                int h = ly[0], offW = ly[1], offB = ly[2], offP = ly[3], so = ly[4];
                int j = 0;
                for (; j + 4 <= h; j += 4)
                {
                    // Four units at once: four independent sums, each in the scalar kernel's order.
                    float* w0 = e + offW + (j * d);
                    var s0 = B(e[offB + j]);
                    var s1 = B(e[offB + j + 1]);
                    var s2 = B(e[offB + j + 2]);
                    var s3 = B(e[offB + j + 3]);
                    for (int k = 0; k < d; k++)
                    {
                        var c = yc[k];
                        s0 += B(w0[k]) * c;
                        s1 += B(w0[d + k]) * c;
                        s2 += B(w0[(2 * d) + k]) * c;
                        s3 += B(w0[(3 * d) + k]) * c;
                    }

                    if (l > 0)
                    {
                        float* p0 = e + offP + (j * hp);
                        V* zp = z + soPrev;
                        for (int k = 0; k < hp; k++)
                        {
                            var c = zp[k];
                            s0 += B(p0[k]) * c;
                            s1 += B(p0[hp + k]) * c;
                            s2 += B(p0[(2 * hp) + k]) * c;
                            s3 += B(p0[(3 * hp) + k]) * c;
                        }
                    }

                    s[so + j] = s0;
                    s[so + j + 1] = s1;
                    s[so + j + 2] = s2;
                    s[so + j + 3] = s3;
                    z[so + j] = act.Value(s0);
                    z[so + j + 1] = act.Value(s1);
                    z[so + j + 2] = act.Value(s2);
                    z[so + j + 3] = act.Value(s3);
                }

                for (; j < h; j++)
                {
                    float* w0 = e + offW + (j * d);
                    var s0 = B(e[offB + j]);
                    for (int k = 0; k < d; k++)
                    {
                        s0 += B(w0[k]) * yc[k];
                    }

                    if (l > 0)
                    {
                        float* p0 = e + offP + (j * hp);
                        for (int k = 0; k < hp; k++)
                        {
                            s0 += B(p0[k]) * z[soPrev + k];
                        }
                    }

                    s[so + j] = s0;
                    z[so + j] = act.Value(s0);
                }

                hp = h;
                soPrev = so;
            }

            var w = V.Zero;
            for (int j = 0; j < hp; j++)
            {
                w += B(e[net.OffOut + j]) * z[soPrev + j];
            }

            var quad = V.Zero;
            var lin = V.Zero;
            for (int k = 0; k < d; k++)
            {
                var xk = yc[k];
                quad += B(net.Alpha + e[net.OffDiag + k]) * xk * xk;
                lin += B(e[net.OffLinear + k]) * xk;
            }

            int r = net.R;
            for (int m = 0; m < r; m++)
            {
                var qm = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    qm += B(e[net.OffLowRank + (k * r) + m]) * yc[k];
                }

                q[m] = qm;
                quad += qm * qm;
            }

            return w + (B(0.5f) * quad) + lin;
        }

        /// <summary>Reverse pass after the forward state at y (lane-wise <see cref="IcnnKernels.Backward{TAct, TF}"/>): u, grad w (g), and act', act'' per unit.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Backward(in Net net, V* yv, V* yc, V* s, V* q, V* u, V* d1, V* d2, V* g)
        {
            var act = default(TA);
            int d = net.D, r = net.R, L = net.L;
            float* e = net.Eff;
            for (int k = 0; k < d; k++)
            {
                yc[k] = yv[k] - B(e[net.Centre + k]);
            }

            for (int k = 0; k < d; k++)
            {
                var gk = (B(net.Alpha + e[net.OffDiag + k]) * yc[k]) + B(e[net.OffLinear + k]);
                for (int m = 0; m < r; m++)
                {
                    gk += B(e[net.OffLowRank + (k * r) + m]) * q[m];
                }

                g[k] = gk;
            }

            int* top = net.Lay + (5 * (L - 1));
            for (int j = 0; j < top[0]; j++)
            {
                u[top[4] + j] = B(e[net.OffOut + j]);
            }

            for (int l = L - 1; l >= 0; l--)
            {
                int* ly = net.Lay + (5 * l);
                int h = ly[0], offW = ly[1], offP = ly[3], so = ly[4];
                int hp = l > 0 ? ly[-5] : 0;
                int soPrev = l > 0 ? ly[-1] : 0;
                V* up = u + soPrev;
                for (int k = 0; k < hp; k++)
                {
                    up[k] = V.Zero;
                }

                for (int j = 0; j < h; j++)
                {
                    act.Derivatives(s[so + j], out var a1, out var a2);
                    d1[so + j] = a1;
                    d2[so + j] = a2;
                    var delta = u[so + j] * a1;
                    float* wr = e + offW + (j * d);
                    for (int k = 0; k < d; k++)
                    {
                        g[k] += B(wr[k]) * delta;
                    }

                    if (l > 0)
                    {
                        float* pr = e + offP + (j * hp);
                        for (int k = 0; k < hp; k++)
                        {
                            up[k] += B(pr[k]) * delta;
                        }
                    }
                }
            }
        }

        /// <summary>
        /// The lower triangle of Hess w at the state of the last forward and reverse passes (lane-wise
        /// <see cref="IcnnKernels.HessianJacobian{TAct, TF, TO}"/>, each entry summed in the same order).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Hessian(in Net net, float* baseHess, V* u, V* d1, V* d2, V* cur, V* prev, V* a0, V* hs, V* tt)
        {
            int d = net.D, L = net.L;
            float* e = net.Eff;
            for (int k = 0; k < d; k++)
            {
                for (int c = 0; c <= k; c++)
                {
                    hs[(k * d) + c] = B(baseHess[(k * d) + c]);
                }
            }

            int hp = 0;
            for (int l = 0; l < L; l++)
            {
                int* ly = net.Lay + (5 * l);
                int h = ly[0], offW = ly[1], offP = ly[3], so = ly[4];

                // J_l = W_l + P_l K_(l-1): row j, column c summed over k in order.
                for (int j = 0; j < h; j++)
                {
                    float* wr = e + offW + (j * d);
                    V* cj = cur + (j * d);
                    for (int c = 0; c < d; c++)
                    {
                        cj[c] = B(wr[c]);
                    }

                    float* pr = e + offP + (j * hp);
                    for (int k = 0; k < hp; k++)
                    {
                        var pk = B(pr[k]);
                        V* pv = prev + (k * d);
                        for (int c = 0; c < d; c++)
                        {
                            cj[c] += pk * pv[c];
                        }
                    }
                }

                // u act''(s) per unit.
                for (int j = 0; j < h; j++)
                {
                    a0[j] = u[so + j] * d2[so + j];
                }

                // tt[k, c] = sum_j (u_j act''_j J[j, k]) J[j, c], j in order from 0, then added to the Hessian.
                for (int k = 0; k < d; k++)
                {
                    for (int c = 0; c <= k; c++)
                    {
                        tt[(k * d) + c] = V.Zero;
                    }
                }

                for (int j = 0; j < h; j++)
                {
                    V* cj = cur + (j * d);
                    var aj = a0[j];
                    for (int k = 0; k < d; k++)
                    {
                        var bk = aj * cj[k];
                        V* tk = tt + (k * d);
                        for (int c = 0; c <= k; c++)
                        {
                            tk[c] += bk * cj[c];
                        }
                    }
                }

                for (int k = 0; k < d; k++)
                {
                    for (int c = 0; c <= k; c++)
                    {
                        hs[(k * d) + c] += tt[(k * d) + c];
                    }
                }

                if (l + 1 < L)
                {
                    // K_l = diag(act'(s_l)) J_l, in place; it becomes the next layer's prev.
                    for (int j = 0; j < h; j++)
                    {
                        var a1 = d1[so + j];
                        V* cj = cur + (j * d);
                        for (int c = 0; c < d; c++)
                        {
                            cj[c] = a1 * cj[c];
                        }
                    }

                    V* swap = cur;
                    cur = prev;
                    prev = swap;
                }

                hp = h;
            }
        }

        /// <summary>Cholesky factorisation in place, lane-wise (<see cref="Linalg.DeviceCholesky.Factor{TF}"/>); the mask of lanes whose pivots were all positive and finite.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static V Factor(V* a, int d)
        {
            var ok = Vector256<float>.AllBitsSet;
            for (int c = 0; c < d; c++)
            {
                V* ac = a + (c * d);
                var s = ac[c];
                for (int k = 0; k < c; k++)
                {
                    var lk = ac[k];
                    s -= lk * lk;
                }

                ok &= Vector256.GreaterThan(s, V.Zero) & Finite(s);
                var diag = Vector256.Sqrt(s);
                ac[c] = diag;
                for (int r = c + 1; r < d; r++)
                {
                    V* ar = a + (r * d);
                    var t = ar[c];
                    for (int k = 0; k < c; k++)
                    {
                        t -= ar[k] * ac[k];
                    }

                    ar[c] = t / diag;
                }
            }

            return ok;
        }

        /// <summary>Solves A z = b in place with the factor L (lane-wise <see cref="Linalg.DeviceCholesky.Solve{TF}"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void SolveFactored(V* l, int d, V* b)
        {
            for (int r = 0; r < d; r++)
            {
                var t = b[r];
                V* lr = l + (r * d);
                for (int k = 0; k < r; k++)
                {
                    t -= lr[k] * b[k];
                }

                b[r] = t / lr[r];
            }

            for (int r = d - 1; r >= 0; r--)
            {
                var t = b[r];
                for (int k = r + 1; k < d; k++)
                {
                    t -= l[(k * d) + r] * b[k];
                }

                b[r] = t / l[(r * d) + r];
            }
        }
    }

    /// <summary>The network's sizes and offsets, and the parameter and layer-table pointers.</summary>
    private readonly struct Net
    {
        public readonly float* Eff;
        public readonly int* Lay;
        public readonly int D;
        public readonly int L;
        public readonly int R;
        public readonly int Hidden;
        public readonly int Centre;
        public readonly int OffOut;
        public readonly int OffDiag;
        public readonly int OffLowRank;
        public readonly int OffLinear;
        public readonly float Alpha;

        public Net(float* eff, int* lay, IcnnDims dm)
        {
            Eff = eff;
            Lay = lay;
            D = dm.Dim;
            L = dm.Layers;
            R = dm.Rank;
            Hidden = dm.Hidden;
            Centre = dm.ParamCount;
            OffOut = dm.OffOut;
            OffDiag = dm.OffDiag;
            OffLowRank = dm.OffLowRank;
            OffLinear = dm.OffLinear;
            Alpha = dm.Alpha;
        }
    }
}
