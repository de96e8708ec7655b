using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Density;

/// <summary>
/// A Gaussian fitted to row-major points by their mean and unbiased covariance (double accumulation): the proposal of
/// <see cref="LogNormalizer"/> and the Gaussian baseline of the held-out likelihood.
/// </summary>
internal static class GaussianFit
{
    /// <summary>Mean and unbiased covariance of n points [n, d]; n must be at least d + 1 and the points finite.</summary>
    public static (double[] Mean, double[,] Covariance) Fit(ReadOnlySpan<float> points, int d, string paramName)
    {
        if (points.Length == 0 || points.Length % d != 0)
        {
            throw new ArgumentException($"{paramName} must hold a positive multiple of d = {d} values (got {points.Length})", paramName);
        }

        int n = points.Length / d;
        if (n < d + 1)
        {
            throw new ArgumentException($"{paramName}: {n} points cannot fit a covariance in d = {d}; give at least d + 1 = {d + 1}", paramName);
        }

        var mean = new double[d];
        for (int i = 0; i < points.Length; i++)
        {
            if (!float.IsFinite(points[i]))
            {
                throw new ArgumentException($"{paramName}[{i / d}, {i % d}] is {points[i]}; the points must be finite", paramName);
            }

            mean[i % d] += points[i];
        }

        for (int k = 0; k < d; k++)
        {
            mean[k] /= n;
        }

        var cov = new double[d, d];
        var c = new double[d];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                c[k] = points[(i * d) + k] - mean[k];
            }

            for (int r = 0; r < d; r++)
            {
                for (int k = 0; k <= r; k++)
                {
                    cov[r, k] += c[r] * c[k];
                }
            }
        }

        for (int r = 0; r < d; r++)
        {
            for (int k = 0; k <= r; k++)
            {
                cov[r, k] /= n - 1;
                cov[k, r] = cov[r, k];
            }
        }

        return (mean, cov);
    }

    /// <summary>
    /// log N(y_i; mean, covariance) for every row of <paramref name="points"/>; null when the covariance is not
    /// numerically positive definite (e.g. points on a line).
    /// </summary>
    public static double[]? LogDensities(double[] mean, double[,] covariance, ReadOnlySpan<float> points)
    {
        int d = mean.Length;
        Matrix<double> l;
        try
        {
            l = Matrix<double>.Build.DenseOfArray(covariance).Cholesky().Factor;
        }
        catch (ArgumentException)
        {
            return null;
        }

        double logDet = LogDeterminant(l);
        if (!double.IsFinite(logDet))
        {
            return null;
        }

        double constant = (-0.5 * d * Math.Log(2 * Math.PI)) - (0.5 * logDet);
        int n = points.Length / d;
        var result = new double[n];
        var u = new double[d];
        for (int i = 0; i < n; i++)
        {
            result[i] = constant - (0.5 * SquaredMahalanobis(l, mean, points.Slice(i * d, d), u));
        }

        return result;
    }

    /// <summary>log det (L L') = 2 sum_k log L[k, k] for a Cholesky factor L.</summary>
    public static double LogDeterminant(Matrix<double> l)
    {
        double logDet = 0;
        for (int k = 0; k < l.RowCount; k++)
        {
            logDet += 2 * Math.Log(l[k, k]);
        }

        return logDet;
    }

    /// <summary>|L^-1 (x - mean)|^2 by forward substitution (<paramref name="scratch"/> of length d receives L^-1 (x - mean)).</summary>
    public static double SquaredMahalanobis(Matrix<double> l, IReadOnlyList<double> mean, ReadOnlySpan<float> x, double[] scratch)
    {
        double delta = 0;
        for (int r = 0; r < mean.Count; r++)
        {
            double t = x[r] - mean[r];
            for (int k = 0; k < r; k++)
            {
                t -= l[r, k] * scratch[k];
            }

            scratch[r] = t / l[r, r];
            delta += scratch[r] * scratch[r];
        }

        return delta;
    }
}
