using CMM.Gpu.Density;
using CMM.Gpu.Fitting;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// Bounded data (docs/fitting.md, "Bounded data"; issue 18's pixels): the logit map of a box and its log-Jacobian against a
/// naive double-precision formula and finite differences, the box stored in and read from model files, a bounded fit's samples
/// and completions inside its box, its density equal to the logit coordinates' density times the Jacobian, and bad bounds
/// refused with the value and place named.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class BoundedDataTests(AcceleratorFixture fixture)
{
    private static readonly FitOptions Tiny = new() { Iterations = 6, Particles = 32, BatchSize = 24, LangevinSteps = 2, HiddenWidths = [8], Seed = 3, CheckpointEvery = 0 };

    private static double NaiveLogit(double y, double lo, double hi) => Math.Log((y - lo) / (hi - y));

    /// <summary>n points of y = sigmoid(t) in (0, 1)^2, t ~ N(m, diag(0.36)) with m = (-0.5, 0.8).</summary>
    private static float[] LogitNormal(int n, int seed)
    {
        var t = TestData.Normal(n * 2, seed);
        var y = new float[t.Length];
        for (int i = 0; i < t.Length; i++)
        {
            y[i] = (float)(1 / (1 + Math.Exp(-((0.6 * t[i]) + (i % 2 == 0 ? -0.5 : 0.8)))));
        }

        return y;
    }

    [Fact]
    public void TheLogitMapRoundTripsAndItsJacobianIsItsDerivative()
    {
        var box = LogitBox.Around(0, 16, 3);
        Assert.Equal(-0.8f, box.Lower[2], 5);
        Assert.Equal(16.8f, box.Upper[0], 5);
        Assert.Equal(-0.16f, LogitBox.Around(0, 16, 3, 0.01).Lower[1], 5);
        Assert.Throws<ArgumentException>(() => LogitBox.Around(0, 16, 3, 0));
        var rng = new Random(2);
        var y = Enumerable.Range(0, 30).Select(_ => (float)(rng.NextDouble() * 16)).ToArray();
        var t = y.ToArray();
        box.Forward(t);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.Equal(NaiveLogit(y[i], -0.8, 16.8), t[i], 4);
        }

        box.Backward(t);
        for (int i = 0; i < y.Length; i++)
        {
            Assert.Equal(y[i], t[i], 3);
        }

        // The log-Jacobian of one point: the sum over coordinates of log dt/dy, here by central differences of the naive logit.
        const double h = 1e-4;
        for (int p = 0; p < 10; p++)
        {
            double fd = 0;
            for (int k = 0; k < 3; k++)
            {
                double v = y[(p * 3) + k];
                double slope = (NaiveLogit(v + h, -0.8, 16.8) - NaiveLogit(v - h, -0.8, 16.8)) / (2 * h);
                Assert.Equal(slope, box.Slope(k, v), 1e-5 * slope);
                fd += Math.Log(slope);
            }

            Assert.Equal(fd, box.LogAbsJacobian(y.AsSpan(p * 3, 3)), 1e-4);
        }

        float[] outside = [-0.9f, 17f, 3f];
        Assert.True(double.IsNaN(box.LogAbsJacobian(outside)));
        box.Forward(outside);
        Assert.True(float.IsNaN(outside[0]) && float.IsNaN(outside[1]) && float.IsFinite(outside[2]));

        // Model-file keys: written, read back, refused when malformed.
        var stored = box.ToKeyValues().ToDictionary(kv => kv.Key, kv => kv.Value);
        var back = LogitBox.FromKeyValues(stored, 3)!;
        Assert.Equal(box.Lower, back.Lower);
        Assert.Equal(box.Upper, back.Upper);
        Assert.Null(LogitBox.FromKeyValues(new Dictionary<string, string>(), 3));
        Assert.Throws<InvalidDataException>(() => LogitBox.FromKeyValues(stored, 4));
        Assert.Throws<InvalidDataException>(() => LogitBox.FromKeyValues(new Dictionary<string, string> { [LogitBox.LowerKey] = "0,0", [LogitBox.UpperKey] = "1,0" }, 2));
        Assert.Throws<InvalidDataException>(() => LogitBox.FromKeyValues(new Dictionary<string, string> { [LogitBox.LowerKey] = "0,x", [LogitBox.UpperKey] = "1,1" }, 2));
    }

    [Fact]
    public void ABoundedFitSamplesInsideItsBoxAndItsDensityCarriesTheJacobian()
    {
        var data = LogitNormal(3000, 1);
        using var f = CmmFitter.Create(fixture.Context, data, 2, Tiny with { Bounds = DataBounds.Interval(0, 1) });
        Assert.NotNull(f.Box);
        Assert.Equal(-0.05f, f.Box!.Lower[0], 6);
        Assert.Equal(1.05f, f.Box.Upper[1], 6);
        // The start is the Gaussian of the logit coordinates: their mean, by the naive formula.
        double m0 = 0;
        for (int i = 0; i < 3000; i++)
        {
            m0 += NaiveLogit(data[2 * i], -0.05, 1.05) / 3000;
        }

        Assert.Equal(m0, f.Start.Mean[0], 3);
        Assert.Contains(f.DataTreatment, l => l.Contains("bounded", StringComparison.Ordinal));
        var result = f.Run();
        Assert.Equal(FitStatus.Completed, result.Status);
        var options = result.Model.Metadata.Options.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("0,1", options["bounds"]);
        Assert.True(options.ContainsKey(LogitBox.LowerKey) && options.ContainsKey(LogitBox.UpperKey));

        // Written as format version 3, which a version-2 reader refuses instead of sampling the logit coordinates; read back whole.
        var bytes = CMM.Gpu.Icnn.IcnnModelFile.Serialize(result.Model);
        Assert.Equal(3, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(result.Model.Metadata.Options, CMM.Gpu.Icnn.IcnnModelFile.Deserialize(bytes, "bounded").Metadata.Options);
        using var bounded = new FittedModel(fixture.Context, CMM.Gpu.Icnn.IcnnModelFile.Deserialize(bytes, "bounded"));
        Assert.Equal(f.Box.Lower, bounded.Normalization.Box!.Lower);
        var samples = new List<float>();
        bounded.Sample(new GenerationOptions { Count = 200, Seed = 4, Langevin = GenerationOptions.DefaultLangevin with { BurnIn = 50 } }, c => samples.AddRange(c.Samples));
        Assert.Equal(400, samples.Count);
        Assert.All(samples, v => Assert.InRange(v, -0.05f, 1.05f));

        // log q(y) = log q_t(t(y)) + sum_k log dt_k/dy_k: the same network without its box, at the naive logit of y.
        var plain = result.Model with { Metadata = result.Model.Metadata with { Options = [.. result.Model.Metadata.Options.Where(kv => kv.Key is not (LogitBox.LowerKey or LogitBox.UpperKey))] } };
        Assert.Equal(2, System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(CMM.Gpu.Icnn.IcnnModelFile.Serialize(plain).AsSpan(8)));
        using var unbounded = new FittedModel(fixture.Context, plain);
        Assert.Null(unbounded.Normalization.Box);
        float[] y = [0.2f, 0.7f, 0.5f, 0.5f, 0.01f, 0.98f, -0.2f, 0.5f];
        var t = new float[y.Length];
        var jacobian = new double[4];
        for (int i = 0; i < y.Length; i++)
        {
            t[i] = (float)NaiveLogit(y[i], -0.05, 1.05);
            jacobian[i / 2] += Math.Log(1.1 / ((y[i] + 0.05) * (1.05 - y[i])));
        }

        using var qb = ModelDensity.For(bounded);
        using var qt = ModelDensity.For(unbounded);
        var vb = qb.UnnormalizedLogDensity(y);
        var vt = qt.UnnormalizedLogDensity(t.AsSpan(0, 6));
        for (int p = 0; p < 3; p++)
        {
            Assert.Equal(vt.Values[p] + jacobian[p], vb.Values[p], 2e-3 * (1 + Math.Abs(vb.Values[p])));
        }

        Assert.True(double.IsNaN(vb.Values[3])); // y = -0.2 lies outside the box
        Assert.Equal(1, vb.Undefined);

        // Completions keep the observed values as given and stay inside the box; a free value outside the box is ignored.
        var completed = Inpainting.Run(bounded, [0.3f, 0.5f, 0.9f, -7f], [1f, 0f], new InpaintOptions { Completions = 2, Steps = 40, Seed = 1, Noise = 0.02 });
        Assert.Equal(SamplingStatus.Ok, completed.Status);
        Assert.Equal(0.3f, completed.Samples[0]);
        Assert.Equal(0.9f, completed.Samples[4]);
        Assert.All(completed.Samples, v => Assert.InRange(v, -0.05f, 1.05f));
        Assert.True(double.IsFinite(completed.ObservedMismatch));
    }

    [Fact]
    public void BadBoundsAreRefusedWithTheValueAndPlaceNamed()
    {
        Assert.Contains(new FitOptions { Bounds = DataBounds.Interval(1, 1) }.Validate(), p => p.Contains("upper above the lower", StringComparison.Ordinal));
        Assert.Contains(new FitOptions { Bounds = DataBounds.FromData with { Margin = 1.5 } }.Validate(), p => p.Contains("margin must be in (0, 1]", StringComparison.Ordinal));
        Assert.Empty(new FitOptions { Bounds = DataBounds.None with { Margin = 1.5 } }.Validate()); // no bounds, no margin
        Assert.Contains(new FitOptions { Bounds = DataBounds.FromData, Objective = FitObjective.Residual, Network = FitNetwork.Potential }.Validate(),
            p => p.Contains("not to fits to an energy", StringComparison.Ordinal));

        var data = LogitNormal(100, 2);
        data[(7 * 2) + 1] = 1.5f;
        var e = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, data, 2, Tiny with { Bounds = DataBounds.Interval(0, 1) }));
        Assert.Contains("training row 7, coordinate 1: 1.5 lies outside --bounds 0,1", e.Message, StringComparison.Ordinal);

        // Integers up to 16 are dequantised to [16, 17): bounds 0,16 do not hold them.
        var pixels = Enumerable.Range(0, 200).Select(i => (float)(i % 17)).ToArray();
        e = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, pixels, 2, Tiny with { Bounds = DataBounds.Interval(0, 16) }));
        Assert.Contains("dequantisation noise", e.Message, StringComparison.Ordinal);
        using (var ok = CmmFitter.Create(fixture.Context, pixels, 2, Tiny with { Bounds = DataBounds.FromData }))
        {
            Assert.Equal(-0.85f, ok.Box!.Lower[0], 5); // [0, 17] widened by 0.85
        }

        using (var narrow = CmmFitter.Create(fixture.Context, pixels, 2, Tiny with { Bounds = DataBounds.FromData with { Margin = 0.01 } }))
        {
            Assert.Equal(17.17f, narrow.Box!.Upper[1], 4);
        }

        var constant = Enumerable.Repeat(3.5f, 200).ToArray();
        e = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, constant, 2, Tiny with { Bounds = DataBounds.FromData }));
        Assert.Contains("range is empty", e.Message, StringComparison.Ordinal);
    }
}
