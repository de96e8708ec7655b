using System.Runtime.Intrinsics;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's SIMD form of the fused L-BFGS conjugate solve (<see cref="IcnnLbfgsKernels.SolveLbfgs{TAct}"/>): the
/// same iteration per point (pair acceptance rule rho = 1 / s'v or 0, two-loop recursion skipping pairs with rho = 0, initial
/// scaling from the newest valid pair, steepest-descent fallback, Armijo backtracking with the float slack, reuse of the
/// accepted trial's forward state, tolerance test, iteration cap, statuses) on <see cref="Lanes"/> points at once, with the
/// lanes streaming through a block of points and the line search of the Newton form (<see cref="TrySolveNewton{TAct}"/>).
/// The history is a ring of m slots shared by the lanes and indexed by the block's round: every lane that steps in a round
/// writes its pair, if it has one, into that round's slot, and a lane's slots are cleared (rho = 0) when its point takes its
/// first step, so each lane sees exactly its own pairs, newest first, as the scalar kernel does. Every per-lane update is a
/// select, so another point's stale or non-finite history never reaches a lane. As with Newton, the only difference from the
/// scalar form is the activations' exp and log (last bits): statuses and iteration counts agree but for points near a
/// threshold, and a point's result depends neither on its lane nor on its block. Any input dimension.
/// </summary>
public static unsafe partial class IcnnSimdSolver
{
    /// <summary>
    /// Whether <see cref="TrySolveLbfgs{TAct}"/> runs here for input dimension <paramref name="d"/>: where
    /// <see cref="IsEvaluateSupported"/> holds (AVX2, any d &gt;= 1: the solve needs the forward and reverse passes only).
    /// </summary>
    /// <param name="d">Input dimension.</param>
    /// <returns>True when <see cref="TrySolveLbfgs{TAct}"/> would run.</returns>
    public static bool IsLbfgsSupported(int d) => IsEvaluateSupported(d);

