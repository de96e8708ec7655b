using System.Security.Cryptography;
using System.Text;
using CMM.Gpu.IO;

namespace CMM.Gpu.Fitting;

/// <summary>
/// Everything needed to continue a fit exactly where it stopped: the model, the optimiser moments,
/// the persistent particles and their RNG step counter, the warm starts, the schedule state.
/// Stored as <c>CMMCKPT\0</c>, format version, payload length, payload, SHA-256 of the payload
/// (docs/fitting.md). Written atomically; a truncated, corrupted or newer file is rejected.
/// </summary>
public sealed record FitCheckpoint
{
    /// <summary>The format version this build writes and the newest it reads.</summary>
    public const int CurrentVersion = 3;

    private static readonly byte[] Magic = "CMMCKPT\0"u8.ToArray();

    /// <summary>Outer iterations completed.</summary>
    public int Iteration { get; init; }

    /// <summary>Multiplier on the learning-rate schedule (halved after each non-finite step).</summary>
    public double LearningRateScale { get; init; } = 1;

    /// <summary>Non-finite steps recovered from so far.</summary>
    public int Recoveries { get; init; }

    /// <summary>Current Langevin step size (may have been backed off).</summary>
    public double LangevinStepSize { get; init; }

    /// <summary>Global Langevin step counter of the particles.</summary>
    public int ChainStepCount { get; init; }

    /// <summary>Particles, row-major [P, d].</summary>
    public float[] Particles { get; init; } = [];

    /// <summary>The particles' gradients of the latent energy (LangevinChains.SolveStarts) when that gradient is a solve (network u = w*),
    /// so a resumed fit starts its first solves where the uninterrupted one would; empty otherwise (it was always empty before 2026-12-04).</summary>
    public float[] WarmStart { get; init; } = [];

    /// <summary>Sinkhorn potential f (map objective), or empty.</summary>
    public float[] SinkhornF { get; init; } = [];

    /// <summary>Sinkhorn potential g (map objective), or empty.</summary>
    public float[] SinkhornG { get; init; } = [];

    /// <summary>Adam first moments.</summary>
    public float[] AdamM { get; init; } = [];

    /// <summary>Adam second moments.</summary>
    public float[] AdamV { get; init; } = [];

    /// <summary>Adam step counter.</summary>
    public long AdamSteps { get; init; }

    /// <summary>The model file bytes (architecture, raw parameters, metadata).</summary>
    public byte[] Model { get; init; } = [];

    /// <summary>Fingerprint of the options the fit runs with (resuming with other options is refused).</summary>
    public string OptionsFingerprint { get; init; } = "";

    /// <summary>Fingerprint of the (normalised) training data (resuming on other data is refused).</summary>
    public string DataFingerprint { get; init; } = "";

    /// <summary>Early stopping: the best validation energy distance so far (NaN when none yet; version 2).</summary>
    public double BestValidation { get; init; } = double.NaN;

    /// <summary>Early stopping: the iteration of the best validation (0 when none).</summary>
    public int BestIteration { get; init; }

    /// <summary>Early stopping: validations since the best one.</summary>
    public int ValidationsSinceBest { get; init; }

    /// <summary>Early stopping: the parameters at the best validation (empty when none).</summary>
    public float[] BestParameters { get; init; } = [];

    /// <summary>Health monitoring: the MALA acceptance rates of the monitor's window, oldest first (version 3; empty before).</summary>
    public double[] HealthAcceptance { get; init; } = [];

    /// <summary>Health monitoring: the converged shares of conjugate solves of the monitor's window (as many as <see cref="HealthAcceptance"/>).</summary>
    public double[] HealthConverged { get; init; } = [];

    /// <summary>Health monitoring: halvings of the Langevin step made so far.</summary>
    public int StepHalvings { get; init; }

