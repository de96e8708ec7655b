using System.Globalization;
using CMM.Gpu.Costs;

namespace CMM.Gpu.Sinkhorn;

/// <summary>Where the n x m cost matrix lives during the Sinkhorn iterations.</summary>
public enum CostStorage
{
    /// <summary><see cref="Stored"/> when the matrix fits the memory budget (see <see cref="SinkhornOptions.MaxStoredCostBytes"/>), else <see cref="Online"/>.</summary>
    Auto,

    /// <summary>The n x m matrix is computed once per solve and read by every iteration.</summary>
    Stored,

    /// <summary>The cost is recomputed from the points inside each reduction: memory O((n + m) d), nothing n x m.</summary>
    Online,
}

/// <summary>
/// Options of the log-domain Sinkhorn solver. Immutable; defaults are sensible for the CMM fitting
/// loop. Call <see cref="Validate"/> (or let the solver call <see cref="ThrowIfInvalid"/>) to check them.
/// </summary>
public sealed record SinkhornOptions
{
    /// <summary>Absolute epsilon. When null, epsilon = <see cref="RelativeEpsilon"/> x the mean cost of the two weighted clouds.</summary>
    public double? Epsilon { get; init; }

    /// <summary>Epsilon relative to the mean cost sum_ij a_i b_j C_ij (used when <see cref="Epsilon"/> is null). Default 0.05.</summary>
    public double RelativeEpsilon { get; init; } = 0.05;

    /// <summary>Stop when the L1 error of the row marginal, sum_i |sum_j P_ij - a_i|, is at most this. Default 1e-3.</summary>
    public double Tolerance { get; init; } = 1e-3;

    /// <summary>Iteration cap (one iteration = one f update and one g update). Default 1000.</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>The marginal error is computed (one host synchronisation) every this many iterations. Default 10.</summary>
    public int CheckEvery { get; init; } = 10;

    /// <summary>
    /// Epsilon scaling (annealing): iteration t runs at eps_t = eps * max(1, <see cref="ScalingStart"/> * <see cref="ScalingDecay"/>^t),
    /// so it starts <see cref="ScalingStart"/> times larger and reaches the target epsilon geometrically. Off by default.
    /// </summary>
    public bool EpsilonScaling { get; init; }

    /// <summary>Initial epsilon of the annealing as a multiple of the target epsilon (&gt; 1). Default 100.</summary>
    public double ScalingStart { get; init; } = 100;

    /// <summary>Per-iteration factor of the annealing, in (0, 1). Default 0.9.</summary>
    public double ScalingDecay { get; init; } = 0.9;

    /// <summary>
    /// Over-relaxation factor omega in (0, 2): f &lt;- (1 - omega) f + omega T(g). 1 (the default) is plain
    /// Sinkhorn; values in (1, 2) can accelerate convergence at small epsilon but are not guaranteed to.
    /// </summary>
    public double Relaxation { get; init; } = 1.0;

    /// <summary>How the cost is held during the iterations. Default <see cref="Sinkhorn.CostStorage.Auto"/>.</summary>
    public CostStorage CostStorage { get; init; } = CostStorage.Auto;

    /// <summary>Largest stored cost matrix (bytes) <see cref="Sinkhorn.CostStorage.Auto"/> accepts; also capped at a quarter of device memory. Default 1 GiB.</summary>
    public long MaxStoredCostBytes { get; init; } = 1L << 30;

    /// <summary>Kernel form: <see cref="KernelVariant.Auto"/> chooses by accelerator (tiled on GPUs, row per thread on the CPU).</summary>
    public KernelVariant Variant { get; init; } = KernelVariant.Auto;

    /// <summary>When a solve without epsilon scaling diverges, solve again once from zero potentials with scaling on. Default true.</summary>
    public bool RetryWithScalingOnDivergence { get; init; } = true;

    /// <summary>Compute the transport cost &lt;P, C&gt; after solving (one extra pass over the pairs). Default true.</summary>
    public bool ComputeTransportCost { get; init; } = true;

    /// <summary>Every problem with these options, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Epsilon is { } e && !(e > 0 && double.IsFinite(e)))
        {
            problems.Add(Invariant($"Epsilon is {e}: use a finite positive value, or null to use RelativeEpsilon."));
        }

        if (Epsilon is null && !(RelativeEpsilon > 0 && double.IsFinite(RelativeEpsilon)))
        {
            problems.Add(Invariant($"RelativeEpsilon is {RelativeEpsilon}: use a finite positive fraction of the mean cost such as 0.05."));
        }

        if (!(Tolerance > 0 && double.IsFinite(Tolerance)))
        {
            problems.Add(Invariant($"Tolerance is {Tolerance}: use a finite positive L1 marginal error such as 1e-3."));
        }

        if (MaxIterations < 1)
        {
            problems.Add(Invariant($"MaxIterations is {MaxIterations}: use at least 1."));
        }

        if (CheckEvery < 1)
        {
            problems.Add(Invariant($"CheckEvery is {CheckEvery}: use at least 1 (10 is a good default)."));
        }

        if (EpsilonScaling && !(ScalingStart > 1 && double.IsFinite(ScalingStart)))
        {
            problems.Add(Invariant($"ScalingStart is {ScalingStart}: use a finite value above 1 (e.g. 100), or turn EpsilonScaling off."));
        }

        if (!(ScalingDecay > 0 && ScalingDecay < 1))
        {
            problems.Add(Invariant($"ScalingDecay is {ScalingDecay}: use a factor strictly between 0 and 1 (e.g. 0.9)."));
        }

        if (!(Relaxation > 0 && Relaxation < 2))
        {
            problems.Add(Invariant($"Relaxation is {Relaxation}: use a value strictly between 0 and 2 (1 = plain Sinkhorn)."));
        }

        if (!Enum.IsDefined(CostStorage))
        {
            problems.Add(Invariant($"CostStorage is {(int)CostStorage}: use Auto, Stored or Online."));
        }

        if (MaxStoredCostBytes < 0)
        {
            problems.Add(Invariant($"MaxStoredCostBytes is {MaxStoredCostBytes}: use 0 (never store) or a positive byte count."));
        }

        if (!Enum.IsDefined(Variant))
        {
            problems.Add(Invariant($"Variant is {(int)Variant}: use Auto, RowPerThread or Tiled."));
        }

        return problems;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when the options are invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid Sinkhorn options: " + string.Join(" ", problems));
        }
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
