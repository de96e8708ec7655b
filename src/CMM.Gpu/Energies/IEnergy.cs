namespace CMM.Gpu.Energies;

/// <summary>
/// A target distribution known through its energy V: density rho(y) proportional to exp(-V(y)) (docs/cmfma.md). CMFMA fits a
/// conjugate moment measure to it with no samples of rho. Evaluated batched, in double precision, on the host or (built-ins with kernels) on a device.
/// </summary>
public interface IEnergy
{
    /// <summary>d.</summary>
    int Dimension { get; }

    /// <summary>The type's name as the JSON form gives it (for example "gaussian").</summary>
    string Name { get; }

    /// <summary>The log normaliser log of the integral of exp(-V) when it is known (0 for the built-in densities that are
    /// normalised), else null.</summary>
    double? LogNormalizer { get; }

    /// <summary>One line that names the energy and all its parameters (stored with the model; fingerprints checkpoints).</summary>
    /// <returns>The description.</returns>
    string Describe();

    /// <summary>V and, when <paramref name="gradients"/> is not empty, grad V at each point.</summary>
    /// <param name="points">Row-major [n, d].</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d], or empty to skip the gradients.</param>
    void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients);

    /// <summary>V and, when <paramref name="gradients"/> is not empty, grad V at points on a device, the results on the host.
    /// The built-ins whose cost grows with d^2 or with data (Gaussian, mixture, logistic regression) run as kernels on the
    /// points' device; the default copies the points to the host and calls <see cref="Evaluate(ReadOnlySpan{float}, Span{double}, Span{double})"/>.</summary>
    /// <param name="points">Points [n, d] on a device.</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d], or empty to skip the gradients.</param>
    void Evaluate(Memory.DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        ArgumentNullException.ThrowIfNull(points);
        Evaluate(points.ToArray(), energies, gradients);
    }

    /// <summary>Independent exact samples of rho when the target has a sampler (the built-in closed forms), else null.</summary>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>Row-major [count, d], or null.</returns>
    float[]? ExactSamples(int count, int seed);
}

/// <summary>A target that is a mixture of known components (its modes): the weight a sample set gives each mode can be
/// compared with the truth.</summary>
public interface IModalEnergy : IEnergy
{
    /// <summary>The mixture weights, summing to 1.</summary>
    IReadOnlyList<double> ModeWeights { get; }

    /// <summary>The component of largest posterior responsibility for each point.</summary>
    /// <param name="points">Row-major [n, d].</param>
    /// <returns>Component indices [n].</returns>
    int[] AssignModes(ReadOnlySpan<float> points);
}

/// <summary>An energy that cannot be used: it returned a value that is not finite where a fit evaluated it.</summary>
public sealed class EnergyException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, naming the point.</param>
    public EnergyException(string message)
        : base(message)
    {
    }
}