    /// <summary>Health monitoring: the iteration whose parameters <see cref="HealthyParameters"/> hold (the last whose figures met the floors).</summary>
    public int HealthyIteration { get; init; }

    /// <summary>Health monitoring: the parameters of the last healthy iteration, returned by a fit that stops as failed (empty
    /// before version 3: the checkpoint's own model is taken).</summary>
    public float[] HealthyParameters { get; init; } = [];

    /// <summary>Serialises to bytes.</summary>
    /// <returns>The file content.</returns>
    public byte[] Serialize()
    {
        using var payload = new MemoryStream();
        using (var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Iteration);
            w.Write(LearningRateScale);
            w.Write(Recoveries);
            w.Write(LangevinStepSize);
            w.Write(ChainStepCount);
            foreach (var a in new[] { Particles, WarmStart, SinkhornF, SinkhornG, AdamM, AdamV })
            {
                w.Write(a.Length);
                foreach (var v in a)
                {
                    w.Write(v);
                }
            }

            w.Write(AdamSteps);
            w.Write(Model.Length);
            w.Write(Model);
            w.Write(OptionsFingerprint);
            w.Write(DataFingerprint);
            w.Write(BestValidation);
            w.Write(BestIteration);
            w.Write(ValidationsSinceBest);
            w.Write(BestParameters.Length);
            foreach (var v in BestParameters)
            {
                w.Write(v);
            }

            foreach (var a in new[] { HealthAcceptance, HealthConverged })
            {
                w.Write(a.Length);
                foreach (var v in a)
                {
                    w.Write(v);
                }
            }

            w.Write(StepHalvings);
            w.Write(HealthyIteration);
            w.Write(HealthyParameters.Length);
            foreach (var v in HealthyParameters)
            {
                w.Write(v);
            }
        }

        var body = payload.ToArray();
        using var file = new MemoryStream();
        using (var w = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(CurrentVersion);
            w.Write((long)body.Length);
            w.Write(body);
            w.Write(SHA256.HashData(body));
        }

