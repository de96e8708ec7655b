using System.Text.Json;
using CMM.Gpu.Data;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Metrics;

/// <summary>Independent double-precision references for the metrics.</summary>
internal static class MetricsReference
{
    /// <summary>W1 = integral over t of |F(t) - G(t)| (the CDF form; the code uses quantile functions).</summary>
    public static double Wasserstein1ByCdf(float[] x, float[] y)
    {
        var all = x.Concat(y).Select(v => (double)v).Distinct().OrderBy(v => v).ToArray();
        double w = 0;
        for (int k = 0; k + 1 < all.Length; k++)
        {
            double f = x.Count(v => v <= all[k]) / (double)x.Length;
            double g = y.Count(v => v <= all[k]) / (double)y.Length;
            w += Math.Abs(f - g) * (all[k + 1] - all[k]);
        }

        return w;
    }

    public static double EnergyNaive(float[] x, float[] y, int d, bool unbiased)
    {
        int n = x.Length / d, m = y.Length / d;
        double Dist(float[] a, int i, float[] b, int j)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                s += Math.Pow(a[(i * d) + k] - (double)b[(j * d) + k], 2);
            }

            return Math.Sqrt(s);
        }

        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                xy += Dist(x, i, y, j);
            }

            for (int j = 0; j < n; j++)
            {
                xx += Dist(x, i, x, j);
            }
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < m; j++)
            {
                yy += Dist(y, i, y, j);
            }
        }

        return unbiased
            ? (2 * xy / (n * m)) - (xx / (n * (n - 1.0))) - (yy / (m * (m - 1.0)))
            : (2 * xy / (n * m)) - (xx / ((double)n * n)) - (yy / ((double)m * m));
    }

    /// <summary>k-NN manifold coverage by sorting every distance list (the code keeps a running top k).</summary>
    public static double CoverageNaive(float[] query, float[] reference, int d, int k)
    {
        int n = query.Length / d, m = reference.Length / d;
        double Dist(float[] a, int i, float[] b, int j) =>
            Math.Sqrt(Enumerable.Range(0, d).Sum(c => Math.Pow(a[(i * d) + c] - (double)b[(j * d) + c], 2)));
        var radius = Enumerable.Range(0, m)
            .Select(j => Enumerable.Range(0, m).Where(i => i != j).Select(i => Dist(reference, j, reference, i)).OrderBy(v => v).ElementAt(k - 1))
            .ToArray();
        int inside = Enumerable.Range(0, n).Count(i => Enumerable.Range(0, m).Any(j => Dist(query, i, reference, j) <= radius[j]));
        return inside / (double)n;
    }
}

