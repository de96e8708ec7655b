namespace CMM.Gpu.Data;

/// <summary>
/// The exact law of a built-in dataset that has a closed form (<c>gaussian</c>, <c>bimodal</c>,
/// <c>exponential</c>, <c>uniform</c>): its moments, a sampler of fresh samples and, in 1-D, its density.
/// </summary>
/// <param name="Name">The dataset name.</param>
/// <param name="Dimension">d.</param>
/// <param name="Mean">The true mean, length d.</param>
/// <param name="Covariance">The true covariance, row-major d x d.</param>
/// <param name="Sample">Fresh samples: <c>Sample(n, seed)</c> returns n points row-major (same law as the dataset).</param>
/// <param name="Density">The 1-D density, or null when d &gt; 1.</param>
public sealed record DatasetTruth(
    string Name,
    int Dimension,
    IReadOnlyList<double> Mean,
    IReadOnlyList<double> Covariance,
    Func<int, int, float[]> Sample,
    Func<double, double>? Density);
