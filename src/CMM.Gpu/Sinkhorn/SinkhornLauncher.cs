using CMM.Gpu.Compute;
using CMM.Gpu.Costs;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Sinkhorn;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Sinkhorn;

/// <summary>
/// Loads the <see cref="SinkhornKernels"/> once per context and launches them with group sizes taken from
/// the accelerator. On the CPU accelerator the row-per-thread kernels are replaced by their <see cref="RowCpuKernels"/>
/// form (blocks of rows over <see cref="PointLaunch.LoopThreads"/> threads, pointer accesses; bit-identical results).
/// All launches are asynchronous.
/// </summary>
internal sealed class SinkhornLauncher
{
    /// <summary>Dynamic shared memory budget of the tiled kernel, bytes (below the 48 KiB CUDA default).</summary>
    private const int SharedBudgetBytes = 40 * 1024;

    private readonly CmmContext context;

    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float> onlineRow;

    private readonly Action<Index1D, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float> storedRow;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, float> onlineTiled;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float> storedGroup;

    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int> apply;

    // The CPU accelerator's form of the three row kernels (RowCpuKernels: blocks of rows per thread, pointer accesses).
    private readonly PointLaunch? rows;

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>? onlineRows;

    private readonly Action<Index1D, PointRange, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>? storedRows;

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>? applyRows;

    // The SIMD form of the stored-cost update (SinkhornSimd: host code over the CPU accelerator's buffers, counted as a launch).
    private readonly Action<ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, int, int, float, float, int>? storedSimd;

