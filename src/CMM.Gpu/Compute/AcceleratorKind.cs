namespace CMM.Gpu;

/// <summary>Which ILGPU backend to run on.</summary>
public enum AcceleratorKind
{
    /// <summary>CUDA if a device is present, else a usable OpenCL device, else the CPU accelerator.</summary>
    Auto,

    /// <summary>An NVIDIA GPU through the CUDA driver.</summary>
    Cuda,

    /// <summary>An OpenCL 2.0+ device with the generic address space ILGPU needs.</summary>
    OpenCL,

    /// <summary>ILGPU's CPU accelerator (a multi-threaded simulator using every core).</summary>
    Cpu,
}

/// <summary>Parsing of accelerator names from options and the <c>CMM_ACCELERATOR</c> environment variable.</summary>
public static class AcceleratorChoice
{
    /// <summary>The environment variable that selects the accelerator when no option is given.</summary>
    public const string EnvironmentVariable = "CMM_ACCELERATOR";

    /// <summary>The accepted names, for help texts and error messages.</summary>
    public const string AcceptedNames = "auto|cuda|opencl|cpu";

    /// <summary>Parses <c>auto|cuda|opencl|cpu</c> (case-insensitive).</summary>
    /// <param name="text">The name.</param>
    /// <param name="kind">The parsed kind.</param>
    /// <returns>True when the name is known.</returns>
    public static bool TryParse(string? text, out AcceleratorKind kind)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "AUTO": kind = AcceleratorKind.Auto; return true;
            case "CUDA": kind = AcceleratorKind.Cuda; return true;
            case "OPENCL": case "CL": kind = AcceleratorKind.OpenCL; return true;
            case "CPU": kind = AcceleratorKind.Cpu; return true;
            default: kind = AcceleratorKind.Auto; return false;
        }
    }

    /// <summary>
    /// Resolves the requested kind: an explicit option wins, then <c>CMM_ACCELERATOR</c>, then <see cref="AcceleratorKind.Auto"/>.
    /// </summary>
    /// <param name="option">The option value, or null when not given.</param>
    /// <returns>The kind to request.</returns>
    /// <exception cref="ArgumentException">The option or the environment variable names no known accelerator.</exception>
    public static AcceleratorKind Resolve(string? option)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return TryParse(option, out var k)
                ? k
                : throw new ArgumentException($"unknown accelerator '{option}': expected {AcceptedNames}", nameof(option));
        }

        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            return TryParse(env, out var k)
                ? k
                : throw new ArgumentException($"{EnvironmentVariable}='{env}' names no accelerator: expected {AcceptedNames}", nameof(option));
        }

        return AcceleratorKind.Auto;
    }
}
