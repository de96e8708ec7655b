using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace CMM.Gpu.Kernels.Sinkhorn;

/// <summary>
/// Log-domain Sinkhorn kernels for the cost C_ij = 1/2 |x_i - y_j|^2, with the convention
/// P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps) (potentials do not contain the weights).
/// <para>
/// Every kernel is written from the point of view of an "own" cloud (the rows, whose potential is
/// written) and an "other" cloud (reduced over). The f update is a call with own = x, other = y; the
/// g update is the same call with the roles swapped (the cost is symmetric; a stored cost matrix is
/// then read transposed).
/// </para>
/// <para>
/// The update writes, for every own index i,
/// t_i = -eps LSE_j( log w_j + (h_j - C_ij) / eps )  (the soft c-transform of the other potential h),
/// new_i = (1 - omega) old_i + omega t_i                (omega = 1: plain Sinkhorn),
/// err_i = a_i |exp((old_i - t_i) / eps) - 1|          (= |row marginal_i - a_i| of the state (old, h)),
/// with terms of zero-mass other points (log w_j = -inf) skipped. Zero-mass own points get the
/// c-transform like any other point (their potential stays finite and defined) and err_i = 0.
/// err_i is NaN when t_i is not finite, so the host detects divergence from the error sum alone;
/// the exponent in err_i is clamped at 80 so a large but finite error never overflows to infinity.
/// </para>
/// </summary>
public static class SinkhornKernels
{
    /// <summary>Largest exponent used in the error term (exp(80) ~ 5.5e34 is still a finite float).</summary>
    private const float MaxErrorExponent = 80f;

    /// <summary>
    /// CPU form, online cost: one own point per thread, a streaming max-shifted log-sum-exp over
    /// every other point, the cost recomputed from the coordinates. No barriers.
    /// </summary>
    /// <param name="index">Own point index i.</param>
    /// <param name="own">Own points [n, d].</param>
    /// <param name="other">Other points [m, d].</param>
    /// <param name="otherPotential">Other potential h [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m] (-inf for zero mass).</param>
    /// <param name="ownLogWeight">log of the own weights [n] (only used for the error).</param>
    /// <param name="ownOld">Current own potential [n] (read).</param>
    /// <param name="ownNew">Updated own potential [n] (written; may be the same view as <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error [n] (written).</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor (1 = plain Sinkhorn).</param>
    public static void UpdateOnlineRowPerThread(
        Index1D index, ArrayView<float> own, ArrayView<float> other,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int m, int d, float eps, float omega) =>
        OnlineRow(index, new ViewFloats(own), new ViewFloats(other), new ViewFloats(otherPotential), new ViewFloats(otherLogWeight),
            new ViewFloats(ownLogWeight), new ViewFloats(ownOld), new ViewFloats(ownNew), new ViewFloats(error), m, d, eps, omega);

    /// <summary>The body of <see cref="UpdateOnlineRowPerThread"/> for own point <paramref name="i"/>, generic over the accessor.</summary>
    internal static void OnlineRow<TF>(
        long i, TF own, TF other, TF otherPotential, TF otherLogWeight, TF ownLogWeight, TF ownOld, TF ownNew, TF error,
        int m, int d, float eps, float omega)
        where TF : struct, IFloats
    {
        long io = i * d;
        float invEps = 1f / eps;
        float max = float.NegativeInfinity;
        float sum = 0f;
        for (int j = 0; j < m; j++)
        {
            float lw = otherLogWeight[j];
            if (lw == float.NegativeInfinity)
            {
                continue;
            }

            long jo = (long)j * d;
            float sq = DeviceMath.SquaredDistance(own, io, other, jo, d);

            DeviceMath.LogSumExpAccumulate(ref max, ref sum, (otherPotential[j] - 0.5f * sq) * invEps + lw);
        }

        Finish(i, max, sum, ownLogWeight, ownOld, ownNew, error, eps, omega);
    }

