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
        if (n < 1)
        {
            return 0;
        }

        int groups = (n + V.Count - 1) / V.Count;
        int nb = Math.Clamp(Math.Min(blocks, slots), 1, groups);
        int per = (groups + nb - 1) / nb;
        return (groups + per - 1) / per;
    }

    /// <summary>
    /// Writes rows 0 .. <see cref="GradientBlocks"/> - 1 of the partials (strides from <paramref name="dm"/>) as
    /// <see cref="IcnnKernels.ValueParameterGradient{TAct}"/> writes its slots: their column sums are the kernel's. Returns
    /// false and does nothing where <see cref="IsSupported"/> is false. CPU accelerator (host) memory; synchronous.
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
        if (!IsSupported(dm.Dim))
        {
            return false;
        }

        int n = dm.Count, w = V.Count;
        int nb = GradientBlocks(n, dm.Slots, blocks);
        if (nb == 0)
        {
            // No points: row 0 holds zeros, as the scalar kernel's one slot does.
            for (int j = 0; j <= dm.ParamCount; j++)
            {
                partial[(j * dm.PartialParamStride)] = 0f;
            }

            return true;
        }

        int groups = (n + w - 1) / w;
        int per = (groups + nb - 1) / nb;
        fixed (float* pe = &eff[0L], px = &x[0L], pp = &partial[0L])
        fixed (int* pl = &lay[0L])
        {
            nint e = (nint)pe, l = (nint)pl, xs = (nint)px, ps = (nint)pp;
            bool elu = typeof(TAct) == typeof(EluActivation);
            Action<int> run = b =>
            {
                int start = b * per * w, end = Math.Min(n, (b + 1) * per * w);
                if (elu)
                {
                    Solver<EluVec>.ValueGradientBlock(e, l, xs, ps, dm, b, start, end);
                }
                else
                {
                    Solver<SoftplusVec>.ValueGradientBlock(e, l, xs, ps, dm, b, start, end);
                }
            };
            if (nb == 1)
            {
                run(0);
            }
            else
            {
                Parallel.For(0, nb, run);
            }
        }

        return true;
    }

    private static partial class Solver<TA>
    {
        /// <summary>One block's points [start, end): partial row <paramref name="row"/>.</summary>
        public static void ValueGradientBlock(nint effP, nint layP, nint xP, nint partP, IcnnDims dm, int row, int start, int end)
        {
            var act = default(TA);
            int d = dm.Dim, r = dm.Rank, H = dm.Hidden, M = dm.MaxWidth, P = dm.ParamCount, L = dm.Layers;
            int W = V.Count;
            var net = new Net((float*)effP, (int*)layP, dm);
            float* e = net.Eff;
            int* lay = net.Lay;
            float* px = (float*)xP, pp = (float*)partP;

            // Vectors: accumulators (P + 1), the points (d), centred points (d), s and z (H each), R'x (r), adjoints (2 M).
            long count = (P + 1L) + (2L * d) + (2L * H) + r + (2L * M) + 1;
            var mem = (V*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(V)), 64);
            try
            {
                V* acc = mem, xv = acc + P + 1, yc = xv + d, s = yc + d, z = s + H, q = z + H, a0 = q + r, a1 = a0 + M;
                for (int j = 0; j <= P; j++)
                {
                    acc[j] = V.Zero;
                }

                float* wt = stackalloc float[W];
                for (int i0 = start; i0 < end; i0 += W)
                {
                    // Lanes past the end take the block's first point with weight 0.
                    for (int lane = 0; lane < W; lane++)
                    {
                        int i = i0 + lane < end ? i0 + lane : start;
                        wt[lane] = i0 + lane < end ? 1f : 0f;
                        float* xi = px + ((long)i * d);
                        for (int k = 0; k < d; k++)
                        {
                            ((float*)(xv + k))[lane] = xi[k];
                        }
                    }

                    var wv = Vector256.Load(wt);
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

                float* prow = pp + (row * dm.PartialSlotStride);
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
    }
}
