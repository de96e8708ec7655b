using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// The CPU accelerator's SIMD form of <see cref="IcnnKernels.Evaluate{TAct}"/>: w(x_i) and grad w(x_i) with
/// <see cref="Lanes"/> points per step, one per lane (the solver's lane-wise forward and reverse passes, the scalar kernel's
/// operations on each lane with the weights broadcast). Only exp and log differ from the scalar form (the polynomials of
/// <see cref="IcnnSimdSolver"/>), so values and gradients agree with it to float rounding; a point's result does not depend
/// on its block. The passes hold no d x d matrix, so any input dimension runs. Host code over the CPU accelerator's
/// buffers, blocks of points in parallel, as <see cref="TrySolveNewton{TAct}"/>.
/// </summary>
public static unsafe partial class IcnnSimdSolver
{
    /// <summary>Whether <see cref="TryEvaluate{TAct}"/> runs here for input dimension <paramref name="d"/>: AVX2 (256-bit
    /// vectors) and d &gt;= 1 (no upper limit).</summary>
    /// <param name="d">Input dimension.</param>
    /// <returns>True when it runs.</returns>
    public static bool IsEvaluateSupported(int d) => Vector256.IsHardwareAccelerated && d >= 1;

    /// <summary>
    /// values[i] = w(x_i) (mode bit 1) and grads[i, :] = grad w(x_i) (mode bit 2), as <see cref="IcnnKernels.Evaluate{TAct}"/>
    /// writes them, when <see cref="IsEvaluateSupported"/>; returns false and does nothing otherwise. CPU accelerator (host)
    /// memory; synchronous.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters (and input centre).</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions (Count = n; slots and scratch strides unused).</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="values">Output [n] (unused when bit 1 of mode is clear).</param>
    /// <param name="grads">Output [n, d] (unused when bit 2 of mode is clear).</param>
    /// <param name="mode">1 = values, 2 = gradients, 3 = both.</param>
    /// <param name="blocks">Blocks of points run in parallel (at least 1).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TryEvaluate<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm, ArrayView<float> x,
        ArrayView<float> values, ArrayView<float> grads, int mode, int blocks)
        where TAct : struct, IIcnnActivation
    {
        if (!IsEvaluateSupported(dm.Dim))
        {
            return false;
        }

        int n = dm.Count, w = V.Count;
        if (n < 1)
        {
            return true;
        }

        bool wantValues = (mode & 1) != 0, wantGrads = (mode & 2) != 0;
        int groups = (n + w - 1) / w;
        fixed (float* pe = &eff[0L], px = &x[0L])
        fixed (int* pl = &lay[0L])
        {
            // The CPU accelerator's buffers are native memory (never moved): the optional outputs need no pinning.
            nint e = (nint)pe, l = (nint)pl, xs = (nint)px;
            nint vs = wantValues ? (nint)Unsafe.AsPointer(ref values[0L]) : 0, gs = wantGrads ? (nint)Unsafe.AsPointer(ref grads[0L]) : 0;
            bool elu = typeof(TAct) == typeof(EluActivation);
            // Blocks of at least 8 lane groups (64 points): a block of a few points costs more to schedule than to run.
            HostBlocks.ForEach(groups, Math.Min(blocks, (groups + 7) / 8), (_, first, end) =>
            {
                int start = first * w, stop = Math.Min(n, end * w);
                if (elu)
                {
                    Solver<EluVec>.EvaluateBlock(e, l, xs, vs, gs, dm, start, stop);
                }
                else
                {
                    Solver<SoftplusVec>.EvaluateBlock(e, l, xs, vs, gs, dm, start, stop);
                }
            });
        }

        return true;
    }

    private static partial class Solver<TA>
    {
        /// <summary>Points [start, end) of one block: values to valuesP and gradients to gradsP where those are not null.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void EvaluateBlock(nint effP, nint layP, nint xP, nint valuesP, nint gradsP, IcnnDims dm, int start, int end)
        {
            int d = dm.Dim, r = dm.Rank, H = dm.Hidden, W = V.Count;
            var net = new Net((float*)effP, (int*)layP, dm);
            float* px = (float*)xP, pv = (float*)valuesP, pg = (float*)gradsP;

            // Vectors: the points, centred points and gradients (d each), s, z, u, act', act'' (H each), R'x (r).
            long count = (3L * d) + (5L * H) + r + 1;
            var mem = (V*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(V)), 64);
            try
            {
                V* xv = mem, yc = xv + d, g = yc + d, s = g + d, z = s + H, u = z + H, d1 = u + H, d2 = d1 + H, q = d2 + H;
                for (int i0 = start; i0 < end; i0 += W)
                {
                    // Lanes past the end take the block's first point (computed, never written).
                    int lanes = Math.Min(W, end - i0);
                    for (int lane = 0; lane < W; lane++)
                    {
                        float* xi = px + ((long)(lane < lanes ? i0 + lane : start) * d);
                        for (int k = 0; k < d; k++)
                        {
                            ((float*)(xv + k))[lane] = xi[k];
                        }
                    }

                    var val = Forward(net, xv, yc, s, z, q);
                    if (pg != null)
                    {
                        Backward(net, xv, yc, s, q, u, d1, d2, g);
                    }

                    for (int lane = 0; lane < lanes; lane++)
                    {
                        long i = i0 + lane;
                        if (pv != null)
                        {
                            pv[i] = val.GetElement(lane);
                        }

                        if (pg != null)
                        {
                            float* gi = pg + (i * d);
                            for (int k = 0; k < d; k++)
                            {
                                gi[k] = ((float*)(g + k))[lane];
                            }
                        }
                    }
                }
            }
            finally
            {
                NativeMemory.AlignedFree(mem);
            }
        }
    }
}
