using CMM.Gpu.Energies;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// The built-in energies against closed forms: values against independent formulas, gradients against central differences,
/// normalisation by quadrature (2-D), exact samplers against their moments, the JSON form's one-line errors, and the start's
/// Laplace search.
/// </summary>
public sealed class EnergyTests
{
    private static GaussianMixtureEnergy TwoModes() => new([0.3, 0.7], [[-2.0, 0.0], [2.0, 0.0]],
        [new double[,] { { 0.25, 0 }, { 0, 0.25 } }, new double[,] { { 0.5, 0.1 }, { 0.1, 0.25 } }]);

    public static TheoryData<string> EnergyNames() => new() { "gaussian", "mixture", "banana", "funnel", "many-well", "logistic" };

    private static IEnergy Named(string name) => name switch
    {
        "gaussian" => new GaussianEnergy([1.0, -0.5, 0.2], new double[,] { { 2.0, 0.6, 0.1 }, { 0.6, 0.5, 0.0 }, { 0.1, 0.0, 1.5 } }),
        "mixture" => TwoModes(),
        "banana" => new BananaEnergy(3, curvature: 0.4, scale: 1.5),
        "many-well" => new ManyWellEnergy(4),
        "logistic" => new LogisticRegressionEnergy(TestData.Normal(40 * 3, 5).Select(v => (double)v).ToArray(),
            Enumerable.Range(0, 40).Select(i => (i * 7) % 3 == 0 ? 1 : 0).ToArray()),
        _ => new FunnelEnergy(3, scale: 1.2),
    };

