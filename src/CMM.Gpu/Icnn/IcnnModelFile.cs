using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CMM.Gpu.Compute;
using CMM.Gpu.IO;

namespace CMM.Gpu.Icnn;

/// <summary>Training metadata stored with a model (docs/model-format.md).</summary>
public sealed record IcnnModelMetadata
{
    /// <summary>Dimension of the data the model was fitted on (0 = unknown).</summary>
    public int DataDimension { get; init; }

    /// <summary>Per-coordinate mean subtracted from the data before fitting (empty = none).</summary>
    public IReadOnlyList<float> NormalizationMean { get; init; } = [];

    /// <summary>Per-coordinate scale the centred data was divided by (empty = none).</summary>
    public IReadOnlyList<float> NormalizationScale { get; init; } = [];

    /// <summary>The fitting method: "cmm" (conjugate moment measure) or "mm" (moment measure baseline).</summary>
    public string Method { get; init; } = "cmm";

    /// <summary>What the network represents for "cmm": "w" (the latent's energy) or "conjugate" (u = w*, the generator's
    /// potential). Always "w" in format version 1.</summary>
    public string Network { get; init; } = "w";

    /// <summary>The fitting options as key/value strings (ordinal order is kept).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Options { get; init; } = [];

    /// <summary>Number of outer iterations completed.</summary>
    public long Iterations { get; init; }

    /// <summary>The random seed of the fit.</summary>
    public long Seed { get; init; }

    /// <summary>Every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (DataDimension < 0)
        {
            p.Add($"DataDimension = {DataDimension} must be 0 (unknown) or positive");
        }

        if (Method is not ("cmm" or "mm"))
        {
            p.Add($"Method '{Method}' is unknown: use \"cmm\" or \"mm\"");
        }

        if (Network is not ("w" or "conjugate") || (Network == "conjugate" && Method != "cmm"))
        {
            p.Add($"Network '{Network}' is unknown or does not fit the method: use \"w\", or \"conjugate\" with \"cmm\"");
        }

        if (NormalizationMean is null || (NormalizationMean.Count != 0 && NormalizationMean.Count != DataDimension))
        {
            p.Add($"NormalizationMean must be empty or have DataDimension = {DataDimension} entries");
        }

        if (NormalizationScale is null || (NormalizationScale.Count != 0 && NormalizationScale.Count != DataDimension))
        {
            p.Add($"NormalizationScale must be empty or have DataDimension = {DataDimension} entries");
        }

        if (Options is null || Options.Any(kv => kv.Key is null || kv.Value is null))
        {
            p.Add("Options must be a list of non-null key/value strings");
        }

        if (Iterations < 0)
        {
            p.Add($"Iterations = {Iterations} must be non-negative");
        }

        return p;
    }

    /// <summary>Throws if <see cref="Problems"/> is not empty.</summary>
    /// <exception cref="ArgumentException">Invalid metadata.</exception>
    public void Validate()
    {
        var p = Problems();
        if (p.Count > 0)
        {
            throw new ArgumentException("invalid model metadata: " + string.Join("; ", p));
        }
    }
}

/// <summary>A fitted ICNN on the host: architecture, free parameters and training metadata.</summary>
/// <param name="Architecture">The architecture.</param>
/// <param name="Parameters">Free parameters theta in the layout of <see cref="IcnnLayout"/>.</param>
/// <param name="Metadata">Training metadata.</param>
public sealed record IcnnModel(IcnnArchitecture Architecture, IReadOnlyList<float> Parameters, IcnnModelMetadata Metadata)
{
    /// <summary>Downloads a potential's parameters into a model.</summary>
    /// <param name="potential">The potential.</param>
    /// <param name="metadata">Metadata, or null for defaults.</param>
    /// <returns>The model.</returns>
    public static IcnnModel FromPotential(IcnnPotential potential, IcnnModelMetadata? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        return new IcnnModel(potential.Architecture, potential.GetParameters(), metadata ?? new IcnnModelMetadata());
    }