    /// <summary>
    /// Solves grad w(y_i) = x_i for every point from y's contents, as <see cref="IcnnLbfgsKernels.SolveLbfgs{TAct}"/> does
    /// (status at ints[i], iterations at ints[n + i], residual[i], y[i] the solution), when <see cref="IsLbfgsSupported"/>;
    /// returns false and does nothing otherwise. No ICNN scratch or per-point work buffer: each block allocates its own
    /// (the history, 2 m d vectors, among it). Buffers must be CPU accelerator (host) memory; runs synchronously.
    /// </summary>
    /// <typeparam name="TAct">Activation (<see cref="SoftplusActivation"/> or <see cref="EluActivation"/>).</typeparam>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n; slots and scratch strides unused).</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts on entry, solutions on exit [n, d].</param>
    /// <param name="ints">Status [n] then iterations [n].</param>
    /// <param name="residual">|grad w(y) - x| at the returned y [n].</param>
    /// <param name="settings">Tolerances, limits and history length (at least 1).</param>
    /// <param name="blocks">Contiguous blocks of points run in parallel (at least 1).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TrySolveLbfgs<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x, ArrayView<float> y,
        ArrayView<int> ints, ArrayView<float> residual, LbfgsSettings settings, int blocks)
        where TAct : struct, IIcnnActivation
    {
        if (!IsLbfgsSupported(dm.Dim))
        {
            return false;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(settings.History, 1, nameof(settings));
        var limits = new Limits(settings.AbsoluteTolerance, settings.RelativeTolerance, settings.Armijo, settings.MinStep, settings.MaxIterations);
        int m = settings.History;
        RunBlocks(eff, lay, dm, x, y, ints, residual, blocks, typeof(TAct) == typeof(EluActivation)
            ? (a, start, end) => Solver<EluVec>.Lbfgs(a, dm, limits, m, start, end)
            : (a, start, end) => Solver<SoftplusVec>.Lbfgs(a, dm, limits, m, start, end));
        return true;
    }

    private static partial class Solver<TA>
    {
        /// <summary>The L-BFGS solve of the block's points [start, end) with history <paramref name="m"/> (<see cref="TrySolveLbfgs{TAct}"/>).</summary>
        public static void Lbfgs(Buffers a, IcnnDims dm, Limits limits, int m, int start, int end) =>
            Solve(a, dm, limits, start, end, LbfgsStep.Vectors(dm.Dim, m), new LbfgsStep(dm.Dim, m));

        /// <summary>
        /// The L-BFGS direction (<see cref="IcnnLbfgsKernels"/>' LbfgsUpdate, LbfgsDirection and CopyActive, lane-wise). Scratch:
        /// the steps s and gradient changes v [m, d] each, rho and the two-loop alpha [m] each, the previous iterate and
        /// gradient (d each).
        /// </summary>
        private struct LbfgsStep : IStep
        {
            private readonly int d;
            private readonly int m;
            private V* s;
            private V* v;
            private V* rho;
            private V* alpha;
            private V* yPrev;
            private V* gPrev;
            private long round;

            public LbfgsStep(int d, int m)
            {
                this.d = d;
                this.m = m;
            }

            /// <summary>Scratch vectors: 2 m d + 2 m + 2 d.</summary>
            public static long Vectors(int d, int m) => (2L * m * d) + (2L * m) + (2L * d);

            public void Init(V* scratch)
            {
                s = scratch;
                v = s + ((long)m * d);
                rho = v + ((long)m * d);
                alpha = rho + m;
                yPrev = alpha + m;
                gPrev = yPrev + d;
                for (int j = 0; j < m; j++)
                {
                    rho[j] = V.Zero;
                }
            }

            public V Direction(ref Stream lanes, V stepping)
            {
                V* yv = lanes.Y, g = lanes.G, xv = lanes.X, dir = lanes.Dir;

                // Every lane that steps steps at each round until its point stops, so a point's pairs fill consecutive slots of
                // the ring: this round's is the newest.
                int newest = (int)(round++ % m);
                var iters = lanes.Iterations;
                var first = stepping & Vector256.Equals(iters, Vector256<int>.Zero).AsSingle();
                if (Any(first))
                {
                    // A point's first step: no pairs yet (count 0); the slots' rho of its lane's earlier points are cleared.
                    for (int j = 0; j < m; j++)
                    {
                        rho[j] = Vector256.ConditionalSelect(first, V.Zero, rho[j]);
                    }
                }

                // LbfgsUpdate: the pair s = y - yPrev, v = g - gPrev of the last step into the newest slot, rho = 1 / s'v, or 0
                // (slot skipped) when s'v is not safely positive. Lanes without a pair get rho = 0 there.
                var pair = stepping & ~first;
                var rhoNew = V.Zero;
                if (Any(pair))
                {
                    V* sn = s + ((long)newest * d), vn = v + ((long)newest * d);
                    var sy = V.Zero;
                    var ss = V.Zero;
                    var vv = V.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        var sk = yv[k] - yPrev[k];
                        var vk = g[k] - gPrev[k];
                        sn[k] = sk;
                        vn[k] = vk;
                        sy += sk * vk;
                        ss += sk * sk;
                        vv += vk * vk;
                    }

                    var ok = pair & Vector256.GreaterThan(sy, B(1e-10f) * Vector256.Sqrt(ss * vv)) & Vector256.GreaterThan(sy, V.Zero) & Finite(sy);
                    rhoNew = Vector256.ConditionalSelect(ok, V.One / sy, V.Zero);
                }

                rho[newest] = rhoNew;

                // LbfgsDirection: the two-loop recursion over the slots newest first, each lane skipping its slots with rho = 0
                // (those of no pair, a rejected pair or older points), then p = -H (g - x).
                for (int k = 0; k < d; k++)
                {
                    dir[k] = g[k] - xv[k];
                }

                var gamma = V.One;
                var haveGamma = V.Zero;
                for (int j = 0; j < m; j++)
                {
                    if (!Pair(newest, j, stepping, out int slot, out var r, out var valid, out var so, out var vo))
                    {
                        continue;
                    }

                    var a = Dot(so, dir, d) * r;
                    alpha[slot] = a;
                    var yy = V.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        dir[k] = Vector256.ConditionalSelect(valid, dir[k] - (a * vo[k]), dir[k]);
                        yy += vo[k] * vo[k];
                    }

                    var takes = valid & ~haveGamma & Vector256.GreaterThan(yy, V.Zero);
                    gamma = Vector256.ConditionalSelect(takes, V.One / (r * yy), gamma);
                    haveGamma |= takes;
                }

                for (int k = 0; k < d; k++)
                {
                    dir[k] *= gamma;
                }

                for (int j = m - 1; j >= 0; j--)
                {
                    if (!Pair(newest, j, stepping, out int slot, out var r, out var valid, out var so, out var vo))
                    {
                        continue;
                    }

                    var coef = alpha[slot] - (Dot(vo, dir, d) * r);
                    for (int k = 0; k < d; k++)
                    {
                        dir[k] = Vector256.ConditionalSelect(valid, dir[k] + (coef * so[k]), dir[k]);
                    }
                }

                for (int k = 0; k < d; k++)
                {
                    dir[k] = -dir[k];
                }

                // Steepest descent where p is not a finite descent direction.
                var slope = lanes.SlopeOrSteepest(Vector256<float>.AllBitsSet);

                // CopyActive: the iterate and gradient of the stepping lanes, for their next pair.
                for (int k = 0; k < d; k++)
                {
                    yPrev[k] = Vector256.ConditionalSelect(stepping, yv[k], yPrev[k]);
                    gPrev[k] = Vector256.ConditionalSelect(stepping, g[k], gPrev[k]);
                }

                return slope;
            }

            /// <summary>
            /// The pair <paramref name="j"/> places before the newest (slot, rho, s and v) and the mask of the stepping lanes
            /// that use it (rho != 0); false when none does.
            /// </summary>
            private readonly bool Pair(int newest, int j, V stepping, out int slot, out V r, out V valid, out V* so, out V* vo)
            {
                slot = (newest - j + m) % m;
                r = rho[slot];
                valid = stepping & ~Vector256.Equals(r, V.Zero);
                so = s + ((long)slot * d);
                vo = v + ((long)slot * d);
                return Any(valid);
            }

            /// <summary>a'b lane-wise, summed in order of k.</summary>
            private static V Dot(V* a, V* b, int d)
            {
                var sum = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    sum += a[k] * b[k];
                }

                return sum;
            }
        }
    }
}
