using System.Globalization;

namespace CMM.Gpu.Energies;

/// <summary>
/// The banana (Haario et al. 2001, a twisted Gaussian), normalised: z ~ N(0, diag(s^2, 1, ..., 1)) in d &gt;= 2 dimensions and
/// y = z except y_2 = z_2 - b (z_1^2 - s^2). V(y) = y_1^2 / (2 s^2) + (y_2 + b (y_1^2 - s^2))^2 / 2 + sum_(k &gt; 2) y_k^2 / 2 +
/// log s + (d / 2) log 2 pi (the map has unit Jacobian, so log Z = 0).
/// </summary>
public sealed class BananaEnergy : IEnergy
{
    /// <summary>Creates the banana.</summary>
    /// <param name="dimension">d &gt;= 2.</param>
    /// <param name="curvature">b &gt;= 0 (0 is a Gaussian).</param>
    /// <param name="scale">s &gt; 0, the standard deviation of y_1.</param>
    /// <exception cref="ArgumentException">A parameter out of range.</exception>
    public BananaEnergy(int dimension, double curvature = 0.1, double scale = 10)
    {
        if (dimension < 2 || !(curvature >= 0) || !double.IsFinite(curvature) || !(scale > 0) || !double.IsFinite(scale))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the banana needs dim >= 2, curvature >= 0 and scale > 0 (got {dimension}, {curvature}, {scale})"));
        }

        Dimension = dimension;
        Curvature = curvature;
        Scale = scale;
    }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <summary>b.</summary>
    public double Curvature { get; }

    /// <summary>s.</summary>
    public double Scale { get; }

    /// <inheritdoc />
    public string Name => "banana";

    /// <inheritdoc />
    public double? LogNormalizer => 0;

    /// <inheritdoc />
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"banana dim={Dimension} curvature={Curvature:R} scale={Scale:R}");

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension;
        double b = Curvature, s2 = Scale * Scale, c = Math.Log(Scale) + (0.5 * d * Math.Log(2 * Math.PI));
        for (int i = 0; i < energies.Length; i++)
        {
            var y = points.Slice(i * d, d);
            double y1 = y[0], t = y[1] + (b * ((y1 * y1) - s2));
            double v = (y1 * y1 / (2 * s2)) + (0.5 * t * t) + c;
            for (int k = 2; k < d; k++)
            {
                v += 0.5 * y[k] * y[k];
            }

            energies[i] = v;
            if (!gradients.IsEmpty)
            {
                var g = gradients.Slice(i * d, d);
                g[0] = (y1 / s2) + (t * 2 * b * y1);
                g[1] = t;
                for (int k = 2; k < d; k++)
                {
                    g[k] = y[k];
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
            double z1 = Scale * GaussianComponent.Normal(rng);
            x[i * d] = (float)z1;
            x[(i * d) + 1] = (float)(GaussianComponent.Normal(rng) - (Curvature * ((z1 * z1) - (Scale * Scale))));
            for (int k = 2; k < d; k++)
            {
                x[(i * d) + k] = (float)GaussianComponent.Normal(rng);
            }
        }

        return x;
    }
}