        return file.ToArray();
    }

    /// <summary>Writes the checkpoint atomically (temporary file, then rename).</summary>
    /// <param name="path">Destination.</param>
    public void Save(string path)
    {
        var bytes = Serialize();
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Reads a checkpoint file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The checkpoint.</returns>
    /// <exception cref="InvalidDataException">Truncated, corrupted, not a checkpoint, or a newer version (one-line message naming the file).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static FitCheckpoint Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"checkpoint '{path}' does not exist", path);
        }

        return Deserialize(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses checkpoint bytes, trusting no size beyond what the bytes hold.</summary>
    /// <param name="bytes">The content.</param>
    /// <param name="name">Name for messages.</param>
    /// <returns>The checkpoint.</returns>
    public static FitCheckpoint Deserialize(ReadOnlySpan<byte> bytes, string name)
    {
        const int header = 8 + 4 + 8;
        if (bytes.Length < header || !bytes[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{name}: not a CMM.Gpu checkpoint (bad magic bytes)");
        }

        int version = BitConverter.ToInt32(bytes.Slice(8, 4));
        if (version > CurrentVersion)
        {
            throw new InvalidDataException($"{name}: checkpoint format version {version} is newer than this build supports ({CurrentVersion}); upgrade CMM.Gpu");
        }

        if (version < 1)
        {
            throw new InvalidDataException($"{name}: invalid checkpoint format version {version}");
        }

        long length = BitConverter.ToInt64(bytes.Slice(12, 8));
        if (length < 0 || length > bytes.Length - header - 32)
        {
            throw new InvalidDataException($"{name}: truncated checkpoint (payload of {length} bytes announced, {Math.Max(0, bytes.Length - header - 32)} present)");
        }

        var body = bytes.Slice(header, (int)length);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.Slice(header + (int)length, 32)))
        {
            throw new InvalidDataException($"{name}: corrupted checkpoint (checksum mismatch)");
        }

        if (bytes.Length != header + length + 32)
        {
            throw new InvalidDataException($"{name}: unexpected bytes after the checkpoint");
        }

        var r = new Reader(body.ToArray(), name);
        var c = new FitCheckpoint
        {
            Iteration = r.Int(),
            LearningRateScale = r.Double(),
            Recoveries = r.Int(),
            LangevinStepSize = r.Double(),
            ChainStepCount = r.Int(),
            Particles = r.Floats(),
            WarmStart = r.Floats(),
            SinkhornF = r.Floats(),
            SinkhornG = r.Floats(),
            AdamM = r.Floats(),
            AdamV = r.Floats(),
            AdamSteps = r.Long(),
            Model = r.Bytes(),
            OptionsFingerprint = r.String(),
            DataFingerprint = r.String(),
        };
        if (version >= 2)
        {
            c = c with { BestValidation = r.Double(), BestIteration = r.Int(), ValidationsSinceBest = r.Int(), BestParameters = r.Floats() };
        }

        if (version >= 3)
        {
            c = c with { HealthAcceptance = r.Doubles(), HealthConverged = r.Doubles(), StepHalvings = r.Int(), HealthyIteration = r.Int(), HealthyParameters = r.Floats() };
        }

        r.End();
        return c;
    }

    /// <summary>A short stable fingerprint of a float array (SHA-256, hex prefix).</summary>
    /// <param name="data">The values.</param>
    /// <returns>The fingerprint.</returns>
    public static string Fingerprint(ReadOnlySpan<float> data) =>
        Convert.ToHexString(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data)))[..16];

    /// <summary>A short stable fingerprint of a string.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The fingerprint.</returns>
    public static string Fingerprint(string text) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];

    private sealed class Reader(byte[] data, string name)
    {
        private int pos;

        public int Int() => BitConverter.ToInt32(Take(4));

        public long Long() => BitConverter.ToInt64(Take(8));

        public double Double() => BitConverter.ToDouble(Take(8));

        public float[] Floats()
        {
            int n = Int();
            if (n < 0 || (long)n * 4 > data.Length - pos)
            {
                throw new InvalidDataException($"{name}: corrupted checkpoint (array of {n} floats does not fit)");
            }

            var a = new float[n];
            Buffer.BlockCopy(data, pos, a, 0, n * 4);
            pos += n * 4;
            return a;
        }

        public double[] Doubles()
        {
            int n = Int();
            if (n < 0 || (long)n * 8 > data.Length - pos)
            {
                throw new InvalidDataException($"{name}: corrupted checkpoint (array of {n} doubles does not fit)");
            }

            var a = new double[n];
            Buffer.BlockCopy(data, pos, a, 0, n * 8);
            pos += n * 8;
            return a;
        }

        public byte[] Bytes()
        {
            int n = Int();
            if (n < 0 || n > data.Length - pos)
            {
                throw new InvalidDataException($"{name}: corrupted checkpoint (block of {n} bytes does not fit)");
            }

            return Take(n).ToArray();
        }

        public string String()
        {
            // BinaryWriter.Write(string): 7-bit encoded length, then UTF-8 bytes.
            int len = 0, shift = 0;
            byte b;
            do
            {
                b = Take(1)[0];
                len |= (b & 0x7F) << shift;
                shift += 7;
                if (shift > 28)
                {
                    throw new InvalidDataException($"{name}: corrupted checkpoint (bad string length)");
                }
            }
            while ((b & 0x80) != 0);

            return Encoding.UTF8.GetString(Take(len));
        }

        public void End()
        {
            if (pos != data.Length)
            {
                throw new InvalidDataException($"{name}: corrupted checkpoint ({data.Length - pos} unread bytes)");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > data.Length - pos)
            {
                throw new InvalidDataException($"{name}: truncated checkpoint payload");
            }

            var s = data.AsSpan(pos, n);
            pos += n;
            return s;
        }
    }
}
