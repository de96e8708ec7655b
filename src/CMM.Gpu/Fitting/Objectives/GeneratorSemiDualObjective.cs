using CMM.Gpu.Compute;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// The semi-dual objective when the network is the generator's u (MM, or CMM with u = w*): the gradient is
/// E_particles[du] - E_data[du(grad u*(y))], one conjugate solve per data point. For u = w* the envelope theorem turns
/// E_data[dw] - E_model[dw(grad u(x))] into exactly this.
/// </summary>
internal sealed class GeneratorSemiDualObjective(CmmContext context, ConjugatePotential conjugateOfNetwork, int batchCount, int dimension) : IFitObjective
{
    private readonly DevicePoints encoded = DevicePoints.Allocate(context, batchCount, dimension);

    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        conjugateOfNetwork.Gradient(state.Batch, encoded);
        var solve = conjugateOfNetwork.LastSolveHandle!;
        state.Network.SemiDualParameterGradient(state.Particles.States, encoded, gradient, loss);
        return new ObjectiveStep(Solve: solve); // unread: the fitter counts its converged points on the device
    }

    /// <inheritdoc />
    public void Dispose() => encoded.Dispose();
}