    /// <summary>Uploads the model as a potential.</summary>
    /// <param name="context">The device.</param>
    /// <param name="options">Execution options, or null.</param>
    /// <returns>The potential; the caller owns it.</returns>
    public IcnnPotential CreatePotential(CmmContext context, IcnnPotentialOptions? options = null) =>
        IcnnPotential.FromParameters(context, Architecture, Parameters.ToArray(), options);
}

/// <summary>
/// Reads and writes ICNN model files (binary, little-endian, versioned, SHA-256 checksum; docs/model-format.md).
/// Writes are atomic (<see cref="AtomicFile"/>). Loading rejects truncated, corrupted and newer-version files
/// with an <see cref="InvalidDataException"/> naming the file and the problem, and never trusts a size in the
/// file beyond the file's length.
/// </summary>
public static class IcnnModelFile
{
    /// <summary>The newest format version this build reads and writes (2 added the preconditioner; version 1 loads with the
    /// identity preconditioner and its stored normalisation, as it was fitted). Version 3 has version 2's layout and marks a
    /// model whose meaning a version-2 reader would miss: a bounded model (its logit box is in the options), which such a
    /// reader would sample in logit coordinates. Other models are still written as version 2 (<see cref="VersionFor"/>).</summary>
    public const int CurrentVersion = 3;

    /// <summary>The version a model is written with: 3 when its options hold a logit box, else 2.</summary>
    /// <param name="metadata">The model's metadata.</param>
    /// <returns>The version.</returns>
    public static int VersionFor(IcnnModelMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.Options.Any(kv => kv.Key == Fitting.LogitBox.LowerKey) ? 3 : 2;
    }

    /// <summary>The 8 magic bytes at offset 0: "CMMICNN" then a zero byte.</summary>
    public static ReadOnlySpan<byte> Magic => "CMMICNN\0"u8;

    private const int HeaderLength = 20;
    private const int ChecksumLength = 32;
    private const long MaxFileLength = int.MaxValue;

