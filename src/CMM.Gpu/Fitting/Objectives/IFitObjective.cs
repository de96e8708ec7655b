using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// One fitting objective of <see cref="CmmFitter"/> (docs/fitting.md, "Objectives"): from the state the loop owns (the
/// network, the persistent particles, the data batch) it fills the parameter gradient and the loss. The loop owns
/// everything else: Langevin steps, batches, the optimiser, checkpoints, recoveries, early stopping and health monitoring.
/// A new objective is a new implementation of this interface and a case in <see cref="FitObjectives.Create"/>, not a new
/// branch of the loop.
/// </summary>
internal interface IFitObjective : IDisposable
{
    /// <summary>Fills <paramref name="gradient"/> with the objective's parameter gradient and <paramref name="loss"/> (one
    /// value) with its value, for the current parameters of <see cref="FitState.Network"/>.</summary>
    /// <param name="state">The loop's state.</param>
    /// <param name="gradient">Parameter gradient, one value per network parameter (overwritten).</param>
    /// <param name="loss">The loss (overwritten).</param>
    /// <returns>What the step's inner solves did.</returns>
    ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss);

    /// <summary>State beyond the network that a checkpoint must keep for a resumed fit to match an uninterrupted one
    /// (the Sinkhorn potentials of the map objective); null when there is none (the default).</summary>
    (float[] F, float[] G)? SaveState() => null;

    /// <summary>Restores what <see cref="SaveState"/> returned.</summary>
    /// <param name="f">First saved array.</param>
    /// <param name="g">Second saved array.</param>
    void RestoreState(float[] f, float[] g)
    {
    }
}

/// <summary>The loop's state an objective reads.</summary>
/// <param name="Network">The ICNN being fitted (w, or the generator's u for MM and the conjugate parametrisation).</param>
/// <param name="Particles">The persistent Langevin particles on the latent, after this iteration's steps.</param>
/// <param name="Batch">This iteration's data batch, in fitting coordinates (dequantised when the data are); unused by fits to an energy.</param>
/// <param name="Iteration">The 0-based outer iteration (seeds what an objective draws, so a resumed fit draws the same).</param>
internal sealed record FitState(IcnnPotential Network, LangevinChains Particles, DevicePoints Batch, int Iteration);

/// <summary>What an objective's step did: the share of its conjugate solves that converged (1 without solves), and the
/// Sinkhorn iterations and final marginal error of the map objective (0 and NaN otherwise). An objective with a conjugate
/// solve returns the solve, unread, as <paramref name="Solve"/>: its converged share is then the solve's (the fitter counts
/// it on the device, in the iteration's one packed read) and <paramref name="ConvergedFraction"/> is unused.</summary>
internal readonly record struct ObjectiveStep(double ConvergedFraction = 1, int SinkhornIterations = 0, double MarginalError = double.NaN,
    Conjugate.ConjugateSolver.ConjugateSolveHandle? Solve = null);