    /// <summary>
    /// Stored cost, one own point per thread. With <paramref name="transposed"/> = 0 the own point i
    /// is row i of the [n, m] cost (C[i * m + j]); with 1 it is column i (C[j * ld + i]), which is the
    /// g update of a matrix stored for the f update. The CPU form for both updates, and the GPU form of
    /// the column update (adjacent threads read adjacent addresses there).
    /// </summary>
    /// <param name="index">Own point index i.</param>
    /// <param name="cost">The cost matrix, row-major [rows, ld].</param>
    /// <param name="transposed">0: own = rows of the matrix; 1: own = columns.</param>
    /// <param name="ld">Row length of the stored matrix.</param>
    /// <param name="otherPotential">Other potential h [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights.</param>
    /// <param name="ownOld">Current own potential (read).</param>
    /// <param name="ownNew">Updated own potential (written; may alias <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error (written).</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    public static void UpdateStoredRowPerThread(
        Index1D index, ArrayView<float> cost, int transposed, int ld,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int m, float eps, float omega) =>
        StoredRow(index, new ViewFloats(cost), transposed, ld, new ViewFloats(otherPotential), new ViewFloats(otherLogWeight),
            new ViewFloats(ownLogWeight), new ViewFloats(ownOld), new ViewFloats(ownNew), new ViewFloats(error), m, eps, omega);

    /// <summary>The body of <see cref="UpdateStoredRowPerThread"/> for own point <paramref name="i"/>, generic over the accessor.</summary>
    internal static void StoredRow<TF>(
        long i, TF cost, int transposed, int ld, TF otherPotential, TF otherLogWeight, TF ownLogWeight, TF ownOld, TF ownNew, TF error,
        int m, float eps, float omega)
        where TF : struct, IFloats
    {
        float invEps = 1f / eps;
        float max = float.NegativeInfinity;
        float sum = 0f;
        long offset = transposed == 0 ? i * ld : i;
        long stride = transposed == 0 ? 1 : ld;
        for (int j = 0; j < m; j++)
        {
            float lw = otherLogWeight[j];
            if (lw == float.NegativeInfinity)
            {
                continue;
            }

            DeviceMath.LogSumExpAccumulate(ref max, ref sum, (otherPotential[j] - cost[offset + j * stride]) * invEps + lw);
        }

        Finish(i, max, sum, ownLogWeight, ownOld, ownNew, error, eps, omega);
    }

    /// <summary>
    /// GPU form, online cost (KeOps style): groups of T threads, one own point per thread; the other
    /// cloud is streamed in tiles of T points staged in dynamic shared memory
    /// (T d coordinates, then T potentials, then T log-weights: T (d + 2) floats).
    /// Launch with grid ceil(n / T), group T.
    /// </summary>
    /// <param name="own">Own points [n, d].</param>
    /// <param name="other">Other points [m, d].</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights [n].</param>
    /// <param name="ownOld">Current own potential [n].</param>
    /// <param name="ownNew">Updated own potential [n] (may alias <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error [n].</param>
    /// <param name="n">Number of own points.</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    public static void UpdateOnlineTiled(
        ArrayView<float> own, ArrayView<float> other,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int n, int m, int d, float eps, float omega)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int t = Group.DimX;
        int tid = Group.IdxX;
        int i = Grid.IdxX * t + tid;
        bool active = i < n;
        long io = (long)i * d;
        int potBase = t * d;
        int lwBase = potBase + t;
        float invEps = 1f / eps;
        float max = float.NegativeInfinity;
        float sum = 0f;
        for (int j0 = 0; j0 < m; j0 += t)
        {
            int count = XMath.Min(t, m - j0);
            long tileStart = (long)j0 * d;
            for (int e = tid; e < count * d; e += t)
            {
                shared[e] = other[tileStart + e];
            }

            if (tid < count)
            {
                shared[potBase + tid] = otherPotential[j0 + tid];
                shared[lwBase + tid] = otherLogWeight[j0 + tid];
            }

            Group.Barrier();
            if (active)
            {
                for (int jj = 0; jj < count; jj++)
                {
                    float lw = shared[lwBase + jj];
                    if (lw == float.NegativeInfinity)
                    {
                        continue;
                    }

                    int so = jj * d;
                    float sq = 0f;
                    for (int k = 0; k < d; k++)
                    {
                        float diff = own[io + k] - shared[so + k];
                        sq += diff * diff;
                    }

                    DeviceMath.LogSumExpAccumulate(ref max, ref sum, (shared[potBase + jj] - 0.5f * sq) * invEps + lw);
                }
            }

            Group.Barrier();
        }

        if (active)
        {
            Finish(i, max, sum, ownLogWeight, ownOld, ownNew, error, eps, omega);
        }
    }

    /// <summary>
    /// GPU form, stored cost, row update: one group per own row, threads striding over the row
    /// (coalesced reads), then a tree merge of the (max, sum) pairs in shared memory (2 T floats).
    /// T must be a power of two. Launch with grid n, group T.
    /// </summary>
    /// <param name="cost">The cost matrix [n, m], row-major.</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights [n].</param>
    /// <param name="ownOld">Current own potential [n].</param>
    /// <param name="ownNew">Updated own potential [n] (may alias <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error [n].</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    public static void UpdateStoredGroupPerRow(
        ArrayView<float> cost, ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int m, float eps, float omega)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int t = Group.DimX;
        int tid = Group.IdxX;
        int i = Grid.IdxX;
        long ro = (long)i * m;
        float invEps = 1f / eps;
        float max = float.NegativeInfinity;
        float sum = 0f;
        for (int j = tid; j < m; j += t)
        {
            float lw = otherLogWeight[j];
            if (lw != float.NegativeInfinity)
            {
                DeviceMath.LogSumExpAccumulate(ref max, ref sum, (otherPotential[j] - cost[ro + j]) * invEps + lw);
            }
        }

        shared[tid] = max;
        shared[t + tid] = sum;
        Group.Barrier();
        for (int stride = t / 2; stride > 0; stride >>= 1)
        {
            if (tid < stride)
            {
                float m1 = shared[tid];
                float s1 = shared[t + tid];
                DeviceMath.LogSumExpMerge(ref m1, ref s1, shared[tid + stride], shared[t + tid + stride]);
                shared[tid] = m1;
                shared[t + tid] = s1;
            }

            Group.Barrier();
        }

        if (tid == 0)
        {
            Finish(i, shared[0], shared[t], ownLogWeight, ownOld, ownNew, error, eps, omega);
        }
    }

    /// <summary>
    /// Applies the transport plan row-wise without materialising it, one own point per thread, cost
    /// recomputed online. With P_ij = exp(log a_i + log b_j + (f_i + g_j - C_ij) / eps):
    /// <list type="bullet">
    /// <item><paramref name="mode"/> = 0: output[i, c] = sum_j P_ij values[j, c] for c &lt; k (P applied to k vectors;
    /// with own = y, other = x and the potentials swapped this is P^T).</item>
    /// <item><paramref name="mode"/> = 1: output[i] = sum_j P_ij C_ij (row contributions to &lt;P, C&gt;).</item>
    /// </list>
    /// The entropic map is mode 0 with a_i = 1, f = the soft c-transform of g at the query and values = y.
    /// Sums are accumulated in float32 in the output.
    /// </summary>
    /// <param name="index">Own point index i.</param>
    /// <param name="own">Own points [n, d].</param>
    /// <param name="other">Other points [m, d].</param>
    /// <param name="ownPotential">f [n].</param>
    /// <param name="ownLogWeight">log a [n].</param>
    /// <param name="otherPotential">g [m].</param>
    /// <param name="otherLogWeight">log b [m].</param>
    /// <param name="values">Values [m, k] (mode 0).</param>
    /// <param name="output">Output [n, k] (mode 0) or [n] (mode 1).</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="k">Number of value columns (mode 0).</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="mode">0: apply to values; 1: cost contributions.</param>
    public static void ApplyRowPerThread(
        Index1D index, ArrayView<float> own, ArrayView<float> other,
        ArrayView<float> ownPotential, ArrayView<float> ownLogWeight,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> values, ArrayView<float> output, int m, int d, int k, float eps, int mode) =>
        ApplyRow(index, new ViewFloats(own), new ViewFloats(other), new ViewFloats(ownPotential), new ViewFloats(ownLogWeight),
            new ViewFloats(otherPotential), new ViewFloats(otherLogWeight), new ViewFloats(values), new ViewFloats(output), m, d, k, eps, mode);

    /// <summary>The body of <see cref="ApplyRowPerThread"/> for own point <paramref name="i"/>, generic over the accessor.</summary>
    internal static void ApplyRow<TF>(
        long i, TF own, TF other, TF ownPotential, TF ownLogWeight, TF otherPotential, TF otherLogWeight, TF values, TF output,
        int m, int d, int k, float eps, int mode)
        where TF : struct, IFloats
    {
        long io = i * d;
        long oo = i * k;
        float invEps = 1f / eps;
        float rowTerm = ownPotential[i] * invEps + ownLogWeight[i];
        if (mode == 0)
        {
            for (int c = 0; c < k; c++)
            {
                output[oo + c] = 0f;
            }
        }

        float costSum = 0f;
        if (rowTerm != float.NegativeInfinity)
        {
            for (int j = 0; j < m; j++)
            {
                float lw = otherLogWeight[j];
                if (lw == float.NegativeInfinity)
                {
                    continue;
                }

                long jo = (long)j * d;
                float sq = DeviceMath.SquaredDistance(own, io, other, jo, d);

                float c = 0.5f * sq;
                float p = XMath.Exp(rowTerm + (otherPotential[j] - c) * invEps + lw);
                if (mode == 0)
                {
                    long vo = (long)j * k;
                    for (int cc = 0; cc < k; cc++)
                    {
                        output[oo + cc] += p * values[vo + cc];
                    }
                }
                else
                {
                    costSum += p * c;
                }
            }
        }

        if (mode != 0)
        {
            output[i] = costSum;
        }
    }

    /// <summary>Writes the relaxed potential and the marginal error of point i from its (max, sum) state.</summary>
    private static void Finish(
        int i, float max, float sum, ArrayView<float> ownLogWeight, ArrayView<float> ownOld,
        ArrayView<float> ownNew, ArrayView<float> error, float eps, float omega) =>
        Finish(i, max, sum, new ViewFloats(ownLogWeight), new ViewFloats(ownOld), new ViewFloats(ownNew), new ViewFloats(error), eps, omega);

    /// <summary>Writes the relaxed potential and the marginal error of point i from its (max, sum) state.</summary>
    internal static void Finish<TF>(long i, float max, float sum, TF ownLogWeight, TF ownOld, TF ownNew, TF error, float eps, float omega)
        where TF : struct, IFloats
    {
        float t = sum > 0f ? -eps * (max + XMath.Log(sum)) : float.PositiveInfinity;
        float old = ownOld[i];
        float e;
        if (!XMath.IsFinite(t))
        {
            e = float.NaN;
        }
        else
        {
            float lw = ownLogWeight[i];
            if (lw == float.NegativeInfinity)
            {
                e = 0f;
            }
            else
            {
                float z = XMath.Min((old - t) / eps, MaxErrorExponent);
                e = XMath.Exp(lw) * XMath.Abs(XMath.Exp(z) - 1f);
            }
        }

        error[i] = e;
        ownNew[i] = omega == 1f ? t : (1f - omega) * old + omega * t;
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        var type = typeof(SinkhornKernels);
        yield return KernelCatalog.Entry(type, nameof(UpdateOnlineRowPerThread), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(type, nameof(UpdateStoredRowPerThread), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(type, nameof(UpdateOnlineTiled), KernelGrouping.Explicit);
        yield return KernelCatalog.Entry(type, nameof(UpdateStoredGroupPerRow), KernelGrouping.Explicit);
        yield return KernelCatalog.Entry(type, nameof(ApplyRowPerThread), KernelGrouping.Implicit);
    }
}
