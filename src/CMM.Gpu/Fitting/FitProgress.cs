namespace CMM.Gpu.Fitting;

/// <summary>One outer iteration of the fitting loop, as reported to observers.</summary>
/// <param name="Iteration">1-based iteration just finished.</param>
/// <param name="TotalIterations">Iterations planned.</param>
/// <param name="Loss">The objective's value on this iteration's batch.</param>
/// <param name="SinkhornIterations">Sinkhorn iterations (map objective; 0 otherwise).</param>
/// <param name="SinkhornMarginalError">Final Sinkhorn L1 marginal error (map objective; NaN otherwise).</param>
/// <param name="LangevinAcceptance">MALA acceptance rate, or 1 for ULA.</param>
/// <param name="ConjugateConvergedFraction">Fraction of conjugate solves that converged (semi-dual; 1 otherwise).</param>
/// <param name="Elapsed">Wall time since the fit started.</param>
public sealed record FitProgress(
    int Iteration,
    int TotalIterations,
    double Loss,
    int SinkhornIterations,
    double SinkhornMarginalError,
    double LangevinAcceptance,
    double ConjugateConvergedFraction,
    TimeSpan Elapsed);

/// <summary>Receives the fitting loop's progress (the CLI shows it as a live bar with ETA).</summary>
public interface IFitObserver
{
    /// <summary>Called after every outer iteration.</summary>
    /// <param name="progress">The iteration's figures.</param>
    void OnIteration(FitProgress progress);

    /// <summary>Called after a checkpoint has been written.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="iteration">The iteration it holds.</param>
    void OnCheckpoint(string path, int iteration);
}