public sealed class SampleMetricsTests
{
    [Fact]
    public void Wasserstein1HandComputedCases()
    {
        Approx.Equal(1.0, SampleMetrics.Wasserstein1([0f, 1f], [1f, 2f]), 1e-12, 0);
        Approx.Equal(0.5, SampleMetrics.Wasserstein1([0f], [0f, 1f]), 1e-12, 0);
        Approx.Equal(1.0 / 3.0, SampleMetrics.Wasserstein1([0f, 1f, 2f], [0f, 2f]), 1e-12, 0);
        Approx.Equal(0.0, SampleMetrics.Wasserstein1([3f, 1f, 2f], [2f, 3f, 1f]), 0, 0);
        Approx.Equal(2.5, SampleMetrics.Wasserstein1([0f, 1f, 2f], [2.5f, 3.5f, 4.5f]), 1e-12, 0);
        Assert.Throws<ArgumentException>(() => SampleMetrics.Wasserstein1([], [1f]));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 29)]
    [InlineData(100, 100)]
    [InlineData(64, 7)]
    public void Wasserstein1MatchesTheCdfFormula(int n, int m)
    {
        var x = TestData.Normal(n, 1);
        var y = TestData.Normal(m, 2, scale: 1.5, shift: 0.3);
        double expected = MetricsReference.Wasserstein1ByCdf(x, y);
        Approx.Equal(expected, SampleMetrics.Wasserstein1(x, y), 1e-9, 1e-9);
        Approx.Equal(expected, SampleMetrics.Wasserstein1(y, x), 1e-9, 1e-9, "symmetry");
    }

    [Fact]
    public void Wasserstein1BetweenUnitShiftedNormalsIsAboutOne()
    {
        var x = TestData.Normal(4000, 3);
        var y = TestData.Normal(4000, 4, shift: 1.0);
        Approx.Equal(1.0, SampleMetrics.Wasserstein1(x, y), 0.08, 0);
        var same = TestData.Normal(4000, 5);
        Assert.True(SampleMetrics.Wasserstein1(x, same) < 0.08);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(17, 29, 3)]
    [InlineData(40, 40, 2)]
    [InlineData(5, 9, 1)]
    public void EnergyDistanceMatchesTheNaiveDoubleLoop(int n, int m, int d)
    {
        var x = TestData.Normal(n * d, 10);
        var y = TestData.Normal(m * d, 11, shift: 0.5);
        Approx.Equal(MetricsReference.EnergyNaive(x, y, d, false), SampleMetrics.EnergyDistance(x, y, d), 1e-10, 1e-10);
        if (n >= 2 && m >= 2)
        {
            Approx.Equal(MetricsReference.EnergyNaive(x, y, d, true), SampleMetrics.EnergyDistance(x, y, d, EnergyEstimator.Unbiased), 1e-10, 1e-10);
        }
        else
        {
            Assert.Throws<ArgumentException>(() => SampleMetrics.EnergyDistance(x, y, d, EnergyEstimator.Unbiased));
        }
    }

    [Fact]
    public void EnergyDistanceIsZeroForIdenticalSetsAndPositiveOtherwise()
    {
        var x = TestData.Normal(200, 1);
        Assert.Equal(0.0, SampleMetrics.EnergyDistance(x, x, 2), 12);
        Approx.Equal(2.0, SampleMetrics.EnergyDistance([0f], [1f], 1), 1e-12, 0); // 2|0-1| - 0 - 0
        var y = x.Select(v => v + 0.3f).ToArray();
        Assert.True(SampleMetrics.EnergyDistance(x, y, 2) > 0.01);
    }

    [Fact]
    public void UnbiasedEnergyDistanceMatchesThePopulationValueForShiftedNormals()
    {
        // rho = N(0, 1), nu = N(1, 1): E|X - Y| with X - Y ~ N(1, 2) is s sqrt(2/pi) exp(-mu^2/(2 s^2)) + mu (1 - 2 Phi(-mu/s));
        // E|X - X'| = 2 / sqrt(pi); the distance is 2 E|X - Y| - 2 E|X - X'|.
        double s = Math.Sqrt(2), mu = 1;
        double exy = (s * Math.Sqrt(2 / Math.PI) * Math.Exp(-mu * mu / (2 * s * s))) + (mu * (1 - (2 * MathNet.Numerics.Distributions.Normal.CDF(0, 1, -mu / s))));
        double expected = (2 * exy) - (4 / Math.Sqrt(Math.PI));
        // Quantile samples x_i = Phi^-1((i + 1/2) / n) remove the sampling noise, so the estimators must be close.
        const int N = 2000;
        var x = Enumerable.Range(0, N).Select(i => (float)MathNet.Numerics.Distributions.Normal.InvCDF(0, 1, (i + 0.5) / N)).ToArray();
        var y = x.Select(v => v + 1f).ToArray();
        Approx.Equal(expected, SampleMetrics.EnergyDistance(x, y, 1, EnergyEstimator.Unbiased), 0.01, 0, "unbiased");
        Approx.Equal(expected, SampleMetrics.EnergyDistance(x, y, 1), 0.01, 0, "V-statistic");
    }

    [Fact]
    public void MomentsAndRelativeErrors()
    {
        float[] x = [1f, 2f, 3f, 6f, 5f, 4f]; // three 2-D points (1,2), (3,6), (5,4)
        Assert.Equal([3.0, 4.0], SampleMetrics.Mean(x, 2));
        // deviations (-2,-2), (0,2), (2,0): sums xx 8, xy 4, yy 8, over n - 1 = 2
        Assert.Equal([4.0, 2.0, 2.0, 4.0], SampleMetrics.Covariance(x, 2));
        Approx.Equal(5.0, SampleMetrics.MeanError(x, 2, [0.0, 0.0]), 1e-12, 0);
        Approx.Equal(0.0, SampleMetrics.CovarianceError(x, 2, [4.0, 2.0, 2.0, 4.0]), 1e-12, 0);
        Approx.Equal(Math.Sqrt(2.0 / 34.0), SampleMetrics.CovarianceError(x, 2, [4.0, 1.0, 1.0, 4.0]), 1e-12, 0);
        Approx.Equal(0.1, SampleMetrics.RelativeFrobeniusError([1.1, 0, 0, 1.1], [1.0, 0, 0, 1.0], 2), 1e-12, 0);
        Approx.Equal(0.5, SampleMetrics.RelativeL2Error([1.5f, 0f], [1f, 0f]), 1e-12, 0);

        // Hessians laid out [n, d, d]: the second point is off by 10 % everywhere.
        var errs = SampleMetrics.HessianRelativeErrors([2f, 0f, 0f, 2f, 2.2f, 0f, 0f, 2.2f], [2.0, 0, 0, 2.0], 2);
        Assert.Equal(2, errs.Length);
        Approx.Equal(0.0, errs[0], 1e-12, 0);
        Approx.Equal(0.1, errs[1], 1e-6, 0);
        Assert.Throws<ArgumentException>(() => SampleMetrics.HessianRelativeErrors([1f, 2f, 3f], [1.0], 1 + 1));
        Assert.Throws<ArgumentException>(() => SampleMetrics.Mean([1f, 2f, 3f], 2));
    }

    [Fact]
    public void SplitGivesDisjointHalvesOfTheData()
    {
        var x = Enumerable.Range(0, 21).Select(i => (float)i).SelectMany(v => new[] { v, -v }).ToArray();
        var (a, b) = NoiseFloor.Split(x, 2, seed: 5);
        Assert.Equal(20, a.Length);
        Assert.Equal(20, b.Length);
        var rowsA = a.Chunk(2).Select(r => r[0]).ToHashSet();
        var rowsB = b.Chunk(2).Select(r => r[0]).ToHashSet();
        Assert.Empty(rowsA.Intersect(rowsB));
        Assert.All(a.Chunk(2).Concat(b.Chunk(2)), r => Assert.Equal(-r[0], r[1])); // rows kept whole
        Assert.Equal(NoiseFloor.Split(x, 2, 5).First, a);
        Assert.NotEqual(NoiseFloor.Split(x, 2, 6).First, a);
    }

    [Fact]
    public void NoiseFloorHelpersCallTheMetricOnSameLawSamples()
    {
        var truth = Datasets.Truth("bimodal")!;
        SampleDivergence w1 = (x, y, _) => SampleMetrics.Wasserstein1(x, y);
        double floorSamples = NoiseFloor.BetweenSamples(truth.Sample, 2000, 1, w1, seed: 1);
        double floorHalves = NoiseFloor.BetweenHalves(truth.Sample(4000, 3), 1, w1, seed: 1);
        // Both are the W1 between two independent 2000-point samples of the same law: small and of the same order.
        Assert.InRange(floorSamples, 1e-4, 0.15);
        Assert.InRange(floorHalves, 1e-4, 0.15);
        double gap = SampleMetrics.Wasserstein1(truth.Sample(2000, 1), TestData.Normal(2000, 4));
        Assert.True(gap > 5 * Math.Max(floorSamples, floorHalves));
    }

    [Fact]
    public void EvaluatorComparesAgainstItsNoiseFloorAndCallsTheSinkhornHook()
    {
        var truth = Datasets.Truth("bimodal")!;
        var heldOut = truth.Sample(2001, 1);
        var good = truth.Sample(1500, 2);
        var bad = good.Select(v => v * 0.5f).ToArray();
        var calls = new List<(int, int, int)>();
        var options = new MetricsOptions
        {
            DataName = "bimodal",
            TrueMean = truth.Mean,
            TrueCovariance = truth.Covariance,
            SinkhornDivergence = (x, y, d) =>
            {
                calls.Add((x.Length, y.Length, d));
                return SampleMetrics.EnergyDistance(x, y, d);
            },
        };
        var rg = MetricsEvaluator.Evaluate(good, heldOut, 1, options);
        var rb = MetricsEvaluator.Evaluate(bad, heldOut, 1, options);

        Assert.Equal(1000, rg.ComparedCount);
        Assert.Equal(1500, rg.GeneratedCount);
        Assert.Equal(2001, rg.HeldOutCount);
        Assert.Equal("truth", rg.MomentsReference);
        Assert.Equal(rg.EnergyDistanceNoiseFloor, rb.EnergyDistanceNoiseFloor); // same seeded split
        Assert.True(rg.Wasserstein1 < 4 * rg.Wasserstein1NoiseFloor, $"good: W1 {rg.Wasserstein1} vs floor {rg.Wasserstein1NoiseFloor}");
        Assert.True(rb.Wasserstein1 > 10 * rb.Wasserstein1NoiseFloor, $"bad: W1 {rb.Wasserstein1} vs floor {rb.Wasserstein1NoiseFloor}");
        Assert.True(rb.EnergyDistance > 10 * rb.EnergyDistanceNoiseFloor);
        Assert.True(rg.CovarianceError < 0.06);
        Approx.Equal(0.75, rb.CovarianceError, 0.03, 0); // variance scaled by 1/4
        Assert.Equal(4 * options.Splits, calls.Count); // generated and floor, per split, per evaluation
        Assert.All(calls, c => Assert.Equal((1000, 1000, 1), c));
        Assert.Equal(rg.EnergyDistance, rg.SinkhornDivergence); // the hook's value is reported as is

        var r2 = MetricsEvaluator.Evaluate(Datasets.Create("moons", 300, 1).Points, Datasets.Create("moons", 400, 2).Points, 2, new MetricsOptions { MaxPairwisePoints = 100 });
        Assert.Null(r2.Wasserstein1);
        Assert.Null(r2.SinkhornDivergence);
        Assert.Equal(100, r2.ComparedCount);
        Assert.Equal("held_out", r2.MomentsReference);
        Assert.Throws<ArgumentException>(() => MetricsEvaluator.Evaluate(good, heldOut, 1, new MetricsOptions { MaxPairwisePoints = 1 }));
    }

    [Fact]
    public void SplitsAverageTheSingleSplitMetricsAtTheirSeeds()
    {
        var truth = Datasets.Truth("exponential")!;
        var heldOut = truth.Sample(801, 1);
        var generated = truth.Sample(700, 2);
        var avg = MetricsEvaluator.Evaluate(generated, heldOut, 1, new MetricsOptions { Seed = 7, Splits = 3 });
        var singles = Enumerable.Range(0, 3)
            .Select(r => MetricsEvaluator.Evaluate(generated, heldOut, 1, new MetricsOptions { Seed = 7 + (2 * r), Splits = 1 }))
            .ToArray();

        Assert.Equal(3, avg.Splits);
        Assert.Equal(1, singles[0].Splits);
        Assert.Equal(singles.Average(s => s.Wasserstein1!.Value), avg.Wasserstein1!.Value, 12);
        Assert.Equal(singles.Average(s => s.Wasserstein1NoiseFloor!.Value), avg.Wasserstein1NoiseFloor!.Value, 12);
        Assert.Equal(singles.Average(s => s.EnergyDistance), avg.EnergyDistance, 12);
        Assert.Equal(singles.Average(s => s.EnergyDistanceNoiseFloor), avg.EnergyDistanceNoiseFloor, 12);
        Assert.Equal(singles.Average(s => s.Precision!.Value), avg.Precision!.Value, 12);
        Assert.Equal(singles.Average(s => s.RecallNoiseFloor!.Value), avg.RecallNoiseFloor!.Value, 12);
        Assert.Equal(singles[0].CovarianceError, avg.CovarianceError); // moments use every point, not the splits
        Assert.NotEqual(singles[0].Wasserstein1NoiseFloor, singles[1].Wasserstein1NoiseFloor); // the splits differ
        Assert.Throws<ArgumentException>(() => MetricsEvaluator.Evaluate(generated, heldOut, 1, new MetricsOptions { Splits = 0 }));
    }

    [Fact]
    public void AveragingOverSplitsTightensAPerfectModelsRatio()
    {
        // Generated and held-out points from the same law: a perfect model. One split's W1 ratio is spread widely
        // (its floor is a single noisy draw); the mean over five splits is much tighter and stays below 2.
        var truth = Datasets.Truth("exponential")!;
        var one = new List<double>();
        var five = new List<double>();
        for (int t = 0; t < 40; t++)
        {
            var heldOut = truth.Sample(1000, 100 + (2 * t));
            var generated = truth.Sample(1000, 101 + (2 * t));
            var r1 = MetricsEvaluator.Evaluate(generated, heldOut, 1, new MetricsOptions { Seed = t, Splits = 1 });
            var r5 = MetricsEvaluator.Evaluate(generated, heldOut, 1, new MetricsOptions { Seed = t, Splits = 5 });
            one.Add(r1.Wasserstein1!.Value / r1.Wasserstein1NoiseFloor!.Value);
            five.Add(r5.Wasserstein1!.Value / r5.Wasserstein1NoiseFloor!.Value);
        }

        static double Spread(List<double> v) => Math.Sqrt(v.Average(x => (x - v.Average()) * (x - v.Average())));
        Assert.True(Spread(five) < 0.7 * Spread(one), $"spread of the ratio: 5 splits {Spread(five):F3}, 1 split {Spread(one):F3}");
        Assert.True(five.Max() < 2, $"largest 5-split ratio {five.Max():F2}");
        Assert.InRange(five.Average(), 0.8, 1.25);
    }

    [Theory]
    [InlineData(40, 31, 2, 3)]
    [InlineData(25, 60, 5, 1)]
    public void ManifoldCoverageMatchesTheNaiveReference(int n, int m, int d, int k)
    {
        var q = TestData.Normal(n * d, 1, scale: 1.3);
        var r = TestData.Normal(m * d, 2);
        Assert.Equal(MetricsReference.CoverageNaive(q, r, d, k), SampleMetrics.ManifoldCoverage(q, r, d, k), 12);
        Assert.Equal(MetricsReference.CoverageNaive(r, q, d, k), SampleMetrics.ManifoldCoverage(r, q, d, k), 12);
        Assert.Equal(1.0, SampleMetrics.ManifoldCoverage(r, r, d, k));
        var far = r.Select(v => v + 100f).ToArray();
        Assert.Equal(0.0, SampleMetrics.ManifoldCoverage(far, r, d, k));
        Assert.Throws<ArgumentException>(() => SampleMetrics.ManifoldCoverage(q, r[..(k * d)], d, k));
    }

    [Fact]
    public void PrecisionSeesMassBetweenModesThatTheDivergencesBlurOver()
    {
        // A ring through the eight-gaussians centres puts mass between the modes: precision falls well below its floor.
        var heldOut = Datasets.Create("eight-gaussians", 2000, 1).Points;
        var good = Datasets.Create("eight-gaussians", 1000, 2).Points;
        var rng = new Random(3);
        var ring = new float[2000];
        for (int i = 0; i < 1000; i++)
        {
            double t = 2 * Math.PI * rng.NextDouble(), radius = (4 / 1.414) + (0.35 * TestData.Normal(1, 100 + i)[0]);
            ring[2 * i] = (float)(radius * Math.Cos(t));
            ring[(2 * i) + 1] = (float)(radius * Math.Sin(t));
        }

        var rg = MetricsEvaluator.Evaluate(good, heldOut, 2);
        var rr = MetricsEvaluator.Evaluate(ring, heldOut, 2);
        Assert.True(rg.Precision > 0.97 * rg.PrecisionNoiseFloor, $"same law: precision {rg.Precision} vs floor {rg.PrecisionNoiseFloor}");
        Assert.True(rr.Precision < 0.95 * rr.PrecisionNoiseFloor, $"ring: precision {rr.Precision} vs floor {rr.PrecisionNoiseFloor}");
        Assert.True(rg.Recall > 0.97 * rg.RecallNoiseFloor);
        Assert.True(rr.Recall > 0.97 * rr.RecallNoiseFloor, "the ring covers every mode: its recall stays at the floor");
        Assert.Equal(rg.PrecisionNoiseFloor, rr.PrecisionNoiseFloor); // same seeded split of the held-out data

        // A uniform square over the checkerboard puts half its mass on the empty squares.
        var board = Datasets.Create("checkerboard", 2000, 4).Points;
        var square = Enumerable.Range(0, 2000).Select(_ => (float)((8 * rng.NextDouble()) - 4)).ToArray();
        var rs = MetricsEvaluator.Evaluate(square, board, 2);
        Assert.True(rs.Precision < 0.7 * rs.PrecisionNoiseFloor, $"square: precision {rs.Precision} vs floor {rs.PrecisionNoiseFloor}");
    }

    [Fact]
    public void ReportPrintsATableAndRoundTripsSnakeCaseJson()
    {
        var report = new MetricsReport
        {
            Data = "gaussian",
            Dimension = 2,
            GeneratedCount = 10,
            HeldOutCount = 20,
            ComparedCount = 10,
            EnergyDistance = 0.02,
            EnergyDistanceNoiseFloor = 0.01,
            MeanError = 0.1,
            CovarianceError = 0.04,
            HessianRelativeError = 0.03,
            HessianRelativeErrorMax = 0.05,
        };
        var json = report.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(0.01, root.GetProperty("energy_distance_noise_floor").GetDouble());
        Assert.Equal(0.03, root.GetProperty("hessian_relative_error").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("sinkhorn_divergence").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("precision").ValueKind);
        Assert.Equal("held_out", root.GetProperty("moments_reference").GetString());
        Assert.Equal(report, MetricsReport.FromJson(json));

        var table = report.ToTable();
        Assert.Contains("energy distance", table, StringComparison.Ordinal);
        Assert.Contains("2.00", table, StringComparison.Ordinal); // ratio 0.02 / 0.01
        Assert.Contains("Hessian rel. error (max)", table, StringComparison.Ordinal);
        Assert.DoesNotContain("Sinkhorn", table, StringComparison.Ordinal);
    }
}