    private SinkhornLauncher(CmmContext context)
    {
        this.context = context;
        var acc = context.Accelerator;
        var tally = context.Tally;
        onlineRow = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(SinkhornKernels.UpdateOnlineRowPerThread));
        storedRow = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(SinkhornKernels.UpdateStoredRowPerThread));
        onlineTiled = tally.Counted(acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, float>(SinkhornKernels.UpdateOnlineTiled));
        storedGroup = tally.Counted(acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(SinkhornKernels.UpdateStoredGroupPerRow));
        apply = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(SinkhornKernels.ApplyRowPerThread));
        if (!context.IsGpu)
        {
            rows = PointLaunch.For(context);
            onlineRows = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(RowCpuKernels.UpdateOnline));
            storedRows = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(RowCpuKernels.UpdateStored));
            storedSimd = tally.Counted<ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, int, int, float, float, int>(
                (c, tr, ld, h, lw, olw, old, fresh, err, n, m, eps, omega, blocks) => SinkhornSimd.TryUpdateStored(c, tr, ld, h, lw, olw, old, fresh, err, n, m, eps, omega, blocks),
                "SinkhornSimd.TryUpdateStored");
            applyRows = tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(RowCpuKernels.Apply));
        }
    }

    /// <summary>
    /// Whether the stored-cost row update runs in its SIMD form on the CPU accelerator (<see cref="SinkhornSimd"/>; default)
    /// where the hardware allows it, else in the scalar pointer form (<see cref="RowCpuKernels.UpdateStored"/>). A test and
    /// benchmark seam; ignored on GPUs and for the tiled variant.
    /// </summary>
    internal bool SimdOnCpu { get; set; } = true;

    public static SinkhornLauncher For(CmmContext context) => context.GetComponent(c => new SinkhornLauncher(c));

    /// <summary>Group size for the explicit kernels: a power of two, at most 256 and at most the accelerator's limit.</summary>
    public int GroupSize
    {
        get
        {
            int limit = Math.Min(256, context.Accelerator.MaxNumThreadsPerGroup);
            int t = 1;
            while (t * 2 <= limit)
            {
                t *= 2;
            }

            return t;
        }
    }

    public KernelVariant Resolve(KernelVariant variant) =>
        variant != KernelVariant.Auto ? variant : context.IsGpu ? KernelVariant.Tiled : KernelVariant.RowPerThread;

    /// <summary>
    /// own_new = relax(soft c-transform of the other potential), error = per-point marginal error of (own_old, other).
    /// With a stored cost, <paramref name="transposed"/> says whether own indexes the columns of the [.., ld] matrix.
    /// </summary>
    public void Update(
        KernelVariant variant, ArrayView<float> ownPoints, ArrayView<float> otherPoints, ArrayView<float> cost, bool stored, bool transposed, int ld,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight, ArrayView<float> ownLogWeight,
        ArrayView<float> ownOld, ArrayView<float> ownNew, ArrayView<float> error,
        int n, int m, int d, float eps, float omega)
    {
        bool tiled = Resolve(variant) == KernelVariant.Tiled;
        if (stored)
        {
            if (tiled && !transposed)
            {
                // Never more threads per row than the row has entries (short rows waste barriers otherwise).
                int t = Math.Min(GroupSize, NextPowerOfTwo(m));
                var config = new KernelConfig(new Index1D(n), new Index1D(t), SharedMemoryConfig.RequestDynamic<float>(2 * t));
                storedGroup(config, cost, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, m, eps, omega);
            }
            else
            {
                // Row per thread; on GPUs this is also the right form for the column (transposed) update: coalesced reads.
                if (rows is not null && SimdOnCpu && SinkhornSimd.IsSupported)
                {
                    storedSimd!(cost, transposed ? 1 : 0, ld, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, n, m, eps, omega, rows.LoopThreads);
                }
                else if (rows is not null)
                {
                    var range = rows.Plan(n, out int threads);
                    storedRows!(threads, range, cost, transposed ? 1 : 0, ld, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, m, eps, omega);
                }
                else
                {
                    storedRow(n, cost, transposed ? 1 : 0, ld, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, m, eps, omega);
                }
            }

            return;
        }

        int tile = tiled ? TileFor(d) : 0;
        if (tile > 0)
        {
            var config = new KernelConfig(new Index1D((n + tile - 1) / tile), new Index1D(tile),
                SharedMemoryConfig.RequestDynamic<float>(tile * (d + 2)));
            onlineTiled(config, ownPoints, otherPoints, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, n, m, d, eps, omega);
        }
        else if (rows is not null)
        {
            var range = rows.Plan(n, out int threads);
            onlineRows!(threads, range, ownPoints, otherPoints, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, m, d, eps, omega);
        }
        else
        {
            onlineRow(n, ownPoints, otherPoints, otherPotential, otherLogWeight, ownLogWeight, ownOld, ownNew, error, m, d, eps, omega);
        }
    }

    /// <summary>Row-wise application of the plan (see <see cref="SinkhornKernels.ApplyRowPerThread"/>).</summary>
    public void Apply(
        ArrayView<float> ownPoints, ArrayView<float> otherPoints, ArrayView<float> ownPotential, ArrayView<float> ownLogWeight,
        ArrayView<float> otherPotential, ArrayView<float> otherLogWeight, ArrayView<float> values, ArrayView<float> output,
        int n, int m, int d, int k, float eps, bool costMode)
    {
        if (rows is not null)
        {
            var range = rows.Plan(n, out int threads);
            applyRows!(threads, range, ownPoints, otherPoints, ownPotential, ownLogWeight, otherPotential, otherLogWeight, values, output, m, d, k, eps, costMode ? 1 : 0);
        }
        else
        {
            apply(n, ownPoints, otherPoints, ownPotential, ownLogWeight, otherPotential, otherLogWeight, values, output, m, d, k, eps, costMode ? 1 : 0);
        }
    }

    private static int NextPowerOfTwo(int value)
    {
        int t = 1;
        while (t < value)
        {
            t *= 2;
        }

        return t;
    }

    /// <summary>The tile (group) size of the online tiled kernel for dimension d, or 0 when even 32 points do not fit the shared budget.</summary>
    private int TileFor(int d)
    {
        int t = GroupSize;
        while (t >= 32 && (long)t * (d + 2) * sizeof(float) > SharedBudgetBytes)
        {
            t /= 2;
        }

        return (long)t * (d + 2) * sizeof(float) <= SharedBudgetBytes && t >= Math.Min(32, GroupSize) ? t : 0;
    }
}
