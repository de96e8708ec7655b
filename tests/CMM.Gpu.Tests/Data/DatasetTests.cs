using CMM.Gpu.Data;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Data;

public sealed class DatasetTests
{
    public static TheoryData<string> AllNames() => new(Datasets.Names);

    /// <summary>The generated datasets (not <c>digits</c>, whose points are rows of a fixed set: DigitsDataTests).</summary>
    public static TheoryData<string> GeneratedNames() => new(Datasets.Names.Where(n => Datasets.MaxCount(n) is null));

    [Fact]
    public void RegistryListsEveryBuiltInDataset()
    {
        Assert.Equal(
            ["gaussian", "bimodal", "exponential", "uniform", "moons", "circles", "eight-gaussians", "checkerboard", "swiss-roll", "pinwheel", "digits"],
            Datasets.Names);
    }

    [Theory]
    [MemberData(nameof(AllNames))]
    public void ShapeIsRightAndValuesFinite(string name)
    {
        var ds = Datasets.Create(name, 501, seed: 3);
        int expectedD = name switch
        {
            "bimodal" or "exponential" or "uniform" => 1,
            "digits" => 64,
            _ => 2,
        };
        Assert.Equal(name, ds.Name);
        Assert.Equal(expectedD, ds.Dimension);
        Assert.Equal(expectedD, Datasets.DimensionOf(name));
        Assert.Equal(501, ds.Count);
        Assert.Equal(501 * expectedD, ds.Points.Length);
        Assert.All(ds.Points, v => Assert.True(float.IsFinite(v)));
        Assert.Single(Datasets.Create(name, 1, seed: 3).Points.Chunk(expectedD));
    }

    [Theory]
    [MemberData(nameof(GeneratedNames))]
    public void SameSeedSamePointsDifferentSeedDifferentPoints(string name)
    {
        var a = Datasets.Create(name, 200, seed: 7).Points;
        var b = Datasets.Create(name, 200, seed: 7).Points;
        var c = Datasets.Create(name, 200, seed: 8).Points;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        int differing = a.Zip(c).Count(p => p.First != p.Second);
        Assert.True(differing > a.Length * 9 / 10, $"only {differing} of {a.Length} values differ between seeds");
    }

