using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Costs;
using CMM.Gpu.Kernels.Sinkhorn;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Costs;

/// <summary>The ground costs the library computes.</summary>
public enum CostKind
{
    /// <summary>c(x, y) = 1/2 |x - y|^2 (the CMM cost).</summary>
    HalfSquaredEuclidean,

    /// <summary>c(x, y) = |x - y|.</summary>
    Euclidean,
}

/// <summary>Which kernel form computes a cost matrix.</summary>
public enum KernelVariant
{
    /// <summary>Chosen by accelerator: <see cref="Tiled"/> on GPUs, <see cref="RowPerThread"/> on the CPU accelerator.</summary>
    Auto,

    /// <summary>One x point per thread with inner loops, no barriers (right for the CPU accelerator).</summary>
    RowPerThread,

    /// <summary>Square thread groups with shared-memory tiles (right for GPUs).</summary>
    Tiled,
}

/// <summary>
/// Pairwise cost matrices C[i, j] = c(x_i, y_j), row-major [n, m]. Kernels live in
/// <see cref="CostKernels"/>; this launcher loads them once per <see cref="CmmContext"/>.
/// </summary>
public sealed class PairwiseCost
{
    private readonly CmmContext context;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> rowHalfSq;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> rowEuclid;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> tiledHalfSq;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int> tiledEuclid;
    private readonly PointLaunch? rows;
    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? rowsHalfSq;
    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? rowsEuclid;

    private PairwiseCost(CmmContext context)
    {
        this.context = context;
        var acc = context.Accelerator;
        var tally = context.Tally;
        rowHalfSq = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            CostKernels.RowPerThread<HalfSquaredEuclidean>));
        rowEuclid = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            CostKernels.RowPerThread<Euclidean>));
        tiledHalfSq = tally.Counted(acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            CostKernels.Tiled<HalfSquaredEuclidean>));
        tiledEuclid = tally.Counted(acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
            CostKernels.Tiled<Euclidean>));
        if (!context.IsGpu)
        {
            // The CPU accelerator's row form: blocks of rows per thread, pointer accesses (RowCpuKernels; same output).
            rows = PointLaunch.For(context);
            rowsHalfSq = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                RowCpuKernels.Cost<HalfSquaredEuclidean>));
            rowsEuclid = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                RowCpuKernels.Cost<Euclidean>));
        }
    }

    /// <summary>The launcher for a context (kernels compiled on first use, then cached).</summary>
    /// <param name="context">The device.</param>
    /// <returns>The launcher.</returns>
    public static PairwiseCost For(CmmContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.GetComponent(c => new PairwiseCost(c));
    }

    /// <summary>The tile edge used by <see cref="KernelVariant.Tiled"/> on this accelerator.</summary>
    public int TileSize
    {
        get
        {
            int maxGroup = context.Accelerator.MaxNumThreadsPerGroup;
            return maxGroup >= 256 ? 16 : maxGroup >= 64 ? 8 : maxGroup >= 16 ? 4 : 2;
        }
    }

    /// <summary>Resolves <see cref="KernelVariant.Auto"/> for this accelerator.</summary>
    /// <param name="variant">The requested variant.</param>
    /// <returns>The concrete variant.</returns>
    public KernelVariant Resolve(KernelVariant variant) =>
        variant != KernelVariant.Auto ? variant : context.IsGpu ? KernelVariant.Tiled : KernelVariant.RowPerThread;

    /// <summary>Computes C[i, j] = c(x_i, y_j) into <paramref name="destination"/> (length n * m). Asynchronous: call
    /// <see cref="CmmContext.Synchronize"/> or download to wait.</summary>
    /// <param name="x">Points x [n, d].</param>
    /// <param name="y">Points y [m, d].</param>
    /// <param name="destination">The n * m cost matrix, row-major.</param>
    /// <param name="cost">The ground cost.</param>
    /// <param name="variant">Kernel form; <see cref="KernelVariant.Auto"/> picks by accelerator.</param>
    public void Compute(DevicePoints x, DevicePoints y, DeviceVector destination,
        CostKind cost = CostKind.HalfSquaredEuclidean, KernelVariant variant = KernelVariant.Auto)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(destination);
        Shape.RequireSameContext(context, x.Context, nameof(x));
        Shape.RequireSameContext(context, y.Context, nameof(y));
        Shape.RequireSameContext(context, destination.Context, nameof(destination));
        Shape.RequireSameDimension(x.Dimension, y.Dimension, nameof(x), nameof(y));
        Shape.RequireLength(destination.Length, (long)x.Count * y.Count, nameof(destination), $"a [{x.Count}, {y.Count}] cost matrix");

        int n = x.Count, m = y.Count, d = x.Dimension;
        if (Resolve(variant) == KernelVariant.RowPerThread)
        {
            if (rows is not null)
            {
                var range = rows.Plan(n, out int threads);
                (cost == CostKind.HalfSquaredEuclidean ? rowsHalfSq : rowsEuclid)!(threads, range, x.View, y.View, destination.View, m, d);
            }
            else
            {
                var k = cost == CostKind.HalfSquaredEuclidean ? rowHalfSq : rowEuclid;
                k(n, x.View, y.View, destination.View, m, d);
            }
        }
        else
        {
            int t = TileSize;
            var config = new KernelConfig(
                new Index2D((m + t - 1) / t, (n + t - 1) / t),
                new Index2D(t, t),
                SharedMemoryConfig.RequestDynamic<float>(2 * t * t));
            var k = cost == CostKind.HalfSquaredEuclidean ? tiledHalfSq : tiledEuclid;
            k(config, x.View, y.View, destination.View, n, m, d);
        }
    }

    /// <summary>Convenience: uploads, computes and downloads a cost matrix.</summary>
    /// <param name="x">Row-major x, n * d.</param>
    /// <param name="y">Row-major y, m * d.</param>
    /// <param name="dimension">d.</param>
    /// <param name="cost">The ground cost.</param>
    /// <param name="variant">Kernel form.</param>
    /// <returns>The n * m matrix, row-major.</returns>
    public float[] Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int dimension,
        CostKind cost = CostKind.HalfSquaredEuclidean, KernelVariant variant = KernelVariant.Auto)
    {
        using var dx = DevicePoints.Upload(context, x, dimension);
        using var dy = DevicePoints.Upload(context, y, dimension);
        using var c = DeviceVector.Allocate(context, (long)dx.Count * dy.Count);
        Compute(dx, dy, c, cost, variant);
        return c.ToArray();
    }
}
