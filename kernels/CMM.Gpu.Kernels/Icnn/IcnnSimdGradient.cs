using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's SIMD form of the value parameter gradient (<see cref="IcnnKernels.ValueParameterGradient{TAct}"/>):
/// per-slot partial sums of d w(x_i) / d theta (effective parameters) and of w(x_i) in column P, with <see cref="Lanes"/>
/// points per step, one per lane (forward pass and its reverse with the weights broadcast, the scalar kernel's operations
/// per lane). Each block of points accumulates its sums in vectors (P + 1 of them) and adds the lanes at the end into one
/// row of the partials; the chain rule of the reparameterisation stays in the reduction (<see cref="IcnnKernels.ReduceSlots"/>).
/// Sums run in another order than the scalar kernel's, and exp and log are <see cref="IcnnSimdSolver"/>'s polynomials, so
/// the result agrees with the scalar form to float rounding, not bit for bit (it does not depend on the thread schedule).
/// </summary>
public static unsafe partial class IcnnSimdSolver
{
    /// <summary>Number of partial rows (blocks) <see cref="TryValueParameterGradient{TAct}"/> writes for n points.</summary>
    /// <param name="n">Number of points.</param>
    /// <param name="slots">Rows of the partial buffer.</param>
    /// <param name="blocks">Blocks wanted (threads).</param>
    /// <returns>Rows written (0 when n = 0).</returns>
    public static int GradientBlocks(int n, int slots, int blocks)
    {
        return HostBlocks.Count((n + V.Count - 1) / V.Count, Math.Min(blocks, slots));
    }

    /// <summary>
    /// Whether the SIMD parameter gradients (<see cref="TryValueParameterGradient{TAct}"/>, <see cref="TryLossParameterGradient{TAct}"/>)
    /// run here for input dimension <paramref name="d"/>: where <see cref="IsEvaluateSupported"/> holds (AVX2, any d &gt;= 1:
    /// they hold P + 1 accumulators per block and no d x d matrix).
    /// </summary>
    /// <param name="d">Input dimension.</param>
    /// <returns>True when they would run.</returns>
    public static bool IsGradientSupported(int d) => IsEvaluateSupported(d);

    /// <summary>
    /// Writes rows 0 .. <see cref="GradientBlocks"/> - 1 of the partials (strides from <paramref name="dm"/>) as
    /// <see cref="IcnnKernels.ValueParameterGradient{TAct}"/> writes its slots: their column sums are the kernel's. Returns
    /// false and does nothing where <see cref="IsGradientSupported"/> is false. CPU accelerator (host) memory; synchronous.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n; Slots = rows of the partials; partial strides).</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="partial">Partials.</param>
    /// <param name="blocks">Blocks of points run in parallel (at least 1; at most Slots are used).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TryValueParameterGradient<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> partial, int blocks)
        where TAct : struct, IIcnnActivation
    {
        if (!IsGradientSupported(dm.Dim))
        {
            return false;
        }

        bool elu = typeof(TAct) == typeof(EluActivation);
        ForGradientBlocks(dm, partial, blocks, (row, start, end) =>
        {
            fixed (float* pe = &eff[0L], px = &x[0L], pp = &partial[0L])
            fixed (int* pl = &lay[0L])
            {
                var block = new GradientBlock((nint)pe, (nint)pl, (nint)pp, dm, row, start, end);
                if (elu)
                {
                    Solver<EluVec>.Accumulate(block, new Solver<EluVec>.ValuePoints((nint)px));
                }
                else
                {
                    Solver<SoftplusVec>.Accumulate(block, new Solver<SoftplusVec>.ValuePoints((nint)px));
                }
            }
        });
        return true;
    }

    /// <summary>
    /// Runs <paramref name="block"/>(row, start, end) for the <see cref="GradientBlocks"/> blocks of consecutive lane groups,
    /// block b on points [start, end) into partial row b, in parallel; with no points it runs none and sets row 0 to zero, as
    /// the scalar kernel's one slot does.
    /// </summary>
    private static void ForGradientBlocks(IcnnDims dm, ArrayView<float> partial, int blocks, Action<int, int, int> block)
    {
        int n = dm.Count, w = V.Count;
        int nb = GradientBlocks(n, dm.Slots, blocks);
        if (nb == 0)
        {
            for (int j = 0; j <= dm.ParamCount; j++)
            {
                partial[j * dm.PartialParamStride] = 0f;
            }

            return;
        }

        HostBlocks.ForEach((n + w - 1) / w, Math.Min(blocks, dm.Slots), (b, first, end) => block(b, first * w, Math.Min(n, end * w)));
    }

    /// <summary>One block of a parameter gradient: the buffers (host pointers), its partial row and its points [Start, End).</summary>
    private readonly record struct GradientBlock(nint Eff, nint Lay, nint Partial, IcnnDims Dm, int Row, int Start, int End);

    /// <summary>What one point group adds to a block's accumulators (<see cref="Solver{TA}.Accumulate{TG}"/>).</summary>
    private interface IGroupGradient
    {
        /// <summary>Vectors of scratch the group needs besides the P + 1 accumulators.</summary>
        long ScratchVectors(IcnnDims dm);

        /// <summary>Adds the contributions of points idx[0 .. W) to acc, lane by lane, each times its weight in wv (1, or 0 for a
        /// lane past the block's end, which repeats the block's first point).</summary>
        void Add(in Net net, IcnnDims dm, int* idx, V wv, V* acc, V* scratch);
    }

