using System.Collections.Concurrent;
using CMM.Gpu.Compute;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace CMM.Gpu;

/// <summary>
/// The one owner of an ILGPU context and accelerator. Create it once per process (it compiles and
/// caches kernels), pass it to every solver, and dispose it last: it disposes the accelerator, then
/// the context. Device buffers created against it must be disposed before it.
/// </summary>
public sealed class CmmContext : IDisposable
{
    private readonly Context context;
    private readonly ConcurrentDictionary<Type, object> components = new();
    private bool disposed;

    private CmmContext(Context context, Accelerator accelerator, AcceleratorKind kind, int deviceIndex = 0)
    {
        this.context = context;
        Accelerator = accelerator;
        Kind = kind;
        DeviceIndex = deviceIndex;
    }

    /// <summary>The backend this context runs on (never <see cref="AcceleratorKind.Auto"/>).</summary>
    public AcceleratorKind Kind { get; }

    /// <summary>True for CUDA and OpenCL devices: kernels take their tiled, shared-memory form.</summary>
    public bool IsGpu => Kind is AcceleratorKind.Cuda or AcceleratorKind.OpenCL;

    /// <summary>The device name.</summary>
    public string DeviceName => Accelerator.Name;

    /// <summary>
    /// Index of the device among the usable devices of its backend (CUDA device ordinal, index among the usable
    /// OpenCL devices); for the CPU accelerator, the number of the simulated device made by <see cref="CreateAll"/>.
    /// </summary>
    public int DeviceIndex { get; }

    /// <summary>Device memory in bytes (host memory for the CPU accelerator, which reports no limit).</summary>
    public long MemoryBytes => Kind == AcceleratorKind.Cpu ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : Accelerator.MemorySize;

    /// <summary>A one-line description such as <c>cuda: NVIDIA H200 (139 GiB, 132 SMs)</c>.</summary>
    public string Description =>
        $"{Kind.ToString().ToLowerInvariant()}: {Accelerator.Name} ({MemoryBytes / (1024.0 * 1024 * 1024):0.#} GiB, {Accelerator.NumMultiprocessors} multiprocessors, max group {Accelerator.MaxNumThreadsPerGroup})";

    /// <summary>The ILGPU accelerator. Internal: ILGPU types stay behind this library's API.</summary>
    internal Accelerator Accelerator { get; }

    /// <summary>
    /// The device work issued on this context so far: kernel launches, host reads and writes (each makes the host wait for
    /// the device), explicit waits and device-side fills and copies. Thread-safe; take a snapshot before and after some work
    /// and subtract (<see cref="DeviceCounters.op_Subtraction"/>) to count that work.
    /// </summary>
    public DeviceCounters Counters => Tally.Snapshot();

    /// <summary>
    /// Starts (or restarts, clearing what was timed) timing every kernel launch of this context, read back by <see cref="KernelProfile"/>. Each launch then waits for
    /// the device before and after it, so a profiled run is slower and has no overlap between launches: use it to find which
    /// kernels a workload spends its device time in (the CLI does so when the environment variable <c>CMM_KERNEL_PROFILE</c>
    /// is 1), not to measure the workload's speed. Work done on the host (the SIMD CPU forms) is not a launch and is not listed.
    /// </summary>
    public void StartKernelProfile()
    {
        ThrowIfDisposed();
        Tally.StartProfile(Accelerator);
    }

    /// <summary>Stops timing launches (they no longer wait for the device); <see cref="KernelProfile"/> keeps what was timed.</summary>
    public void StopKernelProfile() => Tally.StopProfile();

    /// <summary>Launches and seconds per kernel from the last <see cref="StartKernelProfile"/> (empty before), most time first.</summary>
    public IReadOnlyList<KernelTime> KernelProfile => Tally.Profile();

    /// <summary>The counters behind <see cref="Counters"/>: kernels are wrapped and copies routed through it.</summary>
    internal DeviceTally Tally { get; } = new();

    /// <summary>
    /// Creates a context on the requested accelerator. <see cref="AcceleratorKind.Auto"/> tries CUDA,
    /// then a usable OpenCL device, then the CPU accelerator. An explicit request that cannot be met
    /// throws <see cref="AcceleratorUnavailableException"/> with the reason; there is no silent fallback.
    /// </summary>
    /// <param name="kind">The accelerator to use.</param>
    /// <returns>The context; dispose it when done.</returns>
    public static CmmContext Create(AcceleratorKind kind = AcceleratorKind.Auto)
    {
        NativeLibraryMapping.EnsureInstalled();
        switch (kind)
        {
            case AcceleratorKind.Cuda:
                return TryCreateCuda(out var reason) ?? throw new AcceleratorUnavailableException(AcceleratorKind.Cuda, reason!);
            case AcceleratorKind.OpenCL:
                return TryCreateOpenCL(out reason) ?? throw new AcceleratorUnavailableException(AcceleratorKind.OpenCL, reason!);
            case AcceleratorKind.Cpu:
                return CreateCpu();
            default:
                return TryCreateCuda(out _) ?? TryCreateOpenCL(out _) ?? CreateCpu();
        }
    }

