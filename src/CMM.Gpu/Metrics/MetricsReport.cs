using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CMM.Gpu.Metrics;

/// <summary>
/// Sample-quality metrics of generated samples against held-out data, each distribution metric with its
/// noise floor (docs/metrics.md). Null means "not computed" (e.g. W1 when d &gt; 1). Printable as a table
/// (<see cref="ToTable"/>) and serialisable as snake_case JSON (<see cref="ToJson"/>).
/// </summary>
public sealed record MetricsReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Name of the data, if given.</summary>
    public string? Data { get; init; }

    /// <summary>d.</summary>
    public int Dimension { get; init; }

    /// <summary>Number of generated points.</summary>
    public int GeneratedCount { get; init; }

    /// <summary>Number of held-out points.</summary>
    public int HeldOutCount { get; init; }

    /// <summary>Points per sample in each distribution metric and its noise floor.</summary>
    public int ComparedCount { get; init; }

    /// <summary>Number of held-out splits each distribution metric and its noise floor are averaged over (1 in reports written before splits were averaged).</summary>
    public int Splits { get; init; } = 1;

    /// <summary>Energy distance (V-statistic) generated vs held-out half B.</summary>
    public double EnergyDistance { get; init; }

    /// <summary>Energy distance between held-out halves A and B.</summary>
    public double EnergyDistanceNoiseFloor { get; init; }

    /// <summary>Debiased Sinkhorn divergence generated vs held-out half B, when a solver was given.</summary>
    public double? SinkhornDivergence { get; init; }

    /// <summary>Debiased Sinkhorn divergence between held-out halves.</summary>
    public double? SinkhornDivergenceNoiseFloor { get; init; }

    /// <summary>k-NN precision (k = 3): share of generated points inside the held-out half B's k-NN manifold (<see cref="SampleMetrics.ManifoldCoverage"/>).</summary>
    public double? Precision { get; init; }

    /// <summary>The same between held-out halves A and B (the value a perfect model reaches, up to noise).</summary>
    public double? PrecisionNoiseFloor { get; init; }

    /// <summary>k-NN recall (k = 3): share of held-out half B inside the generated points' k-NN manifold.</summary>
    public double? Recall { get; init; }

    /// <summary>The same between held-out halves.</summary>
    public double? RecallNoiseFloor { get; init; }

    /// <summary>Exact 1-D Wasserstein-1 generated vs held-out half B (d = 1 only).</summary>
    public double? Wasserstein1 { get; init; }

    /// <summary>Wasserstein-1 between held-out halves (d = 1 only).</summary>
    public double? Wasserstein1NoiseFloor { get; init; }

    /// <summary>
    /// Off-support share: the share of generated points whose nearest neighbour in held-out half B is farther than the
    /// 99th percentile of B's own nearest-neighbour distances (<see cref="SampleMetrics.OffSupportShare"/>).
    /// </summary>
    public double? OffSupportShare { get; init; }

    /// <summary>The same for held-out half A against B: about 1 % by construction.</summary>
    public double? OffSupportShareNoiseFloor { get; init; }

    /// <summary>Share of generated and held-out points per known mode and in the gap (built-in datasets with modes), else null.</summary>
    public ModeCoverageReport? ModeCoverage { get; init; }

    /// <summary>Classifier two-sample test (<see cref="ClassifierTwoSampleTest"/>): held-out accuracy of a quadratic logistic
    /// regression telling generated from held-out points; 0.5 = indistinguishable, 1 = separated (null below 8 points).</summary>
    public double? ClassifierAccuracy { get; init; }

    /// <summary>The same between the two held-out halves (about 0.5 plus its sampling noise).</summary>
    public double? ClassifierAccuracyNoiseFloor { get; init; }

    /// <summary>Share of generated points that are near-copies of a training point (<see cref="SampleMetrics.NearCopyShare"/>),
    /// when the training points were given, else null.</summary>
    public double? NearCopyShare { get; init; }

    /// <summary>The same share for the held-out points (what fresh data of the same law score).</summary>
    public double? NearCopyShareNoiseFloor { get; init; }

    /// <summary>The near-copy distance: a quarter of the median distance from a held-out point to its nearest training point.</summary>
    public double? NearCopyDistance { get; init; }

    /// <summary>Class balance of the generated points (labelled training points given), else null.</summary>
    public ClassBalanceReport? ClassBalance { get; init; }

    /// <summary>What was done to the generated samples before they were compared (for example flooring the samples of a
    /// model of dequantised integer data), or null when nothing was.</summary>
    public string? SampleTreatment { get; init; }

    /// <summary>||mean(generated) - reference mean||_2.</summary>
    public double MeanError { get; init; }

    /// <summary>||Cov(generated) - reference covariance||_F / ||reference||_F.</summary>
    public double CovarianceError { get; init; }

    /// <summary>"truth" when the true moments were given, otherwise "held_out".</summary>
    public string MomentsReference { get; init; } = "held_out";

    /// <summary>Mean over points of the Hessian relative error (Gaussian targets; filled by the caller).</summary>
    public double? HessianRelativeError { get; init; }

    /// <summary>Largest per-point Hessian relative error.</summary>
    public double? HessianRelativeErrorMax { get; init; }

    /// <summary>Relative L2 error of grad w against the closed form (Gaussian targets; filled by the caller).</summary>
    public double? GradientRelativeError { get; init; }

    /// <summary>Held-out mean log-likelihood of the model, mean of log q(y) over the held-out points, in nats per point
    /// (docs/density.md); null when not computed (d above the exact log-density's limit, too few latents).</summary>
    public double? LogLikelihood { get; init; }

    /// <summary>Standard error of <see cref="LogLikelihood"/>: sd / sqrt(n) and the log Z estimate's error, in quadrature.</summary>
    public double? LogLikelihoodStandardError { get; init; }

    /// <summary>Held-out points where the model's log-density was undefined and left out of the mean (should be 0).</summary>
    public int? LogLikelihoodUndefinedPoints { get; init; }

    /// <summary>The same for a Gaussian fitted to the held-out data, cross-fitted on halves (each half scored by the Gaussian fitted
    /// on the other half).</summary>
    public double? GaussianLogLikelihood { get; init; }

    /// <summary>Standard error of <see cref="GaussianLogLikelihood"/> (sd / sqrt(n)).</summary>
    public double? GaussianLogLikelihoodStandardError { get; init; }

    /// <summary>The importance-sampling estimate of log Z of the latent potential used for <see cref="LogLikelihood"/>.</summary>
    public double? LogNormalizer { get; init; }

    /// <summary>Standard error of <see cref="LogNormalizer"/>.</summary>
    public double? LogNormalizerStandardError { get; init; }

    /// <summary>Effective sample size of the log Z estimate over its proposal draws (1 perfect; below 0.01 not to be trusted).</summary>
    public double? LogNormalizerEffectiveSampleFraction { get; init; }

    /// <summary>Serialises the report as indented snake_case JSON (nulls kept, so the schema is stable).</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a report written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The report.</returns>
    public static MetricsReport FromJson(string json) =>
        JsonSerializer.Deserialize<MetricsReport>(json, Json) ?? throw new JsonException("metrics report JSON is null");

    /// <summary>A plain-text table: metric, value, noise floor and value / floor.</summary>
    /// <returns>The table, one row per computed metric.</returns>
    public string ToTable()
    {
        var rows = new List<(string Name, double Value, double? Floor)>
        {
            ("energy distance", EnergyDistance, EnergyDistanceNoiseFloor),
        };
        if (SinkhornDivergence is { } s)
        {
            rows.Add(("Sinkhorn divergence", s, SinkhornDivergenceNoiseFloor));
        }

        if (Wasserstein1 is { } w)
        {
            rows.Add(("Wasserstein-1", w, Wasserstein1NoiseFloor));
        }

        if (Precision is { } pr)
        {
            rows.Add(("k-NN precision (k = 3; ratio < 1 bad)", pr, PrecisionNoiseFloor));
        }

        if (Recall is { } rc)
        {
            rows.Add(("k-NN recall (k = 3; ratio < 1 bad)", rc, RecallNoiseFloor));
        }

        if (OffSupportShare is { } os)
        {
            rows.Add(("off-support share (NN beyond held-out 99th pct)", os, OffSupportShareNoiseFloor));
        }

        if (ClassifierAccuracy is { } ca)
        {
            rows.Add(("classifier two-sample accuracy (0.5 best)", ca, ClassifierAccuracyNoiseFloor));
        }

        if (NearCopyShare is { } nc)
        {
            rows.Add(($"near-copy share (NN in training set < {NearCopyDistance ?? double.NaN:G3})", nc, NearCopyShareNoiseFloor));
        }

        rows.Add(($"mean error (vs {MomentsReference.Replace('_', '-')})", MeanError, null));
        rows.Add(($"covariance rel. error (vs {MomentsReference.Replace('_', '-')})", CovarianceError, null));
        if (HessianRelativeError is { } h)
        {
            rows.Add(("Hessian rel. error (mean)", h, null));
        }

        if (HessianRelativeErrorMax is { } hm)
        {
            rows.Add(("Hessian rel. error (max)", hm, null));
        }

        if (GradientRelativeError is { } g)
        {
            rows.Add(("grad w rel. error", g, null));
        }

        var ci = CultureInfo.InvariantCulture;
        int w0 = Math.Max("metric".Length, rows.Max(r => r.Name.Length));
        var sb = new StringBuilder();
        sb.Append(ci, $"data: {Data ?? "(unnamed)"}, d = {Dimension}, generated {GeneratedCount}, held-out {HeldOutCount}, compared {ComparedCount} vs {ComparedCount}{(Splits > 1 ? $", mean of {Splits} splits" : "")}\n");
        if (SampleTreatment is { } treatment)
        {
            sb.Append(ci, $"({treatment})\n");
        }

        sb.Append(ci, $"{"metric".PadRight(w0)}  {"value",12}  {"noise floor",12}  {"ratio",8}\n");
        sb.Append(new string('-', w0 + 38)).Append('\n');
        foreach (var (name, value, floor) in rows)
        {
            string f = floor is { } fl ? fl.ToString("G5", ci) : "-";
            string r = floor is { } fr && fr > 0 ? (value / fr).ToString("F2", ci) : "-";
            sb.Append(ci, $"{name.PadRight(w0)}  {value.ToString("G5", ci),12}  {f,12}  {r,8}\n");
        }

        if (ModeCoverage is { } modes)
        {
            sb.Append('\n').Append(modes.ToTable());
        }

        if (ClassBalance is { } balance)
        {
            sb.Append('\n').Append(balance.ToTable());
        }

        if (LogLikelihood is { } ll)
        {
            sb.Append("\nheld-out mean log-likelihood, nats per point (higher is better; Gaussian cross-fitted on held-out halves):\n");
            sb.Append(ci, $"  model     {ll,12:G5} +- {LogLikelihoodStandardError ?? double.NaN:G3}");
            sb.Append(ci, $"  (log Z {LogNormalizer ?? double.NaN:G5} +- {LogNormalizerStandardError ?? double.NaN:G3}, ESS {LogNormalizerEffectiveSampleFraction ?? double.NaN:P1} of the proposal draws");
            sb.Append(LogLikelihoodUndefinedPoints is > 0 and var u ? string.Create(ci, $"; undefined at {u} points)\n") : ")\n");
            sb.Append(GaussianLogLikelihood is { } gl
                ? string.Create(ci, $"  Gaussian  {gl,12:G5} +- {GaussianLogLikelihoodStandardError ?? double.NaN:G3}\n")
                : "  Gaussian  (not computed: too few held-out points for a covariance)\n");
        }

        return sb.ToString();
    }
}
