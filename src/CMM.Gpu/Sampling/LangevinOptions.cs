using System.Globalization;
using System.Text;
using CMM.Gpu.Sampling;

namespace CMM.Gpu;

/// <summary>The Langevin sampler.</summary>
public enum LangevinSampler
{
    /// <summary>Unadjusted Langevin: x &lt;- x - tau grad w(x) + sqrt(2 tau) xi (biased by O(tau)).</summary>
    Ula,

    /// <summary>Metropolis-adjusted Langevin: the ULA move as a proposal, accepted with the Metropolis-Hastings ratio (exact).</summary>
    Mala,
}

/// <summary>
/// Options of a Langevin run. Immutable; <see cref="Validate"/> reports every problem at once.
/// Steps per run = BurnIn + Samples * Thin; a draw is kept every Thin steps after burn-in.
/// For exactly K steps (a fitting loop's inner Langevin phase) use BurnIn = K, Samples = 0.
/// </summary>
public sealed record LangevinOptions
{
    /// <summary>ULA or MALA.</summary>
    public LangevinSampler Sampler { get; init; } = LangevinSampler.Ula;

    /// <summary>Initial step size tau.</summary>
    public double StepSize { get; init; } = 0.05;

    /// <summary>Steps discarded before the first kept draw.</summary>
    public int BurnIn { get; init; } = 200;

    /// <summary>
    /// Kept draws per chain after burn-in, Thin steps apart (the R-hat diagnostics use them; generation outputs
    /// them). 0 gives a run of exactly BurnIn steps, which is what a fitting loop advancing its particles K steps per
    /// outer iteration wants: <c>new LangevinOptions { BurnIn = K, Samples = 0 }</c>.
    /// </summary>
    public int Samples { get; init; } = 1;

    /// <summary>Steps between kept draws.</summary>
    public int Thin { get; init; } = 1;

    /// <summary>MALA only: adapt tau during burn-in towards <see cref="TargetAcceptance"/> (Robbins-Monro on log tau).</summary>
    public bool AdaptStepSize { get; init; }

    /// <summary>Target MALA acceptance (0.574 is optimal for MALA in high dimension).</summary>
    public double TargetAcceptance { get; init; } = 0.574;

    /// <summary>Steps between host checks for divergence (and MALA adaptation); larger means fewer synchronisations.</summary>
    public int CheckEvery { get; init; } = 10;

    /// <summary>Step-size halvings allowed when chains diverge before the run gives up with <see cref="SamplingStatus.Diverged"/>.</summary>
    public int MaxBackoffs { get; init; } = 20;

    /// <summary>Chains used for the R-hat and Stein diagnostics (the first ones of the batch); 0 disables diagnostics.</summary>
    public int DiagnosticChains { get; init; } = 1024;

    /// <summary>Lists every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (!(StepSize > 0) || double.IsInfinity(StepSize))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"step size must be a positive finite number (got {StepSize}); try 0.05"));
        }

        if (BurnIn < 0)
        {
            p.Add($"burn-in must be 0 or more steps (got {BurnIn})");
        }

        if (Samples < 0)
        {
            p.Add($"kept draws per chain must be 0 or more (got {Samples})");
        }

        if (Thin < 1)
        {
            p.Add($"thinning must be at least 1 step (got {Thin})");
        }

        if (!(TargetAcceptance > 0 && TargetAcceptance < 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"target acceptance must lie strictly between 0 and 1 (got {TargetAcceptance}); 0.574 is the MALA optimum"));
        }

        if (AdaptStepSize && Sampler != LangevinSampler.Mala)
        {
            p.Add("step-size adaptation needs an acceptance rate: use the MALA sampler or turn adaptation off");
        }

        if (CheckEvery < 1)
        {
            p.Add($"check interval must be at least 1 step (got {CheckEvery})");
        }

        if (MaxBackoffs < 0)
        {
            p.Add($"maximum step-size back-offs must be 0 or more (got {MaxBackoffs})");
        }

        if (DiagnosticChains < 0)
        {
            p.Add($"diagnostic chains must be 0 (off) or more (got {DiagnosticChains})");
        }

        if ((long)BurnIn + (long)Samples * Thin > int.MaxValue / 2)
        {
            p.Add("burn-in + samples * thin is too large (above 2^30 steps)");
        }

        return p;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(new StringBuilder("invalid Langevin options: ").AppendJoin("; ", problems).ToString());
        }
    }
}

