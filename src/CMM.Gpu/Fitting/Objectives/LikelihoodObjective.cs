using CMM.Gpu.Memory;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// Maximum likelihood for CMM with the network w (docs/fitting.md): minus the batch's mean log q_w, with
/// d log Z_w = -E_latent[dw] on the particles (the Langevin chains on w). No conjugate solve, no Sinkhorn.
/// </summary>
internal sealed class LikelihoodObjective : IFitObjective
{
    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        state.Network.LikelihoodParameterGradient(state.Batch, state.Particles.States, gradient, loss);
        return new ObjectiveStep(ConvergedFraction: 1);
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
