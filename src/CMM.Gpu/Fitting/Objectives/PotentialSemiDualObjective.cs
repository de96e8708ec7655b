using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// The semi-dual objective of CMM with the network w: the gradient is E_data[dw] - E_model[dw(grad w*(x))], one conjugate
/// solve per particle. Each solve starts at y = x, not at the previous iteration's solution: the particles move by about
/// sqrt(2 tau) per Langevin step, so the old solution was a worse start than x itself (eight-gaussians, 200 iterations: 4.6
/// Newton iterations per point warm, 3.1 from x; docs/fitting.md).
/// </summary>
internal sealed class PotentialSemiDualObjective(CmmContext context, int particles, int dimension, ConjugateOptions options) : IFitObjective
{
    private readonly ConjugateSolver solver = new(context);
    private readonly DevicePoints mapped = DevicePoints.Allocate(context, particles, dimension);

    /// <summary>The options of the conjugate solves (a test seam makes them unable to converge).</summary>
    public ConjugateOptions Options { get; set; } = options;

    /// <summary>The solver, which holds only scratch space sized for the particles (validation reuses it).</summary>
    public ConjugateSolver Solver => solver;

    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        var solve = solver.SolveDeferred(state.Network, state.Particles.States, mapped, Options); // the result stays on the device
        state.Network.SemiDualParameterGradient(state.Batch, mapped, gradient, loss);
        return new ObjectiveStep(Solve: solve); // unread: the fitter counts its converged points on the device
    }

    /// <inheritdoc />
    public void Dispose()
    {
        mapped.Dispose();
        solver.Dispose();
    }
}
