using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using MathNet.Numerics.Optimization;

namespace CMM.Gpu.Energies;

/// <summary>A local minimum of V and its Laplace approximation N(mode, Hess V(mode)^-1), with its relative mass
/// exp(-V(mode)) sqrt(det covariance) (normalised over the modes found).</summary>
/// <param name="Mode">The minimiser.</param>
/// <param name="Covariance">The inverse Hessian there, row-major d x d.</param>
/// <param name="Energy">V at the mode.</param>
/// <param name="Weight">The Laplace mass, normalised over the modes found.</param>
public sealed record LaplaceMode(double[] Mode, double[] Covariance, double Energy, double Weight);

/// <summary>
/// The Gaussian start of a fit to an energy (docs/cmfma.md): BFGS on V from many starting points finds its local minima; each
/// gets its Laplace approximation; the start is the Gaussian with the mean and covariance of their mixture, weighted by
/// their Laplace masses. For one mode it is the Laplace approximation itself; for several it spans them all, so the fit's
/// first particles already visit every mode found. When the minima found are degenerate (a positive definite Hessian with a
/// condition number above 10^10, as at the mode of Neal's funnel), the start is the mean and covariance of a plain MALA pilot
/// run from N(0, spread^2 I) instead, and no modes are returned.
/// </summary>
public static class EnergyStart
{
    /// <summary>Finds the modes and the moment-matched Gaussian.</summary>
    /// <param name="energy">The energy.</param>
    /// <param name="starts">Starting points: the origin and starts - 1 draws of N(0, spread^2 I).</param>
    /// <param name="spread">The standard deviation of the random starts (the scale the modes are looked for at).</param>
    /// <param name="seed">Seed of the starts.</param>
    /// <returns>The mean, the covariance and the modes (heaviest first).</returns>
    /// <exception cref="ArgumentException">No start reached a minimum with a positive definite Hessian: V has no finite
    /// minimum (it may not be normalisable, for example V = 0) or returns non-finite values.</exception>
    public static (double[] Mean, double[,] Covariance, IReadOnlyList<LaplaceMode> Modes) Estimate(IEnergy energy, int starts = 32, double spread = 3, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(energy);
        int d = energy.Dimension;
        var rng = new Random(seed);
        var found = new List<(Vector<double> Mode, Matrix<double> Covariance, double Energy)>();
        bool degenerate = false; // a minimum whose Hessian is positive definite but too ill-conditioned to use
        var problems = new List<string>();
        for (int s = 0; s < starts; s++)
        {
            var x0 = Vector<double>.Build.Dense(d, _ => s == 0 ? 0 : spread * GaussianComponent.Normal(rng));
            var result = Minimise(energy, x0, problems);
            if (result is not { } r)
            {
                continue;
            }

            var hessian = Hessian(energy, r.Mode);
            var evd = hessian.Evd(Symmetricity.Symmetric);
            double smallest = evd.EigenValues.Min(e => e.Real);
            if (!(smallest > 1e-10 * Math.Max(1, evd.EigenValues.Max(e => e.Real))))
            {
                degenerate |= smallest > 0;
                problems.Add($"the Hessian of V at a stationary point is not positive definite (smallest eigenvalue {smallest:G3})");
                continue;
            }

            var cov = hessian.Inverse();
            cov = (cov + cov.Transpose()) * 0.5;
            // The same mode again: within a tenth of a standard deviation of one already found.
            if (found.Any(f => Mahalanobis(f.Mode - r.Mode, f.Covariance) < 0.1))
            {
                continue;
            }

            found.Add((r.Mode, cov, r.Energy));
        }

        if (found.Count == 0 && degenerate)
        {
            // Minima exist but their curvature spans more than 10 orders of magnitude (Neal's funnel: its mode is deep in the
            // neck): the Laplace approximation says nothing about the mass. Start from the moments of a plain MALA pilot run.
            var broad = new double[d, d];
            for (int k = 0; k < d; k++)
            {
                broad[k, k] = spread * spread;
            }

            var (pilotMean, pilotCovariance) = PilotMoments(energy, new double[d], broad, precondition: false, seed);
            return (pilotMean, pilotCovariance, []);
        }

        if (found.Count == 0)
        {
            throw new ArgumentException($"the energy has no finite minimum with a positive definite Hessian from {starts} starts " +
                $"(is exp(-V) normalisable?){(problems.Count > 0 ? ": " + problems[0] : "")}");
        }

        // Laplace masses exp(-V(m)) sqrt(det S), normalised in the log domain.
        var logMass = found.Select(f => -f.Energy + (0.5 * f.Covariance.Cholesky().DeterminantLn)).ToArray();
        double max = logMass.Max();
        var weights = logMass.Select(l => Math.Exp(l - max)).ToArray();
        double total = weights.Sum();
        var mean = Vector<double>.Build.Dense(d);
        var second = Matrix<double>.Build.Dense(d, d);
        for (int k = 0; k < found.Count; k++)
        {
            weights[k] /= total;
            mean += weights[k] * found[k].Mode;
            second += weights[k] * (found[k].Covariance + found[k].Mode.OuterProduct(found[k].Mode));
        }

        var covariance = second - mean.OuterProduct(mean);
        covariance = (covariance + covariance.Transpose()) * 0.5;
        var modes = found.Select((f, k) => new LaplaceMode(f.Mode.ToArray(), f.Covariance.ToRowMajorArray(), f.Energy, weights[k]))
            .OrderByDescending(m => m.Weight).ToArray();
        return (mean.ToArray(), covariance.ToArray(), modes);
    }

