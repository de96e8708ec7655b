using CMM.Gpu.Compute;
using CMM.Gpu.Memory;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// The map objective (docs/fitting.md): regress the network's gradient onto the entropic map of a log-domain Sinkhorn plan.
/// With the network w, grad w(y_i) onto the map of the data onto the particles; with the generator's u (MM, u = w*),
/// grad u(x_j) onto the map of the particles onto the data. Sinkhorn starts from the previous iteration's potentials.
/// </summary>
internal sealed class EntropicMapObjective(CmmContext context, FitOptions options, bool generatorNetwork, int sourceCount, int dimension) : IFitObjective
{
    private readonly SinkhornSolver sinkhorn = new(context, new SinkhornOptions { RelativeEpsilon = options.EpsilonRelative, Tolerance = options.SinkhornTolerance, MaxIterations = 2000 });
    private readonly DevicePoints targets = DevicePoints.Allocate(context, sourceCount, dimension);
    private bool warm;

    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        var from = generatorNetwork ? state.Particles.States : state.Batch;
        var to = generatorNetwork ? state.Batch : state.Particles.States;
        var sk = sinkhorn.Solve(from, to, warmStart: warm);
        warm = true;
        sinkhorn.EntropicMap(from, targets);
        state.Network.LossParameterGradient(from, targets, gradient, loss);
        return new ObjectiveStep(1, sk.Iterations, sk.MarginalError);
    }

    /// <inheritdoc />
    public (float[] F, float[] G)? SaveState() => sinkhorn.F is { } f && sinkhorn.G is { } g ? (f.ToArray(), g.ToArray()) : null;

    /// <inheritdoc />
    public void RestoreState(float[] f, float[] g)
    {
        sinkhorn.SetPotentials(f, g);
        warm = true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        targets.Dispose();
        sinkhorn.Dispose();
    }
}
