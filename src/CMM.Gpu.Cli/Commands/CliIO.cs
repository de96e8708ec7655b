using System.Text.Json;
using CMM.Gpu.Compute;
using CMM.Gpu.IO;

namespace CMM.Gpu.Cli.Commands;

/// <summary>File and device plumbing shared by the commands: every failure becomes a one-line <see cref="CliException"/>.</summary>
internal static class CliIO
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Reads a point file; bad files are exit code 2 with the reader's one-line message.</summary>
    public static PointCloud ReadPoints(string? path, string option)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new CliException($"{option} is required");
        }

        try
        {
            return PointFile.Read(path);
        }
        catch (PointFileException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>Refuses point sets whose squared costs would overflow float32, saying how to fix it.</summary>
    public static void RefuseOverflow(PointCloud cloud)
    {
        if (cloud.SquaredCostsMayOverflow)
        {
            throw new CliException((cloud.OverflowWarning ?? $"{cloud.Source}: values too large for float32 squared costs")
                                   + "; rescale the data (e.g. divide by its standard deviation) and retry");
        }
    }

    /// <summary>Checks that a point-file output can be written (directory exists, known extension) before any work is done.</summary>
    public static void CheckWritable(string? path, string option)
    {
        if (path is null)
        {
            return;
        }

        CheckOutputPath(path, option);
        _ = PointFile.FormatOf(path); // unknown extension: fail before the work
    }

    /// <summary>Checks that any output file can be created: its directory exists and it is not a directory.</summary>
    public static void CheckOutputPath(string path, string option)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null && !Directory.Exists(dir))
        {
            throw new CliException($"{option} '{path}': directory '{dir}' does not exist");
        }

        if (Directory.Exists(path))
        {
            throw new CliException($"{option} '{path}' is a directory");
        }
    }

    /// <summary>Checks a built-in dataset name, suggesting the close match.</summary>
    public static void RequireDataset(string name, string option)
    {
        if (!Data.Datasets.IsKnown(name))
        {
            var hint = Suggest.Closest(name, Data.Datasets.Names);
            throw new CliException($"{option} '{name}' is unknown" + (hint is null ? "" : $"; did you mean '{hint}'?") + " Known: " + string.Join(", ", Data.Datasets.Names));
        }
    }

    /// <summary>The dataset options a <c>--dim</c> value gives (it applies to <c>gaussian</c> only; null keeps the defaults).</summary>
    public static Data.DatasetOptions? DatasetOptionsFor(string name, int? dimension, string option = "--dim")
    {
        if (dimension is null)
        {
            return null;
        }

        if (name != "gaussian")
        {
            throw new CliException($"{option} applies only to --dataset gaussian (the '{name}' dataset has a fixed dimension)");
        }

        if (dimension is < 1 or > 1024)
        {
            throw new CliException($"{option} must be between 1 and 1024 (got {dimension})");
        }

        return new Data.DatasetOptions { Dimension = dimension };
    }

    /// <summary>Writes points atomically, as CSV or .npy by extension.</summary>
    public static void WritePoints(string path, ReadOnlySpan<float> data, int dimension)
    {
        try
        {
            PointFile.Write(path, data, dimension);
        }
        catch (PointFileException e)
        {
            throw new CliException(e.Message, ExitCodes.Failed);
        }
    }

    /// <summary>Creates the accelerator named by --accelerator / CMM_ACCELERATOR / auto.</summary>
    public static CmmContext OpenContext(string? option, TextWriter stderr)
    {
        AcceleratorKind kind;
        try
        {
            kind = AcceleratorChoice.Resolve(option);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }

        try
        {
            var ctx = CmmContext.Create(kind);
            stderr.WriteLine("cmm: accelerator " + ctx.Description);
            return ctx;
        }
        catch (AcceleratorUnavailableException e)
        {
            throw new CliException(e.Message, ExitCodes.Failed);
        }
    }
}