/// <summary>How a Langevin run ended.</summary>
public enum SamplingStatus
{
    /// <summary>Every step stayed finite at the requested step size.</summary>
    Ok,

    /// <summary>Some proposals were non-finite: those chains were kept at their last finite state and the step size was halved (see <see cref="LangevinResult.StepSize"/>).</summary>
    StepSizeReduced,

    /// <summary>Chains kept diverging after the allowed back-offs; states are finite (last finite ones) but not trustworthy.</summary>
    Diverged,

    /// <summary>Cancelled by the caller; states are the last finite ones.</summary>
    Cancelled,
}

/// <summary>Diagnostics of a Langevin run (computed in double on the host from the diagnostic chains).</summary>
/// <param name="Chains">Number of chains the diagnostics use.</param>
/// <param name="SplitRHat">Split R-hat per dimension (NaN when fewer than 2 kept draws per chain).</param>
/// <param name="MaxSplitRHat">max over dimensions of <paramref name="SplitRHat"/>; below about 1.01 means the chains agree.</param>
/// <param name="SteinGradientMean">Stein check 1: mean over chains of grad w(x) per dimension (expected 0).</param>
/// <param name="SteinGradientStandardError">Standard errors of <paramref name="SteinGradientMean"/>.</param>
/// <param name="SteinInnerMean">Stein check 2: mean of &lt;x, grad w(x)&gt; (expected d).</param>
/// <param name="SteinInnerStandardError">Its standard error.</param>
public sealed record LangevinDiagnostics(
    int Chains,
    IReadOnlyList<double> SplitRHat,
    double MaxSplitRHat,
    IReadOnlyList<double> SteinGradientMean,
    IReadOnlyList<double> SteinGradientStandardError,
    double SteinInnerMean,
    double SteinInnerStandardError)
{
    /// <summary>max_k |E[grad_k w]| / SE_k: a z-score, below about 4 when the chains sample exp(-w).</summary>
    public double SteinGradientMaxZ =>
        SteinGradientMean.Select((m, k) => Math.Abs(m) / Math.Max(SteinGradientStandardError[k], 1e-300)).DefaultIfEmpty(0).Max();

    /// <summary>|E[&lt;x, grad w&gt;] - d| / SE: a z-score.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>The z-score.</returns>
    public double SteinInnerZ(int dimension) => Math.Abs(SteinInnerMean - dimension) / Math.Max(SteinInnerStandardError, 1e-300);
}

/// <summary>The outcome of <see cref="LangevinChains.Run"/>.</summary>
/// <param name="Status">How the run ended.</param>
/// <param name="Steps">Steps taken.</param>
/// <param name="StepSize">The step size at the end (after adaptation or back-off).</param>
/// <param name="AcceptanceRate">Accepted / proposed moves over all chains and steps of this run (1 for ULA unless proposals diverged).</param>
/// <param name="DivergentChains">Chains that produced at least one non-finite proposal in this run.</param>
/// <param name="DivergentProposals">Non-finite proposals in this run (all rejected).</param>
/// <param name="Backoffs">Step-size halvings in this run.</param>
/// <param name="Diagnostics">R-hat and Stein checks, or null when disabled.</param>
public sealed record LangevinResult(
    SamplingStatus Status,
    int Steps,
    double StepSize,
    double AcceptanceRate,
    int DivergentChains,
    long DivergentProposals,
    int Backoffs,
    LangevinDiagnostics? Diagnostics);