    [Fact]
    public void UnknownNameListsTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => Datasets.Create("moon", 10, 0));
        Assert.Contains("unknown dataset 'moon'", e.Message, StringComparison.Ordinal);
        foreach (var n in Datasets.Names)
        {
            Assert.Contains(n, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void OptionsThatDoNotApplyOrAreInvalidAreAllReported()
    {
        var e = Assert.Throws<ArgumentException>(() => Datasets.Create("moons", 10, 0, new DatasetOptions { Rate = 2, Mean = [1.0] }));
        Assert.Contains("Rate does not apply to 'moons'", e.Message, StringComparison.Ordinal);
        Assert.Contains("Mean does not apply", e.Message, StringComparison.Ordinal);

        var bad = new DatasetOptions { Dimension = 2, Mean = [0.0, 0.0], Covariance = [1.0, 2.0, 2.0, 1.0] };
        var e2 = Assert.Throws<ArgumentException>(() => Datasets.Create("gaussian", 10, 0, bad));
        Assert.Contains("positive definite", e2.Message, StringComparison.Ordinal);

        var many = new DatasetOptions { Rate = -1, Low = 2, High = 1, Noise = -0.1 };
        Assert.Equal(3, many.Validate().Count);
        Assert.Empty(DatasetOptions.Default.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => Datasets.Create("uniform", 0, 0));

        // d follows from Dimension, else Mean, else the covariance's size.
        Assert.Equal(3, Datasets.Create("gaussian", 4, 0, new DatasetOptions { Covariance = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0] }).Dimension);
        Assert.Equal(4, Datasets.DimensionOf("gaussian", new DatasetOptions { Mean = [1.0, 2.0, 3.0, 4.0] }));
        var mismatch = Assert.Throws<ArgumentException>(() => Datasets.Create("gaussian", 4, 0, new DatasetOptions { Dimension = 2, Mean = [1.0, 2.0, 3.0] }));
        Assert.Contains("Mean has 3 values but Dimension is 2", mismatch.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultGaussianIsTheDocumentedOne()
    {
        var (m, s) = Datasets.DefaultGaussian(2);
        Assert.Equal([1.0, -0.5], m);
        Approx.Equal(2.0, s[0], 1e-12, 0);
        Approx.Equal(0.6, s[1], 1e-12, 0);
        Approx.Equal(0.6, s[2], 1e-12, 0);
        Approx.Equal(0.5, s[3], 1e-12, 0);
        for (int d = 1; d <= 8; d++)
        {
            Assert.True(Gaussian.SymmetricMatrix.IsSymmetricPositiveDefinite(Datasets.DefaultGaussian(d).Covariance, d), $"d = {d}");
        }
    }

    public static TheoryData<string, DatasetOptions> ClosedFormCases() => new()
    {
        { "gaussian", DatasetOptions.Default },
        { "gaussian", new DatasetOptions { Dimension = 5 } },
        { "gaussian", new DatasetOptions { Mean = [0.5, -1.0, 2.0], Covariance = [1.0, 0.3, 0.0, 0.3, 0.5, -0.1, 0.0, -0.1, 2.0] } },
        { "gaussian", new DatasetOptions { Dimension = 1, Mean = [3.0], Covariance = [0.25] } },
        { "bimodal", DatasetOptions.Default },
        { "exponential", DatasetOptions.Default },
        { "exponential", new DatasetOptions { Rate = 4 } },
        { "uniform", DatasetOptions.Default },
        { "uniform", new DatasetOptions { Low = 2, High = 5 } },
    };

    [Theory]
    [MemberData(nameof(ClosedFormCases))]
    public void SampleMomentsMatchTheTruth(string name, DatasetOptions options)
    {
        const int N = 20000;
        var truth = Datasets.Truth(name, options);
        Assert.NotNull(truth);
        var ds = Datasets.Create(name, N, seed: 11, options);
        int d = ds.Dimension;
        Assert.Equal(truth.Dimension, d);

        // Tolerances: 5 standard errors of the mean; covariance within 5 % (relative Frobenius).
        var mu = SampleMetrics.Mean(ds.Points, d);
        for (int k = 0; k < d; k++)
        {
            double se = Math.Sqrt(truth.Covariance[(k * d) + k] / N);
            Approx.Equal(truth.Mean[k], mu[k], 5 * se, 0, $"{name} mean[{k}]");
        }

        Assert.True(SampleMetrics.CovarianceError(ds.Points, d, truth.Covariance) < 0.05, $"{name}: covariance off");

        // The truth's sampler gives fresh samples of the same law (a different seed, different values).
        var fresh = truth.Sample(1000, 99);
        Assert.Equal(1000 * d, fresh.Length);
        Assert.Equal(Datasets.Create(name, 1000, 99, options).Points, fresh);
    }

    [Theory]
    [InlineData("bimodal")]
    [InlineData("exponential")]
    [InlineData("uniform")]
    public void OneDimensionalDensitiesIntegrateToOneAndMatchHistograms(string name)
    {
        var truth = Datasets.Truth(name)!;
        Assert.NotNull(truth.Density);
        double lo = -6, hi = 12, h = 1e-3, total = 0;
        for (double x = lo; x < hi; x += h)
        {
            total += truth.Density(x + (h / 2)) * h;
        }

        Approx.Equal(1.0, total, 2e-3, 0, $"{name} density mass");

        // Fraction of samples in [-0.5, 0.5] against the integral of the density there.
        var pts = Datasets.Create(name, 20000, 5).Points;
        double frac = pts.Count(v => v is >= -0.5f and <= 0.5f) / 20000.0, mass = 0;
        for (double x = -0.5; x < 0.5; x += h)
        {
            mass += truth.Density(x + (h / 2)) * h;
        }

        Approx.Equal(mass, frac, 0.015, 0, $"{name} mass of [-0.5, 0.5]");
    }

    [Fact]
    public void TwoDimensionalToysHaveNoClosedForm()
    {
        foreach (var n in Datasets.Names.Where(n => Datasets.DimensionOf(n) == 2 && n != "gaussian"))
        {
            Assert.Null(Datasets.Truth(n));
        }
    }

    [Fact]
    public void CheckerboardPointsLieOnTheBlackSquares()
    {
        var p = Datasets.Create("checkerboard", 2000, 1).Points;
        for (int i = 0; i < 2000; i++)
        {
            float x = p[2 * i], y = p[(2 * i) + 1];
            Assert.InRange(x, -4f, 4f);
            Assert.InRange(y, -4f, 4f);
            int parity = (((int)Math.Floor(x / 2) + (int)Math.Floor(y / 2)) % 2 + 2) % 2;
            Assert.Equal(0, parity);
        }
    }

    [Fact]
    public void CirclesAndEightGaussiansHaveTheDocumentedRadii()
    {
        var c = Datasets.Create("circles", 4000, 2).Points;
        var radii = Enumerable.Range(0, 4000).Select(i => Math.Sqrt((c[2 * i] * c[2 * i]) + (c[(2 * i) + 1] * c[(2 * i) + 1]))).ToArray();
        Approx.Equal(3.0, radii.Where((_, i) => i % 2 == 0).Average(), 0.05, 0);
        Approx.Equal(1.5, radii.Where((_, i) => i % 2 == 1).Average(), 0.05, 0);

        var g = Datasets.Create("eight-gaussians", 4000, 2).Points;
        double meanRadius = Enumerable.Range(0, 4000).Average(i => Math.Sqrt((g[2 * i] * g[2 * i]) + (g[(2 * i) + 1] * g[(2 * i) + 1])));
        Approx.Equal(4 / 1.414, meanRadius, 0.05, 0);
    }

    [Fact]
    public void MoonsSwissRollAndPinwheelStayInTheirUsualBoxes()
    {
        foreach (var (name, box) in new[] { ("moons", 4.0), ("swiss-roll", 4.5), ("pinwheel", 6.0) })
        {
            var p = Datasets.Create(name, 2000, 4).Points;
            Assert.True(p.Max(Math.Abs) < box, $"{name}: max |coordinate| {p.Max(Math.Abs)}");
            Assert.True(p.Max(Math.Abs) > box / 4, $"{name}: suspiciously small spread");
        }

        var moons = Datasets.Create("moons", 4000, 4).Points;
        var mu = SampleMetrics.Mean(moons, 2);
        Approx.Equal(0.0, mu[0], 0.05, 0, "moons mean x"); // 2 * 0.5 - 1
        Approx.Equal(0.3, mu[1], 0.05, 0, "moons mean y"); // 2 * 0.25 - 0.2
    }

    [Fact]
    public void ColumnExtractsOneCoordinate()
    {
        var ds = new Dataset("t", [1f, 2f, 3f, 4f, 5f, 6f], 2);
        Assert.Equal(3, ds.Count);
        Assert.Equal([2.0, 4.0, 6.0], ds.Column(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ds.Column(2));
    }
}
