using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sampling;

[Collection(AcceleratorTestGroup.Name)]
public sealed class LangevinTests(AcceleratorFixture fixture)
{
    private static readonly double[,] A = { { 2.0, 0.6 }, { 0.6, 1.0 } };
    private static readonly double[] B = { 0.5, -1.0 };

    private static (double[] Mean, double[,] Cov) Moments(float[] x, int d)
    {
        int n = x.Length / d;
        var mean = new double[d];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                mean[k] += x[i * d + k] / (double)n;
            }
        }

        var cov = new double[d, d];
        for (int i = 0; i < n; i++)
        {
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c < d; c++)
                {
                    cov[r, c] += (x[i * d + r] - mean[r]) * (x[i * d + c] - mean[c]) / (n - 1);
                }
            }
        }

        return (mean, cov);
    }

    private static double[,] Inverse2(double[,] m)
    {
        double det = (m[0, 0] * m[1, 1]) - (m[0, 1] * m[1, 0]);
        return new[,] { { m[1, 1] / det, -m[0, 1] / det }, { -m[1, 0] / det, m[0, 0] / det } };
    }

    private static void AssertGaussian(float[] x, double[] mean, double[,] cov, string what)
    {
        int n = x.Length / 2;
        var (m, c) = Moments(x, 2);
        for (int k = 0; k < 2; k++)
        {
            double se = Math.Sqrt(cov[k, k] / n);
            Approx.Equal(mean[k], m[k], 5 * se, 0, $"{what} mean[{k}]");
            for (int j = 0; j < 2; j++)
            {
                // SE of a sample covariance: sqrt((S_kk S_jj + S_kj^2) / n).
                double seC = Math.Sqrt(((cov[k, k] * cov[j, j]) + (cov[k, j] * cov[k, j])) / n);
                Approx.Equal(cov[k, j], c[k, j], 5 * seC, 0, $"{what} cov[{k},{j}]");
            }
        }
    }

    [Fact]
    public void MalaSamplesTheGaussianLatentOfAQuadratic()
    {
        var ctx = fixture.Context;
        using var w = new QuadraticPotential(ctx, A, B);
        using var chains = new LangevinChains(ctx, 2000, 2, seed: 11);
        var result = chains.Run(w, new LangevinOptions
        {
            Sampler = LangevinSampler.Mala, StepSize = 0.3, BurnIn = 100, DiagnosticChains = 512, Samples = 40, Thin = 5,
        });
        Assert.Equal(SamplingStatus.Ok, result.Status);
        Assert.InRange(result.AcceptanceRate, 0.5, 0.99);
        var x = chains.States.ToArray();
        AssertGaussian(x, w.LatentMean(), w.LatentCovariance(), "MALA");
        var diag = result.Diagnostics!;
        Assert.InRange(diag.MaxSplitRHat, 0.98, 1.1);
        Assert.True(diag.SteinGradientMaxZ < 5, $"Stein E[grad w] z = {diag.SteinGradientMaxZ}");
        Assert.True(diag.SteinInnerZ(2) < 5, $"Stein E[<x, grad w>] = {diag.SteinInnerMean} +- {diag.SteinInnerStandardError}");
    }

    [Fact]
    public void UlaMatchesItsClosedFormStationaryLaw()
    {
        // For w = 1/2 x'Ax + b'x, ULA with step tau is an AR(1) chain with stationary law
        // N(-A^-1 b, (A - tau A^2 / 2)^-1): its mean is exact and its covariance carries the O(tau) bias.
        var ctx = fixture.Context;
        const double tau = 0.2;
        using var w = new QuadraticPotential(ctx, A, B);
        using var chains = new LangevinChains(ctx, 3000, 2, seed: 12);
        var result = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Ula, StepSize = tau, BurnIn = 100, DiagnosticChains = 0 });
        Assert.Equal(SamplingStatus.Ok, result.Status);
        Assert.Equal(1.0, result.AcceptanceRate);
        var a2 = new double[2, 2];
        for (int r = 0; r < 2; r++)
        {
            for (int c = 0; c < 2; c++)
            {
                double s = 0;
                for (int k = 0; k < 2; k++)
                {
                    s += A[r, k] * A[k, c];
                }

                a2[r, c] = A[r, c] - (tau / 2 * s);
            }
        }

        AssertGaussian(chains.States.ToArray(), w.LatentMean(), Inverse2(a2), "ULA");
    }

    [Fact]
    public void QuarticLatentMatchesItsIntegratedDensity()
    {
        // 1-D w(x) = x^4/4 + x^2/2: compare the chains' empirical CDF with the numerically integrated CDF of exp(-w).
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 1, 1, 1);
        const int n = 4000;
        using var chains = new LangevinChains(ctx, n, 1, seed: 13);
        var result = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Mala, StepSize = 0.5, BurnIn = 150, DiagnosticChains = 0 });
        Assert.Equal(SamplingStatus.Ok, result.Status);
        var x = chains.States.ToArray().Select(v => (double)v).Order().ToArray();

        const int grid = 20001;
        const double lo = -6, hi = 6, h = (hi - lo) / (grid - 1);
        var cdf = new double[grid];
        double prev = Math.Exp(-W(lo));
        for (int i = 1; i < grid; i++)
        {
            double cur = Math.Exp(-W(lo + (i * h)));
            cdf[i] = cdf[i - 1] + (0.5 * h * (prev + cur));
            prev = cur;
        }

        double z = cdf[grid - 1];
        double ks = 0;
        for (int i = 0; i < n; i++)
        {
            double pos = (x[i] - lo) / h;
            int j = Math.Clamp((int)pos, 0, grid - 2);
            double f = (cdf[j] + ((pos - j) * (cdf[j + 1] - cdf[j]))) / z;
            ks = Math.Max(ks, Math.Max(Math.Abs(f - (i / (double)n)), Math.Abs(f - ((i + 1) / (double)n))));
        }

        // The 0.1 % critical value of the one-sample KS statistic is about 1.95 / sqrt(n).
        Assert.True(ks < 1.95 / Math.Sqrt(n), $"KS statistic {ks:F4} >= {1.95 / Math.Sqrt(n):F4}");

        static double W(double v) => (v * v * v * v / 4) + (v * v / 2);
    }

    [Fact]
    public void ChainsDoNotDependOnTheBatchTheyRunIn()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 3, 0.5, 1);
        var options = new LangevinOptions { Sampler = LangevinSampler.Mala, StepSize = 0.2, BurnIn = 15, DiagnosticChains = 0 };
        using var all = new LangevinChains(ctx, 11, 3, seed: 99);
        all.Run(w, options);
        using var first = new LangevinChains(ctx, 4, 3, seed: 99);
        first.Run(w, options);
        using var rest = new LangevinChains(ctx, 7, 3, seed: 99, chainOffset: 4);
        rest.Run(w, options);
        Assert.Equal(all.States.ToArray(), first.States.ToArray().Concat(rest.States.ToArray()).ToArray());

        using var other = new LangevinChains(ctx, 11, 3, seed: 100);
        other.Run(w, options);
        Assert.NotEqual(all.States.ToArray(), other.States.ToArray());
    }

    [Fact]
    public void HugeStepSizeIsDetectedAndBackedOff()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 1, 1);
        using var chains = new LangevinChains(ctx, 64, 2, seed: 5, initialScale: 3);
        var result = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Ula, StepSize = 50, BurnIn = 300, CheckEvery = 5, DiagnosticChains = 64 });
        // Diverged chains go back to their last checkpoint and the step halves until the chains stay finite.
        Assert.Equal(SamplingStatus.StepSizeReduced, result.Status);
        Assert.True(result.DivergentChains > 0);
        Assert.InRange(result.StepSize, 1e-3, 1.0);
        Assert.True(result.Diagnostics!.SteinInnerZ(2) < 10, $"Stein E[<x, grad w>] = {result.Diagnostics.SteinInnerMean}");
        Assert.True(result.Backoffs > 0);
        Assert.True(result.StepSize < 50);
        Assert.All(chains.States.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void MalaWithHugeStepStaysFiniteAndBacksOff()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 1, 1);
        using var chains = new LangevinChains(ctx, 64, 2, seed: 6, initialScale: 3);
        // At tau = 1e9 the proposals' w = y^4 / 4 overflows float32: non-finite, so rejected, counted and backed off.
        // (At a merely large tau MALA stays finite and just rejects: that is status Ok with a low acceptance.)
        var result = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Mala, StepSize = 1e9, BurnIn = 100, CheckEvery = 5, DiagnosticChains = 0 });
        Assert.Equal(SamplingStatus.StepSizeReduced, result.Status);
        Assert.True(result.DivergentProposals > 0);
        Assert.True(result.StepSize < 1e9);
        Assert.All(chains.States.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void CancellationIsAStatus()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 1, 1, 1);
        using var chains = new LangevinChains(ctx, 8, 1, seed: 1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var result = chains.Run(w, new LangevinOptions { BurnIn = 100, CheckEvery = 10, DiagnosticChains = 0 }, cts.Token);
        Assert.Equal(SamplingStatus.Cancelled, result.Status);
        Assert.Equal(10, result.Steps);
    }

    [Fact]
    public void MalaAdaptationMovesAcceptanceTowardsTarget()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 4, 0.2, 1);
        using var chains = new LangevinChains(ctx, 500, 4, seed: 21);
        var tuned = chains.Run(w, new LangevinOptions
        {
            Sampler = LangevinSampler.Mala, StepSize = 3.0, BurnIn = 300, AdaptStepSize = true, DiagnosticChains = 0,
        });
        Assert.True(tuned.StepSize < 3.0);
        var check = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Mala, StepSize = tuned.StepSize, BurnIn = 50, DiagnosticChains = 0 });
        Assert.InRange(check.AcceptanceRate, 0.45, 0.7);
    }

    [Fact]
    public void SplitRHatFlagsChainsThatHaveNotMixed()
    {
        // Overdispersed starts and a tiny step: the chains stay apart, so R-hat must be far above 1.
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 0, 1);
        using var chains = new LangevinChains(ctx, 64, 2, seed: 8, initialScale: 5);
        var result = chains.Run(w, new LangevinOptions { StepSize = 1e-3, BurnIn = 0, Samples = 20, DiagnosticChains = 64 });
        Assert.True(result.Diagnostics!.MaxSplitRHat > 1.5, $"R-hat {result.Diagnostics.MaxSplitRHat}");
        Assert.Equal(2, result.Diagnostics.SplitRHat.Count);
    }

    [Theory]
    [InlineData(LangevinSampler.Ula)]
    [InlineData(LangevinSampler.Mala)]
    public void ChainsPersistAcrossRuns(LangevinSampler sampler)
    {
        // Two runs of 10 steps continue the same chains: identical to one run of 20 steps.
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 3, 1, 1);
        var ten = new LangevinOptions { Sampler = sampler, StepSize = 0.3, BurnIn = 10, Samples = 0, DiagnosticChains = 0 };
        using var twice = new LangevinChains(ctx, 9, 3, seed: 3);
        Assert.Equal(10, twice.Run(w, ten).Steps);
        twice.Run(w, ten);
        Assert.Equal(20, twice.StepCount);
        using var once = new LangevinChains(ctx, 9, 3, seed: 3);
        once.Run(w, ten with { BurnIn = 20 });
        Assert.Equal(once.States.ToArray(), twice.States.ToArray());
    }

    [Fact]
    public void OptionsReportEveryProblem()
    {
        var bad = new LangevinOptions { StepSize = -1, Thin = 0, TargetAcceptance = 2, AdaptStepSize = true };
        var problems = bad.Validate();
        Assert.Equal(4, problems.Count);
        Assert.Empty(new LangevinOptions().Validate());
        Assert.Throws<ArgumentException>(bad.ThrowIfInvalid);
    }
}
