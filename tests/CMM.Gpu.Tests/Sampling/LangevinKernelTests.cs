using CMM.Gpu.Kernels.Sampling;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sampling;

/// <summary>
/// One-step checks of the Langevin kernels against double-precision references that draw the same
/// Philox numbers (the generator itself is checked against known answers in <see cref="PhiloxTests"/>).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class LangevinKernelTests(AcceleratorFixture fixture)
{
    private const ulong Seed = 0x1234_5678_9abcUL;
    private const int Offset = 7;
    private const double Qa = 0.6, Qb = 1.1;

    private static double W(double[] x) => x.Sum(v => (Qa / 4 * v * v * v * v) + (Qb / 2 * v * v));

    private static double[] G(double[] x) => x.Select(v => (Qa * v * v * v) + (Qb * v)).ToArray();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(13, 5)]
    public void InitialStatesAreScaledPhiloxNormals(int n, int d)
    {
        using var chains = new LangevinChains(fixture.Context, n, d, Seed, Offset, initialScale: 2.5);
        var x = chains.States.ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                double expected = 2.5 * Philox.Normal(Seed, Offset + i, 0, Philox.PurposeInit, k);
                Approx.Equal(expected, x[i * d + k], 1e-5, 1e-5, $"x0[{i},{k}]");
            }
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(13, 5)]
    public void UlaStepMatchesReference(int n, int d)
    {
        var w = new SeparableQuarticPotential(fixture.Context, d, Qa, Qb);
        var x0 = TestData.Normal(n * d, 3);
        using var chains = new LangevinChains(fixture.Context, n, d, Seed, Offset);
        chains.SetStates(x0);
        const double tau = 0.07;
        chains.Run(w, new LangevinOptions { StepSize = tau, BurnIn = 0, Samples = 1, DiagnosticChains = 0 });
        var x1 = chains.States.ToArray();
        for (int i = 0; i < n; i++)
        {
            var xi = Enumerable.Range(0, d).Select(k => (double)x0[i * d + k]).ToArray();
            var g = G(xi);
            for (int k = 0; k < d; k++)
            {
                double z = Philox.Normal(Seed, Offset + i, 0, Philox.PurposeNoise, k);
                Approx.Equal(xi[k] - (tau * g[k]) + (Math.Sqrt(2 * tau) * z), x1[i * d + k], 1e-5, 1e-5, $"x1[{i},{k}]");
            }
        }
    }

    [Fact]
    public void MalaStepAcceptsExactlyWhenTheReferenceRatioSays()
    {
        const int n = 200, d = 3;
        const double tau = 0.6;
        var w = new SeparableQuarticPotential(fixture.Context, d, Qa, Qb);
        var x0 = TestData.Normal(n * d, 4, scale: 1.5);
        using var chains = new LangevinChains(fixture.Context, n, d, Seed, Offset);
        chains.SetStates(x0);
        var result = chains.Run(w, new LangevinOptions { Sampler = LangevinSampler.Mala, StepSize = tau, BurnIn = 0, Samples = 1, DiagnosticChains = 0 });
        var x1 = chains.States.ToArray();
        int accepted = 0, checkedChains = 0;
        for (int i = 0; i < n; i++)
        {
            var x = Enumerable.Range(0, d).Select(k => (double)x0[i * d + k]).ToArray();
            var gx = G(x);
            var y = new double[d];
            for (int k = 0; k < d; k++)
            {
                y[k] = x[k] - (tau * gx[k]) + (Math.Sqrt(2 * tau) * Philox.Normal(Seed, Offset + i, 0, Philox.PurposeNoise, k));
            }

            var gy = G(y);
            double fwd = 0, bwd = 0;
            for (int k = 0; k < d; k++)
            {
                fwd += Math.Pow(y[k] - x[k] + (tau * gx[k]), 2);
                bwd += Math.Pow(x[k] - y[k] + (tau * gy[k]), 2);
            }

            double logAlpha = W(x) - W(y) + ((fwd - bwd) / (4 * tau));
            double logU = Math.Log(Philox.Uniform(Philox.Block(Seed, Offset + i, 0, Philox.PurposeAccept, 0).X));
            if (Math.Abs(logU - logAlpha) < 1e-3 * (1 + Math.Abs(logAlpha)))
            {
                continue; // too close to call in float32
            }

            checkedChains++;
            bool accept = logU <= logAlpha;
            accepted += accept ? 1 : 0;
            var expected = accept ? y : x;
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(expected[k], x1[i * d + k], 1e-4, 1e-4, $"chain {i} ({(accept ? "accepted" : "rejected")})[{k}]");
            }
        }

        Assert.True(checkedChains > n * 0.9);
        Assert.InRange(accepted, 1, checkedChains - 1); // both branches exercised
        Approx.Equal(accepted / (double)checkedChains, result.AcceptanceRate, 0.02, 0, "acceptance rate");
    }
}
