using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using CMM.Gpu.Kernels.Icnn;
using ILGPU;
using V = System.Runtime.Intrinsics.Vector256<float>;

namespace CMM.Gpu.Kernels.Sinkhorn;

/// <summary>
/// The CPU accelerator's SIMD form of the stored-cost Sinkhorn update (<see cref="SinkhornKernels.UpdateStoredRowPerThread"/>):
/// for each own point i, f_i = -eps LSE_j((g_j - C_ij) / eps + log b_j), then the relaxation and the marginal error, with 8
/// entries per <see cref="Vector256{T}"/>. Where the own points are the rows of the matrix the lanes run along the row;
/// where they are its columns (the transposed update) the lanes are 8 neighbouring columns, so each step reads 8 contiguous
/// floats of a row. The log-sum-exp takes two passes (the maximum, then the sum of exponentials below it: one exp per entry
/// instead of the streaming form's up to two), with the float exp of <see cref="IcnnSimdSolver.VecMath"/>. Terms with
/// log b_j = -inf are skipped exactly as in the scalar form; a NaN term makes the sum NaN (the scalar form then reports the
/// point as non-finite, and so does this one). Sums run in another order and exp is a polynomial, so the result agrees with
/// the scalar kernel to float rounding, not bit for bit, and does not depend on the blocks. Host code over the CPU
/// accelerator's buffers (as the SIMD ICNN forms), blocks of own points in parallel.
/// </summary>
public static unsafe class SinkhornSimd
{
    /// <summary>Whether the SIMD form runs here (AVX2: 256-bit vectors).</summary>
    public static bool IsSupported => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// The stored-cost update of all n own points, as <see cref="SinkhornKernels.UpdateStoredRowPerThread"/> launched with n
    /// threads (same arguments), when <see cref="IsSupported"/>; returns false and does nothing otherwise. CPU accelerator
    /// (host) memory; synchronous.
    /// </summary>
    /// <param name="cost">The cost matrix, row-major with row length <paramref name="ld"/>.</param>
    /// <param name="transposed">0: own point i is row i; 1: own point i is column i.</param>
    /// <param name="ld">Row length of the stored matrix.</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights [n].</param>
    /// <param name="ownOld">Current own potential [n].</param>
    /// <param name="ownNew">Updated own potential [n] (may alias <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error [n].</param>
    /// <param name="n">Number of own points.</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    /// <param name="blocks">Blocks of own points run in parallel (at least 1).</param>
    /// <returns>Whether the SIMD form ran.</returns>
    public static bool TryUpdateStored(ArrayView<float> cost, int transposed, int ld, ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error, int n, int m, float eps, float omega, int blocks)
    {
        if (!IsSupported)
        {
            return false;
        }

        if (n < 1)
        {
            return true;
        }

        int w = V.Count;
        // Work units: rows, or groups of 8 columns (the last group may be short).
        int units = transposed == 0 ? n : (n + w - 1) / w;
        fixed (float* pc = &cost[0L], ph = &otherPotential[0L], plw = &otherLogWeight[0L], pow = &ownLogWeight[0L],
               pold = &ownOld[0L], pnew = &ownNew[0L], pe = &error[0L])
        {
            var a = new Buffers((nint)pc, (nint)ph, (nint)plw, (nint)pow, (nint)pold, (nint)pnew, (nint)pe);
            HostBlocks.ForEach(units, blocks, (_, first, end) =>
            {
                for (int u = first; u < end; u++)
                {
                    if (transposed == 0)
                    {
                        Row(a, u, ld, n, m, eps, omega);
                    }
                    else
                    {
                        Columns(a, u * w, ld, n, m, eps, omega);
                    }
                }
            });
        }

        return true;
    }

    private readonly record struct Buffers(nint Cost, nint OtherPotential, nint OtherLogWeight, nint OwnLogWeight, nint OwnOld, nint OwnNew, nint Error);