    private static partial class Solver<TA>
    {
        /// <summary>
        /// One block: accumulates its groups' contributions in P + 1 vectors (lanes past the block's end repeat its first
        /// point with weight 0), then writes their lane sums to the block's partial row.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Accumulate<TG>(GradientBlock block, TG group)
            where TG : struct, IGroupGradient
        {
            var dm = block.Dm;
            int P = dm.ParamCount, W = V.Count;
            var net = new Net((float*)block.Eff, (int*)block.Lay, dm);
            long count = P + 1L + group.ScratchVectors(dm);
            var mem = (V*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(V)), 64);
            try
            {
                V* acc = mem;
                for (int j = 0; j <= P; j++)
                {
                    acc[j] = V.Zero;
                }

                int* idx = stackalloc int[W];
                float* wt = stackalloc float[W];
                for (int i0 = block.Start; i0 < block.End; i0 += W)
                {
                    for (int lane = 0; lane < W; lane++)
                    {
                        bool live = i0 + lane < block.End;
                        idx[lane] = live ? i0 + lane : block.Start;
                        wt[lane] = live ? 1f : 0f;
                    }

                    group.Add(net, dm, idx, Vector256.Load(wt), acc, acc + P + 1);
                }

                float* prow = (float*)block.Partial + (block.Row * dm.PartialSlotStride);
                for (int j = 0; j <= P; j++)
                {
                    prow[j * dm.PartialParamStride] = Vector256.Sum(acc[j]);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(mem);
            }
        }

        /// <summary>Loads coordinates 0 .. d - 1 of the points idx[0 .. W) of <paramref name="src"/> [n, d], one point per lane.</summary>
        private static void Gather(float* src, int d, int* idx, V* dst)
        {
            for (int lane = 0; lane < V.Count; lane++)
            {
                float* pi = src + ((long)idx[lane] * d);
                for (int k = 0; k < d; k++)
                {
                    ((float*)(dst + k))[lane] = pi[k];
                }
            }
        }

        /// <summary>The value parameter gradient's group: d w / d theta and w (column P) at the points of <c>x</c>.</summary>
        /// <param name="x">Points [n, d] (host pointer).</param>
        public readonly struct ValuePoints(nint x) : IGroupGradient
        {
            /// <inheritdoc/>
            public long ScratchVectors(IcnnDims dm) =>
                // The points (d), centred points (d), s and z (H each), R'x (r), adjoints (2 M).
                (2L * dm.Dim) + (2L * dm.Hidden) + dm.Rank + (2L * dm.MaxWidth) + 1;

            /// <inheritdoc/>
            public void Add(in Net net, IcnnDims dm, int* idx, V wv, V* acc, V* scratch)
            {
                var act = default(TA);
                int d = dm.Dim, r = dm.Rank, H = dm.Hidden, M = dm.MaxWidth, P = dm.ParamCount, L = dm.Layers;
                float* e = net.Eff;
                int* lay = net.Lay;
                V* xv = scratch, yc = xv + d, s = yc + d, z = s + H, q = z + H, a0 = q + r, a1 = a0 + M;
                Gather((float*)x, d, idx, xv);
                var val = Forward(net, xv, yc, s, z, q);
                acc[P] += wv * val;

                int hTop = lay[5 * (L - 1)], soTop = lay[5 * (L - 1) + 4];
                V* cur = a0, nxt = a1;
                for (int j = 0; j < hTop; j++)
                {
                    cur[j] = B(e[dm.OffOut + j]) * wv;
                    acc[dm.OffOut + j] += wv * z[soTop + j];
                }

                for (int l = L - 1; l >= 0; l--)
                {
                    int* ly = lay + (5 * l);
                    int h = ly[0], offW = ly[1], offB = ly[2], offP = ly[3], so = ly[4];
                    int hp = l > 0 ? lay[5 * (l - 1)] : 0;
                    int soPrev = l > 0 ? lay[5 * (l - 1) + 4] : 0;
                    for (int k = 0; k < hp; k++)
                    {
                        nxt[k] = V.Zero;
                    }

                    for (int j = 0; j < h; j++)
                    {
                        act.Derivatives(s[so + j], out var d1, out _);
                        var delta = cur[j] * d1;
                        acc[offB + j] += delta;
                        V* aw = acc + offW + (j * d);
                        for (int k = 0; k < d; k++)
                        {
                            aw[k] += delta * yc[k];
                        }

                        if (l > 0)
                        {
                            V* ap = acc + offP + (j * hp);
                            float* pr = e + offP + (j * hp);
                            V* zp = z + soPrev;
                            for (int k = 0; k < hp; k++)
                            {
                                ap[k] += delta * zp[k];
                                nxt[k] += B(pr[k]) * delta;
                            }
                        }
                    }

                    V* t = cur;
                    cur = nxt;
                    nxt = t;
                }

                for (int k = 0; k < d; k++)
                {
                    var xk = yc[k];
                    var xw = xk * wv;
                    acc[dm.OffDiag + k] += B(0.5f) * xk * xw;
                    acc[dm.OffLinear + k] += xw;
                    V* al = acc + dm.OffLowRank + (k * r);
                    for (int m = 0; m < r; m++)
                    {
                        al[m] += xw * q[m];
                    }
                }
            }
        }
    }
}
