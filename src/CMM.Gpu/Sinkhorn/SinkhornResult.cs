namespace CMM.Gpu.Sinkhorn;

/// <summary>How a Sinkhorn solve ended.</summary>
public enum SinkhornStatus
{
    /// <summary>The L1 marginal error reached the tolerance at the target epsilon.</summary>
    Converged,

    /// <summary>The iteration cap was reached first; the potentials are the last iterate.</summary>
    MaxIterations,

    /// <summary>A potential became non-finite (NaN or infinity); the potentials are not usable.</summary>
    Diverged,

    /// <summary>The cancellation token was signalled (seen at an error check); the potentials are the last checked iterate.</summary>
    Cancelled,
}

/// <summary>
/// The outcome of one solve. Convention: P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps), C_ij = 1/2 |x_i - y_j|^2,
/// with a and b normalised to sum 1.
/// </summary>
public sealed record SinkhornResult
{
    /// <summary>How the solve ended.</summary>
    public required SinkhornStatus Status { get; init; }

    /// <summary>True when <see cref="Status"/> is <see cref="SinkhornStatus.Converged"/>.</summary>
    public bool Converged => Status == SinkhornStatus.Converged;

    /// <summary>Iterations run (each one f update and one g update), counting annealing iterations.</summary>
    public required int Iterations { get; init; }

    /// <summary>The last measured L1 row-marginal error sum_i |sum_j P_ij - a_i| (the column marginal is exact after each g update).</summary>
    public required double MarginalError { get; init; }

    /// <summary>Every measured marginal error, in order (one per check).</summary>
    public required IReadOnlyList<double> ErrorHistory { get; init; }

    /// <summary>The iteration count at which each entry of <see cref="ErrorHistory"/> was measured.</summary>
    public required IReadOnlyList<int> ErrorHistoryIterations { get; init; }

    /// <summary>The epsilon of the returned potentials (the target epsilon unless the cap was hit during annealing).</summary>
    public required double Epsilon { get; init; }

    /// <summary>The target epsilon (absolute).</summary>
    public required double TargetEpsilon { get; init; }

    /// <summary>The mean cost sum_ij a_i b_j C_ij, when it was computed (relative epsilon), else NaN.</summary>
    public required double MeanCost { get; init; }

    /// <summary>Potential f on x, length n (host copy; zero-mass points hold the soft c-transform of g).</summary>
    public required float[] F { get; init; }

    /// <summary>Potential g on y, length m (host copy).</summary>
    public required float[] G { get; init; }

    /// <summary>&lt;P, C&gt; = sum_ij P_ij C_ij, or NaN when not computed or diverged.</summary>
    public required double TransportCost { get; init; }

    /// <summary>
    /// The regularised objective, evaluated as the dual sum_i a_i f_i + sum_j b_j g_j. At exact marginals it equals
    /// the primal &lt;P, C&gt; + eps KL(P | a x b). NaN when diverged.
    /// </summary>
    public required double RegularizedCost { get; init; }

    /// <summary>The cost storage actually used.</summary>
    public required CostStorage CostStorage { get; init; }

    /// <summary>True when the solve started from given or previous potentials.</summary>
    public required bool WarmStarted { get; init; }

    /// <summary>True when this is the result of the automatic retry with epsilon scaling after a divergence.</summary>
    public required bool RetriedWithScaling { get; init; }
}

/// <summary>The debiased Sinkhorn divergence S_eps(a, b) = OT_eps(a, b) - 1/2 OT_eps(a, a) - 1/2 OT_eps(b, b).</summary>
/// <param name="Value">S_eps, with OT_eps the regularised objective of each solve.</param>
/// <param name="Cross">The solve between a and b.</param>
/// <param name="SelfX">The solve between a and itself.</param>
/// <param name="SelfY">The solve between b and itself.</param>
public sealed record SinkhornDivergenceResult(double Value, SinkhornResult Cross, SinkhornResult SelfX, SinkhornResult SelfY)
{
    /// <summary>True when all three solves converged.</summary>
    public bool Converged => Cross.Converged && SelfX.Converged && SelfY.Converged;
}
