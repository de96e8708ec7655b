using CMM.Gpu.Compute;
using CMM.Gpu.Icnn;

namespace CMM.Gpu.Potentials;

/// <summary>
/// A potential that can put an independent copy of itself on another device, so that several devices can
/// evaluate it at once (multi-device generation, <see cref="Sampling.SampleGenerator"/>). The copy must give
/// the same values as the original on a device of the same kind: build it from the same parameters, not from
/// device results.
/// </summary>
public interface IReplicablePotential : IPotential
{
    /// <summary>Creates a copy of this potential whose parameters live on <paramref name="context"/>.</summary>
    /// <param name="context">The device of the copy.</param>
    /// <returns>The copy; the caller owns it (dispose it when it is <see cref="IDisposable"/>).</returns>
    IPotential Replicate(CmmContext context);
}

/// <summary>Copies of potentials on other devices: <see cref="IReplicablePotential"/> plus the closed-form potentials.</summary>
public static class PotentialReplicas
{
    /// <summary>
    /// Whether <see cref="Replicate"/> can copy <paramref name="potential"/>: it implements
    /// <see cref="IReplicablePotential"/> (as <see cref="IcnnPotential"/> does), or it is a
    /// <see cref="QuadraticPotential"/> or <see cref="SeparableQuarticPotential"/>.
    /// </summary>
    /// <param name="potential">The potential.</param>
    /// <returns>True when it can be copied.</returns>
    public static bool CanReplicate(IPotential potential) =>
        potential is IReplicablePotential or QuadraticPotential or SeparableQuarticPotential;

    /// <summary>
    /// A copy of <paramref name="potential"/> on <paramref name="context"/>, built from the original's parameters
    /// (closed forms from their coefficients, the ICNN from its free parameters), so that on a device of the same
    /// kind it computes bit for bit what the original computes. Reads the original's parameters on its own device:
    /// do not call it while another thread uses the original.
    /// </summary>
    /// <param name="potential">The potential to copy.</param>
    /// <param name="context">The device of the copy (may be the original's: then it is a second, independent instance).</param>
    /// <returns>The copy; the caller owns it (dispose it when it is <see cref="IDisposable"/>).</returns>
    /// <exception cref="NotSupportedException">The potential cannot be copied: implement <see cref="IReplicablePotential"/>.</exception>
    public static IPotential Replicate(IPotential potential, CmmContext context)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(context);
        context.ThrowIfDisposed();
        return potential switch
        {
            IReplicablePotential r => r.Replicate(context),
            QuadraticPotential q => new QuadraticPotential(context, q.MatrixA, q.VectorB.ToArray(), q.Constant),
            SeparableQuarticPotential s => new SeparableQuarticPotential(context, s.Dimension, s.Quartic, s.Quadratic),
            _ => throw new NotSupportedException(
                $"{potential.GetType().Name} cannot be copied to another device: implement {nameof(IReplicablePotential)} to use it on several devices"),
        };
    }
}
