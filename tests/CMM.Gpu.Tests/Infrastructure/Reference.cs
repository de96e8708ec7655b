namespace CMM.Gpu.Tests.Infrastructure;

/// <summary>Naive double-precision reference implementations, written independently of the kernels.</summary>
public static class Reference
{
    public static double[] PairwiseCost(float[] x, float[] y, int d, bool halfSquared)
    {
        int n = x.Length / d, m = y.Length / d;
        var c = new double[n * m];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++)
                {
                    double diff = (double)x[i * d + k] - y[j * d + k];
                    s += diff * diff;
                }

                c[i * m + j] = halfSquared ? 0.5 * s : Math.Sqrt(s);
            }
        }

        return c;
    }
}

/// <summary>Magnitude-scaled comparisons: |a - b| &lt;= atol + rtol * max(|a|, |b|), NaN never equal.</summary>
public static class Approx
{
    public static void Equal(double expected, double actual, double atol, double rtol, string what = "value")
    {
        if (double.IsNaN(expected) || double.IsNaN(actual) || double.IsInfinity(expected) != double.IsInfinity(actual))
        {
            Assert.Fail($"{what}: expected {expected}, got {actual}");
        }

        if (double.IsInfinity(expected))
        {
            Assert.Equal(expected, actual);
            return;
        }

        double tol = atol + rtol * Math.Max(Math.Abs(expected), Math.Abs(actual));
        if (Math.Abs(expected - actual) > tol)
        {
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R} (|diff| {Math.Abs(expected - actual):E3} > tol {tol:E3})");
        }
    }

    public static void AllEqual(IReadOnlyList<double> expected, IReadOnlyList<float> actual, double atol, double rtol, string what = "element") =>
        AllEqual(expected, actual.Select(v => (double)v).ToArray(), atol, rtol, what);

    public static void AllEqual(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double atol, double rtol, string what = "element")
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Equal(expected[i], actual[i], atol, rtol, $"{what}[{i}]");
        }
    }
}

public static class TestData
{
    /// <summary>Standard normal values from a seeded generator.</summary>
    public static float[] Normal(int count, int seed, double scale = 1.0, double shift = 0.0)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(shift + scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return a;
    }
}
