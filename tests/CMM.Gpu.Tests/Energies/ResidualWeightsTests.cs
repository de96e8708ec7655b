using CMM.Gpu.Conjugate;
using CMM.Gpu.Energies;
using CMM.Gpu.Fitting;
using CMM.Gpu.Fitting.Objectives;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// The importance weights of CMFMA's target weighting (<see cref="ResidualObjective.TargetWeights"/>) against their closed
/// form: points drawn from p = (1 - s) q + s g with q, g and rho all Gaussian, so that rho / p is known exactly, while the
/// objective sees only V, the residuals (which carry q unnormalised) and g, and must find q's normaliser itself.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class ResidualWeightsTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    public void TargetWeightsAreRhoOverTheProposalMixture(double share)
    {
        // 1-D: rho = N(0.5, 1), the model q = N(0, 4) (unnormalised: exp(-y^2 / 8)), the start g = N(-0.5, 2.25).
        const int n = 4000;
        var energy = new GaussianEnergy([0.5], new double[,] { { 1 } });
        var start = GaussianStart.FromMoments([-0.5], new double[,] { { 2.25 } }, FitMethod.Cmm, 0.5);
        var options = CmmModel.DefaultEnergyOptions with { Particles = n, ProposalShare = share, TargetWeight = 1 };
        using var objective = new ResidualObjective(fixture.Context, energy, start, options, 1, new ConjugateOptions());
        int proposals = (int)Math.Round(share * n);
        var rng = new Random(4);
        var points = new float[n];
        for (int i = 0; i < n; i++)
        {
            points[i] = (float)(i < proposals ? -0.5 + (1.5 * GaussianComponent.Normal(rng)) : 2 * GaussianComponent.Normal(rng));
        }

        var v = new double[n];
        energy.Evaluate(points, v, default);
        // r = log(exp(-V) / q~) with q~ = exp(-y^2 / 8).
        var residuals = points.Select((y, i) => -v[i] + (y * (double)y / 8)).ToArray();
        var weights = objective.TargetWeights(points, v, residuals);

        static double Normal(double y, double m, double var) => Math.Exp(-(y - m) * (y - m) / (2 * var)) / Math.Sqrt(2 * Math.PI * var);
        var exact = points.Select(y => Normal(y, 0.5, 1) / (((1 - share) * Normal(y, 0, 4)) + (share * Normal(y, -0.5, 2.25)))).ToArray();
        double total = exact.Sum();
        Assert.Equal(1.0, weights.Sum(), 1e-9);
        // The normaliser of q is estimated from the points, so the weights match to its Monte Carlo error (about 1 %).
        double worst = weights.Select((w, i) => Math.Abs(w - (exact[i] / total)) / (exact[i] / total)).Max();
        Assert.True(worst < 0.03, $"largest relative error of a weight {worst:G3}");
    }
}