    /// <summary>
    /// Opens every usable device of a kind, one context each (each with its own ILGPU context, so the devices
    /// share no state and can be driven from different threads): every CUDA device, or every usable OpenCL GPU
    /// (the first usable OpenCL device when none is a GPU). <see cref="AcceleratorKind.Auto"/> takes all CUDA
    /// devices, else the OpenCL ones, else one CPU accelerator. The CPU accelerator counts as one device; only an
    /// explicit <see cref="AcceleratorKind.Cpu"/> request with <paramref name="maxDevices"/> above 1 makes that many
    /// independent CPU accelerators (they share the same cores: useful for tests of multi-device code, not for speed).
    /// The first context is left bound to the calling thread. <see cref="Create(AcceleratorKind)"/> is unchanged.
    /// </summary>
    /// <param name="kind">The accelerator kind.</param>
    /// <param name="maxDevices">At most this many devices (at least 1); null for all. For an explicit
    /// <see cref="AcceleratorKind.Cpu"/> request, the number of CPU accelerators (null: 1).</param>
    /// <returns>The contexts, at least one, in device order; the caller disposes each.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDevices"/> is below 1.</exception>
    /// <exception cref="AcceleratorUnavailableException">An explicitly requested kind has no usable device, or one could not be opened.</exception>
    public static IReadOnlyList<CmmContext> CreateAll(AcceleratorKind kind = AcceleratorKind.Auto, int? maxDevices = null)
    {
        if (maxDevices is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxDevices), maxDevices, "at least one device must be asked for (null for all)");
        }

        NativeLibraryMapping.EnsureInstalled();
        int max = maxDevices ?? int.MaxValue;
        string? reason;
        switch (kind)
        {
            case AcceleratorKind.Cuda:
                reason = DeviceReport.CudaUnavailableReason();
                return reason is null ? OpenAll(AcceleratorKind.Cuda, max, CreateCudaAt) : throw new AcceleratorUnavailableException(kind, reason);
            case AcceleratorKind.OpenCL:
                reason = DeviceReport.OpenCLUnavailableReason();
                return reason is null ? OpenAll(AcceleratorKind.OpenCL, max, CreateOpenCLAt) : throw new AcceleratorUnavailableException(kind, reason);
            case AcceleratorKind.Cpu:
                return OpenAll(AcceleratorKind.Cpu, maxDevices ?? 1, CreateCpuAt);
            default:
                if (DeviceReport.CudaUnavailableReason() is null)
                {
                    return OpenAll(AcceleratorKind.Cuda, max, CreateCudaAt);
                }

                if (DeviceReport.OpenCLUnavailableReason() is null)
                {
                    return OpenAll(AcceleratorKind.OpenCL, max, CreateOpenCLAt);
                }

                return [CreateCpu()];
        }
    }

    /// <summary>
    /// Creates a context from an option value (may be null), falling back to the <c>CMM_ACCELERATOR</c>
    /// environment variable, then to <see cref="AcceleratorKind.Auto"/>.
    /// </summary>
    /// <param name="option">auto|cuda|opencl|cpu, or null.</param>
    /// <returns>The context.</returns>
    public static CmmContext Create(string? option) => Create(AcceleratorChoice.Resolve(option));

    /// <summary>The CPU device: one simulated multiprocessor per core, groups of up to 64 threads.</summary>
    /// <returns>The device description.</returns>
    internal static CPUDevice CreateCpuDevice() =>
        new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 16, numMultiprocessors: Math.Max(1, Environment.ProcessorCount));

    /// <summary>Returns the per-context instance of a component (kernel launchers load their kernels once).</summary>
    /// <typeparam name="T">The component type.</typeparam>
    /// <param name="factory">Creates it on first use.</param>
    /// <returns>The cached instance.</returns>
    internal T GetComponent<T>(Func<CmmContext, T> factory) where T : class
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return (T)components.GetOrAdd(typeof(T), _ => factory(this));
    }

    /// <summary>Waits for all queued kernels and copies to finish.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Tally.CountSynchronization();
        Accelerator.Synchronize();
    }

    /// <summary>Throws if this context has been disposed.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => disposed;

    /// <summary>
    /// Makes this accelerator the current one of the calling thread (a CUDA context is current per thread). ILGPU
    /// binds on allocations and copies itself; a thread that drives one of several devices binds it once first.
    /// </summary>
    internal void Bind()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Accelerator.Bind();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        foreach (var c in components.Values.OfType<IDisposable>())
        {
            c.Dispose();
        }

        Accelerator.Dispose();
        context.Dispose();
    }

    private static CmmContext? TryCreateCuda(out string? reason)
    {
        reason = DeviceReport.CudaUnavailableReason();
        if (reason is not null)
        {
            return null;
        }

        var ctx = Context.Create(b => b.Cuda().EnableAlgorithms().Math(MathMode.Default).Optimize(OptimizationLevel.O2));
        try
        {
            return new CmmContext(ctx, ctx.GetCudaDevices()[0].CreateAccelerator(ctx), AcceleratorKind.Cuda);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Dispose();
            reason = "CUDA device found but the accelerator could not be created: " + e.Message;
            return null;
        }
    }

    private static CmmContext? TryCreateOpenCL(out string? reason)
    {
        reason = DeviceReport.OpenCLUnavailableReason();
        if (reason is not null)
        {
            return null;
        }

        var ctx = Context.Create(b => b.OpenCL(d => d.Capabilities is CLCapabilityContext c && c.GenericAddressSpace).EnableAlgorithms().Optimize(OptimizationLevel.O2));
        try
        {
            return new CmmContext(ctx, ctx.GetCLDevices()[0].CreateAccelerator(ctx), AcceleratorKind.OpenCL);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Dispose();
            reason = "OpenCL device found but the accelerator could not be created: " + e.Message;
            return null;
        }
    }

    /// <summary>Opens devices 0, 1, ... until <paramref name="max"/> or until <paramref name="open"/> finds no more.</summary>
    private static List<CmmContext> OpenAll(AcceleratorKind kind, int max, Func<int, CmmContext?> open)
    {
        var list = new List<CmmContext>();
        try
        {
            for (int i = 0; i < max && open(i) is { } ctx; i++)
            {
                list.Add(ctx);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            foreach (var c in list)
            {
                c.Dispose();
            }

            throw new AcceleratorUnavailableException(kind, $"device {list.Count} could not be opened: {e.Message}");
        }

        if (list.Count == 0)
        {
            throw new AcceleratorUnavailableException(kind, "no usable device was found");
        }

        list[0].Bind();
        return list;
    }

    /// <summary>The CUDA device of ordinal <paramref name="index"/> in its own ILGPU context, or null past the last.</summary>
    private static CmmContext? CreateCudaAt(int index)
    {
        var ctx = Context.Create(b => b.Cuda().EnableAlgorithms().Math(MathMode.Default).Optimize(OptimizationLevel.O2));
        try
        {
            var devices = ctx.GetCudaDevices();
            if (index >= devices.Count)
            {
                ctx.Dispose();
                return null;
            }

            return new CmmContext(ctx, devices[index].CreateAccelerator(ctx), AcceleratorKind.Cuda, index);
        }
        catch
        {
            ctx.Dispose();
            throw;
        }
    }

    /// <summary>The usable OpenCL GPU number <paramref name="index"/> (the first usable device when none is a GPU), or null past the last.</summary>
    private static CmmContext? CreateOpenCLAt(int index)
    {
        var ctx = Context.Create(b => b.OpenCL(d => d.Capabilities is CLCapabilityContext c && c.GenericAddressSpace).EnableAlgorithms().Optimize(OptimizationLevel.O2));
        try
        {
            var devices = new List<CLDevice>();
            CLDevice? first = null;
            foreach (var d in ctx.GetCLDevices())
            {
                first ??= d;
                if ((d.DeviceType & CLDeviceType.CL_DEVICE_TYPE_GPU) != 0)
                {
                    devices.Add(d);
                }
            }

            if (devices.Count == 0 && first is not null)
            {
                devices.Add(first);
            }

            if (index >= devices.Count)
            {
                ctx.Dispose();
                return null;
            }

            return new CmmContext(ctx, devices[index].CreateAccelerator(ctx), AcceleratorKind.OpenCL, index);
        }
        catch
        {
            ctx.Dispose();
            throw;
        }
    }

    /// <summary>An independent CPU accelerator numbered <paramref name="index"/> (never null: as many as asked).</summary>
    private static CmmContext? CreateCpuAt(int index)
    {
        var ctx = Context.Create(b => b.CPU(CreateCpuDevice()).EnableAlgorithms().Optimize(OptimizationLevel.O2));
        return new CmmContext(ctx, ctx.GetCPUDevices()[0].CreateAccelerator(ctx), AcceleratorKind.Cpu, index);
    }

    private static CmmContext CreateCpu()
    {
        var ctx = Context.Create(b => b.CPU(CreateCpuDevice()).EnableAlgorithms().Optimize(OptimizationLevel.O2));
        return new CmmContext(ctx, ctx.GetCPUDevices()[0].CreateAccelerator(ctx), AcceleratorKind.Cpu);
    }
}

/// <summary>An explicitly requested accelerator cannot be used on this machine.</summary>
public sealed class AcceleratorUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">The requested accelerator.</param>
    /// <param name="reason">Why it cannot be used.</param>
    public AcceleratorUnavailableException(AcceleratorKind kind, string reason)
        : base($"accelerator '{kind.ToString().ToLowerInvariant()}' is not available: {reason}")
    {
        Kind = kind;
        Reason = reason;
    }

    /// <summary>The requested accelerator.</summary>
    public AcceleratorKind Kind { get; }

    /// <summary>Why it cannot be used.</summary>
    public string Reason { get; }
}
