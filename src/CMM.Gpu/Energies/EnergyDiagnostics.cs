using System.Globalization;
using System.Text;
using CMM.Gpu.Density;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Energies;

/// <summary>
/// How well a model fitted to an energy matches it (docs/cmfma.md), from n of its samples y_i with their exact log-density
/// log q(y_i): the log importance weights a_i = -V(y_i) - log q(y_i), their effective sample size
/// (sum e^a)^2 / (n sum e^2a), the estimate log Z_V = log mean e^a of log of the integral of exp(-V) with its standard error
/// (delta method, and the model's own log Z estimate's error in quadrature), the variance of the Monge-Ampere residual
/// r_i = -log q(y_i) - V(y_i) (0 for a perfect fit), and for mixtures the share of samples in each mode, as drawn and as
/// reweighted.
/// </summary>
public sealed record EnergyDiagnostics
{
    /// <summary>Samples the diagnostics use.</summary>
    public int Samples { get; init; }

    /// <summary>Effective sample size of the importance weights as a fraction of <see cref="Samples"/> (1: the model is the target).</summary>
    public double EffectiveSampleFraction { get; init; }

    /// <summary>The estimate of log of the integral of exp(-V).</summary>
    public double LogNormalizer { get; init; }

    /// <summary>Its standard error.</summary>
    public double LogNormalizerStandardError { get; init; }

    /// <summary>The true value when the energy knows it (0 for the normalised built-ins), else null.</summary>
    public double? TrueLogNormalizer { get; init; }

    /// <summary>Variance of the residual over the samples (0 when the model's density is proportional to exp(-V)).</summary>
    public double ResidualVariance { get; init; }

    /// <summary>Samples whose log-density or energy was not finite (left out; should be 0).</summary>
    public int Undefined { get; init; }

    /// <summary>Share of the samples nearest each mode (mixtures), else null.</summary>
    public IReadOnlyList<double>? ModeWeights { get; init; }

    /// <summary>The same with importance weights (what the reweighted samples give), else null.</summary>
    public IReadOnlyList<double>? ReweightedModeWeights { get; init; }

    /// <summary>The mixture's own weights, else null.</summary>
    public IReadOnlyList<double>? TrueModeWeights { get; init; }

    /// <summary>Points at which the fit evaluated V (its cost, to compare with MALA at the same number of evaluations): the
    /// start's search and every iteration's points, not these diagnostics. Null when unknown (a resumed fit, or diagnostics
    /// computed outside <see cref="CmmModel.FitEnergy"/>).</summary>
    public long? FitEnergyEvaluations { get; init; }

    /// <summary>Computes the diagnostics from <paramref name="count"/> samples of <paramref name="model"/>.</summary>
    /// <param name="model">A CMM model (d at most <see cref="ModelDensity.MaxDimension"/>).</param>
    /// <param name="energy">The energy it was fitted to.</param>
    /// <param name="count">Samples, at least 16.</param>
    /// <param name="seed">Seed of the sampling.</param>
    /// <returns>The diagnostics.</returns>
    /// <exception cref="ArgumentException">Dimensions that differ or too few samples.</exception>
    public static EnergyDiagnostics Evaluate(FittedModel model, IEnergy energy, int count = 4096, ulong seed = 0) =>
        Compute(model, energy, count, seed).Diagnostics;

    /// <summary>
    /// The diagnostics, and the moments of the model's samples, as drawn and as reweighted, against reference draws of the
    /// target (exact samples, or a long MALA run for a posterior): for each coordinate the error of the mean and of the
    /// standard deviation in units of the reference's standard deviation, the largest over the coordinates.
    /// </summary>
    /// <param name="model">A CMM model (d at most <see cref="ModelDensity.MaxDimension"/>).</param>
    /// <param name="energy">The energy it was fitted to.</param>
    /// <param name="reference">Draws of the target, row-major [m, d], m &gt;= 2.</param>
    /// <param name="count">Model samples, at least 16.</param>
    /// <param name="seed">Seed of the sampling.</param>
    /// <returns>The diagnostics and the moment errors.</returns>
    /// <exception cref="ArgumentException">Dimensions that differ or too few samples.</exception>
    public static EnergyComparison Compare(FittedModel model, IEnergy energy, ReadOnlySpan<float> reference, int count = 4096, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        int d = model.Dimension;
        if (reference.Length % d != 0 || reference.Length / d < 2)
        {
            throw new ArgumentException($"the reference needs at least 2 draws of dimension {d}", nameof(reference));
        }

        var (diagnostics, samples, logWeights) = Compute(model, energy, count, seed);
        var (refMean, refSd) = Moments(reference, d, null);
        double max = logWeights.Max();
        var weights = logWeights.Select(a => Math.Exp(a - max)).ToArray();
        return new EnergyComparison(diagnostics, Errors(Moments(samples, d, null), refMean, refSd), Errors(Moments(samples, d, weights), refMean, refSd));
    }

