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
/// model does not visit still count. V is evaluated in double precision, by kernels on the device for the energies that have
/// them (<see cref="IEnergy.Evaluate(Memory.DevicePoints, Span{double}, Span{double})"/>).
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
    private readonly double share;
    private readonly double targetWeight;

    public ResidualObjective(CmmContext context, IEnergy energy, GaussianStart start, FitOptions options, int dimension, ConjugateOptions conjugateOptions)
    {
        this.energy = energy;
        this.dimension = dimension;
        solver = new ConjugateSolver(context);
        mapped = DevicePoints.Allocate(context, options.Particles, dimension);
        Options = conjugateOptions;
        proposal = new GaussianComponent(start.Mean, Matrix<double>.Build.DenseOfRowMajor(dimension, dimension, start.Covariance).ToArray(), "the start's covariance");
        proposalCount = (int)Math.Round(options.ProposalShare * options.Particles);
        share = (double)proposalCount / options.Particles;
        seed = options.Seed;
        targetWeight = options.TargetWeight;
    }

    /// <summary>The options of the conjugate solves.</summary>
    public ConjugateOptions Options { get; set; }

    /// <inheritdoc />
    public ObjectiveStep Compute(FitState state, DeviceVector gradient, DeviceVector loss)
    {
        var solve = solver.SolveDeferred(state.Network, state.Particles.States, mapped, Options); // its result stays on the device
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

        // On the device for the energies with kernels (IEnergy's default copies the points to the host).
        var energies = new double[n];
        energy.Evaluate(mapped, energies, default);
        int bad = Array.FindIndex(energies, e => !double.IsFinite(e));
        if (bad >= 0)
        {
            throw new EnergyException(FormattableString.Invariant(
                $"the energy '{energy.Name}' returned {energies[bad]} at y = ({string.Join(", ", points.AsSpan(bad * d, d).ToArray().Select(v => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)))})"));
        }

        state.Network.ResidualParameterGradient(mapped, energies, gradient, loss,
            targetWeight > 0 ? residuals => TargetWeights(points, energies, residuals).Select(w => (targetWeight * w) + ((1 - targetWeight) / n)).ToArray() : null);
        return new ObjectiveStep(Solve: solve); // unread: the fitter counts its converged points on the device
    }

    /// <summary>
    /// Self-normalised importance weights towards rho of points drawn from p = (1 - s) q + s g (the model q, the start's
    /// Gaussian g, s the proposal share): pi_i proportional to exp(-V_i) / p(y_i). The model's unnormalised density is
    /// exp(-V_i - r_i), since r = log(exp(-V) / q~); its normaliser Z solves Z = mean_i q~_i / p_i(Z) (the balance heuristic of
    /// multiple importance sampling), found by fixed-point iteration from the proposals' own estimate. Equal weights when a
    /// residual is not finite (the objective is NaN then anyway).
    /// </summary>
    internal double[] TargetWeights(float[] points, double[] energies, double[] residuals)
    {
        int n = residuals.Length, d = dimension;
        if (residuals.Any(r => !double.IsFinite(r)))
        {
            return Enumerable.Repeat(1.0 / n, n).ToArray();
        }

        var logQ = new double[n]; // log q~(y_i)
        var logG = new double[n]; // log g(y_i)
        for (int i = 0; i < n; i++)
        {
            logQ[i] = -energies[i] - residuals[i];
            logG[i] = share > 0 ? -proposal.NegativeLogDensity(points.AsSpan(i * d, d), default) : double.NegativeInfinity;
        }

        double logZ = 0;
        if (share > 0)
        {
            // Start from the proposals' estimate mean_(i in g) q~ / g, then iterate Z = mean_i q~_i / p_i(Z).
            logZ = LogMeanExp(Enumerable.Range(0, proposalCount).Select(i => logQ[i] - logG[i]).ToArray());
            for (int iteration = 0; iteration < 50; iteration++)
            {
                double z = logZ;
                double next = LogMeanExp(Enumerable.Range(0, n).Select(i => logQ[i] - LogMixture(logQ[i] - z, logG[i])).ToArray());
                logZ = next;
                if (Math.Abs(next - z) < 1e-10)
                {
                    break;
                }
            }
        }

        var logW = new double[n];
        for (int i = 0; i < n; i++)
        {
            logW[i] = -energies[i] - (share > 0 ? LogMixture(logQ[i] - logZ, logG[i]) : logQ[i]);
        }

        double max = logW.Max(), total = 0;
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            w[i] = Math.Exp(logW[i] - max);
            total += w[i];
        }

        for (int i = 0; i < n; i++)
        {
            w[i] /= total;
        }

        return w;
    }

    /// <summary>log((1 - s) e^a + s e^b).</summary>
    private double LogMixture(double logModel, double logProposal)
    {
        double a = Math.Log(1 - share) + logModel, b = Math.Log(share) + logProposal, m = Math.Max(a, b);
        return m + Math.Log(Math.Exp(a - m) + Math.Exp(b - m));
    }

    private static double LogMeanExp(double[] values) => Energies.EnergyDiagnostics.LogMeanExp(values);

    /// <inheritdoc />
    public void Dispose()
    {
        mapped.Dispose();
        solver.Dispose();
    }
}
