using CMM.Gpu.Energies;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// The MALA baseline and the effective sample size: the ESS of AR(1) chains against the closed form of their integrated
/// autocorrelation time, the FFT autocovariance against direct sums, and MALA's chains against a Gaussian target's moments.
/// </summary>
public sealed class EnergyMalaTests
{
    [Fact]
    public void AutocovarianceMatchesDirectSums()
    {
        var x = TestData.Normal(37, 3).Select(v => (double)v).ToArray();
        var acov = EffectiveSampleSize.Autocovariance(x);
        double mean = x.Average();
        for (int t = 0; t < x.Length; t += 5)
        {
            double direct = 0;
            for (int s = 0; s + t < x.Length; s++)
            {
                direct += (x[s] - mean) * (x[s + t] - mean);
            }

            Approx.Equal(direct / x.Length, acov[t], 1e-12, 1e-10, $"acov({t})");
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void EssOfAutoregressiveChainsMatchesTheirAutocorrelationTime(double phi)
    {
        // x_t = phi x_t-1 + sqrt(1 - phi^2) e_t: tau = (1 + phi) / (1 - phi), so ESS = M N (1 - phi) / (1 + phi).
        const int chains = 8, n = 4000;
        var rng = new Random(5);
        var series = new double[chains][];
        for (int c = 0; c < chains; c++)
        {
            series[c] = new double[n];
            double x = GaussianComponent.Normal(rng);
            for (int t = 0; t < n; t++)
            {
                x = (phi * x) + (Math.Sqrt(1 - (phi * phi)) * GaussianComponent.Normal(rng));
                series[c][t] = x;
            }
        }

        double expected = chains * n * (1 - phi) / (1 + phi);
        Approx.Equal(expected, EffectiveSampleSize.Of(series), 0, 0.15, $"ESS at phi = {phi}");
    }

    [Fact]
    public void ChainsStuckApartHaveFewEffectiveSamples()
    {
        // Two chains that never meet: the between-chain variance dominates, so the ESS is tiny, not 2 N.
        var rng = new Random(1);
        var a = Enumerable.Range(0, 500).Select(_ => -3 + (0.1 * GaussianComponent.Normal(rng))).ToArray();
        var b = Enumerable.Range(0, 500).Select(_ => 3 + (0.1 * GaussianComponent.Normal(rng))).ToArray();
        Assert.True(EffectiveSampleSize.Of([a, b]) < 20);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MalaSamplesAnIllConditionedGaussian(bool precondition)
    {
        var cov = new double[,] { { 4.0, 1.2, 0 }, { 1.2, 1.0, 0.1 }, { 0, 0.1, 0.25 } };
        var energy = new GaussianEnergy([1.0, -2.0, 0.5], cov);
        var run = EnergyMala.Run(energy, new MalaOptions { Chains = 16, Steps = 1500, BurnIn = 300, Precondition = precondition, Seed = 3 });
        int d = 3, n = run.Samples.Length / d;
        Assert.Equal(16 * 1500, n);
        Assert.InRange(run.Acceptance, 0.45, 0.75); // adapted towards 0.574
        Assert.True(run.EnergyEvaluations >= 16L * 1800, $"{run.EnergyEvaluations} evaluations");
        Assert.Equal(d, run.EffectiveSamples.Length);
        Assert.True(run.MinEffectiveSamples > 200, $"min ESS {run.MinEffectiveSamples}");
        for (int k = 0; k < d; k++)
        {
            double mean = Enumerable.Range(0, n).Average(i => (double)run.Samples[(i * d) + k]);
            double variance = Enumerable.Range(0, n).Average(i => Math.Pow(run.Samples[(i * d) + k] - mean, 2));
            // Monte Carlo error of the mean: sd / sqrt(ESS); 5 of them.
            double se = Math.Sqrt(cov[k, k] / run.EffectiveSamples[k]);
            Approx.Equal(energy.Mean[k], mean, 5 * se, 0, $"mean[{k}]");
            Approx.Equal(cov[k, k], variance, 0, 0.12, $"var[{k}]");
        }

        // Preconditioned by the exact (Laplace) covariance, MALA mixes far better than plain MALA on this target.
        if (precondition)
        {
            var plain = EnergyMala.Run(energy, new MalaOptions { Chains = 16, Steps = 1500, BurnIn = 300, Precondition = false, Seed = 3 });
            Assert.True(run.MinEffectiveSamples > 2 * plain.MinEffectiveSamples, $"{run.MinEffectiveSamples} against {plain.MinEffectiveSamples}");
        }
    }

    [Fact]
    public void BadOptionsAndEnergiesAreRefused()
    {
        var energy = new GaussianEnergy([0.0], new double[,] { { 1 } });
        var e = Assert.Throws<ArgumentException>(() => EnergyMala.Run(energy, new MalaOptions { Chains = 0, Steps = 2 }));
        Assert.Contains("chains must be at least 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("steps must be at least 4", e.Message, StringComparison.Ordinal);
    }
}
