using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Energies;
using CMM.Gpu.Potentials;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>Chooses the objective of a fit from its options.</summary>
internal static class FitObjectives
{
    /// <summary>The objective of <paramref name="options"/>: the semi-dual with the network w (conjugate solves at the
    /// particles) or with the generator's u (solves at the data), the entropic map, or the likelihood.</summary>
    /// <param name="context">The device.</param>
    /// <param name="options">The fit's options.</param>
    /// <param name="generatorNetwork">Whether the network is the generator's u (MM, or CMM with u = w*).</param>
    /// <param name="conjugateOfNetwork">u* when the network is u (else null).</param>
    /// <param name="batchCount">Points per data batch.</param>
    /// <param name="dimension">d.</param>
    /// <param name="conjugateOptions">The solves' options with the network w.</param>
    /// <param name="energy">The target's energy (residual objective), else null.</param>
    /// <param name="start">The fit's Gaussian start (the residual objective draws proposal points from it).</param>
    /// <returns>The objective; dispose it with the fitter.</returns>
    public static IFitObjective Create(CmmContext context, FitOptions options, bool generatorNetwork, ConjugatePotential? conjugateOfNetwork,
        int batchCount, int dimension, ConjugateOptions conjugateOptions, IEnergy? energy, GaussianStart start) => options.Objective switch
        {
            FitObjective.Residual => new ResidualObjective(context, energy!, start, options, dimension, conjugateOptions),
            FitObjective.Likelihood => new LikelihoodObjective(),
            FitObjective.SemiDual when generatorNetwork => new GeneratorSemiDualObjective(context, conjugateOfNetwork!, batchCount, dimension),
            FitObjective.SemiDual => new PotentialSemiDualObjective(context, options.Particles, dimension, conjugateOptions),
            _ => new EntropicMapObjective(context, options, generatorNetwork, generatorNetwork ? options.Particles : batchCount, dimension),
        };
}
