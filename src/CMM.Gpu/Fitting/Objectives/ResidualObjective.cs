using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Energies;
using CMM.Gpu.Memory;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Fitting.Objectives;

/// <summary>
/// CMFMA's objective (docs/cmfma.md): the variance over points y (held fixed) of the Monge-Ampere residual
/// r(y) = w(grad w(y)) - log det Hess w(y) - V(y) (<see cref="Icnn.IcnnPotential.ResidualParameterGradient"/>). The points are
/// the model's samples grad w*(x) of the particles (one conjugate solve each), except a share
/// (<see cref="FitOptions.ProposalShare"/>) drawn afresh from the start's Gaussian, seeded by iteration, so that regions the
/// model does not visit still count. V is evaluated on the host in double precision.
/// </summary>
internal sealed class ResidualObjective : IFitObjective
{
    private readonly IEnergy energy;
    private readonly ConjugateSolver solver;
    private readonly DevicePoints mapped;
    private readonly GaussianComponent proposal;
    private readonly int proposalCount;
    private readonly int seed;
    private readonly int dimension;

    public ResidualObjective(CmmContext context, IEnergy energy, GaussianStart start, FitOptions options, int dimension, ConjugateOptions conjugateOptions)
    {
        this.energy = energy;
        this.dimension = dimension;
        solver = new ConjugateSolver(context);
        mapped = DevicePoints.Allocate(context, options.Particles, dimension);
        Options = conjugateOptions;
        proposal = new GaussianComponent(start.Mean, Matrix<double>.Build.DenseOfRowMajor(dimension, dimension, start.Covariance).ToArray(), "the start's covariance");
        proposalCount = (int)Math.Round(options.ProposalShare * options.Particles);
        seed = options.Seed;
    }

    /// <summary>The options of the conjugate solves.</summary>
    public ConjugateOptions Options { get; set; }

    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        var solve = solver.Solve(state.Network, state.Particles.States, mapped, Options);
        int n = mapped.Count, d = dimension;
        var points = mapped.ToArray();
        var rng = new Random(unchecked((seed * 7_368_787) ^ (state.Iteration * 2_654_435) ^ 0xC3F));
        for (int i = 0; i < proposalCount; i++)
        {
            proposal.Sample(rng, points.AsSpan(i * d, d));
        }

        if (proposalCount > 0)
        {
            mapped.CopyFrom(points);
        }

        var energies = new double[n];
        energy.Evaluate(points, energies, default);
        int bad = Array.FindIndex(energies, e => !double.IsFinite(e));
        if (bad >= 0)
        {
            throw new EnergyException(FormattableString.Invariant(
                $"the energy '{energy.Name}' returned {energies[bad]} at y = ({string.Join(", ", points.AsSpan(bad * d, d).ToArray().Select(v => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)))})"));
        }

        state.Network.ResidualParameterGradient(mapped, energies, gradient, loss);
        return new ObjectiveStep(solve.ConvergedFraction);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        mapped.Dispose();
        solver.Dispose();
    }
}
