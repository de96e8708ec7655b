using System.Globalization;

namespace CMM.Gpu.Energies;

/// <summary>
/// Neal's funnel, normalised: y_1 = v ~ N(0, s^2) and y_k | v ~ N(0, e^v) for k = 2..d. V(y) = v^2 / (2 s^2) + log s +
/// sum_(k &gt;= 2) (y_k^2 e^-v / 2 + v / 2) + (d / 2) log 2 pi, so log Z = 0. The neck (v very negative) is the hard part.
/// </summary>
public sealed class FunnelEnergy : IEnergy
{
    /// <summary>Creates the funnel.</summary>
    /// <param name="dimension">d &gt;= 2.</param>
    /// <param name="scale">s &gt; 0, the standard deviation of v (Neal: 3).</param>
    /// <exception cref="ArgumentException">A parameter out of range.</exception>
    public FunnelEnergy(int dimension, double scale = 3)
    {
        if (dimension < 2 || !(scale > 0) || !double.IsFinite(scale))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the funnel needs dim >= 2 and scale > 0 (got {dimension}, {scale})"));
        }

        Dimension = dimension;
        Scale = scale;
    }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <summary>s.</summary>
    public double Scale { get; }

    /// <inheritdoc />
    public string Name => "funnel";

    /// <inheritdoc />
    public double? LogNormalizer => 0;

    /// <inheritdoc />
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"funnel dim={Dimension} scale={Scale:R}");

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension;
        double s2 = Scale * Scale, c = Math.Log(Scale) + (0.5 * d * Math.Log(2 * Math.PI));
        for (int i = 0; i < energies.Length; i++)
        {
            var y = points.Slice(i * d, d);
            double v = y[0], e = Math.Exp(-v), sumSq = 0;
            for (int k = 1; k < d; k++)
            {
                sumSq += (double)y[k] * y[k];
            }

            energies[i] = (v * v / (2 * s2)) + (0.5 * sumSq * e) + (0.5 * (d - 1) * v) + c;
            if (!gradients.IsEmpty)
            {
                var g = gradients.Slice(i * d, d);
                g[0] = (v / s2) - (0.5 * sumSq * e) + (0.5 * (d - 1));
                for (int k = 1; k < d; k++)
                {
                    g[k] = y[k] * e;
                }
            }
        }
    }

    /// <inheritdoc />
    public float[]? ExactSamples(int count, int seed)
    {
        var rng = new Random(seed);
        int d = Dimension;
        var x = new float[count * d];
        for (int i = 0; i < count; i++)
        {
            double v = Scale * GaussianComponent.Normal(rng), sd = Math.Exp(0.5 * v);
            x[i * d] = (float)v;
            for (int k = 1; k < d; k++)
            {
                x[(i * d) + k] = (float)(sd * GaussianComponent.Normal(rng));
            }
        }

        return x;
    }
}
