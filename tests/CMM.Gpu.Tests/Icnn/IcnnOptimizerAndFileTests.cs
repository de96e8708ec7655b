using System.Buffers.Binary;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnOptimizerTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(IcnnOptimizerMethod.Adam, 0f)]
    [InlineData(IcnnOptimizerMethod.Adam, 0.5f)]
    [InlineData(IcnnOptimizerMethod.Sgd, 0f)]
    public void FitsAGaussianMapKeepingPositivity(IcnnOptimizerMethod method, float clip)
    {
        // Targets t = S^(1/2)-like linear map of y: grad w(y) = A y + b is reachable by the quadratic part.
        const int d = 2, n = 64;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [8, 8], Rank = 1 };
        var ctx = fixture.Context;
        using var pot = IcnnPotential.Create(ctx, arch, seed: 1);
        var y = TestData.Normal(n * d, 2);
        var t = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            t[i * d] = 2.0f * y[i * d] + 0.3f;
            t[i * d + 1] = 0.5f * y[i * d + 1] - 0.2f + 0.3f * y[i * d];
        }

        using var dy = DevicePoints.Upload(ctx, y, d);
        using var dt = DevicePoints.Upload(ctx, t, d);
        using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
        using var opt = new IcnnOptimizer(pot, new IcnnOptimizerOptions
        {
            Method = method,
            LearningRate = method == IcnnOptimizerMethod.Adam ? 0.05f : 0.05f,
            MaxGradientNorm = clip,
        });
        float first = pot.LossParameterGradient(dy, dt, grad);
        float last = first;
        for (int s = 0; s < 60; s++)
        {
            opt.Step(grad);
            if (clip > 0)
            {
                Assert.True(opt.LastGradientNorm() > 0);
            }

            last = pot.LossParameterGradient(dy, dt, grad);
        }

        Assert.Equal(60, opt.Steps);
        Assert.True(float.IsFinite(last));
        Assert.True(last < 0.5f * first, $"loss went from {first} to {last}");
        var eff = pot.GetEffectiveParameters();
        var raw = pot.GetParameters();
        var mask = pot.Layout.NonNegativeMask();
        for (int j = 0; j < eff.Length; j++)
        {
            if (mask[j] != 0)
            {
                Assert.True(eff[j] >= 0f, $"effective parameter {j} = {eff[j]} is negative");
                Approx.Equal(IcnnReference.Softplus(raw[j]), eff[j], 1e-6, 1e-5, $"eff[{j}] = softplus(raw)");
            }
            else
            {
                Assert.Equal(raw[j], eff[j]);
            }
        }
    }

    [Fact]
    public void AdamStepMatchesHostFormulaAndClips()
    {
        var arch = new IcnnArchitecture(2) { HiddenWidths = [3], Rank = 1 };
        var ctx = fixture.Context;
        using var pot = IcnnPotential.Create(ctx, arch, seed: 4);
        var theta0 = pot.GetParameters();
        var g = TestData.Normal(pot.ParameterCount, 9, scale: 3);
        double norm = Math.Sqrt(g.Sum(v => (double)v * v));
        using var dg = DeviceVector.Upload(ctx, g);
        var o = new IcnnOptimizerOptions { LearningRate = 0.01f, MaxGradientNorm = 1f };
        using var opt = new IcnnOptimizer(pot, o);
        opt.Step(dg);
        opt.Step(dg);
        Approx.Equal(norm, opt.LastGradientNorm(), 1e-4, 1e-5, "gradient norm");
        var theta = pot.GetParameters();
        for (int j = 0; j < theta.Length; j++)
        {
            double m = 0, v = 0, th = theta0[j];
            for (int s = 1; s <= 2; s++)
            {
                double gj = g[j] / norm; // clipped to norm 1
                m = 0.9 * m + 0.1 * gj;
                v = 0.999 * v + 0.001 * gj * gj;
                th -= 0.01 * (m / (1 - Math.Pow(0.9, s))) / (Math.Sqrt(v / (1 - Math.Pow(0.999, s))) + 1e-8);
            }

            Approx.Equal(th, theta[j], 1e-6, 1e-5, $"theta[{j}]");
        }
    }

    [Fact]
    public void NonFiniteGradientLeavesParametersUnchanged()
    {
        var arch = new IcnnArchitecture(2) { HiddenWidths = [3], Rank = 0 };
        using var pot = IcnnPotential.Create(fixture.Context, arch, seed: 4);
        var before = pot.GetParameters();
        var g = new float[pot.ParameterCount];
        g[1] = float.NaN;
        using var dg = DeviceVector.Upload(fixture.Context, g);
        using var opt = new IcnnOptimizer(pot);
        opt.Step(dg);
        Assert.True(float.IsNaN(opt.LastGradientNorm()));
        Assert.Equal(before, pot.GetParameters());
    }

    [Fact]
    public void InvalidOptionsListEveryProblem()
    {
        var o = new IcnnOptimizerOptions { LearningRate = -1, Beta1 = 1, Beta2 = 2, Epsilon = 0, MaxGradientNorm = -1 };
        Assert.Equal(5, o.Problems().Count);
        Assert.Throws<ArgumentException>(o.Validate);
    }
}

