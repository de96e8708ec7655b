using System.Reflection;
using System.Runtime.InteropServices;

namespace CMM.Gpu.Compute;

/// <summary>
/// Maps the unversioned native library names ILGPU asks for ("cuda", "OpenCL") to the versioned
/// files drivers install (<c>libcuda.so.1</c>, <c>libOpenCL.so.1</c>), so a machine with only the
/// versioned files works. Installed once per process, before the first ILGPU call.
/// </summary>
internal static class NativeLibraryMapping
{
    private static int installed;

    public static void EnsureInstalled()
    {
        if (Interlocked.Exchange(ref installed, 1) != 0)
        {
            return;
        }

        try
        {
            NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // ILGPU installed its own resolver (it does so under WSL); keep it.
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        foreach (var candidate in Candidates(name))
        {
            if (NativeLibrary.TryLoad(candidate, assembly, path, out var handle))
            {
                return handle;
            }
        }

        return IntPtr.Zero; // fall back to the default probing
    }

    private static IEnumerable<string> Candidates(string name)
    {
        var n = name.ToUpperInvariant();
        if (n.Contains("NVCUDA", StringComparison.Ordinal) || n is "CUDA" or "LIBCUDA" or "LIBCUDA.SO")
        {
            return OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so", "libcuda.so.1"];
        }

        if (n is "OPENCL" or "LIBOPENCL" or "LIBOPENCL.SO" || n.StartsWith("OPENCL", StringComparison.Ordinal))
        {
            return OperatingSystem.IsWindows() ? ["OpenCL.dll"] : ["libOpenCL.so", "libOpenCL.so.1"];
        }

        if (n.Contains("NVVM", StringComparison.Ordinal))
        {
            return ["libnvvm.so", "libnvvm.so.4"];
        }

        return [];
    }
}
