namespace CMM.Gpu.Data;

/// <summary>
/// Optional parameters of the built-in datasets; every field left null takes the dataset's default
/// (see docs/datasets.md). Fields that do not apply to the chosen dataset are rejected by
/// <see cref="Datasets.Create"/> so that a typo never silently does nothing.
/// </summary>
public sealed record DatasetOptions
{
    /// <summary>The shared defaults (every field null).</summary>
    public static DatasetOptions Default { get; } = new();

    /// <summary><c>gaussian</c>: dimension d (default 2, or the length of <see cref="Mean"/>).</summary>
    public int? Dimension { get; init; }

    /// <summary><c>gaussian</c>: mean vector of length d.</summary>
    public IReadOnlyList<double>? Mean { get; init; }

    /// <summary><c>gaussian</c>: covariance, row-major d x d, symmetric positive definite.</summary>
    public IReadOnlyList<double>? Covariance { get; init; }

    /// <summary>
    /// Standard deviation of the isotropic noise added by <c>moons</c> (default 0.1), <c>circles</c>
    /// (0.08) and <c>swiss-roll</c> (1.0, before the 1/5 rescaling).
    /// </summary>
    public double? Noise { get; init; }

    /// <summary><c>exponential</c>: rate lambda (default 1): density lambda e^(-lambda x) on x &gt;= 0.</summary>
    public double? Rate { get; init; }

    /// <summary><c>uniform</c>: lower end (default -1).</summary>
    public double? Low { get; init; }

    /// <summary><c>uniform</c>: upper end (default 1).</summary>
    public double? High { get; init; }

    /// <summary>Lists every problem of these options, each with how to fix it (empty when valid).</summary>
    /// <returns>The problems, empty when the options are usable for some dataset.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (Dimension is < 1)
        {
            p.Add($"Dimension must be at least 1 (got {Dimension})");
        }

        int? d = Dimension ?? Mean?.Count;
        if (Mean is not null)
        {
            if (Mean.Count == 0)
            {
                p.Add("Mean must not be empty: give d values or leave it null for the default");
            }
            else if (d is not null && Mean.Count != d)
            {
                p.Add($"Mean has {Mean.Count} values but Dimension is {d}: give one value per coordinate");
            }

            if (Mean.Any(v => !double.IsFinite(v)))
            {
                p.Add("Mean must be finite");
            }
        }

        if (Covariance is not null)
        {
            int dc = d ?? (int)Math.Round(Math.Sqrt(Covariance.Count));
            if (Covariance.Count != dc * dc)
            {
                p.Add($"Covariance has {Covariance.Count} values but a {dc} x {dc} matrix needs {dc * dc}: give it row-major");
            }
            else if (!Gaussian.SymmetricMatrix.IsSymmetricPositiveDefinite(Covariance, dc))
            {
                p.Add("Covariance must be symmetric positive definite (check the signs and that |correlations| < 1)");
            }
        }

        if (Noise is { } n && (!double.IsFinite(n) || n < 0))
        {
            p.Add($"Noise must be a finite value >= 0 (got {n})");
        }

        if (Rate is { } r && (!double.IsFinite(r) || r <= 0))
        {
            p.Add($"Rate must be a finite value > 0 (got {r})");
        }

        double lo = Low ?? -1, hi = High ?? 1;
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || lo >= hi)
        {
            p.Add($"uniform needs finite Low < High (got Low = {lo}, High = {hi})");
        }

        return p;
    }
}