    /// <summary>Largest |mean - reference mean| / reference sd and |sd - reference sd| / reference sd over the coordinates.</summary>
    internal static MomentErrors Errors((double[] Mean, double[] Sd) moments, double[] refMean, double[] refSd)
    {
        double meanError = 0, sdError = 0;
        for (int k = 0; k < refMean.Length; k++)
        {
            meanError = Math.Max(meanError, Math.Abs(moments.Mean[k] - refMean[k]) / refSd[k]);
            sdError = Math.Max(sdError, Math.Abs(moments.Sd[k] - refSd[k]) / refSd[k]);
        }

        return new MomentErrors(meanError, sdError);
    }

    /// <summary>Weighted means and standard deviations of each coordinate (weights null: equal).</summary>
    internal static (double[] Mean, double[] Sd) Moments(ReadOnlySpan<float> points, int d, double[]? weights)
    {
        int n = points.Length / d;
        var mean = new double[d];
        var sd = new double[d];
        double total = weights?.Sum() ?? n;
        for (int i = 0; i < n; i++)
        {
            double w = weights?[i] ?? 1;
            for (int k = 0; k < d; k++)
            {
                mean[k] += w * points[(i * d) + k];
            }
        }

        for (int k = 0; k < d; k++)
        {
            mean[k] /= total;
        }

        for (int i = 0; i < n; i++)
        {
            double w = weights?[i] ?? 1;
            for (int k = 0; k < d; k++)
            {
                double c = points[(i * d) + k] - mean[k];
                sd[k] += w * c * c;
            }
        }

        for (int k = 0; k < d; k++)
        {
            sd[k] = Math.Sqrt(sd[k] / total);
        }

        return (mean, sd);
    }

    /// <summary>The diagnostics with the samples they kept (finite log-density and energy) and their log weights.</summary>
    private static (EnergyDiagnostics Diagnostics, float[] Samples, double[] LogWeights) Compute(FittedModel model, IEnergy energy, int count, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(energy);
        if (energy.Dimension != model.Dimension || count < 16)
        {
            throw new ArgumentException($"need at least 16 samples and an energy of the model's dimension (got {count}, d = {energy.Dimension} against {model.Dimension})");
        }

        var (samples, latents, _) = ModelEvaluation.Generate(model, count, seed);
        using var density = ModelDensity.For(model);
        var logZw = density.EstimateLogNormalizer(latents);
        var logq = density.LogDensity(samples, logZw).Values;
        var v = new double[count];
        energy.Evaluate(samples, v, default);
        var a = new List<double>(count);
        var r = new List<double>(count);
        var kept = new List<int>(count);
        for (int i = 0; i < count; i++)
        {
            if (double.IsFinite(logq[i]) && double.IsFinite(v[i]))
            {
                a.Add(-v[i] - logq[i]);
                r.Add(-(logq[i] + logZw.LogZ) - v[i]);
                kept.Add(i);
            }
        }

        int n = a.Count;
        double max = a.Max();
        var w = a.Select(x => Math.Exp(x - max)).ToArray();
        double sw = w.Sum(), meanW = sw / n;
        double varW = w.Sum(x => (x - meanW) * (x - meanW)) / Math.Max(1, n - 1);
        double seIs = Math.Sqrt(varW / n) / meanW;
        double meanR = r.Average();
        var report = new EnergyDiagnostics
        {
            Samples = count,
            Undefined = count - n,
            EffectiveSampleFraction = EffectiveSampleFractionOf(a),
            LogNormalizer = LogMeanExp(a),
            LogNormalizerStandardError = Math.Sqrt((seIs * seIs) + (logZw.StandardError * logZw.StandardError)),
            TrueLogNormalizer = energy.LogNormalizer,
            ResidualVariance = r.Sum(x => (x - meanR) * (x - meanR)) / n,
        };
        int dim = model.Dimension;
        var keptPoints = new float[n * dim];
        for (int j = 0; j < n; j++)
        {
            samples.AsSpan(kept[j] * dim, dim).CopyTo(keptPoints.AsSpan(j * dim, dim));
        }

        if (energy is IModalEnergy modal)
        {
            int k = modal.ModeWeights.Count;
            var modes = modal.AssignModes(keptPoints);
            var raw = new double[k];
            var reweighted = new double[k];
            for (int j = 0; j < n; j++)
            {
                raw[modes[j]] += 1.0 / n;
                reweighted[modes[j]] += w[j] / sw;
            }

            report = report with { ModeWeights = raw, ReweightedModeWeights = reweighted, TrueModeWeights = modal.ModeWeights };
        }

        return (report, keptPoints, a.ToArray());
    }

