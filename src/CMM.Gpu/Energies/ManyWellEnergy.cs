using System.Globalization;

namespace CMM.Gpu.Energies;

/// <summary>
/// The many-well target (Midgley et al. 2023), normalised: d/2 independent pairs (y_(2k), y_(2k+1)), each with the double
/// well V_2(a, b) = a^4 - 6 a^2 - a / 2 + b^2 / 2. It has 2^(d/2) modes (the sign of each pair's first coordinate), of unequal
/// weights (the right well is heavier). log Z is 0: each pair's normaliser is computed once by quadrature and subtracted.
/// </summary>
public sealed class ManyWellEnergy : IModalEnergy
{
    private const double GridLow = -4, GridHigh = 4;
    private const int GridCount = 80_001;
    private readonly double logPairNormalizer;
    private readonly double rightWeight;
    private readonly double[] cdf;
    private readonly double[] weights;

    /// <summary>Creates the many-well target.</summary>
    /// <param name="dimension">d: even, 2 to 32.</param>
    /// <exception cref="ArgumentException">d odd or out of range.</exception>
    public ManyWellEnergy(int dimension)
    {
        if (dimension < 2 || dimension > 32 || dimension % 2 != 0)
        {
            throw new ArgumentException($"the many-well target needs an even dim from 2 to 32 (got {dimension})");
        }

        Dimension = dimension;
        // Quadrature of exp(-(a^4 - 6 a^2 - a / 2)) on [-4, 4] (the integrand is below 1e-30 of its peak outside).
        double h = (GridHigh - GridLow) / (GridCount - 1), shift = -Well(Math.Sqrt(3)), total = 0, right = 0;
        cdf = new double[GridCount];
        for (int i = 0; i < GridCount; i++)
        {
            double a = GridLow + (i * h), p = Math.Exp(-Well(a) - shift) * h;
            total += p;
            right += a > 0 ? p : 0;
            cdf[i] = total;
        }

        for (int i = 0; i < GridCount; i++)
        {
            cdf[i] /= total;
        }

        logPairNormalizer = Math.Log(total) + shift + (0.5 * Math.Log(2 * Math.PI));
        rightWeight = right / total;
        int pairs = dimension / 2, modes = 1 << pairs;
        weights = new double[modes];
        for (int m = 0; m < modes; m++)
        {
            double w = 1;
            for (int k = 0; k < pairs; k++)
            {
                w *= ((m >> k) & 1) == 1 ? rightWeight : 1 - rightWeight;
            }

            weights[m] = w;
        }
    }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <inheritdoc />
    public string Name => "many-well";

    /// <inheritdoc />
    public double? LogNormalizer => 0;

    /// <summary>The mass of each pair's right well (a &gt; 0).</summary>
    public double RightWellWeight => rightWeight;

    /// <summary>Mode m has pair k in its right well when bit k of m is set.</summary>
    public IReadOnlyList<double> ModeWeights => weights;

    /// <inheritdoc />
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"many-well dim={Dimension}");

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension;
        for (int i = 0; i < energies.Length; i++)
        {
            double v = 0;
            for (int k = 0; k < d; k += 2)
            {
                double a = points[(i * d) + k], b = points[(i * d) + k + 1];
                v += Well(a) + (0.5 * b * b) + logPairNormalizer;
                if (!gradients.IsEmpty)
                {
                    gradients[(i * d) + k] = (4 * a * a * a) - (12 * a) - 0.5;
                    gradients[(i * d) + k + 1] = b;
                }
            }

            energies[i] = v;
        }
    }

    /// <inheritdoc />
    public int[] AssignModes(ReadOnlySpan<float> points)
    {
        int d = Dimension, n = points.Length / d;
        var modes = new int[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k += 2)
            {
                modes[i] |= points[(i * d) + k] > 0 ? 1 << (k / 2) : 0;
            }
        }

        return modes;
    }

    /// <inheritdoc />
    public float[]? ExactSamples(int count, int seed)
    {
        var rng = new Random(seed);
        int d = Dimension;
        double h = (GridHigh - GridLow) / (GridCount - 1);
        var x = new float[count * d];
        for (int i = 0; i < count; i++)
        {
            for (int k = 0; k < d; k += 2)
            {
                // Inverse CDF on the quadrature grid (within one grid step), jittered uniformly inside the step.
                double u = rng.NextDouble();
                int j = Array.BinarySearch(cdf, u);
                j = j < 0 ? ~j : j;
                x[(i * d) + k] = (float)(GridLow + ((Math.Min(j, GridCount - 1) - rng.NextDouble()) * h));
                x[(i * d) + k + 1] = (float)GaussianComponent.Normal(rng);
            }
        }

        return x;
    }

    private static double Well(double a) => (a * a * a * a) - (6 * a * a) - (0.5 * a);
}
