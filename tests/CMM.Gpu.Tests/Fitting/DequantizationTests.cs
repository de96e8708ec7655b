using CMM.Gpu.Fitting;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// Quantised data (issue 18): integer-valued data are fitted as y + U[0, 1) noise by default, the Gaussian start sees the
/// noise's mean 1/2 and variance 1/12, what was done is reported and stored in the model, other data are untouched, and a
/// resumed dequantised fit is bit-identical to an uninterrupted one (the noise depends only on seed and iteration).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class DequantizationTests(AcceleratorFixture fixture) : IDisposable
{
    private static readonly FitOptions Tiny = new() { Iterations = 6, Particles = 32, BatchSize = 24, LangevinSteps = 2, HiddenWidths = [8], Seed = 3, CheckpointEvery = 0 };

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-dequantize-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>n points of dimension 2 with integer coordinates in 0..2 and 0..4 (a coarse lattice), correlated.</summary>
    private static float[] Lattice(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n * 2];
        for (int i = 0; i < n; i++)
        {
            int a = rng.Next(3);
            x[2 * i] = a;
            x[(2 * i) + 1] = a + rng.Next(3);
        }

        return x;
    }

    private static (double[] Mean, double[] Cov) Moments(float[] x)
    {
        int n = x.Length / 2;
        var m = new double[2];
        for (int i = 0; i < n; i++)
        {
            m[0] += x[2 * i] / (double)n;
            m[1] += x[(2 * i) + 1] / (double)n;
        }

        var c = new double[4];
        for (int i = 0; i < n; i++)
        {
            for (int a = 0; a < 2; a++)
            {
                for (int b = 0; b < 2; b++)
                {
                    c[(a * 2) + b] += (x[(2 * i) + a] - m[a]) * (x[(2 * i) + b] - m[b]) / (n - 1);
                }
            }
        }

        return (m, c);
    }

    [Fact]
    public void IntegerDataAreDequantisedAndTheStartSeesTheNoise()
    {
        var data = Lattice(6000, 1);
        var (mean, cov) = Moments(data);
        using var f = CmmFitter.Create(fixture.Context, data, 2, Tiny);
        Assert.Equal(1.0, f.DequantizationWidth);
        // y + u, u ~ U[0, 1)^2 independent of y: mean + 1/2, covariance + I/12 (the cross terms are sampling noise, ~0.004 here).
        Assert.Equal(mean[0] + 0.5, f.Start.Mean[0], 0.02);
        Assert.Equal(mean[1] + 0.5, f.Start.Mean[1], 0.02);
        Assert.Equal(cov[0] + (1.0 / 12), f.Start.Covariance[0], 0.015);
        Assert.Equal(cov[3] + (1.0 / 12), f.Start.Covariance[3], 0.015);
        Assert.Equal(cov[1], f.Start.Covariance[1], 0.015);
        Assert.Contains(f.DataTreatment, l => l.Contains("integer-valued", StringComparison.Ordinal));

        var result = f.Run();
        Assert.Equal(FitStatus.Completed, result.Status);
        Assert.Equal(f.DataTreatment, result.DataTreatment);
        var stored = result.Model.Metadata.Options.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("1", stored["dequantization_width"]);
        Assert.Contains("integer-valued", stored["data_treatment"], StringComparison.Ordinal);
    }

    [Fact]
    public void EvaluationFloorsTheSamplesOfAModelOfIntegerData()
    {
        var data = Lattice(400, 5);
        using var f = CmmFitter.Create(fixture.Context, data, 2, Tiny);
        var result = f.Run();
        Assert.Equal(FitStatus.Completed, result.Status);
        Assert.Equal("true", result.Model.Metadata.Options.Single(kv => kv.Key == "integer_data").Value);
        using var model = new FittedModel(fixture.Context, result.Model);
        Assert.True(model.IntegerData);
        Assert.Equal(1.0, model.DequantizationWidth);

        var (report, samples, _) = ModelEvaluation.Evaluate(model, Lattice(64, 6), "lattice", null, seed: 2, splits: 1);
        Assert.All(samples, v => Assert.Equal(MathF.Floor(v), v));
        Assert.Contains("floored", report.SampleTreatment, StringComparison.Ordinal);

        // Smooth data dequantised on request (--dequantize uniform) are not integers: their samples are compared as drawn.
        using var smooth = CmmFitter.Create(fixture.Context, TestData.Normal(400, 7), 2, Tiny with { Dequantization = Dequantization.Uniform });
        using var smoothModel = new FittedModel(fixture.Context, smooth.Run().Model);
        Assert.False(smoothModel.IntegerData);
        var (smoothReport, smoothSamples, _) = ModelEvaluation.Evaluate(smoothModel, TestData.Normal(64, 8), "normal", null, seed: 2, splits: 1);
        Assert.Null(smoothReport.SampleTreatment);
        Assert.Contains(smoothSamples, v => v != MathF.Floor(v));
    }

    [Fact]
    public void OffAndNonIntegerDataAreLeftAsGiven()
    {
        var lattice = Lattice(500, 2);
        using (var off = CmmFitter.Create(fixture.Context, lattice, 2, Tiny with { Dequantization = Dequantization.Off }))
        {
            Assert.Equal(0, off.DequantizationWidth);
            Assert.Equal(Moments(lattice).Mean[0], off.Start.Mean[0], 1e-6);
            Assert.DoesNotContain(off.DataTreatment, l => l.Contains("integer", StringComparison.Ordinal));
        }

        var smooth = TestData.Normal(1000, 4);
        using (var auto = CmmFitter.Create(fixture.Context, smooth, 2, Tiny))
        {
            Assert.Equal(0, auto.DequantizationWidth);
            Assert.Empty(auto.DataTreatment);
            Assert.DoesNotContain(auto.ToModel().Metadata.Options, kv => kv.Key == "dequantization_width");
        }

        using var forced = CmmFitter.Create(fixture.Context, smooth, 2, Tiny with { Dequantization = Dequantization.Uniform });
        Assert.Equal(1.0, forced.DequantizationWidth);
        Assert.Contains(forced.DataTreatment, l => l.Contains("--dequantize uniform", StringComparison.Ordinal));
    }

    [Fact]
    public void ADequantisedFitResumesBitIdentically()
    {
        var data = Lattice(300, 3);
        float[] expected;
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny))
        {
            Assert.Equal(FitStatus.Completed, f.Run().Status);
            expected = f.Potential.GetParameters();
        }

        string ckpt = Path.Combine(dir, "deq.ckpt");
        using (var cancel = new CancellationTokenSource())
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny))
        {
            var r = f.Run(new CancelAt(3, cancel), ckpt, cancel.Token);
            Assert.Equal(FitStatus.Cancelled, r.Status);
            Assert.Equal(3, r.Iterations);
        }

        using var resumed = CmmFitter.Resume(fixture.Context, data, 2, Tiny, FitCheckpoint.Load(ckpt));
        Assert.Equal(FitStatus.Completed, resumed.Run().Status);
        Assert.Equal(expected, resumed.Potential.GetParameters());
    }

    private sealed class CancelAt(int iteration, CancellationTokenSource cancel) : IFitObserver
    {
        public void OnIteration(FitProgress progress)
        {
            if (progress.Iteration == iteration)
            {
                cancel.Cancel();
            }
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
        }
    }
}
