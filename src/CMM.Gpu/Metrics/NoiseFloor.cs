namespace CMM.Gpu.Metrics;

/// <summary>
/// The noise floor of a sample metric: its value between two samples of the SAME law, so that a fit's
/// metric can be read as "k times the noise floor". Compare at equal sample sizes: most estimators are
/// biased by O(1/n).
/// </summary>
public static class NoiseFloor
{
    /// <summary>Splits points into two disjoint halves of floor(n/2) points each by a seeded random permutation.</summary>
    /// <param name="points">Row-major [n, d], n &gt;= 2.</param>
    /// <param name="dimension">d.</param>
    /// <param name="seed">Permutation seed.</param>
    /// <returns>The two halves (an odd last point is dropped).</returns>
    public static (float[] First, float[] Second) Split(float[] points, int dimension, int seed)
    {
        int n = SampleMetrics.Rows(points, dimension, nameof(points));
        if (n < 2)
        {
            throw new ArgumentException("splitting needs at least 2 points", nameof(points));
        }

        var perm = Permutation(n, seed);
        int h = n / 2;
        return (Gather(points, dimension, perm, 0, h), Gather(points, dimension, perm, h, h));
    }

    /// <summary>The metric between the two halves of held-out data (see <see cref="Split"/>).</summary>
    /// <param name="heldOut">Row-major [n, d], n &gt;= 2.</param>
    /// <param name="dimension">d.</param>
    /// <param name="metric">The metric.</param>
    /// <param name="seed">Permutation seed.</param>
    /// <returns>metric(first half, second half), each of floor(n/2) points.</returns>
    public static double BetweenHalves(float[] heldOut, int dimension, SampleDivergence metric, int seed)
    {
        ArgumentNullException.ThrowIfNull(metric);
        var (a, b) = Split(heldOut, dimension, seed);
        return metric(a, b, dimension);
    }

    /// <summary>The metric between two independent target samples of size n each.</summary>
    /// <param name="sample">Sampler: <c>sample(n, seed)</c> returns n points row-major (e.g. <c>DatasetTruth.Sample</c>).</param>
    /// <param name="n">Points per sample.</param>
    /// <param name="dimension">d.</param>
    /// <param name="metric">The metric.</param>
    /// <param name="seed">Seeds seed and seed + 1 are used.</param>
    /// <returns>metric(sample(n, seed), sample(n, seed + 1)).</returns>
    public static double BetweenSamples(Func<int, int, float[]> sample, int n, int dimension, SampleDivergence metric, int seed)
    {
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentNullException.ThrowIfNull(metric);
        return metric(sample(n, seed), sample(n, unchecked(seed + 1)), dimension);
    }

    internal static int[] Permutation(int n, int seed)
    {
        var perm = new int[n];
        for (int i = 0; i < n; i++)
        {
            perm[i] = i;
        }

        new Random(seed).Shuffle(perm);
        return perm;
    }

    internal static float[] Gather(float[] points, int d, int[] perm, int start, int count)
    {
        var r = new float[count * d];
        for (int i = 0; i < count; i++)
        {
            Array.Copy(points, perm[start + i] * d, r, i * d, d);
        }

        return r;
    }
}
