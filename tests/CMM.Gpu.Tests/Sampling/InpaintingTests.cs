using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Tests.Sampling;

/// <summary>
/// Conditional sampling (issue 18): the conditioned energy's gradient against central finite differences of its value; the
/// completions of a model that is (almost exactly) the CMM of a Gaussian against the Gaussian's closed-form conditional
/// given the observations with noise s; and the errors for masks of the wrong size, masks that observe nothing or everything,
/// and models whose network is w.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class InpaintingTests(AcceleratorFixture fixture)
{
    [Fact]
    public void ConditionedGradientMatchesFiniteDifferences()
    {
        var ctx = fixture.Context;
        const int d = 3, n = 5;
        using var latent = new QuadraticPotential(ctx, new double[,] { { 2, 0.3, 0 }, { 0.3, 1, 0.2 }, { 0, 0.2, 1.5 } }, [0.1, -0.2, 0.3]);
        using var generator = IcnnPotential.Create(ctx, new IcnnArchitecture(d) { HiddenWidths = [8] }, seed: 4);
        var observed = TestData.Normal(n * d, 7);
        var mask = Enumerable.Range(0, n * d).Select(j => (float)((j % d) == 1 ? 0 : 1)).ToArray();
        using var energy = new ConditionedPotential(latent, generator, observed, mask, noise: 0.7);
        var z = TestData.Normal(n * d, 8, 0.8);
        using var p = DevicePoints.Upload(ctx, z, d);
        using var g = DevicePoints.Allocate(ctx, n, d);
        energy.Gradient(p, g);
        var analytic = g.ToArray();
        using var v = DeviceVector.Allocate(ctx, n);
        const float h = 1e-2f;
        for (int k = 0; k < d; k++)
        {
            var plus = z.ToArray();
            var minus = z.ToArray();
            for (int i = 0; i < n; i++)
            {
                plus[(i * d) + k] += h;
                minus[(i * d) + k] -= h;
            }

            p.CopyFrom(plus);
            energy.Value(p, v);
            var vp = v.ToArray();
            p.CopyFrom(minus);
            energy.Value(p, v);
            var vm = v.ToArray();
            for (int i = 0; i < n; i++)
            {
                double fd = (vp[i] - vm[i]) / (2.0 * h);
                Approx.Equal(fd, analytic[(i * d) + k], 2e-3, 2e-3, $"dE/dz[{i},{k}]");
            }
        }

        // The combined call MALA makes gives the same values and gradients as the separate ones.
        p.CopyFrom(z);
        energy.Value(p, v);
        var separate = v.ToArray();
        using var g2 = DevicePoints.Allocate(ctx, n, d);
        ((IPotential)energy).ValueAndGradient(p, v, g2);
        Assert.Equal(separate, v.ToArray());
        Assert.Equal(analytic, g2.ToArray());

        Assert.Throws<NotSupportedException>(() => energy.Hessian(p, v));
    }

    [Fact]
    public void CompletionsOfAGaussianModelFollowTheClosedFormConditional()
    {
        // The fit's start, before any iteration, is the CMM of the data's Gaussian N(m, S) in the network u = w*
        // (its ICNN part weighs 1e-4): the model's conditional of coordinates 1, 2 given y_0 = a with noise s is Gaussian.
        var ctx = fixture.Context;
        const int d = 3;
        var data = TestData.Normal(4000 * d, 21);
        for (int i = 0; i < 4000; i++)
        {
            data[(i * d) + 1] = (0.8f * data[i * d]) + (0.6f * data[(i * d) + 1]) + 1f;
            data[(i * d) + 2] = 2f * data[(i * d) + 2];
        }

        FittedModel model;
        GaussianStart start;
        using (var fitter = CmmFitter.Create(ctx, data, d, new FitOptions { Iterations = 1, HiddenWidths = [8], Particles = 32, BatchSize = 32 }))
        {
            start = fitter.Start;
            model = new FittedModel(ctx, fitter.ToModel());
        }

        using (model)
        {
            const double s = 0.1;
            const float a = 1.2f;
            var result = Inpainting.Run(model, new float[] { a, 0, 0 }, new float[] { 1, 0, 0 },
                new InpaintOptions { Completions = 1500, Noise = s, Steps = 800, Seed = 5 });
            Assert.Equal(SamplingStatus.Ok, result.Status);
            Assert.Equal(1500 * d, result.Samples.Length);
            Assert.All(Enumerable.Range(0, 1500), i => Assert.Equal(a, result.Samples[i * d]));

            var m = Vector<double>.Build.DenseOfEnumerable(start.Mean);
            var cov = Matrix<double>.Build.DenseOfRowMajor(d, d, start.Covariance);
            // y_free | y_0 = a: mean m_f + S_f0 (S_00 + s^2)^-1 (a - m_0), covariance S_ff - S_f0 S_0f / (S_00 + s^2).
            double s00 = cov[0, 0] + (s * s);
            for (int f = 1; f < d; f++)
            {
                double expectedMean = m[f] + (cov[f, 0] / s00 * (a - m[0]));
                double expectedVar = cov[f, f] - (cov[f, 0] * cov[0, f] / s00);
                var values = Enumerable.Range(0, 1500).Select(i => (double)result.Samples[(i * d) + f]).ToArray();
                double mean = values.Average();
                double variance = values.Sum(x => (x - mean) * (x - mean)) / (values.Length - 1);
                double se = Math.Sqrt(expectedVar / values.Length);
                Assert.True(Math.Abs(mean - expectedMean) < 4 * se + 0.02, $"coordinate {f}: mean {mean:F4} vs {expectedMean:F4} (se {se:F4})");
                Assert.True(Math.Abs((variance / expectedVar) - 1) < 0.15, $"coordinate {f}: variance {variance:F4} vs {expectedVar:F4}");
            }

            // The chains respect the observation as the model says: generated y_0 within about s of a.
            Assert.InRange(result.ObservedMismatch, 0.3, 3.0);
        }
    }

    [Fact]
    public void BadMasksAndNetworkWModelsAreRefusedInOneLine()
    {
        var ctx = fixture.Context;
        var data = TestData.Normal(200 * 2, 3);
        using var fitter = CmmFitter.Create(ctx, data, 2, new FitOptions { Iterations = 1, HiddenWidths = [8], Particles = 32, BatchSize = 32 });
        using var model = new FittedModel(ctx, fitter.ToModel());
        var rows = new float[] { 0.5f, 0.1f, -0.3f, 0.2f };
        var options = new InpaintOptions { Completions = 2, Steps = 20 };
        Assert.Contains("3 values", Assert.Throws<ArgumentException>(() => Inpainting.Run(model, rows, new float[] { 1, 0, 1 }, options)).Message, StringComparison.Ordinal);
        Assert.Contains("observes nothing", Assert.Throws<ArgumentException>(() => Inpainting.Run(model, rows, new float[] { 0, 0 }, options)).Message, StringComparison.Ordinal);
        Assert.Contains("row 1 observes everything", Assert.Throws<ArgumentException>(() => Inpainting.Run(model, rows, new float[] { 1, 0, 1, 1 }, options)).Message, StringComparison.Ordinal);
        Assert.Contains("not 0 (free) or 1", Assert.Throws<ArgumentException>(() => Inpainting.Run(model, rows, new float[] { 0.5f, 0 }, options)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Inpainting.Run(model, rows, new float[] { 1, 0 }, options with { Completions = 0 }));

        var ok = Inpainting.Run(model, rows, new float[] { 1, 0 }, options);
        Assert.Equal(4, ok.Samples.Length / 2);
        Assert.Equal(0.5f, ok.Samples[0]);
        Assert.Equal(-0.3f, ok.Samples[4]);

        using var wFitter = CmmFitter.Create(ctx, data, 2, new FitOptions { Iterations = 1, HiddenWidths = [8], Particles = 32, BatchSize = 32, Network = FitNetwork.Potential });
        using var wModel = new FittedModel(ctx, wFitter.ToModel());
        Assert.Contains("network w", Assert.Throws<NotSupportedException>(() => Inpainting.Run(wModel, rows, new float[] { 1, 0 }, options)).Message, StringComparison.Ordinal);
    }
}
