namespace CMM.Gpu.Metrics;

/// <summary>Options of <see cref="MetricsEvaluator.Evaluate"/>.</summary>
public sealed record MetricsOptions
{
    /// <summary>The defaults.</summary>
    public static MetricsOptions Default { get; } = new();

    /// <summary>
    /// Cap on the points per compared sample for the O(n^2) metrics (energy distance, Sinkhorn, k-NN precision and
    /// recall, off-support share):
    /// each side is a seeded random subsample of at most this many points. Default 2000.
    /// </summary>
    public int MaxPairwisePoints { get; init; } = 2000;

    /// <summary>
    /// Number of independent held-out splits (and generated subsamples) each metric and its noise floor are
    /// averaged over. Default 5: with one split, two samples of the same law gave a W1 ratio above 2 in 5 % of
    /// trials; averaged over 5, in none of 400 (docs/metrics.md).
    /// </summary>
    public int Splits { get; init; } = 5;

    /// <summary>Seed of the held-out split and of the subsampling (split r uses Seed + 2r and Seed + 2r + 1).</summary>
    public int Seed { get; init; } = 12345;

    /// <summary>The debiased Sinkhorn divergence (from the Sinkhorn solver); null skips it.</summary>
    public SampleDivergence? SinkhornDivergence { get; init; }

    /// <summary>The true mean of the target, if known; otherwise the held-out mean is the reference.</summary>
    public IReadOnlyList<double>? TrueMean { get; init; }

    /// <summary>The true covariance (row-major d x d), if known; otherwise the held-out covariance.</summary>
    public IReadOnlyList<double>? TrueCovariance { get; init; }

    /// <summary>
    /// The data's known modes (<see cref="Data.DatasetModes.For"/> for a built-in dataset); null skips the mode
    /// coverage. Its dimension must be the data's.
    /// </summary>
    public Data.ModeStructure? Modes { get; init; }

    /// <summary>The model's training points (row-major, the data's dimension): adds the near-copy share
    /// (<see cref="SampleMetrics.NearCopyShare"/>); null skips it.</summary>
    public float[]? TrainingPoints { get; init; }

    /// <summary>One label per training point: adds the class balance (<see cref="ClassBalanceReport"/>); needs
    /// <see cref="TrainingPoints"/>; null skips it.</summary>
    public IReadOnlyList<int>? TrainingLabels { get; init; }

    /// <summary>One label per held-out point: adds the class-balance classifier's held-out accuracy; needs
    /// <see cref="TrainingLabels"/>.</summary>
    public IReadOnlyList<int>? HeldOutLabels { get; init; }

    /// <summary>Name of the data, copied into the report.</summary>
    public string? DataName { get; init; }

    /// <summary>Lists every problem, each with its fix (empty when valid).</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (MaxPairwisePoints < 2)
        {
            p.Add($"MaxPairwisePoints must be at least 2 (got {MaxPairwisePoints}); 2000 is a good default");
        }

        if (Splits < 1)
        {
            p.Add($"Splits must be at least 1 (got {Splits}); 5 is a good default");
        }

        if (TrainingLabels is not null && TrainingPoints is null)
        {
            p.Add("TrainingLabels needs TrainingPoints: the class balance's classifier is trained on the labelled training points");
        }

        if (HeldOutLabels is not null && TrainingLabels is null)
        {
            p.Add("HeldOutLabels needs TrainingLabels: they score the classifier trained on the labelled training points");
        }

        return p;
    }

    /// <summary>Throws if <see cref="Validate"/> finds a problem, listing every problem at once.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid metrics options:\n  - " + string.Join("\n  - ", problems));
        }
    }
}
