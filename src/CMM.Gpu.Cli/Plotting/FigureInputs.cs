namespace CMM.Gpu.Cli.Plotting;

/// <summary>
/// Input of a 1-D figure: left panel, density histograms of data and generated samples (at least one of the two);
/// right panel, the latent histogram with the potential w (right axis), when either is given.
/// </summary>
public sealed record Figure1D
{
    /// <summary>Data values, optional (at least one of <see cref="Data"/> and <see cref="Generated"/> must have a finite value).</summary>
    public IReadOnlyList<float>? Data { get; init; }

    /// <summary>Generated values (grad w* of latent samples), optional.</summary>
    public IReadOnlyList<float>? Generated { get; init; }

    /// <summary>Latent samples, optional.</summary>
    public IReadOnlyList<float>? Latent { get; init; }

    /// <summary>The fitted potential w (drawn over the latent range, or the data range without latents), optional.</summary>
    public Func<double, double>? Potential { get; init; }

    /// <summary>Figure title.</summary>
    public string Title { get; init; } = "conjugate moment measure fit";

    /// <summary>Histogram bins per panel (default 60).</summary>
    public int Bins { get; init; } = 60;

    /// <summary>Width of one panel in pixels (default 640).</summary>
    public int PanelWidth { get; init; } = 640;

    /// <summary>Height in pixels (default 480).</summary>
    public int Height { get; init; } = 480;
}

/// <summary>
/// Input of a 2-D figure: a panel of data, when given; a panel of generated samples with the same axis limits, when
/// given; a panel of latent samples and level sets of w from <see cref="PotentialGrid"/>, when either is given.
/// </summary>
public sealed record Figure2D
{
    /// <summary>Data points, row-major [n, 2], optional (at least one of <see cref="Data"/> and <see cref="Generated"/> must be non-empty).</summary>
    public float[]? Data { get; init; }

    /// <summary>Generated points, row-major [n, 2], optional.</summary>
    public float[]? Generated { get; init; }

    /// <summary>Latent points, row-major [n, 2], optional.</summary>
    public float[]? Latent { get; init; }

    /// <summary>The potential w sampled on a grid (see <see cref="PotentialGrid.Evaluate"/>), optional.</summary>
    public PotentialGrid? Potential { get; init; }

    /// <summary>Explicit contour levels; null picks <see cref="ContourCount"/> levels automatically.</summary>
    public IReadOnlyList<double>? Levels { get; init; }

    /// <summary>Number of automatic contour levels (default 10): min + (max - min) (k / (count + 1))^2, so a quadratic w gets evenly spaced rings.</summary>
    public int ContourCount { get; init; } = 10;

    /// <summary>At most this many points of each set are drawn (the first ones; default 5000).</summary>
    public int MaxPoints { get; init; } = 5000;

    /// <summary>Figure title.</summary>
    public string Title { get; init; } = "conjugate moment measure fit";

    /// <summary>Width of one panel in pixels (default 560).</summary>
    public int PanelWidth { get; init; } = 560;

    /// <summary>Height in pixels (default 520).</summary>
    public int Height { get; init; } = 520;
}
