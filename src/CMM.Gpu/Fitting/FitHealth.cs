using System.Globalization;

namespace CMM.Gpu.Fitting;

/// <summary>What the health monitor asks the fitting loop to do after an iteration.</summary>
internal enum FitHealthAction
{
    /// <summary>Carry on.</summary>
    None,

    /// <summary>Halve the particles' Langevin step (MALA acceptance stayed below its floor; a halving is left).</summary>
    HalveLangevinStep,

    /// <summary>Stop with <see cref="FitStatus.SamplerFailed"/>: MALA acceptance stayed below its floor after every halving allowed.</summary>
    StopSamplerFailed,

    /// <summary>Stop with <see cref="FitStatus.SolverFailed"/>: the share of converged conjugate solves stayed below its floor.</summary>
    StopSolverFailed,
}

/// <summary>The monitor's verdict on one iteration.</summary>
/// <param name="Action">What the loop must do.</param>
/// <param name="Warnings">One-line messages for <see cref="IFitObserver.OnHealthWarning"/> (a figure just dropped below its floor,
/// or the step was halved).</param>
/// <param name="Reason">For a stop: the one-line reason (figure, floor, iterations); null otherwise.</param>
internal sealed record FitHealthVerdict(FitHealthAction Action, IReadOnlyList<string> Warnings, string? Reason);

/// <summary>
/// Watches the fitting particles' MALA acceptance and the share of converged conjugate solves (docs/fitting.md, "Health
/// monitoring"). Its decisions are a function of the figures of the last <see cref="FitOptions.HealthWindow"/> iterations
/// (since the last halving of the step) and of the halvings used so far, nothing else: a checkpoint that stores these (see
/// <see cref="FitCheckpoint.HealthAcceptance"/>) makes a resumed fit decide exactly as the uninterrupted one. A healthy fit
/// (every window's means at or above the floors) is never acted on, so the monitor leaves it bit for bit as it was.
/// </summary>
internal sealed class FitHealth
{
    private readonly FitOptions options;
    private readonly List<double> acceptance = [];
    private readonly List<double> converged = [];

    /// <summary>Creates a monitor with an empty window.</summary>
    /// <param name="options">The fit's options (window, floors, halvings allowed).</param>
    public FitHealth(FitOptions options)
    {
        this.options = options;
    }

    /// <summary>Halvings of the Langevin step made so far.</summary>
    public int StepHalvings { get; private set; }

    /// <summary>The window's MALA acceptance rates, oldest first (at most <see cref="FitOptions.HealthWindow"/>).</summary>
    public IReadOnlyList<double> Acceptance => acceptance;

    /// <summary>The window's converged fractions, oldest first.</summary>
    public IReadOnlyList<double> Converged => converged;

    /// <summary>Whether one iteration's own figures are at or above both floors.</summary>
    /// <param name="progress">The iteration's figures.</param>
    /// <returns>True when healthy.</returns>
    public bool IsHealthy(FitProgress progress) => SamplerHealthy(progress.LangevinAcceptance) && SolverHealthy(progress.ConjugateConvergedFraction);