    [Theory]
    [MemberData(nameof(EnergyNames))]
    public void GradientMatchesCentralDifferences(string name)
    {
        var energy = Named(name);
        int d = energy.Dimension, n = 6;
        var points = TestData.Normal(n * d, 11).Select(v => v * 0.8f).ToArray();
        var values = new double[n];
        var gradients = new double[n * d];
        energy.Evaluate(points, values, gradients);
        var withoutGradient = new double[n];
        energy.Evaluate(points, withoutGradient, default);
        Assert.Equal(values, withoutGradient);
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                // float32 points: h = 1e-2 keeps the rounding of the point (1e-7) small against h; the error is O(h^2 V''').
                const float h = 1e-2f;
                var plus = points.AsSpan(i * d, d).ToArray();
                var minus = points.AsSpan(i * d, d).ToArray();
                plus[k] += h;
                minus[k] -= h;
                var vp = new double[1];
                var vm = new double[1];
                energy.Evaluate(plus, vp, default);
                energy.Evaluate(minus, vm, default);
                double fd = (vp[0] - vm[0]) / (plus[k] - minus[k]);
                Approx.Equal(fd, gradients[(i * d) + k], 2e-3, 2e-3, $"{name} dV/dy[{i},{k}]");
            }
        }
    }

    [Fact]
    public void GaussianEnergyIsTheNegativeLogDensity()
    {
        // -log N(y; m, S) in 2-D written out: |S| = s11 s22 - s12^2, S^-1 = [[s22, -s12], [-s12, s11]] / |S|.
        var energy = new GaussianEnergy([1.0, -0.5], new double[,] { { 2.0, 0.6 }, { 0.6, 0.5 } });
        var y = new float[] { 0.3f, 0.4f };
        var v = new double[1];
        energy.Evaluate(y, v, default);
        double det = (2.0 * 0.5) - (0.6 * 0.6), a = 0.3 - 1.0, b = 0.4 + 0.5;
        double q = ((0.5 * a * a) - (2 * 0.6 * a * b) + (2.0 * b * b)) / det;
        Approx.Equal((0.5 * q) + (0.5 * Math.Log(det)) + Math.Log(2 * Math.PI), v[0], 1e-6, 1e-6, "V");
        Assert.Equal(0, energy.LogNormalizer);
    }

    [Theory]
    [MemberData(nameof(EnergyNames))]
    public void TwoDimensionalVersionsIntegrateToOne(string name)
    {
        IEnergy energy = name switch
        {
            "gaussian" => new GaussianEnergy([1.0, -0.5], new double[,] { { 2.0, 0.6 }, { 0.6, 0.5 } }),
            "mixture" => TwoModes(),
            "banana" => new BananaEnergy(2, curvature: 0.4, scale: 1.5),
            "many-well" => new ManyWellEnergy(2),
            _ => new FunnelEnergy(2, scale: 1.2),
        };

        // Midpoint rule on [-12, 12]^2 with step 0.02 (the funnel's neck at v = -5 is 0.08 wide: 4 steps).
        const double lo = -12, step = 0.02;
        int m = (int)(24 / step);
        double total = 0;
        var row = new float[2 * m];
        var v = new double[m];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < m; j++)
            {
                row[2 * j] = (float)(lo + ((i + 0.5) * step));
                row[(2 * j) + 1] = (float)(lo + ((j + 0.5) * step));
            }

            energy.Evaluate(row, v, default);
            total += v.Sum(e => Math.Exp(-e)) * step * step;
        }

        Approx.Equal(1, total, 2e-3, 0, $"{name}: integral of exp(-V)");
    }

    [Fact]
    public void ExactSamplersHaveTheRightMoments()
    {
        const int n = 20000;
        var mixture = TwoModes();
        var x = mixture.ExactSamples(n, 3)!;
        var modes = mixture.AssignModes(x);
        double share = modes.Count(j => j == 0) / (double)n;
        Assert.InRange(share, 0.3 - (4 * Math.Sqrt(0.21 / n)), 0.3 + (4 * Math.Sqrt(0.21 / n)));
        // Mixture mean: 0.3 (-2) + 0.7 (2) = 0.8 in the first coordinate (sd about 2 / sqrt(n)).
        Approx.Equal(0.8, Enumerable.Range(0, n).Average(i => (double)x[2 * i]), 0.06, 0, "mixture mean");

        var banana = new BananaEnergy(2, curvature: 0.4, scale: 1.5).ExactSamples(n, 4)!;
        // E[y2] = E[z2] - b (E[z1^2] - s^2) = 0; Var(y1) = s^2.
        Approx.Equal(0, Enumerable.Range(0, n).Average(i => (double)banana[(2 * i) + 1]), 0.05, 0, "banana E[y2]");
        Approx.Equal(2.25, Enumerable.Range(0, n).Average(i => (double)banana[2 * i] * banana[2 * i]), 0.1, 0, "banana Var(y1)");

        // Many-well: the share of samples in each pair's right well is the quadrature's weight (about 0.73 here).
        var wells = new ManyWellEnergy(4);
        var ws = wells.ExactSamples(n, 6)!;
        double rightShare = Enumerable.Range(0, n).Average(i => ws[4 * i] > 0 ? 1.0 : 0.0);
        Approx.Equal(wells.RightWellWeight, rightShare, 4 * Math.Sqrt(0.25 / n), 0, "many-well right-well share");
        Approx.Equal(wells.ModeWeights[3], Enumerable.Range(0, n).Average(i => ws[4 * i] > 0 && ws[(4 * i) + 2] > 0 ? 1.0 : 0.0), 4 * Math.Sqrt(0.25 / n), 0, "many-well mode 3");
        Approx.Equal(1, wells.ModeWeights.Sum(), 1e-12, 0, "many-well weights");

        var funnel = new FunnelEnergy(2, scale: 1.2).ExactSamples(n, 5)!;
        // E[y2^2] = E[e^v] = e^(s^2 / 2).
        Approx.Equal(Math.Exp(0.72), Enumerable.Range(0, n).Average(i => (double)funnel[(2 * i) + 1] * funnel[(2 * i) + 1]), 0.12, 0, "funnel E[y2^2]");
    }

    [Fact]
    public void TheJsonFormReadsTheIssuesExamplesAndRefusesBadOnes()
    {
        var g = Assert.IsType<GaussianEnergy>(EnergyFile.Parse("""{"type": "gaussian", "mean": [1, 2], "covariance": [[2, 0.5], [0.5, 1]]}"""));
        Assert.Equal([1.0, 2.0], g.Mean);
        var mix = Assert.IsType<GaussianMixtureEnergy>(EnergyFile.Parse(
            """{"type": "gaussian-mixture", "weights": [0.3, 0.7], "means": [[0, 0, 0], [1, 1, 1]], "covariances": [[[1,0,0],[0,1,0],[0,0,1]], [[2,0,0],[0,2,0],[0,0,2]]]}"""));
        Assert.Equal(3, mix.Dimension);
        Assert.Equal(10, Assert.IsType<BananaEnergy>(EnergyFile.Parse("""{"type": "banana", "dim": 10}""")).Dimension);
        Assert.Equal(2.5, Assert.IsType<FunnelEnergy>(EnergyFile.Parse("""{"type": "funnel", "dim": 4, "scale": 2.5}""")).Scale);

        var cases = new (string Json, string Expected)[]
        {
            ("""{"type": "gauss"}""", "unknown energy type 'gauss'"),
            ("""{"mean": [0]}""", "has no \"type\""),
            ("""{"type": "gaussian", "mean": [0], "covariance": [[1]], "scale": 2}""", "unknown parameter 'scale' for type 'gaussian'"),
            ("""{"type": "gaussian", "mean": [0, 0]}""", "missing parameter 'covariance'"),
            ("""{"type": "gaussian", "mean": [0, 0], "covariance": [[1, 2], [2, 1]]}""", "not positive definite"),
            ("""{"type": "gaussian", "mean": [0, 0], "covariance": [[1, 0.2], [0, 1]]}""", "not symmetric"),
            ("""{"type": "gaussian", "mean": [0, 0], "covariance": [[1, 0, 0], [0, 1, 0]]}""", "square matrix"),
            ("""{"type": "gaussian", "mean": [0, 0, 0], "covariance": [[1, 0], [0, 1]]}""", "but the mean has 3 values"),
            ("""{"type": "gaussian", "mean": ["a"], "covariance": [[1]]}""", "'mean[0]' must be a number"),
            ("""{"type": "gaussian-mixture", "weights": [0.5, 0.6], "means": [[0], [1]], "covariances": [[[1]], [[1]]]}""", "must sum to 1"),
            ("""{"type": "gaussian-mixture", "weights": [-0.5, 1.5], "means": [[0], [1]], "covariances": [[[1]], [[1]]]}""", "must be positive"),
            ("""{"type": "gaussian-mixture", "weights": [1], "means": [[0], [1]], "covariances": [[[1]]]}""", "as many weights, means and covariances"),
            ("""{"type": "banana", "dim": 1}""", "dim >= 2"),
            ("""{"type": "funnel", "dim": 3, "scale": -1}""", "scale > 0"),
            ("""{"type": "funnel", "dim": 2.5}""", "'dim' must be an integer"),
            ("""[1, 2]""", "JSON object"),
            ("""{"type": "gaussian", """, "not valid JSON"),
        };
        foreach (var (json, expected) in cases)
        {
            var e = Assert.ThrowsAny<ArgumentException>(() => EnergyFile.Parse(json));
            Assert.Contains(expected, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void TheStartFindsEveryModeAndItsLaplaceMass()
    {
        // A Gaussian: the Laplace approximation is exact.
        var gaussian = new GaussianEnergy([1.0, -0.5], new double[,] { { 2.0, 0.6 }, { 0.6, 0.5 } });
        var (mean, cov, modes) = EnergyStart.Estimate(gaussian);
        Assert.Single(modes);
        Approx.AllEqual([1.0, -0.5], mean, 1e-4, 0, "mean");
        Approx.AllEqual([2.0, 0.6, 0.6, 0.5], cov.Cast<double>().ToArray(), 2e-3, 2e-3, "covariance");

        // Two well-separated modes: both found; the Laplace masses are the mixture weights (each mode's own Gaussian dominates
        // there), and the start's moments are the mixture's.
        var (mixMean, mixCov, mixModes) = EnergyStart.Estimate(TwoModes());
        Assert.Equal(2, mixModes.Count);
        Approx.Equal(0.7, mixModes[0].Weight, 2e-3, 0, "heavier mode's mass");
        Approx.Equal(2.0, mixModes[0].Mode[0], 1e-3, 0, "heavier mode");
        Approx.Equal(0.8, mixMean[0], 5e-3, 0, "start mean");
        // Var(y1) = sum w (s_j + m_j^2) - mean^2 = 0.3 (0.25 + 4) + 0.7 (0.5 + 4) - 0.64 = 3.785.
        Approx.Equal(3.785, mixCov[0, 0], 0.01, 0, "start variance");

        // V = 0 everywhere is not normalisable: no minimum with a positive definite Hessian.
        var e = Assert.Throws<ArgumentException>(() => EnergyStart.Estimate(new FlatEnergy()));
        Assert.Contains("normalisable", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APilotStartSeesTheBananaBeyondItsMode()
    {
        // Banana b = 0.5, s = 1: mode (0, 0.5) with Laplace variance 1 for y2; the truth: E[y2] = 0, Var y2 = 1 + 2 b^2 s^4 = 1.5.
        var energy = new BananaEnergy(2, curvature: 0.5, scale: 1);
        var (mean, cov, _) = EnergyStart.Estimate(energy);
        Approx.Equal(0.5, mean[1], 1e-3, 0, "Laplace mean of y2 (the mode)");
        Approx.Equal(1.0, cov[1, 1], 1e-2, 0, "Laplace variance of y2");
        var (pilotMean, pilotCov) = EnergyStart.Pilot(energy, mean, cov, seed: 3);
        Approx.Equal(0.0, pilotMean[1], 0.1, 0, "pilot mean of y2");
        Approx.Equal(1.5, pilotCov[1, 1], 0, 0.15, "pilot variance of y2");
    }

    [Fact]
    public void AFunnelStartsFromAMalaPilotNotFromItsDegenerateMode()
    {
        // The funnel's minimum (v = -(d - 1) s^2 / 2 = -40.5, y = 0) has curvature e^40.5 across the neck and 1/9 along it: the
        // Laplace search finds no usable mode, and the start is the moments of a MALA pilot run (true: mean 0, Var v = 9).
        var (mean, cov, modes) = EnergyStart.Estimate(new FunnelEnergy(10, scale: 3));
        Assert.Empty(modes);
        Assert.InRange(mean[0], -3.0, 3.0);
        Assert.InRange(cov[0, 0], 1.0, 30.0);
        var evd = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(cov).Evd();
        Assert.True(evd.EigenValues.All(l => l.Real > 0), "the pilot's covariance is positive definite");
    }

    /// <summary>V = 0: exp(-V) has no finite integral.</summary>
    private sealed class FlatEnergy : IEnergy
    {
        public int Dimension => 2;

        public string Name => "flat";

        public double? LogNormalizer => null;

        public string Describe() => "flat";

        public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
        {
            energies.Clear();
            gradients.Clear();
        }

        public float[]? ExactSamples(int count, int seed) => null;
    }
}
