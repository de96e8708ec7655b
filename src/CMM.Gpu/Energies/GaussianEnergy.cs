using System.Globalization;

namespace CMM.Gpu.Energies;

/// <summary>The Gaussian target N(mean, covariance), normalised: V = -log N(y; m, S), so its log normaliser is 0.</summary>
public sealed class GaussianEnergy : IEnergy
{
    private readonly GaussianComponent component;
    private readonly double[,] covariance;

    /// <summary>Creates N(mean, covariance).</summary>
    /// <param name="mean">m (d values).</param>
    /// <param name="covariance">S (d x d), symmetric positive definite.</param>
    /// <exception cref="ArgumentException">Wrong sizes, non-finite values, or S not symmetric positive definite.</exception>
    public GaussianEnergy(IReadOnlyList<double> mean, double[,] covariance)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        if (mean.Count == 0)
        {
            throw new ArgumentException("the mean is empty");
        }

        component = new GaussianComponent(mean, covariance, "covariance");
        this.covariance = (double[,])covariance.Clone();
    }

    /// <inheritdoc />
    public int Dimension => component.Dimension;

    /// <inheritdoc />
    public string Name => "gaussian";

    /// <inheritdoc />
    public double? LogNormalizer => 0;

    /// <summary>The mean.</summary>
    public IReadOnlyList<double> Mean => component.Mean;

    /// <summary>The covariance (a copy).</summary>
    public double[,] Covariance => (double[,])covariance.Clone();

    /// <inheritdoc />
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"gaussian mean=[{string.Join(",", Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}] covariance=[{string.Join(",", covariance.Cast<double>().Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}]");

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension;
        for (int i = 0; i < energies.Length; i++)
        {
            energies[i] = component.NegativeLogDensity(points.Slice(i * d, d), gradients.IsEmpty ? default : gradients.Slice(i * d, d));
        }
    }

    /// <inheritdoc />
    public void Evaluate(Memory.DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        ArgumentNullException.ThrowIfNull(points);
        EnergyKernelSet.For(points.Context).GaussianMixture(this, () => GaussianComponent.KernelParameters([component], [0.0]), 1, points, energies, gradients);
    }

    /// <inheritdoc />
    public float[]? ExactSamples(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count * Dimension];
        for (int i = 0; i < count; i++)
        {
            component.Sample(rng, x.AsSpan(i * Dimension, Dimension));
        }

        return x;
    }
}
