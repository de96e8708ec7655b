using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace CMM.Gpu.Compute;

/// <summary>One device found on this machine, usable or not.</summary>
/// <param name="Backend">cuda, opencl or cpu.</param>
/// <param name="Index">Index of the device within its backend.</param>
/// <param name="Name">Device name as the driver reports it.</param>
/// <param name="MemoryBytes">Device memory in bytes.</param>
/// <param name="Multiprocessors">Streaming multiprocessors (GPU) or simulated processors (CPU).</param>
/// <param name="WarpSize">Warp (or sub-group) size.</param>
/// <param name="MaxThreadsPerGroup">Largest group.</param>
/// <param name="MaxSharedMemoryPerGroup">Shared memory per group in bytes.</param>
/// <param name="Details">Backend-specific facts (architecture, driver, OpenCL version).</param>
/// <param name="Usable">Whether CMM.Gpu can run on it.</param>
/// <param name="Reason">Why it is unusable, or null.</param>
public sealed record DeviceInfo(
    string Backend,
    int Index,
    string Name,
    long MemoryBytes,
    int Multiprocessors,
    int WarpSize,
    int MaxThreadsPerGroup,
    long MaxSharedMemoryPerGroup,
    string Details,
    bool Usable,
    string? Reason);

/// <summary>A backend that yielded no usable device, with the reason.</summary>
/// <param name="Backend">cuda, opencl or cpu.</param>
/// <param name="Reason">Why nothing usable was found.</param>
public sealed record BackendProblem(string Backend, string Reason);

/// <summary>Everything <c>cmm devices</c> reports: devices, the <c>auto</c> choice, unusable backends.</summary>
/// <param name="Devices">Every device found.</param>
/// <param name="AutoChoice">The device <see cref="AcceleratorKind.Auto"/> picks.</param>
/// <param name="Problems">Backends without a usable device, each with its reason.</param>
public sealed record DeviceReport(IReadOnlyList<DeviceInfo> Devices, DeviceInfo AutoChoice, IReadOnlyList<BackendProblem> Problems)
{
    /// <summary>Probes every backend. Takes a few hundred milliseconds (one ILGPU context per backend).</summary>
    /// <returns>The report.</returns>
    public static DeviceReport Probe()
    {
        NativeLibraryMapping.EnsureInstalled();
        var devices = new List<DeviceInfo>();
        var problems = new List<BackendProblem>();

        var cuda = ProbeCuda(out var cudaProblem);
        devices.AddRange(cuda);
        if (cudaProblem is not null)
        {
            problems.Add(new BackendProblem("cuda", cudaProblem));
        }

        var cl = ProbeOpenCL(out var clProblem);
        devices.AddRange(cl);
        if (clProblem is not null)
        {
            problems.Add(new BackendProblem("opencl", clProblem));
        }

        devices.Add(ProbeCpu());
        var auto = devices.First(d => d.Usable);
        return new DeviceReport(devices, auto, problems);
    }

    /// <summary>The reason a CUDA request cannot be met, or null when a CUDA device is usable.</summary>
    /// <returns>The reason.</returns>
    internal static string? CudaUnavailableReason()
    {
        ProbeCuda(out var problem);
        return problem;
    }

    /// <summary>The reason an OpenCL request cannot be met, or null when an OpenCL device is usable.</summary>
    /// <returns>The reason.</returns>
    internal static string? OpenCLUnavailableReason()
    {
        ProbeOpenCL(out var problem);
        return problem;
    }

    private static List<DeviceInfo> ProbeCuda(out string? problem)
    {
        var list = new List<DeviceInfo>();
        if (!NativeLibrary.TryLoad(OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1", out var h)
            && !NativeLibrary.TryLoad("libcuda.so", out h))
        {
            problem = "no CUDA driver: libcuda.so.1 was not found (install the NVIDIA driver)";
            return list;
        }

        NativeLibrary.Free(h);
        try
        {
            using var context = Context.Create(b => b.Cuda());
            int i = 0;
            foreach (var d in context.GetCudaDevices())
            {
                list.Add(Describe("cuda", i++, d, $"sm_{d.Architecture?.Major}{d.Architecture?.Minor}, driver {d.DriverVersion}", true, null));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            problem = "CUDA driver found but it failed to initialise: " + e.Message;
            return list;
        }

        problem = list.Count == 0 ? "CUDA driver found but it reports no device" : null;
        return list;
    }

    private static List<DeviceInfo> ProbeOpenCL(out string? problem)
    {
        var list = new List<DeviceInfo>();
        if (!NativeLibrary.TryLoad(OperatingSystem.IsWindows() ? "OpenCL.dll" : "libOpenCL.so.1", out var h)
            && !NativeLibrary.TryLoad("libOpenCL.so", out h))
        {
            problem = "no OpenCL loader: libOpenCL.so.1 was not found (install an ICD loader and a driver)";
            return list;
        }

        NativeLibrary.Free(h);
        try
        {
            using var context = Context.Create(b => b.OpenCL(_ => true));
            int i = 0;
            foreach (var d in context.GetCLDevices())
            {
                bool generic = d.Capabilities is CLCapabilityContext caps && caps.GenericAddressSpace;
                string? reason = generic ? null
                    : $"OpenCL {d.CLStdVersion} device without the generic address space ILGPU needs";
                list.Add(Describe("opencl", i++, d, $"{d.PlatformName}, OpenCL C {d.CLStdVersion}", generic, reason));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            problem = "OpenCL loader found but enumeration failed: " + e.Message;
            return list;
        }

        problem = list.Count == 0 ? "OpenCL loader found but no platform reports a device"
            : list.Any(d => d.Usable) ? null
            : string.Join("; ", list.Select(d => d.Name + ": " + d.Reason));
        return list;
    }

    private static DeviceInfo ProbeCpu()
    {
        using var context = Context.Create(b => b.CPU(CmmContext.CreateCpuDevice()));
        var d = context.GetCPUDevices()[0];
        return Describe("cpu", 0, d, $"ILGPU CPU accelerator (simulator), {Environment.ProcessorCount} cores", true, null);
    }

    private static DeviceInfo Describe(string backend, int index, Device d, string details, bool usable, string? reason) =>
        new(backend, index, d.Name,
            backend == "cpu" ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes : d.MemorySize, // the simulator reports long.MaxValue
            d.NumMultiprocessors, d.WarpSize, d.MaxNumThreadsPerGroup,
            d.MaxSharedMemoryPerGroup, details, usable, reason);
}