    /// <summary>log mean_i exp(a_i), shifted by the maximum (the log normaliser estimate from log weights).</summary>
    /// <param name="logWeights">a_i, not empty.</param>
    /// <returns>The value.</returns>
    public static double LogMeanExp(IReadOnlyList<double> logWeights)
    {
        ArgumentNullException.ThrowIfNull(logWeights);
        double max = logWeights.Max();
        return max + Math.Log(logWeights.Average(x => Math.Exp(x - max)));
    }

    /// <summary>The effective sample size of importance weights e^(a_i) as a fraction of their number: (sum e^a)^2 / (n sum e^2a).</summary>
    /// <param name="logWeights">a_i, not empty.</param>
    /// <returns>A value in (0, 1].</returns>
    public static double EffectiveSampleFractionOf(IReadOnlyList<double> logWeights)
    {
        ArgumentNullException.ThrowIfNull(logWeights);
        double max = logWeights.Max(), s = 0, s2 = 0;
        foreach (var x in logWeights)
        {
            double w = Math.Exp(x - max);
            s += w;
            s2 += w * w;
        }

        return s * s / (logWeights.Count * s2);
    }

    /// <summary>The diagnostics as model metadata (keys cmfma_*).</summary>
    /// <returns>Key/value pairs.</returns>
    public IReadOnlyList<KeyValuePair<string, string>> ToKeyValues()
    {
        string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        var pairs = new List<KeyValuePair<string, string>>
        {
            new("cmfma_samples", Samples.ToString(CultureInfo.InvariantCulture)),
            new("cmfma_ess_fraction", F(EffectiveSampleFraction)),
            new("cmfma_log_normalizer", F(LogNormalizer)),
            new("cmfma_log_normalizer_se", F(LogNormalizerStandardError)),
            new("cmfma_residual_variance", F(ResidualVariance)),
        };
        if (FitEnergyEvaluations is { } evaluations)
        {
            pairs.Add(new("cmfma_fit_energy_evaluations", evaluations.ToString(CultureInfo.InvariantCulture)));
        }

        if (ModeWeights is not null)
        {
            pairs.Add(new("cmfma_mode_weights", string.Join(",", ModeWeights.Select(F))));
            pairs.Add(new("cmfma_reweighted_mode_weights", string.Join(",", ReweightedModeWeights!.Select(F))));
        }

        return pairs;
    }

    /// <summary>A few lines for the terminal.</summary>
    /// <returns>The text.</returns>
    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"effective sample size {EffectiveSampleFraction:P1} of {Samples} samples; residual variance {ResidualVariance:G3}\n");
        sb.Append(ci, $"log normaliser {LogNormalizer:F4} +- {LogNormalizerStandardError:F4}");
        sb.Append(TrueLogNormalizer is { } t ? string.Create(ci, $" (true {t:F4})\n") : "\n");
        if (ModeWeights is not null)
        {
            sb.Append("mode weights (samples / reweighted / true): ");
            sb.AppendJoin("; ", ModeWeights.Select((m, j) => string.Create(ci, $"{m:F3} / {ReweightedModeWeights![j]:F3} / {TrueModeWeights![j]:F3}")));
            sb.Append('\n');
        }

        if (FitEnergyEvaluations is { } evaluations)
        {
            sb.Append(ci, $"the fit evaluated the energy at {evaluations} points\n");
        }

        if (Undefined > 0)
        {
            sb.Append(ci, $"{Undefined} samples with an undefined log-density or energy were left out\n");
        }

        return sb.ToString();
    }
}

/// <summary>The largest errors over the coordinates of a sample set's moments against reference draws, in units of the
/// reference's standard deviation of each coordinate.</summary>
/// <param name="MeanError">max_k |mean_k - reference mean_k| / reference sd_k.</param>
/// <param name="SdError">max_k |sd_k - reference sd_k| / reference sd_k.</param>
public sealed record MomentErrors(double MeanError, double SdError);

/// <summary>A model fitted to an energy against reference draws of it (<see cref="EnergyDiagnostics.Compare"/>).</summary>
/// <param name="Diagnostics">ESS, log normaliser, residual variance, mode weights.</param>
/// <param name="Raw">Moment errors of the samples as drawn.</param>
/// <param name="Reweighted">Moment errors of the samples with their self-normalised importance weights.</param>
public sealed record EnergyComparison(EnergyDiagnostics Diagnostics, MomentErrors Raw, MomentErrors Reweighted);
