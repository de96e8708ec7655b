using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace CMM.Gpu.Compute;

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

    private CmmContext(Context context, Accelerator accelerator, AcceleratorKind kind)
    {
        this.context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    /// <summary>The backend this context runs on (never <see cref="AcceleratorKind.Auto"/>).</summary>
    public AcceleratorKind Kind { get; }

    /// <summary>True for CUDA and OpenCL devices: kernels take their tiled, shared-memory form.</summary>
    public bool IsGpu => Kind is AcceleratorKind.Cuda or AcceleratorKind.OpenCL;

    /// <summary>The device name.</summary>
    public string DeviceName => Accelerator.Name;

    /// <summary>Device memory in bytes (host memory for the CPU accelerator, which reports no limit).</summary>
    public long MemoryBytes => Kind == AcceleratorKind.Cpu ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : Accelerator.MemorySize;

    /// <summary>A one-line description such as <c>cuda: NVIDIA H200 (139 GiB, 132 SMs)</c>.</summary>
    public string Description =>
        $"{Kind.ToString().ToLowerInvariant()}: {Accelerator.Name} ({MemoryBytes / (1024.0 * 1024 * 1024):0.#} GiB, {Accelerator.NumMultiprocessors} multiprocessors, max group {Accelerator.MaxNumThreadsPerGroup})";

    /// <summary>The ILGPU accelerator. Internal: ILGPU types stay behind this library's API.</summary>
    internal Accelerator Accelerator { get; }

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
        Accelerator.Synchronize();
    }

    /// <summary>Throws if this context has been disposed.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

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
