using System.Runtime.CompilerServices;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's SIMD form of the loss parameter gradient (<see cref="IcnnKernels.LossParameterGradient{TAct}"/>):
/// per-slot partial sums of d/d theta [v_i' grad w(y_i)] with v_i = grad w(y_i) - t_i held fixed, and of |v_i|^2 in
/// column P, with <see cref="Lanes"/> points per step, one per lane: the forward and reverse passes, the tangent forward pass
/// along v and the joint reverse pass over primal and tangent, and the low-rank terms, each the scalar kernel's operations
/// per lane with the weights broadcast. Blocks of points accumulate and write their partial rows as
/// <see cref="TryValueParameterGradient{TAct}"/> does (<see cref="GradientBlocks"/> rows; the reduction is unchanged). The
/// gradient is linear in v, so a lane past the end of its block takes weight 0 through v (v = 0 there). Sums run in another
/// order than the scalar kernel's and exp and log are <see cref="IcnnSimdSolver"/>'s polynomials, so the result agrees with
/// the scalar form to float rounding, not bit for bit (it does not depend on the thread schedule).
/// </summary>
public static unsafe partial class IcnnSimdSolver
{
    /// <summary>
    /// Writes rows 0 .. <see cref="GradientBlocks"/> - 1 of the partials (strides from <paramref name="dm"/>) as
    /// <see cref="IcnnKernels.LossParameterGradient{TAct}"/> writes its slots: their column sums are the kernel's. Returns
    /// false and does nothing where <see cref="IsGradientSupported"/> is false. CPU accelerator (host) memory; synchronous.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n; Slots = rows of the partials; partial strides).</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="targets">Targets t [n, d].</param>
    /// <param name="partial">Partials.</param>
    /// <param name="blocks">Blocks of points run in parallel (at least 1; at most Slots are used).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TryLossParameterGradient<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> y,
        ArrayView<float> targets, ArrayView<float> partial, int blocks)
        where TAct : struct, IIcnnActivation
    {
        if (!IsGradientSupported(dm.Dim))
        {
            return false;
        }

        bool elu = typeof(TAct) == typeof(EluActivation);
        ForGradientBlocks(dm, partial, blocks, (row, start, end) =>
        {
            fixed (float* pe = &eff[0L], py = &y[0L], pt = &targets[0L], pp = &partial[0L])
            fixed (int* pl = &lay[0L])
            {
                var block = new GradientBlock((nint)pe, (nint)pl, (nint)pp, dm, row, start, end);
                if (elu)
                {
                    Solver<EluVec>.Accumulate(block, new Solver<EluVec>.LossPoints((nint)py, (nint)pt));
                }
                else
                {
                    Solver<SoftplusVec>.Accumulate(block, new Solver<SoftplusVec>.LossPoints((nint)py, (nint)pt));
                }
            }
        });
        return true;
    }

    private static partial class Solver<TA>
    {
        /// <summary>
        /// The loss parameter gradient's group (lane-wise <see cref="IcnnKernels.AccumulateLossGradient{TAct, TF}"/> and
        /// <see cref="IcnnKernels.AccumulateMixedGradient{TAct, TF}"/>): |v|^2 to column P and d/d theta [v' grad w(y)] with
        /// v = grad w(y) - t fixed.
        /// </summary>
        /// <param name="y">Points [n, d] (host pointer).</param>
        /// <param name="t">Targets [n, d] (host pointer).</param>
        public readonly struct LossPoints(nint y, nint t) : IGroupGradient
        {
            /// <inheritdoc/>
            public long ScratchVectors(IcnnDims dm) =>
                // Points, centred points, targets, grad w, v (d each); s, z, u, act', act'', tangent s and z (H each);
                // R'y and R'v (r each); adjoints of the primal and of the tangent activations (2 M each).
                (5L * dm.Dim) + (7L * dm.Hidden) + (2L * dm.Rank) + (4L * dm.MaxWidth) + 1;

            /// <inheritdoc/>
            public void Add(in Net net, IcnnDims dm, int* idx, V wv, V* acc, V* scratch)
            {
                int d = dm.Dim, r = dm.Rank, H = dm.Hidden, M = dm.MaxWidth;
                V* yv = scratch, yc = yv + d, tv = yc + d, g = tv + d, v = g + d;
                V* s = v + d, z = s + H, u = z + H, d1 = u + H, d2 = d1 + H, ts = d2 + H, tz = ts + H;
                V* q = tz + H, qv = q + r, a0 = qv + r, a1 = a0 + M, b0 = a1 + M, b1 = b0 + M;
                Gather((float*)y, d, idx, yv);
                Gather((float*)t, d, idx, tv);
                Forward(net, yv, yc, s, z, q);
                Backward(net, yv, yc, s, q, u, d1, d2, g);

                // v = (grad w - t) times the lane's weight: the gradient terms are linear in v, so a weight-0 lane adds nothing.
                var loss = V.Zero;
                for (int k = 0; k < d; k++)
                {
                    var vk = (g[k] - tv[k]) * wv;
                    v[k] = vk;
                    loss += vk * vk;
                }

                acc[dm.ParamCount] += loss;
                Tangent(net, v, d1, ts, tz);
                MixedReverse(net, yc, v, z, d1, d2, ts, tz, a0, a1, b0, b1, acc);

                // The quadratic and linear part: d/dD_k = v_k y_k, d/dc_k = v_k, d/dR_km = v_k (R'y)_m + y_k (R'v)_m.
                float* e = net.Eff;
                for (int m = 0; m < r; m++)
                {
                    var qm = V.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        qm += B(e[dm.OffLowRank + (k * r) + m]) * v[k];
                    }

                    qv[m] = qm;
                }

                for (int k = 0; k < d; k++)
                {
                    var vk = v[k];
                    var yk = yc[k];
                    acc[dm.OffDiag + k] += vk * yk;
                    acc[dm.OffLinear + k] += vk;
                    V* al = acc + dm.OffLowRank + (k * r);
                    for (int m = 0; m < r; m++)
                    {
                        al[m] += (vk * q[m]) + (yk * qv[m]);
                    }
                }
            }
        }

        /// <summary>
        /// Tangent forward pass along <paramref name="v"/> (lane-wise <see cref="IcnnKernels.Tangent{TAct, TF}"/>): the tangent
        /// pre-activations <paramref name="ts"/> and activations <paramref name="tz"/> = act'(s) ts of every unit.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Tangent(in Net net, V* v, V* d1, V* ts, V* tz)
        {
            int d = net.D;
            float* e = net.Eff;
            int hp = 0, soPrev = 0;
            for (int l = 0; l < net.L; l++)
            {
                int* ly = net.Lay + (5 * l);
                int h = ly[0], offW = ly[1], offP = ly[3], so = ly[4];
                for (int j = 0; j < h; j++)
                {
                    float* wr = e + offW + (j * d);
                    var tj = V.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        tj += B(wr[k]) * v[k];
                    }

                    if (l > 0)
                    {
                        float* pr = e + offP + (j * hp);
                        V* zp = tz + soPrev;
                        for (int k = 0; k < hp; k++)
                        {
                            tj += B(pr[k]) * zp[k];
                        }
                    }

                    ts[so + j] = tj;
                    tz[so + j] = d1[so + j] * tj;
                }

                hp = h;
                soPrev = so;
            }
        }

        /// <summary>
        /// The reverse pass over primal and tangent together (the network part of lane-wise
        /// <see cref="IcnnKernels.AccumulateMixedGradient{TAct, TF}"/>): adjoints of the primal activations (a, from 0) and of the
        /// tangent activations (b, from the output weights), and their products with each layer's inputs added to acc.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void MixedReverse(in Net net, V* yc, V* v, V* z, V* d1, V* d2, V* ts, V* tz,
            V* aCur, V* aNxt, V* bCur, V* bNxt, V* acc)
        {
            int d = net.D, L = net.L;
            float* e = net.Eff;
            int* top = net.Lay + (5 * (L - 1));
            for (int j = 0; j < top[0]; j++)
            {
                aCur[j] = V.Zero;
                bCur[j] = B(e[net.OffOut + j]);
                acc[net.OffOut + j] += tz[top[4] + j];
            }

            for (int l = L - 1; l >= 0; l--)
            {
                int* ly = net.Lay + (5 * l);
                int h = ly[0], offW = ly[1], offB = ly[2], offP = ly[3], so = ly[4];
                int hp = l > 0 ? ly[-5] : 0;
                int soPrev = l > 0 ? ly[-1] : 0;
                for (int k = 0; k < hp; k++)
                {
                    aNxt[k] = V.Zero;
                    bNxt[k] = V.Zero;
                }

                for (int j = 0; j < h; j++)
                {
                    var a1 = d1[so + j];
                    var zdb = bCur[j];
                    var sd = zdb * a1;
                    var sb = (aCur[j] * a1) + (zdb * d2[so + j] * ts[so + j]);
                    acc[offB + j] += sb;
                    V* aw = acc + offW + (j * d);
                    for (int k = 0; k < d; k++)
                    {
                        aw[k] += (sb * yc[k]) + (sd * v[k]);
                    }

                    if (l > 0)
                    {
                        V* ap = acc + offP + (j * hp);
                        float* pr = e + offP + (j * hp);
                        V* zp = z + soPrev, tp = tz + soPrev;
                        for (int k = 0; k < hp; k++)
                        {
                            var pk = B(pr[k]);
                            ap[k] += (sb * zp[k]) + (sd * tp[k]);
                            aNxt[k] += pk * sb;
                            bNxt[k] += pk * sd;
                        }
                    }
                }

                V* sw = aCur;
                aCur = aNxt;
                aNxt = sw;
                sw = bCur;
                bCur = bNxt;
                bNxt = sw;
            }
        }
    }
}
