using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;

namespace CMM.Gpu;

/// <summary>How a fit ended.</summary>
public enum FitStatus
{
    /// <summary>All iterations ran.</summary>
    Completed,

    /// <summary>Stopped by the caller (Ctrl+C); the state was checkpointed when a path was given.</summary>
    Cancelled,

    /// <summary>Non-finite losses kept coming back after the learning rate was lowered; the last good model is kept.</summary>
    Diverged,

    /// <summary>Early stopping: <see cref="FitOptions.Patience"/> validations passed without a new best; the best model is kept.</summary>
    EarlyStopped,

    /// <summary>Not a success: the fitting particles' MALA acceptance stayed below <see cref="FitOptions.MinLangevinAcceptance"/>
    /// after every halving of the Langevin step allowed (<see cref="FitResult.Reason"/> says by how much and when); the model
    /// holds the parameters of the last iteration whose figures met the floors.</summary>
    SamplerFailed,

    /// <summary>Not a success: the share of converged conjugate solves stayed below <see cref="FitOptions.MinConjugateConverged"/>
    /// (<see cref="FitResult.Reason"/> says by how much and when); the model holds the parameters of the last iteration whose
    /// figures met the floors.</summary>
    SolverFailed,
}

/// <summary>The outcome of <see cref="CmmFitter.Run"/>.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Iterations">Outer iterations completed (including those before a resume).</param>
/// <param name="LossHistory">The objective per iteration of this run.</param>
/// <param name="Recoveries">Non-finite steps that were rolled back.</param>
/// <param name="Elapsed">Wall time of this run.</param>
/// <param name="Model">The fitted model (architecture, parameters, metadata).</param>
public sealed record FitResult(FitStatus Status, int Iterations, IReadOnlyList<double> LossHistory, int Recoveries, TimeSpan Elapsed, IcnnModel Model)
{
    /// <summary>Early stopping: the best validation energy distance (null when early stopping is off or nothing was validated).</summary>
    public double? BestValidation { get; init; }

    /// <summary>Early stopping: the iteration whose parameters <see cref="Model"/> holds (null when off).</summary>
    public int? BestIteration { get; init; }

    /// <summary>What the fit did to the data on purpose (<see cref="CmmFitter.DataTreatment"/>), one line each; empty when nothing.</summary>
    public IReadOnlyList<string> DataTreatment { get; init; } = [];

    /// <summary>Why the fit did not succeed, in one line naming the figure, its floor and the iterations (null for
    /// <see cref="FitStatus.Completed"/>, <see cref="FitStatus.EarlyStopped"/> and <see cref="FitStatus.Cancelled"/>).</summary>
    public string? Reason { get; init; }

    /// <summary>Halvings of the particles' Langevin step made by the health monitor (low MALA acceptance), including those
    /// before a resume.</summary>
    public int StepHalvings { get; init; }

    /// <summary>The device work of this run's iterations on the fit's <see cref="CmmContext"/>, from the start of the first to the
    /// end of the last (<see cref="CmmContext.Counters"/> after minus before): kernel launches, host reads and writes and explicit
    /// waits. Iterations rolled back after a non-finite step, validations and checkpoints written between iterations are included;
    /// creating the fitter (kernel compilation, uploads, the start) and building the result are not. Other work on the same
    /// context during the run is counted too.</summary>
    public DeviceCounters DeviceWork { get; init; }

    /// <summary>Kernel launches per iteration of this run: <see cref="DeviceWork"/>'s launches over the iterations in
    /// <see cref="LossHistory"/>; NaN when none ran.</summary>
    public double KernelLaunchesPerIteration => PerIteration(DeviceWork.KernelLaunches);

    /// <summary>Host synchronisations (reads, writes and waits, <see cref="DeviceCounters.HostSynchronizations"/>) per iteration
    /// of this run; NaN when none ran.</summary>
    public double HostSynchronizationsPerIteration => PerIteration(DeviceWork.HostSynchronizations);

    /// <summary>True for <see cref="FitStatus.Completed"/> and <see cref="FitStatus.EarlyStopped"/>: the model is the fit's
    /// result. Otherwise it is the last good (diverged) or last healthy (sampler or solver failed) state, or where a
    /// cancelled fit stopped, and must not be used as a finished fit.</summary>
    public bool Succeeded => Status is FitStatus.Completed or FitStatus.EarlyStopped;

    private double PerIteration(long total) => LossHistory.Count > 0 ? (double)total / LossHistory.Count : double.NaN;
}
