using CMM.Gpu.Data;
using CMM.Gpu.Metrics;

namespace CMM.Gpu.Tests.Metrics;

/// <summary><see cref="SampleMetrics.OffSupportShare"/>: hand-computed cases, the 1 % of a same-law sample, bad input.</summary>
public sealed class OffSupportShareTests
{
    [Fact]
    public void OffSupportShareHandComputedCases()
    {
        // Reference 0, 1, ..., 99: every nearest-neighbour distance is 1, so q = 1 and a point counts when more than 1 away.
        var grid = Enumerable.Range(0, 100).Select(i => (float)i).ToArray();
        float[] query = [0.5f, 50, 99.9f, 100, 100.5f, -1.2f];
        Assert.Equal(2.0 / 6, SampleMetrics.OffSupportShare(query, grid, 1), 12);

        // Reference 0..9 and 20: distances ten times 1 and once 11. The nearest-rank quantile is the ceil(0.9 x 11) = 10th
        // smallest (1) at 0.9 and the 11th (11) at 0.95; the point 15 is 5 from its nearest neighbour.
        var lumpy = Enumerable.Range(0, 10).Select(i => (float)i).Append(20f).ToArray();
        Assert.Equal(1.0, SampleMetrics.OffSupportShare([15f], lumpy, 1, 0.9));
        Assert.Equal(0.0, SampleMetrics.OffSupportShare([15f], lumpy, 1, 0.95));

        var moons = Datasets.Create("moons", 500, 1).Points;
        Assert.Equal(0.0, SampleMetrics.OffSupportShare(moons, moons, 2)); // every point is its own nearest neighbour
        Assert.Equal(1.0, SampleMetrics.OffSupportShare(moons.Select(v => v + 100f).ToArray(), moons, 2));
    }

    [Fact]
    public void OffSupportShareOfASameLawSampleIsAboutOnePercent()
    {
        // By construction about 1 %. One 2,000 vs 2,000 draw scattered from 0.35 % to 1.7 % over five seeds (q rests on the
        // 20 largest reference distances); the mean of eight draws has a standard error near 0.2 %: allow 0.4-1.6 %.
        var shares = Enumerable.Range(0, 8)
            .Select(t => SampleMetrics.OffSupportShare(Datasets.Create("moons", 2000, 20 + t).Points, Datasets.Create("moons", 2000, 10 + t).Points, 2))
            .ToArray();
        Assert.InRange(shares.Average(), 0.004, 0.016);
    }

    [Fact]
    public void BadInputIsAClearError()
    {
        Assert.Throws<ArgumentException>(() => SampleMetrics.OffSupportShare([], [0f, 1f], 1));
        Assert.Throws<ArgumentException>(() => SampleMetrics.OffSupportShare([0f], [1f], 1)); // one reference point has no neighbour
        Assert.Throws<ArgumentException>(() => SampleMetrics.OffSupportShare([0f, 1f, 2f], [0f, 1f, 2f, 3f], 2));
        Assert.Throws<ArgumentException>(() => SampleMetrics.OffSupportShare([0f], [0f, 1f], 1, 1.0));
    }
}
