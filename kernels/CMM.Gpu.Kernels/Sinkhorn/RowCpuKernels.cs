using CMM.Gpu.Kernels.Costs;
using ILGPU;

namespace CMM.Gpu.Kernels.Sinkhorn;

/// <summary>
/// The CPU accelerator's form of the row kernels (Sinkhorn updates, plan application, pairwise costs): the bodies
/// of <see cref="SinkhornKernels.UpdateOnlineRowPerThread"/>, <see cref="SinkhornKernels.UpdateStoredRowPerThread"/>,
/// <see cref="SinkhornKernels.ApplyRowPerThread"/> and <see cref="CostKernels.RowPerThread{TCost}"/>, run for the rows of a
/// <see cref="PointRange"/> (a contiguous block of rows per thread, few threads) with every buffer read through a
/// pointer taken once per launch (<see cref="PointerFloats"/>). A row's result does not depend on its thread and the
/// arithmetic is the same, so the output is bit-identical to the one-thread-per-row ArrayView kernels (tested).
/// Launched on the CPU accelerator only; they compile to PTX as well (the catalog check).
/// </summary>
public static unsafe class RowCpuKernels
{
    /// <summary>Online Sinkhorn update of the rows of thread <paramref name="t"/> (arguments as <see cref="SinkhornKernels.UpdateOnlineRowPerThread"/>).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The rows of each thread.</param>
    /// <param name="own">Own points [n, d].</param>
    /// <param name="other">Other points [m, d].</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights [n].</param>
    /// <param name="ownOld">Current own potential [n].</param>
    /// <param name="ownNew">Updated own potential [n] (may be the same view as <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error [n].</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    public static void UpdateOnline(
        Index1D t, PointRange range, ArrayView<float> own, ArrayView<float> other,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int m, int d, float eps, float omega)
    {
        long first = range.First(t), end = range.Limit(t);
        if (first >= end)
        {
            return;
        }

        fixed (float* po = &own[0L], pt = &other[0L], ph = &otherPotential[0L], plw = &otherLogWeight[0L],
               pow = &ownLogWeight[0L], pold = &ownOld[0L], pnew = &ownNew[0L], pe = &error[0L])
        {
            for (long i = first; i < end; i += range.Stride)
            {
                SinkhornKernels.OnlineRow(i, new PointerFloats(po), new PointerFloats(pt), new PointerFloats(ph), new PointerFloats(plw),
                    new PointerFloats(pow), new PointerFloats(pold), new PointerFloats(pnew), new PointerFloats(pe), m, d, eps, omega);
            }
        }
    }

    /// <summary>Stored-cost Sinkhorn update of the rows of thread <paramref name="t"/> (arguments as <see cref="SinkhornKernels.UpdateStoredRowPerThread"/>).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The rows of each thread.</param>
    /// <param name="cost">The cost matrix, row-major [rows, ld].</param>
    /// <param name="transposed">0: own = rows of the matrix; 1: own = columns.</param>
    /// <param name="ld">Row length of the stored matrix.</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="ownLogWeight">log of the own weights.</param>
    /// <param name="ownOld">Current own potential.</param>
    /// <param name="ownNew">Updated own potential (may alias <paramref name="ownOld"/>).</param>
    /// <param name="error">Per-point marginal error.</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="omega">Relaxation factor.</param>
    public static void UpdateStored(
        Index1D t, PointRange range, ArrayView<float> cost, int transposed, int ld,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> ownLogWeight, ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int m, float eps, float omega)
    {
        long first = range.First(t), end = range.Limit(t);
        if (first >= end)
        {
            return;
        }

        fixed (float* pc = &cost[0L], ph = &otherPotential[0L], plw = &otherLogWeight[0L],
               pow = &ownLogWeight[0L], pold = &ownOld[0L], pnew = &ownNew[0L], pe = &error[0L])
        {
            for (long i = first; i < end; i += range.Stride)
            {
                SinkhornKernels.StoredRow(i, new PointerFloats(pc), transposed, ld, new PointerFloats(ph), new PointerFloats(plw),
                    new PointerFloats(pow), new PointerFloats(pold), new PointerFloats(pnew), new PointerFloats(pe), m, eps, omega);
            }
        }
    }

    /// <summary>Plan application for the rows of thread <paramref name="t"/> (arguments as <see cref="SinkhornKernels.ApplyRowPerThread"/>).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The rows of each thread.</param>
    /// <param name="own">Own points [n, d].</param>
    /// <param name="other">Other points [m, d].</param>
    /// <param name="ownPotential">Own potential [n].</param>
    /// <param name="ownLogWeight">log of the own weights [n].</param>
    /// <param name="otherPotential">Other potential [m].</param>
    /// <param name="otherLogWeight">log of the other weights [m].</param>
    /// <param name="values">Values [m, k] (mode 0).</param>
    /// <param name="output">Output [n, k] (mode 0) or [n] (mode 1).</param>
    /// <param name="m">Number of other points.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="k">Number of value columns (mode 0).</param>
    /// <param name="eps">Epsilon.</param>
    /// <param name="mode">0: apply to values; 1: cost contributions.</param>
    public static void Apply(
        Index1D t, PointRange range, ArrayView<float> own, ArrayView<float> other,
        ArrayView<float> ownPotential, ArrayView<float> ownLogWeight,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight,
        ArrayView<float> values, ArrayView<float> output, int m, int d, int k, float eps, int mode)
    {
        long first = range.First(t), end = range.Limit(t);
        if (first >= end)
        {
            return;
        }

        fixed (float* po = &own[0L], pt = &other[0L], pf = &ownPotential[0L], pow = &ownLogWeight[0L],
               ph = &otherPotential[0L], plw = &otherLogWeight[0L], pv = &values[0L], pout = &output[0L])
        {
            for (long i = first; i < end; i += range.Stride)
            {
                SinkhornKernels.ApplyRow(i, new PointerFloats(po), new PointerFloats(pt), new PointerFloats(pf), new PointerFloats(pow),
                    new PointerFloats(ph), new PointerFloats(plw), new PointerFloats(pv), new PointerFloats(pout), m, d, k, eps, mode);
            }
        }
    }

    /// <summary>Rows of the pairwise cost matrix for thread <paramref name="t"/> (arguments as <see cref="CostKernels.RowPerThread{TCost}"/>).</summary>
    /// <typeparam name="TCost">The cost as a function of the squared distance.</typeparam>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The rows of each thread.</param>
    /// <param name="x">x points, n * d.</param>
    /// <param name="y">y points, m * d.</param>
    /// <param name="cost">Output, n * m.</param>
    /// <param name="m">Number of y points.</param>
    /// <param name="d">Dimension.</param>
    public static void Cost<TCost>(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> y, ArrayView<float> cost, int m, int d)
        where TCost : struct, IPointCost
    {
        long first = range.First(t), end = range.Limit(t);
        if (first >= end)
        {
            return;
        }

        fixed (float* px = &x[0L], py = &y[0L], pc = &cost[0L])
        {
            for (long i = first; i < end; i += range.Stride)
            {
                CostKernels.CostRow<TCost, PointerFloats>(i, new PointerFloats(px), new PointerFloats(py), new PointerFloats(pc), m, d);
            }
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        var type = typeof(RowCpuKernels);
        yield return KernelCatalog.Entry(type, nameof(UpdateOnline), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(type, nameof(UpdateStored), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(type, nameof(Apply), KernelGrouping.Implicit);
        foreach (var c in new[] { typeof(HalfSquaredEuclidean), typeof(Euclidean) })
        {
            yield return KernelCatalog.Entry(type, nameof(Cost), KernelGrouping.Implicit, c);
        }
    }
}
