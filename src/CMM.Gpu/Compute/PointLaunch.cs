using CMM.Gpu.Kernels;

namespace CMM.Gpu.Compute;

/// <summary>How a per-point kernel spreads its points over threads (see <see cref="PointRange"/>).</summary>
internal enum PointLaunchForm
{
    /// <summary>One thread per point on GPUs, <see cref="Blocks"/> on the CPU accelerator.</summary>
    Auto,

    /// <summary>n threads, one point each (the GPU form).</summary>
    OnePerPoint,

    /// <summary><see cref="PointLaunch.LoopThreads"/> threads, each handling every threads-th point.</summary>
    GridStride,

    /// <summary>About <see cref="PointLaunch.LoopThreads"/> threads, each handling a contiguous block of points.</summary>
    Blocks,
}

/// <summary>
/// The launch rule of the per-point kernels (Langevin, conjugate solve, closed-form potentials).
/// On GPUs a launch has one thread per point. On the CPU accelerator every group of simulated threads costs
/// about one launch + synchronise and every active simulated thread is an OS thread (docs/performance.md), so a
/// launch there has 4 threads per core (a single group up to 16 cores) and each thread loops over a contiguous block of
/// points. The kernel body is the same loop in both cases and a point's result does not depend on its thread,
/// so the forms give identical output. One instance per context; <see cref="Form"/> and <see cref="LoopThreads"/>
/// can be forced (tests, benchmarks).
/// </summary>
internal sealed class PointLaunch
{
    private readonly CmmContext context;

    private int loopThreads;

    private PointLaunch(CmmContext context)
    {
        this.context = context;
        loopThreads = Math.Max(1, context.Accelerator.NumMultiprocessors * context.Accelerator.WarpSize);
    }

    /// <summary>The form used by every per-point launcher of this context (default <see cref="PointLaunchForm.Auto"/>).
    /// Changing it while kernels of this context are being launched from another thread is not supported.</summary>
    public PointLaunchForm Form { get; set; } = PointLaunchForm.Auto;

    /// <summary>
    /// Threads of a looped launch (<see cref="PointLaunchForm.Blocks"/>, <see cref="PointLaunchForm.GridStride"/>); default
    /// multiprocessors x warp size (4 per core on the CPU accelerator: measured as fast as 1 per core, and 20 % (n = 65,537)
    /// to 2x (n = 4,097) faster than a full group of 64 per core; see docs/performance.md). Settable for tests and benchmarks (at least 1).
    /// </summary>
    public int LoopThreads
    {
        get => loopThreads;
        set => loopThreads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "at least 1 thread");
    }

    /// <summary>
    /// Whether the light kernels (<see cref="LightKernels"/>: per-parameter updates, Langevin moves, packing) run on the host
    /// over the CPU accelerator's buffers instead of being launched (default true; ignored on GPUs and when <see cref="Form"/>
    /// is forced). Settable for tests and benchmarks that exercise the launched forms on the CPU accelerator.
    /// </summary>
    public bool LightKernelsOnHost { get; set; } = true;

    /// <summary>True when the light kernels run on the host: the CPU accelerator, form <see cref="PointLaunchForm.Auto"/> and
    /// <see cref="LightKernelsOnHost"/>.</summary>
    public bool HostForm => !context.IsGpu && Form == PointLaunchForm.Auto && LightKernelsOnHost;

    /// <summary>The instance of a context.</summary>
    /// <param name="context">The device.</param>
    /// <returns>The launch rule.</returns>
    public static PointLaunch For(CmmContext context) => context.GetComponent(c => new PointLaunch(c));

    /// <summary>The form <see cref="PointLaunchForm.Auto"/> resolves to.</summary>
    public PointLaunchForm Resolved =>
        Form != PointLaunchForm.Auto ? Form : context.IsGpu ? PointLaunchForm.OnePerPoint : PointLaunchForm.Blocks;

    /// <summary>The range and launch extent for <paramref name="count"/> points.</summary>
    /// <param name="count">Number of points (0 or more).</param>
    /// <param name="threads">The launch extent.</param>
    /// <returns>The range to pass to the kernel.</returns>
    public PointRange Plan(int count, out int threads)
    {
        switch (Resolved)
        {
            case PointLaunchForm.GridStride:
                threads = Math.Min(count, LoopThreads);
                return PointRange.GridStride(count, Math.Max(1, threads));
            case PointLaunchForm.Blocks:
                int perThread = (int)Math.Max(1, ((long)count + LoopThreads - 1) / LoopThreads);
                threads = (int)(((long)count + perThread - 1) / perThread);
                return PointRange.Blocks(count, perThread);
            default:
                threads = count;
                return PointRange.OnePerPoint(count);
        }
    }
}
