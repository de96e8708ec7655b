namespace CMM.Gpu;

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

    /// <summary>
    /// Called when a step produced a non-finite loss or parameters: the model was rolled back to the last good
    /// iteration and the learning rate scaled by <paramref name="learningRateScale"/> (0 when the fit gives up).
    /// </summary>
    /// <param name="iteration">The 1-based iteration that failed (it is retried).</param>
    /// <param name="learningRateScale">The new learning-rate multiplier, or 0 when the fit stops as diverged.</param>
    void OnRecovery(int iteration, double learningRateScale);

    /// <summary>Called after a checkpoint has been written.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="iteration">The iteration it holds.</param>
    void OnCheckpoint(string path, int iteration);

    /// <summary>Called once before the first iteration when the fit continues from a checkpoint.</summary>
    /// <param name="iteration">The iteration the checkpoint holds (the fit goes on from the next one).</param>
    void OnResumed(int iteration)
    {
    }

    /// <summary>Called after each early-stopping validation (<see cref="FitOptions.ValidationFraction"/> &gt; 0).</summary>
    /// <param name="iteration">The iteration just validated.</param>
    /// <param name="energyDistance">Energy distance between the mapped particles and the validation points.</param>
    /// <param name="best">The best so far (this one when it improved).</param>
    /// <param name="improved">Whether this validation is the new best (its parameters are kept).</param>
    void OnValidation(int iteration, double energyDistance, double best, bool improved)
    {
    }

    /// <summary>Called when the health monitor (docs/fitting.md, "Health monitoring") sees a figure drop below its floor
    /// (<see cref="FitOptions.MinLangevinAcceptance"/>, <see cref="FitOptions.MinConjugateConverged"/>) or halves the Langevin
    /// step; a fit that then stops reports why in <see cref="FitResult.Reason"/>.</summary>
    /// <param name="iteration">The 1-based iteration just finished.</param>
    /// <param name="message">One line naming the figure, its value, its floor and what happens next.</param>
    void OnHealthWarning(int iteration, string message)
    {
    }
}