    /// <summary>Sets the state a checkpoint stored.</summary>
    /// <param name="windowAcceptance">The window's acceptance rates, oldest first.</param>
    /// <param name="windowConverged">The window's converged fractions (as many).</param>
    /// <param name="stepHalvings">Halvings made so far.</param>
    /// <exception cref="InvalidDataException">Inconsistent lengths or values.</exception>
    public void Restore(double[] windowAcceptance, double[] windowConverged, int stepHalvings)
    {
        if (windowAcceptance.Length != windowConverged.Length || windowAcceptance.Length > options.HealthWindow || stepHalvings < 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"the checkpoint's health window holds {windowAcceptance.Length} acceptance and {windowConverged.Length} convergence figures and {stepHalvings} halvings (window {options.HealthWindow})"));
        }

        acceptance.Clear();
        acceptance.AddRange(windowAcceptance);
        converged.Clear();
        converged.AddRange(windowConverged);
        StepHalvings = stepHalvings;
    }

    /// <summary>Adds a completed iteration's figures to the window and judges it.</summary>
    /// <param name="progress">The iteration's figures (<see cref="FitProgress.Iteration"/> is the 1-based iteration just done).</param>
    /// <returns>The verdict.</returns>
    public FitHealthVerdict Observe(FitProgress progress)
    {
        int t = progress.Iteration;
        var warnings = new List<string>();
        // A warning when a figure drops below its floor after a window's length without doing so (at most one per window per figure).
        if (!SamplerHealthy(progress.LangevinAcceptance) && acceptance.TrueForAll(SamplerHealthy))
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"MALA acceptance of the fitting particles fell to {progress.LangevinAcceptance:P1} at iteration {t}, below its floor of {options.MinLangevinAcceptance:P1}; " +
                              $"if it stays there over {options.HealthWindow} iterations {(StepHalvings < options.MaxStepHalvings ? $"the Langevin step is halved ({Halvings(options.MaxStepHalvings - StepHalvings)} left)" : "the fit stops")}"));
        }

        if (!SolverHealthy(progress.ConjugateConvergedFraction) && converged.TrueForAll(SolverHealthy))
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"only {progress.ConjugateConvergedFraction:P1} of the conjugate solves converged at iteration {t}, below the floor of {options.MinConjugateConverged:P1}; " +
                              $"if it stays there over {options.HealthWindow} iterations the fit stops"));
        }

        Push(acceptance, progress.LangevinAcceptance);
        Push(converged, progress.ConjugateConvergedFraction);
        if (acceptance.Count < options.HealthWindow)
        {
            return new FitHealthVerdict(FitHealthAction.None, warnings, null);
        }

        int first = t - options.HealthWindow + 1;
        double meanAcceptance = acceptance.Average();
        double meanConverged = converged.Average();
        bool samplerLow = !SamplerHealthy(meanAcceptance);
        bool solverLow = !SolverHealthy(meanConverged);
        if (samplerLow && StepHalvings < options.MaxStepHalvings)
        {
            // A smaller step raises MALA's acceptance (its rejections grow with the step); the next window judges the new step.
            StepHalvings++;
            acceptance.Clear();
            converged.Clear();
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"MALA acceptance of the fitting particles averaged {meanAcceptance:P1} over iterations {first}-{t}, below its floor of {options.MinLangevinAcceptance:P1}: " +
                              $"Langevin step halved (halving {StepHalvings} of {options.MaxStepHalvings})"));
            return new FitHealthVerdict(FitHealthAction.HalveLangevinStep, warnings, null);
        }

        if (solverLow)
        {
            return new FitHealthVerdict(FitHealthAction.StopSolverFailed, warnings,
                string.Create(CultureInfo.InvariantCulture, $"conjugate solver failed: {meanConverged:P1} of the solves converged on average over iterations {first}-{t}, below the floor of {options.MinConjugateConverged:P1} (FitOptions.MinConjugateConverged, cmm fit --min-converged)"));
        }

        if (samplerLow)
        {
            return new FitHealthVerdict(FitHealthAction.StopSamplerFailed, warnings,
                string.Create(CultureInfo.InvariantCulture, $"sampler failed: MALA acceptance of the fitting particles averaged {meanAcceptance:P1} over iterations {first}-{t}, below its floor of {options.MinLangevinAcceptance:P1} (FitOptions.MinLangevinAcceptance, cmm fit --min-acceptance), " +
                     $"{(StepHalvings == 0 ? "no halving of the Langevin step allowed" : $"after {Halvings(StepHalvings)} of the Langevin step")}"));
        }

        return new FitHealthVerdict(FitHealthAction.None, warnings, null);
    }

    private static string Halvings(int n) => n == 1 ? "1 halving" : n.ToString(CultureInfo.InvariantCulture) + " halvings";

    // NaN counts as below the floor.
    private bool SamplerHealthy(double acceptanceRate) => acceptanceRate >= options.MinLangevinAcceptance;

    private bool SolverHealthy(double convergedFraction) => convergedFraction >= options.MinConjugateConverged;

    private void Push(List<double> window, double value)
    {
        window.Add(value);
        if (window.Count > options.HealthWindow)
        {
            window.RemoveAt(0);
        }
    }
}
