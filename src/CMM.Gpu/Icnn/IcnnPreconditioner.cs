using System.Globalization;

namespace CMM.Gpu.Icnn;

/// <summary>
/// A fixed affine preconditioning of the ICNN's parametrisation, not of the problem (docs/icnn.md, "Preconditioning"):
/// the potential is w(y) = OutputScale * v((y - Centre) / InputScale) with v the network in normalised units, so w is
/// still a function of the data coordinates y and the fit is the conjugate moment measure of the data as given.
/// The kernels apply it through the effective parameters (each free parameter times a fixed scale, and x - Centre as
/// the network's input), so Adam moves parameters of order one whatever the data's mean and scale.
/// </summary>
public sealed record IcnnPreconditioner
{
    /// <summary>The centre m (length d) subtracted from every input point.</summary>
    public required IReadOnlyList<float> Centre { get; init; }

    /// <summary>The per-coordinate input scale s_k &gt; 0 (length d).</summary>
    public required IReadOnlyList<float> InputScale { get; init; }

    /// <summary>The output scale kappa &gt; 0 multiplying the network.</summary>
    public float OutputScale { get; init; } = 1f;

    /// <summary>
    /// An extra scale q in (0, 1] of the quadratic term's parameters (D by q^2, R by q): under Adam, which moves every free
    /// parameter by about its learning rate, it is the relative step of the curvature. A fit whose data mean lies many
    /// latent standard deviations from the latent's mode needs small curvature steps, because a relative change e of the
    /// curvature moves that mode by e times the distance (docs/fitting.md, "The start and the scales").
    /// </summary>
    public float QuadraticScale { get; init; } = 1f;

    /// <summary>
    /// An extra scale of the linear term's parameters, 1 by default; 0 freezes the linear term at 0. The moment-measure
    /// baseline uses 0: translating u's argument changes neither its samples nor its objective (a gauge freedom), so a
    /// free linear term only lets the latent's mean drift away from the N(0, S^-1) of the closed form.
    /// </summary>
    public float LinearScale { get; init; } = 1f;

    /// <summary>The input dimension d.</summary>
    public int Dimension => Centre.Count;

    /// <summary>True when this preconditioner changes nothing (centre 0, scales 1).</summary>
    public bool IsIdentity => OutputScale == 1f && QuadraticScale == 1f && LinearScale == 1f && Centre.All(c => c == 0f) && InputScale.All(s => s == 1f);

    /// <summary>The typical size of grad w: kappa / rms(s) (for CMM fits, the latent's scale); tolerances scale with it.</summary>
    public double GradientScale => OutputScale / Math.Sqrt(InputScale.Average(s => (double)s * s));

    /// <summary>The typical eigenvalue of Hess w: kappa / mean(s^2); Langevin step sizes scale with its inverse.</summary>
    public double CurvatureScale => OutputScale / InputScale.Average(s => (double)s * s);

    /// <summary>The identity preconditioner of dimension <paramref name="dimension"/>.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>Centre 0, scales 1.</returns>
    public static IcnnPreconditioner Identity(int dimension) =>
        new() { Centre = new float[dimension], InputScale = Enumerable.Repeat(1f, dimension).ToArray() };

    /// <summary>A preconditioner with one input scale for every coordinate.</summary>
    /// <param name="centre">The centre (length d).</param>
    /// <param name="inputScale">The scalar input scale s.</param>
    /// <param name="outputScale">kappa.</param>
    /// <param name="quadraticScale">q.</param>
    /// <returns>The preconditioner.</returns>
    public static IcnnPreconditioner Isotropic(IReadOnlyList<double> centre, double inputScale, double outputScale, double quadraticScale = 1)
    {
        ArgumentNullException.ThrowIfNull(centre);
        return new()
        {
            Centre = centre.Select(c => (float)c).ToArray(),
            InputScale = Enumerable.Repeat((float)inputScale, centre.Count).ToArray(),
            OutputScale = (float)outputScale,
            QuadraticScale = (float)quadraticScale,
        };
    }

    /// <summary>Every problem for an input dimension <paramref name="dimension"/>, each with how to fix it.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>The problems; empty when valid.</returns>
    public IReadOnlyList<string> Problems(int dimension)
    {
        var p = new List<string>();
        if (Centre is null || Centre.Count != dimension || Centre.Any(c => !float.IsFinite(c)))
        {
            p.Add($"the preconditioner's centre must hold {dimension} finite values");
        }

        if (InputScale is null || InputScale.Count != dimension || InputScale.Any(s => !(s > 0f) || !float.IsFinite(s)))
        {
            p.Add($"the preconditioner's input scales must be {dimension} positive finite values");
        }

        if (!(OutputScale > 0f) || !float.IsFinite(OutputScale))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the preconditioner's output scale must be positive and finite (got {OutputScale})"));
        }

        if (!(QuadraticScale > 0f && QuadraticScale <= 1f))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the preconditioner's quadratic scale must lie in (0, 1] (got {QuadraticScale})"));
        }

        if (!(LinearScale >= 0f && LinearScale <= 1f))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the preconditioner's linear scale must lie in [0, 1] (got {LinearScale})"));
        }

        return p;
    }

    /// <summary>Value equality over the lists' contents.</summary>
    /// <param name="other">The other preconditioner.</param>
    /// <returns>True when every entry is equal.</returns>
    public bool Equals(IcnnPreconditioner? other) =>
        other is not null && OutputScale.Equals(other.OutputScale) && QuadraticScale.Equals(other.QuadraticScale) && LinearScale.Equals(other.LinearScale) &&
        Centre.SequenceEqual(other.Centre) && InputScale.SequenceEqual(other.InputScale);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(OutputScale, Centre.Count);
}
