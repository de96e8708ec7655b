using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Energies;

/// <summary>
/// N(m, S) in double precision: its negative log-density -log N(y; m, S) = |L^-1 (y - m)|^2 / 2 + log det L + (d/2) log 2 pi
/// (S = L L' by Cholesky), its gradient S^-1 (y - m), and exact samples m + L z. Shared by the Gaussian and mixture energies.
/// </summary>
internal sealed class GaussianComponent
{
    private readonly double[] mean;
    private readonly Matrix<double> lower;
    private readonly Matrix<double> precision;
    private readonly double logNormalizer;

    /// <summary>Checks and factors N(mean, covariance).</summary>
    /// <param name="mean">m (d values).</param>
    /// <param name="covariance">S (d x d), symmetric positive definite.</param>
    /// <param name="what">Name used in error messages (for example "covariance" or "covariances[1]").</param>
    /// <exception cref="ArgumentException">Wrong sizes, non-finite values, asymmetry or a matrix that is not positive definite.</exception>
    public GaussianComponent(IReadOnlyList<double> mean, double[,] covariance, string what)
    {
        int d = mean.Count;
        if (covariance.GetLength(0) != d || covariance.GetLength(1) != d)
        {
            throw new ArgumentException($"{what} is {covariance.GetLength(0)} x {covariance.GetLength(1)} but the mean has {d} values");
        }

        if (mean.Any(v => !double.IsFinite(v)) || covariance.Cast<double>().Any(v => !double.IsFinite(v)))
        {
            throw new ArgumentException($"{what} or its mean holds a value that is not finite");
        }

        var s = Matrix<double>.Build.DenseOfArray(covariance);
        double tolerance = 1e-9 * Math.Max(1, s.Enumerate().Max(Math.Abs));
        for (int a = 0; a < d; a++)
        {
            for (int b = 0; b < a; b++)
            {
                if (Math.Abs(s[a, b] - s[b, a]) > tolerance)
                {
                    throw new ArgumentException($"{what} is not symmetric: [{a}][{b}] = {s[a, b]} but [{b}][{a}] = {s[b, a]}");
                }
            }
        }

        var evd = s.Evd(Symmetricity.Symmetric);
        double smallest = evd.EigenValues.Min(e => e.Real);
        if (!(smallest > 1e-12 * Math.Max(1, evd.EigenValues.Max(e => e.Real))))
        {
            throw new ArgumentException($"{what} is not positive definite (smallest eigenvalue {smallest:G3})");
        }

        this.mean = mean.ToArray();
        lower = s.Cholesky().Factor;
        precision = s.Inverse();
        logNormalizer = (lower.Diagonal().Sum(Math.Log)) + (0.5 * d * Math.Log(2 * Math.PI));
    }

    /// <summary>d.</summary>
    public int Dimension => mean.Length;

    /// <summary>The mean.</summary>
    public IReadOnlyList<double> Mean => mean;

    /// <summary>S^-1, row-major.</summary>
    internal double[] PrecisionRowMajor => precision.ToRowMajorArray();

    /// <summary>log((2 pi)^(d/2) det(S)^(1/2)), the constant of -log N.</summary>
    internal double LogNormalizer => logNormalizer;

    /// <summary>The parameters the mixture kernel reads for these components with these log weights: means [k d],
    /// precisions [k d d], constants log w_j - log normaliser_j [k].</summary>
    internal static double[][] KernelParameters(IReadOnlyList<GaussianComponent> components, IReadOnlyList<double> logWeights) =>
    [
        components.SelectMany(c => c.mean).ToArray(),
        components.SelectMany(c => c.PrecisionRowMajor).ToArray(),
        components.Select((c, j) => logWeights[j] - c.logNormalizer).ToArray(),
    ];

    /// <summary>-log N(y; m, S) at one point, and its gradient into <paramref name="gradient"/> when not empty.</summary>
    /// <param name="y">The point (d values).</param>
    /// <param name="gradient">Output (d values) or empty.</param>
    /// <returns>The negative log-density.</returns>
    public double NegativeLogDensity(ReadOnlySpan<float> y, Span<double> gradient)
    {
        int d = mean.Length;
        Span<double> r = stackalloc double[d];
        for (int k = 0; k < d; k++)
        {
            r[k] = y[k] - mean[k];
        }

        double q = 0;
        for (int a = 0; a < d; a++)
        {
            double pa = 0;
            for (int b = 0; b < d; b++)
            {
                pa += precision[a, b] * r[b];
            }

            q += r[a] * pa;
            if (!gradient.IsEmpty)
            {
                gradient[a] = pa;
            }
        }

        return (0.5 * q) + logNormalizer;
    }

    /// <summary>Writes one exact sample m + L z into <paramref name="output"/>.</summary>
    /// <param name="rng">Generator.</param>
    /// <param name="output">Output (d values).</param>
    public void Sample(Random rng, Span<float> output)
    {
        int d = mean.Length;
        Span<double> z = stackalloc double[d];
        for (int k = 0; k < d; k++)
        {
            z[k] = Normal(rng);
        }

        for (int a = 0; a < d; a++)
        {
            double v = mean[a];
            for (int b = 0; b <= a; b++)
            {
                v += lower[a, b] * z[b];
            }

            output[a] = (float)v;
        }
    }

    /// <summary>A standard normal draw (Box-Muller).</summary>
    /// <param name="rng">Generator.</param>
    /// <returns>The draw.</returns>
    internal static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
