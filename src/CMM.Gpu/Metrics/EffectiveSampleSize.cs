using System.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace CMM.Gpu.Metrics;

/// <summary>
/// The effective sample size of Markov chains (docs/cmfma.md, "MALA baseline"): for M chains of N draws of one coordinate,
/// the autocovariances of each chain (by FFT), the combined autocorrelation rho_t = 1 - (W - mean_m acov_m(t)) / var+ with
/// W the mean within-chain variance and var+ = (N - 1) / N W + B / N (B / N the variance of the chain means), summed by
/// Geyer's initial monotone sequence: tau = -1 + 2 sum_k P_k, P_k = rho_2k + rho_2k+1 while positive and made
/// non-increasing. ESS = M N / tau. This is the estimator of Stan and of Vehtari et al. (2021), without rank normalisation.
/// </summary>
public static class EffectiveSampleSize
{
    /// <summary>The effective sample size of one coordinate over several chains.</summary>
    /// <param name="chains">M &gt;= 1 chains of the same length N &gt;= 4.</param>
    /// <returns>ESS, between about 0 and M N log10(M N) (it may exceed M N for antithetic chains); 0 when every draw is equal.</returns>
    /// <exception cref="ArgumentException">No chains, chains of different lengths, or fewer than 4 draws.</exception>
    public static double Of(IReadOnlyList<double[]> chains)
    {
        ArgumentNullException.ThrowIfNull(chains);
        int m = chains.Count;
        if (m == 0 || chains[0].Length < 4 || chains.Any(c => c.Length != chains[0].Length))
        {
            throw new ArgumentException("need at least one chain, every chain of the same length of at least 4 draws", nameof(chains));
        }

        int n = chains[0].Length;
        var acov = chains.Select(Autocovariance).ToArray();
        var means = chains.Select(c => c.Average()).ToArray();
        double grand = means.Average();
        double w = acov.Average(a => a[0] * n / (n - 1.0));
        double between = m > 1 ? means.Sum(x => (x - grand) * (x - grand)) / (m - 1) : 0; // B / N
        double varPlus = ((n - 1.0) / n * w) + between;
        if (!(varPlus > 0))
        {
            return 0;
        }

        double Rho(int t) => 1 - ((w - acov.Average(a => a[t])) / varPlus);

        // Geyer's initial monotone positive sequence over pairs (rho_2k, rho_2k+1).
        double sum = 0, previous = double.PositiveInfinity;
        for (int k = 0; (2 * k) + 1 < n; k++)
        {
            double p = Rho(2 * k) + Rho((2 * k) + 1);
            if (!(p > 0))
            {
                break;
            }

            p = Math.Min(p, previous);
            sum += p;
            previous = p;
        }

        double tau = Math.Max(-1 + (2 * sum), 1.0 / Math.Log10(Math.Max(10, m * n)));
        return m * (double)n / tau;
    }

    /// <summary>The effective sample size of each coordinate of chains stored draw by draw.</summary>
    /// <param name="draws">Row-major [M * N, d]: chain m's draw t is row m N + t.</param>
    /// <param name="chains">M.</param>
    /// <param name="dimension">d.</param>
    /// <returns>d effective sample sizes.</returns>
    /// <exception cref="ArgumentException">A length that is not M N d, or fewer than 4 draws per chain.</exception>
    public static double[] PerCoordinate(ReadOnlySpan<float> draws, int chains, int dimension)
    {
        if (chains < 1 || dimension < 1 || draws.Length % (chains * dimension) != 0)
        {
            throw new ArgumentException($"{draws.Length} values are not {chains} chains of points of dimension {dimension}", nameof(draws));
        }

        int n = draws.Length / (chains * dimension);
        var result = new double[dimension];
        for (int k = 0; k < dimension; k++)
        {
            var series = new double[chains][];
            for (int c = 0; c < chains; c++)
            {
                series[c] = new double[n];
                for (int t = 0; t < n; t++)
                {
                    series[c][t] = draws[(((c * n) + t) * dimension) + k];
                }
            }

            result[k] = Of(series);
        }

        return result;
    }

    /// <summary>acov(t) = (1/N) sum_s (x_s - mean)(x_s+t - mean), t = 0..N-1, by FFT of the zero-padded centred series.</summary>
    internal static double[] Autocovariance(double[] x)
    {
        int n = x.Length;
        double mean = x.Average();
        int size = 1;
        while (size < 2 * n)
        {
            size <<= 1;
        }

        var f = new Complex[size];
        for (int i = 0; i < n; i++)
        {
            f[i] = new Complex(x[i] - mean, 0);
        }

        Fourier.Forward(f, FourierOptions.Matlab);
        for (int i = 0; i < size; i++)
        {
            f[i] = new Complex(f[i].Real * f[i].Real + (f[i].Imaginary * f[i].Imaginary), 0);
        }

        Fourier.Inverse(f, FourierOptions.Matlab);
        var acov = new double[n];
        for (int t = 0; t < n; t++)
        {
            acov[t] = f[t].Real / n;
        }

        return acov;
    }
}