[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnModelFileTests(AcceleratorFixture fixture) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("icnn-file-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static IcnnModel SampleModel()
    {
        var arch = new IcnnArchitecture(3) { HiddenWidths = [5, 4], Rank = 2, Activation = IcnnActivation.Elu, Alpha = 0.25f };
        var theta = TestData.Normal((int)new IcnnLayout(arch).ParameterCount, 5);
        theta[0] = float.Epsilon; // a subnormal survives bit for bit
        theta[1] = -0f;
        var md = new IcnnModelMetadata
        {
            DataDimension = 3,
            NormalizationMean = [0.5f, -1f, 2f],
            NormalizationScale = [1f, 2f, 0.25f],
            Method = "cmm",
            Options = [new("epsilon", "0.05"), new("objective", "semi-dual"), new("unicode", "δ→ε")],
            Iterations = 1234,
            Seed = -7,
        };
        return new IcnnModel(arch, theta, md);
    }

    [Fact]
    public void SaveLoadRoundTripIsBitIdentical()
    {
        var model = SampleModel();
        var path = Path.Combine(dir, "m.icnn");
        IcnnModelFile.Save(path, model);
        var loaded = IcnnModelFile.Load(path);
        Assert.Equal(model.Architecture, loaded.Architecture);
        Assert.Equal(model.Parameters.Select(BitConverter.SingleToInt32Bits), loaded.Parameters.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(model.Metadata.NormalizationMean, loaded.Metadata.NormalizationMean);
        Assert.Equal(model.Metadata.NormalizationScale, loaded.Metadata.NormalizationScale);
        Assert.Equal(model.Metadata.Options, loaded.Metadata.Options);
        Assert.Equal((model.Metadata.Method, model.Metadata.Iterations, model.Metadata.Seed, model.Metadata.DataDimension),
            (loaded.Metadata.Method, loaded.Metadata.Iterations, loaded.Metadata.Seed, loaded.Metadata.DataDimension));
        var path2 = Path.Combine(dir, "m2.icnn");
        IcnnModelFile.Save(path2, loaded);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(path2));
    }

    [Fact]
    public void PotentialRoundTripGivesIdenticalValues()
    {
        var ctx = fixture.Context;
        using var pot = IcnnPotential.Create(ctx, new IcnnArchitecture(2) { HiddenWidths = [6, 6] }, seed: 8);
        var path = Path.Combine(dir, "p.icnn");
        IcnnModelFile.Save(path, pot);
        using var back = IcnnModelFile.Load(path).CreatePotential(ctx);
        Assert.Equal(pot.GetParameters(), back.GetParameters());
        using var x = DevicePoints.Upload(ctx, TestData.Normal(10, 3), 2);
        using var w1 = DeviceVector.Allocate(ctx, 5);
        using var w2 = DeviceVector.Allocate(ctx, 5);
        pot.Value(x, w1);
        back.Value(x, w2);
        Assert.Equal(w1.ToArray(), w2.ToArray());
    }

    [Fact]
    public void TruncatedFilesAreRejectedAtEveryLength()
    {
        var bytes = IcnnModelFile.Serialize(SampleModel());
        var path = Path.Combine(dir, "t.icnn");
        foreach (int len in new[] { 0, 3, 8, 15, 19, 20, 40, bytes.Length - 33, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..len]);
            var e = Assert.Throws<InvalidDataException>(() => IcnnModelFile.Load(path));
            Assert.Contains("t.icnn", e.Message, StringComparison.Ordinal);
            Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CorruptedFileIsRejectedByChecksum()
    {
        var bytes = IcnnModelFile.Serialize(SampleModel());
        var path = Path.Combine(dir, "c.icnn");
        foreach (int at in new[] { 20, 60, bytes.Length - 40, bytes.Length - 1 })
        {
            var b = (byte[])bytes.Clone();
            b[at] ^= 0x10;
            File.WriteAllBytes(path, b);
            var e = Assert.Throws<InvalidDataException>(() => IcnnModelFile.Load(path));
            Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
            Assert.Contains("c.icnn", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PreconditionerRoundTripsThroughTheFile()
    {
        var model = SampleModel();
        model = model with
        {
            Architecture = model.Architecture with
            {
                Preconditioner = new IcnnPreconditioner { Centre = [1.5f, -2f, 1e3f], InputScale = [0.5f, 2f, 3e3f], OutputScale = 123.5f, QuadraticScale = 0.25f, LinearScale = 0f },
            },
        };
        var loaded = IcnnModelFile.Deserialize(IcnnModelFile.Serialize(model), "p.icnn");
        Assert.Equal(model.Architecture, loaded.Architecture);
        Assert.Equal(model.Architecture.Preconditioner!.Centre, loaded.Architecture.EffectivePreconditioner.Centre);
        Assert.Equal(model.Architecture.Preconditioner.InputScale, loaded.Architecture.EffectivePreconditioner.InputScale);
        Assert.Equal(123.5f, loaded.Architecture.EffectivePreconditioner.OutputScale);
        Assert.Equal(0.25f, loaded.Architecture.EffectivePreconditioner.QuadraticScale);
        Assert.Equal(0f, loaded.Architecture.EffectivePreconditioner.LinearScale);
        Assert.NotEqual(SampleModel().Architecture, loaded.Architecture);
    }

    [Fact]
    public void VersionOneFilesStillLoadWithTheIdentityPreconditionerAndTheirNormalisation()
    {
        // A version-1 file is a version-2 file without the preconditioner block (centre floats, scale floats, output, quadratic and linear scales, then the sharpness)
        // after alpha: build one from today's bytes, as the writer of 2026-12-03 laid it out (docs/model-format.md).
        var model = SampleModel();
        var v2 = IcnnModelFile.Serialize(model);
        int d = model.Architecture.Dimension, layers = model.Architecture.HiddenWidths.Count;
        int at = 20 + 4 + 4 + (4 * layers) + 4 + 4 + 4;
        int block = ((4 + (4 * d)) * 2) + 16;
        var payload = v2.AsSpan(20, at - 20).ToArray().Concat(v2.AsSpan(at + block, v2.Length - 32 - at - block).ToArray()).ToList();
        // ... and without the network string ("w") that version 2 writes after the method ("cmm").
        byte[] methodThenNetwork = [3, 0, 0, 0, (byte)'c', (byte)'m', (byte)'m', 1, 0, 0, 0, (byte)'w'];
        int found = Enumerable.Range(0, payload.Count - methodThenNetwork.Length).Single(i => payload.Skip(i).Take(methodThenNetwork.Length).SequenceEqual(methodThenNetwork));
        payload.RemoveRange(found + 7, 5);
        var v1 = new byte[20 + payload.Count + 32];
        v2.AsSpan(0, 8).CopyTo(v1);
        BinaryPrimitives.WriteInt32LittleEndian(v1.AsSpan(8), 1);
        BinaryPrimitives.WriteInt64LittleEndian(v1.AsSpan(12), payload.Count);
        payload.CopyTo(v1, 20);
        System.Security.Cryptography.SHA256.HashData(v1.AsSpan(0, 20 + payload.Count), v1.AsSpan(20 + payload.Count));

        var loaded = IcnnModelFile.Deserialize(v1, "v1.icnn");
        Assert.Null(loaded.Architecture.Preconditioner);
        Assert.True(loaded.Architecture.EffectivePreconditioner.IsIdentity);
        Assert.Equal(model.Parameters, loaded.Parameters);
        Assert.Equal(model.Metadata.NormalizationMean, loaded.Metadata.NormalizationMean);
        Assert.Equal(model.Metadata.NormalizationScale, loaded.Metadata.NormalizationScale);
        Assert.Equal("w", loaded.Metadata.Network);
        // Saved again, it is written in the current version with the identity preconditioner, and reads back equal.
        Assert.Equal(loaded.Architecture, IcnnModelFile.Deserialize(IcnnModelFile.Serialize(loaded), "again").Architecture);
    }

    [Fact]
    public void NewerVersionBadMagicAndLyingSizesAreRejected()
    {
        var bytes = IcnnModelFile.Serialize(SampleModel());
        var newer = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(newer.AsSpan(8), IcnnModelFile.CurrentVersion + 1);
        var e = Assert.Throws<InvalidDataException>(() => IcnnModelFile.Deserialize(newer, "n.icnn"));
        Assert.Contains("newer", e.Message, StringComparison.Ordinal);

        var magic = (byte[])bytes.Clone();
        magic[0] = (byte)'X';
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => IcnnModelFile.Deserialize(magic, "m.icnn")).Message, StringComparison.Ordinal);

        var huge = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt64LittleEndian(huge.AsSpan(12), long.MaxValue);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => IcnnModelFile.Deserialize(huge, "h.icnn")).Message, StringComparison.Ordinal);

        // A payload that claims 2^31 hidden layers, with a valid checksum: the count is checked against the bytes left.
        var lie = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(lie.AsSpan(24), int.MaxValue);
        int signed = lie.Length - 32;
        System.Security.Cryptography.SHA256.HashData(lie.AsSpan(0, signed), lie.AsSpan(signed));
        var e2 = Assert.Throws<InvalidDataException>(() => IcnnModelFile.Deserialize(lie, "l.icnn"));
        Assert.Contains("number of hidden layers", e2.Message, StringComparison.Ordinal);

        var extra = bytes.Concat(new byte[] { 1, 2, 3 }).ToArray();
        Assert.Throws<InvalidDataException>(() => IcnnModelFile.Deserialize(extra, "e.icnn"));
    }

    [Fact]
    public void InvalidMetadataIsNotSaved()
    {
        var m = SampleModel() with { Metadata = new IcnnModelMetadata { Method = "gan", DataDimension = 2, NormalizationMean = [1f] } };
        var e = Assert.Throws<ArgumentException>(() => IcnnModelFile.Save(Path.Combine(dir, "x.icnn"), m));
        Assert.Contains("Method", e.Message, StringComparison.Ordinal);
        Assert.Contains("NormalizationMean", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "x.icnn")));
    }
}
