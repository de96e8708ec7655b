using CMM.Gpu.Fitting;
using CMM.Gpu.Metrics;

namespace CMM.Gpu.Density;

/// <summary>
/// The held-out mean log-likelihood of a model beside that of a Gaussian baseline, in nats per point (docs/density.md).
/// </summary>
/// <param name="Mean">Mean of log q(y_i) over the held-out points where it is defined.</param>
/// <param name="StandardError">Its standard error: the sampling error of the mean, sd / sqrt(n), and the log Z estimate's
/// standard error combined in quadrature (log Z shifts every point by the same amount).</param>
/// <param name="Undefined">Held-out points where log q was undefined (left out of the mean; should be 0).</param>
/// <param name="GaussianMean">Mean log-density of a Gaussian fitted to the held-out data, cross-fitted: the points are split
/// (seeded) into halves A and B, the Gaussian fitted on A scores B and the one fitted on B scores A, so every point is
/// scored out of sample. Null when a half has fewer than d + 1 points or a degenerate covariance.</param>
/// <param name="GaussianStandardError">sd / sqrt(n) of the Gaussian's per-point log-densities.</param>
/// <param name="LogNormalizer">The log Z estimate used.</param>
public sealed record HeldOutLikelihoodResult(double Mean, double StandardError, int Undefined, double? GaussianMean, double? GaussianStandardError,
    LogNormalizerEstimate LogNormalizer);

/// <summary>Held-out log-likelihood of a fitted model against a cross-fitted Gaussian baseline.</summary>
public static class HeldOutLikelihood
{
    /// <summary>
    /// Scores <paramref name="heldOut"/> (data coordinates) under the model, with log Z estimated from
    /// <paramref name="latents"/> (samples of exp(-w) in fitting coordinates, e.g. those <see cref="ModelEvaluation.Generate"/> returns),
    /// and under the cross-fitted Gaussian baseline. Null when the model's dimension exceeds <see cref="ModelDensity.MaxDimension"/>,
    /// when there are fewer than d + 1 latents or a non-finite one, or when no held-out point has a defined density.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="heldOut">Held-out points, row-major [n, d], data coordinates.</param>
    /// <param name="latents">Latent samples, row-major, fitting coordinates.</param>
    /// <param name="seed">Seed of the log Z proposal and of the baseline's split.</param>
    /// <returns>The result, or null when it cannot be computed.</returns>
    public static HeldOutLikelihoodResult? Evaluate(FittedModel model, float[] heldOut, float[] latents, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(heldOut);
        ArgumentNullException.ThrowIfNull(latents);
        int d = model.Dimension;
        if (d > ModelDensity.MaxDimension || latents.Length % d != 0 || latents.Length / d < d + 1 || heldOut.Length % d != 0 || heldOut.Length == 0
            || !Array.TrueForAll(latents, float.IsFinite))
        {
            return null;
        }

        using var density = ModelDensity.For(model);
        var logZ = density.EstimateLogNormalizer(latents, new LogNormalizerOptions { Seed = seed });
        if (!double.IsFinite(logZ.LogZ))
        {
            return null;
        }

        var values = density.LogDensity(heldOut, logZ);
        var defined = values.Values.Where(double.IsFinite).ToArray();
        if (defined.Length == 0)
        {
            return null;
        }

        var (mean, se) = MeanAndStandardError(defined);
        var gaussian = CrossFittedGaussian(heldOut, d, seed);
        (double, double)? g = gaussian is null ? null : MeanAndStandardError(gaussian);
        return new HeldOutLikelihoodResult(mean, Math.Sqrt((se * se) + (logZ.StandardError * logZ.StandardError)), values.Undefined,
            g?.Item1, g?.Item2, logZ);
    }

    /// <summary>The report with the held-out log-likelihood fields filled (left null when <see cref="Evaluate"/> gives null).</summary>
    internal static MetricsReport AddTo(MetricsReport report, FittedModel model, float[] heldOut, float[] latents, int seed)
    {
        var r = Evaluate(model, heldOut, latents, seed);
        return r is null ? report : report with
        {
            LogLikelihood = r.Mean,
            LogLikelihoodStandardError = r.StandardError,
            LogLikelihoodUndefinedPoints = r.Undefined,
            GaussianLogLikelihood = r.GaussianMean,
            GaussianLogLikelihoodStandardError = r.GaussianStandardError,
            LogNormalizer = r.LogNormalizer.LogZ,
            LogNormalizerStandardError = r.LogNormalizer.StandardError,
            LogNormalizerEffectiveSampleFraction = r.LogNormalizer.EffectiveSampleFraction,
        };
    }

    /// <summary>Per-point log-densities of the cross-fitted Gaussian (halves A, B by a seeded permutation), or null.</summary>
    internal static double[]? CrossFittedGaussian(float[] points, int d, int seed)
    {
        int n = points.Length / d;
        int half = n / 2;
        if (half < d + 1 || n - half < d + 1)
        {
            return null;
        }

        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        float[] Rows(int from, int count)
        {
            var r = new float[count * d];
            for (int i = 0; i < count; i++)
            {
                points.AsSpan(order[from + i] * d, d).CopyTo(r.AsSpan(i * d, d));
            }

            return r;
        }

        var a = Rows(0, half);
        var b = Rows(half, n - half);
        var (ma, ca) = GaussianFit.Fit(a, d, "held-out half A");
        var (mb, cb) = GaussianFit.Fit(b, d, "held-out half B");
        var onB = GaussianFit.LogDensities(ma, ca, b);
        var onA = GaussianFit.LogDensities(mb, cb, a);
        return onA is null || onB is null ? null : [.. onA, .. onB];
    }

    private static (double Mean, double StandardError) MeanAndStandardError(double[] v)
    {
        double mean = v.Average();
        if (v.Length < 2)
        {
            return (mean, double.NaN);
        }

        double ss = v.Sum(x => (x - mean) * (x - mean));
        return (mean, Math.Sqrt(ss / (v.Length - 1) / v.Length));
    }
}
