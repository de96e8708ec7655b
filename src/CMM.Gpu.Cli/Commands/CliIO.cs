using System.Text.Json;
using System.Text.Json.Serialization;
using CMM.Gpu.Compute;
using CMM.Gpu.IO;

namespace CMM.Gpu.Cli.Commands;

/// <summary>File and device plumbing shared by the commands: every failure becomes a one-line <see cref="CliException"/>.</summary>
internal static class CliIO
{
    /// <summary>
    /// The options of every <c>--json</c> output: indented snake_case, and a value that was not computed (NaN or
    /// +-infinity, double or float, nullable or not, alone or in an array) written as JSON <c>null</c>, which
    /// System.Text.Json would otherwise refuse to write (it is not valid JSON).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new NonFiniteDoubleAsNull(), new NonFiniteSingleAsNull() },
    };

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

    /// <summary>
    /// Reads integer class labels, one per row (a one-column .csv or .npy, or an IDX label file), and checks that there are
    /// <paramref name="count"/> of them: one per row of <paramref name="rowsName"/>.
    /// </summary>
    public static int[] ReadLabels(string path, string option, int count, string rowsName)
    {
        var cloud = ReadPoints(path, option);
        if (cloud.Dimension != 1)
        {
            throw new CliException($"{option} {cloud.Source}: labels are one value per row, but the file has {cloud.Dimension} columns");
        }

        if (cloud.Count != count)
        {
            throw new CliException($"{option} {cloud.Source}: {cloud.Count} labels for the {count} rows of {rowsName}: give one label per row");
        }

        var labels = new int[count];
        var values = cloud.Data.Span;
        for (int i = 0; i < count; i++)
        {
            float v = values[i];
            if (v != MathF.Round(v) || Math.Abs(v) > 1e6f)
            {
                throw new CliException($"{option} {cloud.Source}: row {i + 1} holds {v}, not an integer class label");
            }

            labels[i] = (int)v;
        }

        return labels;
    }

    /// <summary>Refuses options with problems (their own Validate()), all named in one line.</summary>
    public static void RequireValid(IReadOnlyList<string> problems)
    {
        if (problems.Count > 0)
        {
            throw new CliException("invalid options: " + string.Join("; ", problems));
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
        try
        {
            _ = PointFile.OutputFormatOf(path); // unknown extension or a read-only format: fail before the work
        }
        catch (PointFileException e)
        {
            throw new CliException(e.Message); // bad input (exit 2), not a failed run
        }
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

    /// <summary>
    /// Parses an <c>--image-shape HxW</c> option (null when not given) and checks it against the points' dimension:
    /// <c>--image-shape 8x9: 64 values per point are not 8 x 9</c>. Bad text or a mismatch is a one-line error (exit 2).
    /// </summary>
    public static ImageShape? ParseImageShape(string? text, int dimension, string option = "--image-shape")
    {
        if (text is null)
        {
            return null;
        }

        if (!ImageShape.TryParse(text, out var shape))
        {
            throw new CliException($"{option} '{text}': expected HEIGHTxWIDTH with positive integers, e.g. 28x28");
        }

        try
        {
            shape.RequireFits(dimension, option);
        }
        catch (PointFileException e)
        {
            throw new CliException(e.Message);
        }

        return shape;
    }

    /// <summary>Refuses <c>--dim</c> next to a <c>--data</c> file, whose columns give the dimension.</summary>
    public static void RefuseDimensionForFile(int? dimension)
    {
        if (dimension is not null)
        {
            throw new CliException("--dim applies only to --dataset gaussian, not to --data files (their columns give the dimension)");
        }
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

    /// <summary>
    /// Parses <c>--devices N|all</c>: null (not given) or <c>all</c> gives null (every device of the accelerator),
    /// a positive integer gives that number; anything else is a one-line error.
    /// </summary>
    public static int? ParseDevices(string? text)
    {
        if (text is null || string.Equals(text.Trim(), "all", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1
            ? n
            : throw new CliException($"--devices '{text}': expected a positive number of devices or 'all'");
    }

    /// <summary>
    /// Opens the devices for <c>--devices</c>: every GPU of the accelerator named by --accelerator / CMM_ACCELERATOR / auto
    /// when <paramref name="wanted"/> is null (one CPU accelerator when that is what is used), else exactly
    /// <paramref name="wanted"/> of them (an explicit <c>cpu</c> accelerator then makes that many simulated devices).
    /// Prints each device on stderr. Fewer devices than asked for is an error (no silent fallback).
    /// </summary>
    public static DeviceSet OpenDevices(string? option, int? wanted, TextWriter stderr)
    {
        var kind = ResolveAccelerator(option);
        IReadOnlyList<CmmContext> devices;
        try
        {
            devices = CmmContext.CreateAll(kind, wanted);
        }
        catch (AcceleratorUnavailableException e)
        {
            throw new CliException(e.Message, ExitCodes.Failed);
        }

        foreach (var device in devices)
        {
            ProfileIfAsked(device);
        }

        var set = new DeviceSet(devices);
        if (wanted is { } n && devices.Count < n)
        {
            set.Dispose();
            string name = devices[0].Kind.ToString().ToLowerInvariant();
            throw new CliException(
                $"--devices {n}: only {devices.Count} {name} device{(devices.Count == 1 ? "" : "s")} available" +
                (devices[0].Kind == AcceleratorKind.Cpu ? " (--accelerator cpu --devices N simulates N devices, for testing only)" : ""),
                ExitCodes.Failed);
        }

        if (devices.Count == 1)
        {
            stderr.WriteLine("cmm: accelerator " + devices[0].Description);
        }
        else
        {
            for (int i = 0; i < devices.Count; i++)
            {
                stderr.WriteLine($"cmm: device {i + 1} of {devices.Count} (index {devices[i].DeviceIndex}): {devices[i].Description}");
            }

            if (devices[0].Kind == AcceleratorKind.Cpu)
            {
                stderr.WriteLine($"cmm: note: the {devices.Count} CPU accelerators share the same cores: this exercises the multi-device path, it is not faster");
            }
        }

        return set;
    }

    /// <summary>The accelerator kind named by --accelerator / CMM_ACCELERATOR / auto; a bad name is a one-line error.</summary>
    private static AcceleratorKind ResolveAccelerator(string? option)
    {
        try
        {
            return AcceleratorChoice.Resolve(option);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>Contexts whose kernels this command profiles (CMM_KERNEL_PROFILE=1), reported by <see cref="WriteKernelProfiles"/>.</summary>
    private static readonly List<CmmContext> Profiled = [];

    /// <summary>Writes the kernel profile of every context opened with CMM_KERNEL_PROFILE=1 (one line per kernel) and
    /// forgets them.</summary>
    public static void WriteKernelProfiles(TextWriter stderr)
    {
        foreach (var ctx in Profiled)
        {
            var rows = ctx.KernelProfile;
            double total = rows.Sum(r => r.Seconds);
            stderr.WriteLine($"cmm: kernel profile ({ctx.Kind.ToString().ToLowerInvariant()}, launches timed one by one; host-side SIMD work not listed): {total:F3} s in {rows.Sum(r => r.Launches)} launches");
            foreach (var r in rows)
            {
                stderr.WriteLine(FormattableString.Invariant($"cmm:   {r.Kernel,-48} {r.Launches,9} launches {r.Seconds,9:F3} s {1e6 * r.Seconds / r.Launches,10:F1} us/launch {100 * r.Seconds / Math.Max(total, 1e-12),5:F1} %"));
            }
        }

        Profiled.Clear();
    }

    /// <summary>Starts the kernel profile of a new context when CMM_KERNEL_PROFILE is 1.</summary>
    private static void ProfileIfAsked(CmmContext ctx)
    {
        if (Environment.GetEnvironmentVariable("CMM_KERNEL_PROFILE") == "1")
        {
            ctx.StartKernelProfile();
            Profiled.Add(ctx);
        }
    }

    /// <summary>Creates the accelerator named by --accelerator / CMM_ACCELERATOR / auto.</summary>
    public static CmmContext OpenContext(string? option, TextWriter stderr)
    {
        var kind = ResolveAccelerator(option);
        try
        {
            var ctx = CmmContext.Create(kind);
            stderr.WriteLine("cmm: accelerator " + ctx.Description);
            ProfileIfAsked(ctx);
            return ctx;
        }
        catch (AcceleratorUnavailableException e)
        {
            throw new CliException(e.Message, ExitCodes.Failed);
        }
    }
}

/// <summary>The devices a command runs on; the first is the primary (models are loaded there). Disposes them all.</summary>
internal sealed class DeviceSet(IReadOnlyList<CmmContext> devices) : IDisposable
{
    public IReadOnlyList<CmmContext> Devices => devices;

    public CmmContext Primary => devices[0];

    public void Dispose()
    {
        foreach (var d in devices)
        {
            d.Dispose();
        }
    }
}

/// <summary>Writes a non-finite double (not computed) as JSON null and reads null back as NaN; finite values are plain numbers.</summary>
internal sealed class NonFiniteDoubleAsNull : JsonConverter<double>
{
    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}

/// <summary>Writes a non-finite float (not computed) as JSON null and reads null back as NaN; finite values are plain numbers.</summary>
internal sealed class NonFiniteSingleAsNull : JsonConverter<float>
{
    public override bool HandleNull => true;

    public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? float.NaN : reader.GetSingle();

    public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
    {
        if (float.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}
