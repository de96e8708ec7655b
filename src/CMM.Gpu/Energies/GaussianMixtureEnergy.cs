using System.Globalization;

namespace CMM.Gpu.Energies;

/// <summary>
/// The Gaussian mixture sum_j weights_j N(means_j, covariances_j), normalised: V = -log of the mixture density (a
/// log-sum-exp over the components), log normaliser 0.
/// </summary>
public sealed class GaussianMixtureEnergy : IModalEnergy
{
    private readonly GaussianComponent[] components;
    private readonly double[] weights;
    private readonly double[] logWeights;
    private readonly string description;

    /// <summary>Creates the mixture.</summary>
    /// <param name="weights">k weights, positive, summing to 1 (within 10^-6).</param>
    /// <param name="means">k means of d values each.</param>
    /// <param name="covariances">k covariances, d x d, symmetric positive definite.</param>
    /// <exception cref="ArgumentException">Counts that differ, weights that are not positive or do not sum to 1, or a bad component.</exception>
    public GaussianMixtureEnergy(IReadOnlyList<double> weights, IReadOnlyList<IReadOnlyList<double>> means, IReadOnlyList<double[,]> covariances)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(covariances);
        int k = weights.Count;
        if (k == 0 || means.Count != k || covariances.Count != k)
        {
            throw new ArgumentException($"a mixture needs as many weights, means and covariances (got {weights.Count}, {means.Count} and {covariances.Count}), at least one");
        }

        if (weights.Any(w => !(w > 0)))
        {
            throw new ArgumentException($"mixture weights must be positive (got {string.Join(", ", weights.Select(w => w.ToString("G6", CultureInfo.InvariantCulture)))})");
        }

        double sum = weights.Sum();
        if (Math.Abs(sum - 1) > 1e-6)
        {
            throw new ArgumentException($"mixture weights must sum to 1 (they sum to {sum.ToString("G8", CultureInfo.InvariantCulture)})");
        }

        int d = means[0].Count;
        if (d == 0 || means.Any(m => m.Count != d))
        {
            throw new ArgumentException($"every mean must have the same number of values, at least one (got {string.Join(", ", means.Select(m => m.Count))})");
        }

        components = means.Select((m, j) => new GaussianComponent(m, covariances[j], $"covariances[{j}]")).ToArray();
        this.weights = weights.ToArray();
        logWeights = this.weights.Select(w => Math.Log(w)).ToArray();
        var ci = CultureInfo.InvariantCulture;
        description = "gaussian-mixture " + string.Join(" ", Enumerable.Range(0, k).Select(j =>
            $"w={weights[j].ToString("R", ci)} mean=[{string.Join(",", means[j].Select(v => v.ToString("R", ci)))}] covariance=[{string.Join(",", covariances[j].Cast<double>().Select(v => v.ToString("R", ci)))}]"));
    }

    /// <inheritdoc />
    public int Dimension => components[0].Dimension;

    /// <inheritdoc />
    public string Name => "gaussian-mixture";

    /// <inheritdoc />
    public double? LogNormalizer => 0;

    /// <inheritdoc />
    public IReadOnlyList<double> ModeWeights => weights;

    /// <summary>The component means.</summary>
    public IReadOnlyList<IReadOnlyList<double>> Means => components.Select(c => c.Mean).ToArray();

    /// <inheritdoc />
    public string Describe() => description;

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension, k = components.Length;
        Span<double> logp = stackalloc double[k];
        var g = new double[k * d];
        for (int i = 0; i < energies.Length; i++)
        {
            var y = points.Slice(i * d, d);
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                logp[j] = logWeights[j] - components[j].NegativeLogDensity(y, gradients.IsEmpty ? default : g.AsSpan(j * d, d));
                max = Math.Max(max, logp[j]);
            }

            double s = 0;
            for (int j = 0; j < k; j++)
            {
                s += Math.Exp(logp[j] - max);
            }

            double logSum = max + Math.Log(s);
            energies[i] = -logSum;
            if (!gradients.IsEmpty)
            {
                // grad V = sum_j resp_j grad V_j with resp_j = p_j / sum.
                var gi = gradients.Slice(i * d, d);
                gi.Clear();
                for (int j = 0; j < k; j++)
                {
                    double resp = Math.Exp(logp[j] - logSum);
                    for (int c = 0; c < d; c++)
                    {
                        gi[c] += resp * g[(j * d) + c];
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    public void Evaluate(Memory.DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        ArgumentNullException.ThrowIfNull(points);
        EnergyKernelSet.For(points.Context).GaussianMixture(this, () => GaussianComponent.KernelParameters(components, logWeights), components.Length, points, energies, gradients);
    }

    /// <inheritdoc />
    public int[] AssignModes(ReadOnlySpan<float> points)
    {
        int d = Dimension, n = points.Length / d;
        var modes = new int[n];
        for (int i = 0; i < n; i++)
        {
            var y = points.Slice(i * d, d);
            double best = double.NegativeInfinity;
            for (int j = 0; j < components.Length; j++)
            {
                double lp = logWeights[j] - components[j].NegativeLogDensity(y, default);
                if (lp > best)
                {
                    best = lp;
                    modes[i] = j;
                }
            }
        }

        return modes;
    }

    /// <inheritdoc />
    public float[]? ExactSamples(int count, int seed)
    {
        var rng = new Random(seed);
        int d = Dimension;
        var x = new float[count * d];
        for (int i = 0; i < count; i++)
        {
            double u = rng.NextDouble(), c = 0;
            int j = 0;
            for (; j < weights.Length - 1; j++)
            {
                c += weights[j];
                if (u < c)
                {
                    break;
                }
            }

            components[j].Sample(rng, x.AsSpan(i * d, d));
        }

        return x;
    }
}
