using System.CommandLine;

namespace CMM.Gpu.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Print the result as one JSON object on stdout." };

    public static Option<string?> Accelerator() => new("--accelerator", "-a")
    {
        Description = "auto|cuda|opencl|cpu (default: $CMM_ACCELERATOR, else auto). An explicit choice that cannot be met is an error.",
    };
}