    /// <summary>Own point i = row i: lanes along the row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(in Buffers a, int i, int ld, int n, int m, float eps, float omega)
    {
        float* c = (float*)a.Cost + ((long)i * ld), h = (float*)a.OtherPotential, lw = (float*)a.OtherLogWeight;
        float invEps = 1f / eps;
        var vInv = Vector256.Create(invEps);
        var negInf = Vector256.Create(float.NegativeInfinity);
        int w = V.Count, full = m - (m % w);

        // Pass 1: the maximum term, and whether any term is NaN.
        var vmax = negInf;
        var nan = V.Zero;
        for (int j = 0; j < full; j += w)
        {
            var t = Term(c + j, h + j, lw + j, vInv, negInf);
            nan |= ~Vector256.Equals(t, t);
            vmax = Vector256.Max(vmax, t);
        }

        float max = Max(vmax);
        bool anyNan = Vector256.ExtractMostSignificantBits(nan) != 0;
        for (int j = full; j < m; j++)
        {
            if (lw[j] == float.NegativeInfinity)
            {
                continue;
            }

            float t = ((h[j] - c[j]) * invEps) + lw[j];
            anyNan |= float.IsNaN(t);
            max = MathF.Max(max, t);
        }

        // Pass 2: sum of exp(term - max); no term (max = -inf) leaves the sum 0, as in the scalar form.
        float sum = 0f;
        if (anyNan)
        {
            sum = float.NaN;
        }
        else if (max != float.NegativeInfinity)
        {
            var vm = Vector256.Create(max);
            var s = V.Zero;
            for (int j = 0; j < full; j += w)
            {
                var t = Term(c + j, h + j, lw + j, vInv, negInf);
                var e = IcnnSimdSolver.VecMath.Exp(t - vm);
                s += Vector256.ConditionalSelect(Vector256.Equals(t, negInf), V.Zero, e);
            }

            sum = Vector256.Sum(s);
            for (int j = full; j < m; j++)
            {
                if (lw[j] != float.NegativeInfinity)
                {
                    sum += MathF.Exp(((h[j] - c[j]) * invEps) + lw[j] - max);
                }
            }
        }

        Finish(a, i, max, sum, eps, omega);
    }

    /// <summary>Own points i0 .. i0 + 7 = columns of the matrix: one lane per column, rows j in turn.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns(in Buffers a, int i0, int ld, int n, int m, float eps, float omega)
    {
        int w = V.Count;
        float* c = (float*)a.Cost, h = (float*)a.OtherPotential, lw = (float*)a.OtherLogWeight;
        int lanes = Math.Min(w, n - i0);
        if (lanes < w)
        {
            // A short last group: the scalar body, column by column.
            for (int i = i0; i < n; i++)
            {
                SinkhornKernels.StoredRow(i, new PointerFloats(c), 1, ld, new PointerFloats(h), new PointerFloats(lw), new PointerFloats((float*)a.OwnLogWeight),
                    new PointerFloats((float*)a.OwnOld), new PointerFloats((float*)a.OwnNew), new PointerFloats((float*)a.Error), m, eps, omega);
            }

            return;
        }

        float invEps = 1f / eps;
        var vInv = Vector256.Create(invEps);
        var vmax = Vector256.Create(float.NegativeInfinity);
        var nan = V.Zero;
        for (int j = 0; j < m; j++)
        {
            if (lw[j] == float.NegativeInfinity)
            {
                continue;
            }

            var t = ((Vector256.Create(h[j]) - Vector256.Load(c + ((long)j * ld) + i0)) * vInv) + Vector256.Create(lw[j]);
            nan |= ~Vector256.Equals(t, t);
            vmax = Vector256.Max(vmax, t);
        }

        // Lanes whose maximum is -inf (no term) get 0 below: their exp argument is made -inf - 0, not -inf + inf.
        var noTerm = Vector256.Equals(vmax, Vector256.Create(float.NegativeInfinity));
        var shift = Vector256.ConditionalSelect(noTerm, V.Zero, vmax);
        var s = V.Zero;
        for (int j = 0; j < m; j++)
        {
            if (lw[j] == float.NegativeInfinity)
            {
                continue;
            }

            var t = ((Vector256.Create(h[j]) - Vector256.Load(c + ((long)j * ld) + i0)) * vInv) + Vector256.Create(lw[j]);
            var e = IcnnSimdSolver.VecMath.Exp(t - shift);
            s += Vector256.ConditionalSelect(Vector256.Equals(t, Vector256.Create(float.NegativeInfinity)), V.Zero, e);
        }

        s = Vector256.ConditionalSelect(noTerm, V.Zero, s);
        s = Vector256.ConditionalSelect(nan, Vector256.Create(float.NaN), s);
        for (int l = 0; l < w; l++)
        {
            Finish(a, i0 + l, vmax.GetElement(l), s.GetElement(l), eps, omega);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Term(float* c, float* h, float* lw, V invEps, V negInf)
    {
        var l = Vector256.Load(lw);
        var t = ((Vector256.Load(h) - Vector256.Load(c)) * invEps) + l;
        return Vector256.ConditionalSelect(Vector256.Equals(l, negInf), negInf, t);
    }

    private static float Max(V v)
    {
        float r = float.NegativeInfinity;
        for (int l = 0; l < V.Count; l++)
        {
            r = MathF.Max(r, v.GetElement(l));
        }

        return r;
    }

    private static void Finish(in Buffers a, long i, float max, float sum, float eps, float omega) =>
        SinkhornKernels.Finish(i, max, sum, new PointerFloats((float*)a.OwnLogWeight), new PointerFloats((float*)a.OwnOld),
            new PointerFloats((float*)a.OwnNew), new PointerFloats((float*)a.Error), eps, omega);
}
