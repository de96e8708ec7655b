using System.Globalization;
using CMM.Gpu.Data;

namespace CMM.Gpu.Energies;

/// <summary>
/// What an energy's closed form gives the metrics of <c>cmm eval --energy</c> (docs/cmfma.md): a Gaussian energy is a
/// <see cref="DatasetTruth"/> (mean and covariance, so the Hessian of w is checked against its closed form), and an energy
/// with modes is a <see cref="ModeStructure"/> whose exact shares are the mixture weights.
/// </summary>
public static class EnergyTruth
{
    /// <summary>The closed form of a <see cref="GaussianEnergy"/>, else null.</summary>
    /// <param name="energy">The energy.</param>
    /// <returns>The truth (named "gaussian"), or null.</returns>
    public static DatasetTruth? For(IEnergy energy)
    {
        ArgumentNullException.ThrowIfNull(energy);
        if (energy is not GaussianEnergy g)
        {
            return null;
        }

        int d = g.Dimension;
        var cov = g.Covariance;
        var rowMajor = new double[d * d];
        for (int a = 0; a < d; a++)
        {
            for (int b = 0; b < d; b++)
            {
                rowMajor[(a * d) + b] = cov[a, b];
            }
        }

        return new DatasetTruth("gaussian", d, g.Mean.ToArray(), rowMajor, (n, seed) => g.ExactSamples(n, seed)!, null);
    }

    /// <summary>The modes of an <see cref="IModalEnergy"/> (every point belongs to its most likely mode; energies define no
    /// gap between modes), else null.</summary>
    /// <param name="energy">The energy.</param>
    /// <returns>The mode structure, or null.</returns>
    public static ModeStructure? ModesOf(IEnergy energy)
    {
        ArgumentNullException.ThrowIfNull(energy);
        if (energy is not IModalEnergy modal)
        {
            return null;
        }

        var names = Enumerable.Range(1, modal.ModeWeights.Count).Select(j => "mode " + j.ToString(CultureInfo.InvariantCulture)).ToArray();
        return new ModeStructure(energy.Name, energy.Dimension, names,
            "the mode of largest posterior responsibility",
            "none: an energy's modes cover the whole space",
            (ReadOnlySpan<float> point, out bool inGap) =>
            {
                inGap = false;
                return modal.AssignModes(point)[0];
            },
            modal.ModeWeights,
            0);
    }
}