    /// <summary>Saves a model atomically.</summary>
    /// <param name="path">Destination file.</param>
    /// <param name="model">The model (architecture and metadata validated; parameter count checked).</param>
    public static void Save(string path, IcnnModel model)
    {
        var bytes = Serialize(model);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Saves a potential's current parameters with metadata.</summary>
    /// <param name="path">Destination file.</param>
    /// <param name="potential">The potential.</param>
    /// <param name="metadata">Metadata, or null for defaults.</param>
    public static void Save(string path, IcnnPotential potential, IcnnModelMetadata? metadata = null) =>
        Save(path, IcnnModel.FromPotential(potential, metadata));

    /// <summary>The exact bytes <see cref="Save(string, IcnnModel)"/> writes.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The file content.</returns>
    public static byte[] Serialize(IcnnModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Architecture.Validate();
        model.Metadata.Validate();
        var layout = new IcnnLayout(model.Architecture);
        if (model.Parameters.Count != layout.ParameterCount)
        {
            throw new ArgumentException($"the model has {model.Parameters.Count} parameters but its architecture needs {layout.ParameterCount}", nameof(model));
        }

        using var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            var a = model.Architecture;
            w.Write(a.Dimension);
            w.Write(a.HiddenWidths.Count);
            foreach (int h in a.HiddenWidths)
            {
                w.Write(h);
            }

            w.Write((int)a.Activation);
            w.Write(a.Rank);
            w.Write(a.Alpha);
            var pre = a.EffectivePreconditioner;
            WriteFloats(w, pre.Centre);
            WriteFloats(w, pre.InputScale);
            w.Write(pre.OutputScale);
            w.Write(pre.QuadraticScale);
            w.Write(pre.LinearScale);
            w.Write(a.Sharpness);
            w.Write((long)model.Parameters.Count);
            foreach (float p in model.Parameters)
            {
                w.Write(p);
            }

            var md = model.Metadata;
            w.Write(md.DataDimension);
            WriteFloats(w, md.NormalizationMean);
            WriteFloats(w, md.NormalizationScale);
            WriteString(w, md.Method);
            WriteString(w, md.Network);
            w.Write(md.Options.Count);
            foreach (var kv in md.Options)
            {
                WriteString(w, kv.Key);
                WriteString(w, kv.Value);
            }

            w.Write(md.Iterations);
            w.Write(md.Seed);
        }

        var body = payload.ToArray();
        var file = new byte[HeaderLength + body.Length + ChecksumLength];
        Magic.CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), VersionFor(model.Metadata));
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(12), body.Length);
        body.CopyTo(file, HeaderLength);
        SHA256.HashData(file.AsSpan(0, HeaderLength + body.Length), file.AsSpan(HeaderLength + body.Length));
        return file;
    }

    /// <summary>Loads a model file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The model.</returns>
    /// <exception cref="InvalidDataException">The file is not a valid model file (the message names the file and the problem).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IcnnModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"model file '{path}' does not exist", path);
        }

        if (info.Length > MaxFileLength)
        {
            throw new InvalidDataException($"model file '{path}' is {info.Length} bytes, over the {MaxFileLength}-byte limit: not a model file");
        }

        return Deserialize(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses model file content (see <see cref="Load"/>).</summary>
    /// <param name="bytes">The content.</param>
    /// <param name="name">The file name used in error messages.</param>
    /// <returns>The model.</returns>
    /// <exception cref="InvalidDataException">The content is not a valid model file.</exception>
    public static IcnnModel Deserialize(ReadOnlySpan<byte> bytes, string name)
    {
        InvalidDataException Bad(string problem) => new($"model file '{name}': {problem}");

        if (bytes.Length < 8 || !bytes[..8].SequenceEqual(Magic))
        {
            throw Bad(bytes.Length < 8 ? $"truncated ({bytes.Length} bytes, shorter than the header)" : "not a CMM.Gpu ICNN model file (bad magic bytes)");
        }

        if (bytes.Length < HeaderLength)
        {
            throw Bad($"truncated ({bytes.Length} bytes, shorter than the {HeaderLength}-byte header)");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        if (version > CurrentVersion)
        {
            throw Bad($"format version {version} is newer than this build reads (up to {CurrentVersion}); upgrade CMM.Gpu");
        }

        if (version < 1)
        {
            throw Bad($"invalid format version {version}");
        }

        long payloadLength = BinaryPrimitives.ReadInt64LittleEndian(bytes[12..]);
        long available = bytes.Length - HeaderLength - ChecksumLength;
        if (payloadLength < 0 || payloadLength > available)
        {
            throw Bad($"truncated (header says {payloadLength} payload bytes plus a {ChecksumLength}-byte checksum, file has {bytes.Length} bytes in all)");
        }

        if (payloadLength < available)
        {
            throw Bad($"{available - payloadLength} unexpected bytes after the payload (corrupted or concatenated)");
        }

        int signed = HeaderLength + (int)payloadLength;
        Span<byte> hash = stackalloc byte[ChecksumLength];
        SHA256.HashData(bytes[..signed], hash);
        if (!hash.SequenceEqual(bytes.Slice(signed, ChecksumLength)))
        {
            throw Bad("checksum mismatch (the file is corrupted)");
        }

        var r = new SpanReader(bytes.Slice(HeaderLength, (int)payloadLength), name);
        int d = r.Int32("dimension");
        int layers = r.Count("number of hidden layers", sizeof(int));
        var widths = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            widths[l] = r.Int32("hidden width");
        }

        var arch = new IcnnArchitecture(d)
        {
            HiddenWidths = widths,
            Activation = (IcnnActivation)r.Int32("activation"),
            Rank = r.Int32("rank"),
            Alpha = r.Single("alpha"),
        };
        if (version >= 2)
        {
            arch = arch with
            {
                Preconditioner = new IcnnPreconditioner
                {
                    Centre = r.Floats("preconditioner centre"),
                    InputScale = r.Floats("preconditioner input scale"),
                    OutputScale = r.Single("preconditioner output scale"),
                    QuadraticScale = r.Single("preconditioner quadratic scale"),
                    LinearScale = r.Single("preconditioner linear scale"),
                },
                Sharpness = r.Single("activation sharpness"),
            };
        }

        var problems = arch.Problems();
        if (problems.Count > 0)
        {
            throw Bad("invalid architecture: " + string.Join("; ", problems));
        }

        long count = r.Int64("parameter count");
        long expected = new IcnnLayout(arch).ParameterCount;
        if (count != expected)
        {
            throw Bad($"holds {count} parameters but its architecture needs {expected}");
        }

        r.Require(count * sizeof(float), "parameters");
        var theta = new float[count];
        for (long i = 0; i < count; i++)
        {
            theta[i] = r.Single("parameter");
        }

        int dataDim = r.Int32("data dimension");
        var mean = r.Floats("normalisation mean");
        var scale = r.Floats("normalisation scale");
        string method = r.String("method");
        string network = version >= 2 ? r.String("network") : "w";
        int optionCount = r.Count("option count", 2 * sizeof(int));
        var options = new List<KeyValuePair<string, string>>(optionCount);
        for (int i = 0; i < optionCount; i++)
        {
            string k = r.String("option key");
            options.Add(new(k, r.String("option value")));
        }

        var md = new IcnnModelMetadata
        {
            DataDimension = dataDim,
            NormalizationMean = mean,
            NormalizationScale = scale,
            Method = method,
            Network = network,
            Options = options,
            Iterations = r.Int64("iterations"),
            Seed = r.Int64("seed"),
        };
        if (r.Remaining != 0)
        {
            throw Bad($"{r.Remaining} unexpected bytes at the end of the payload");
        }

        problems = md.Problems();
        if (problems.Count > 0)
        {
            throw Bad("invalid metadata: " + string.Join("; ", problems));
        }

        return new IcnnModel(arch, theta, md);
    }

    private static void WriteFloats(BinaryWriter w, IReadOnlyList<float> values)
    {
        w.Write(values.Count);
        foreach (float v in values)
        {
            w.Write(v);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write(b.Length);
        w.Write(b);
    }

    /// <summary>Bounds-checked little-endian reader: every size is checked against the bytes that remain.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data, string name)
    {
        private readonly ReadOnlySpan<byte> data = data;
        private int pos;

        public readonly int Remaining => data.Length - pos;

        public readonly void Require(long bytes, string what)
        {
            if (bytes < 0 || bytes > Remaining)
            {
                throw new InvalidDataException($"model file '{name}': truncated or corrupted: {what} needs {bytes} bytes but only {Remaining} remain");
            }
        }

        public int Int32(string what)
        {
            Require(4, what);
            int v = BinaryPrimitives.ReadInt32LittleEndian(data[pos..]);
            pos += 4;
            return v;
        }

        public long Int64(string what)
        {
            Require(8, what);
            long v = BinaryPrimitives.ReadInt64LittleEndian(data[pos..]);
            pos += 8;
            return v;
        }

        public float Single(string what)
        {
            Require(4, what);
            float v = BinaryPrimitives.ReadSingleLittleEndian(data[pos..]);
            pos += 4;
            return v;
        }

        /// <summary>A non-negative count whose items take at least <paramref name="itemBytes"/> each (checked against the remaining bytes).</summary>
        public int Count(string what, int itemBytes)
        {
            int n = Int32(what);
            if (n < 0)
            {
                throw new InvalidDataException($"model file '{name}': negative {what} ({n})");
            }

            Require((long)n * itemBytes, what);
            return n;
        }

        public float[] Floats(string what)
        {
            int n = Count(what, sizeof(float));
            var a = new float[n];
            for (int i = 0; i < n; i++)
            {
                a[i] = Single(what);
            }

            return a;
        }

        public string String(string what)
        {
            int n = Count(what, 1);
            var s = Encoding.UTF8.GetString(data.Slice(pos, n));
            pos += n;
            return s;
        }
    }
}