    /// <summary>
    /// The mean and covariance of a MALA pilot run on rho (64 chains of 1,000 + 1,000 steps) from draws of the Laplace start
    /// (<see cref="Estimate"/>) and preconditioned by its covariance: a start that sees how far rho reaches beyond the curvature
    /// at its mode (a banana's arms), for <see cref="FitOptions.PilotStart"/>. Its chains do not cross between separated modes,
    /// so for a multimodal rho the Laplace mixture's moments are the better start.
    /// </summary>
    /// <param name="energy">The energy.</param>
    /// <param name="mean">The Laplace start's mean (<see cref="Estimate"/>).</param>
    /// <param name="covariance">Its covariance.</param>
    /// <param name="seed">Seed of the chains.</param>
    /// <returns>The mean and covariance.</returns>
    /// <exception cref="ArgumentException">The pilot's covariance is not positive definite, or V is not finite at a chain's start.</exception>
    public static (double[] Mean, double[,] Covariance) Pilot(IEnergy energy, double[] mean, double[,] covariance, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(energy);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        return PilotMoments(energy, mean, covariance, precondition: true, seed);
    }

    /// <summary>Mean and covariance of a MALA pilot run (64 chains, 1,000 + 1,000 steps) from N(mean, covariance).</summary>
    private static (double[] Mean, double[,] Covariance) PilotMoments(IEnergy energy, double[] startMean, double[,] startCovariance, bool precondition, int seed)
    {
        int d = energy.Dimension;
        var counted = energy as CountingEnergy ?? new CountingEnergy(energy);
        var run = EnergyMala.RunFrom(counted, new MalaOptions { Chains = 64, Steps = 1000, BurnIn = 1000, Precondition = precondition, Seed = seed },
            startMean, startCovariance, System.Diagnostics.Stopwatch.StartNew(), CancellationToken.None);
        var x = Matrix<double>.Build.Dense(run.Samples.Length / d, d, (i, k) => run.Samples[(i * d) + k]);
        var mean = x.ColumnSums() / x.RowCount;
        var centred = x - Matrix<double>.Build.Dense(x.RowCount, d, (_, k) => mean[k]);
        var covariance = centred.TransposeThisAndMultiply(centred) / (x.RowCount - 1);
        covariance = (covariance + covariance.Transpose()) * 0.5;
        if (!covariance.Enumerate().All(double.IsFinite) || covariance.Evd(Symmetricity.Symmetric).EigenValues.Min(e => e.Real) <= 0)
        {
            throw new ArgumentException("a MALA pilot run on the energy found no usable covariance (is exp(-V) normalisable?)");
        }

        return (mean.ToArray(), covariance.ToArray());
    }

    private static (Vector<double> Mode, double Energy)? Minimise(IEnergy energy, Vector<double> x0, List<string> problems)
    {
        int d = energy.Dimension;
        var point = new float[d];
        var value = new double[1];
        var gradient = new double[d];
        (double, Vector<double>) Evaluate(Vector<double> x)
        {
            for (int k = 0; k < d; k++)
            {
                point[k] = (float)x[k];
            }

            energy.Evaluate(point, value, gradient);
            return (value[0], Vector<double>.Build.DenseOfArray((double[])gradient.Clone()));
        }

        var (v0, g0) = Evaluate(x0);
        if (!double.IsFinite(v0) || g0.Any(g => !double.IsFinite(g)))
        {
            problems.Add("V or its gradient is not finite at a starting point");
            return null;
        }

        try
        {
            var objective = ObjectiveFunction.Gradient(Evaluate);
            var result = new BfgsMinimizer(1e-6, 1e-9, 1e-12, 2000).FindMinimum(objective, x0);
            return double.IsFinite(result.FunctionInfoAtMinimum.Value) ? (result.MinimizingPoint, result.FunctionInfoAtMinimum.Value) : null;
        }
        catch (Exception e) when (e is MaximumIterationsException or EvaluationException or InnerOptimizationException or ArgumentException)
        {
            problems.Add($"BFGS did not converge ({e.Message})");
            return null;
        }
    }

    /// <summary>Hess V by central differences of the analytic gradient (step 10^-4 (1 + |x_k|)), symmetrised.</summary>
    private static Matrix<double> Hessian(IEnergy energy, Vector<double> x)
    {
        int d = energy.Dimension;
        var h = Matrix<double>.Build.Dense(d, d);
        var point = new float[d];
        var value = new double[1];
        var plus = new double[d];
        var minus = new double[d];
        for (int k = 0; k < d; k++)
        {
            double step = 1e-3 * (1 + Math.Abs(x[k]));
            for (int c = 0; c < d; c++)
            {
                point[c] = (float)(x[c] + (c == k ? step : 0));
            }

            energy.Evaluate(point, value, plus);
            for (int c = 0; c < d; c++)
            {
                point[c] = (float)(x[c] - (c == k ? step : 0));
            }

            energy.Evaluate(point, value, minus);
            for (int c = 0; c < d; c++)
            {
                h[c, k] = (plus[c] - minus[c]) / (2 * step);
            }
        }

        return (h + h.Transpose()) * 0.5;
    }

    private static double Mahalanobis(Vector<double> diff, Matrix<double> covariance) => Math.Sqrt(diff * covariance.Solve(diff));
}
