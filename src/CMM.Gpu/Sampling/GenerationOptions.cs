using System.Text;
using System.Globalization;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Sampling;

namespace CMM.Gpu;

/// <summary>How latents are mapped to samples.</summary>
public enum SampleMapping
{
    /// <summary>No mapping: the samples are the latents x ~ exp(-w).</summary>
    None,

    /// <summary>CMM: y = grad w*(x), by the batched conjugate solve.</summary>
    ConjugateGradient,

    /// <summary>Moment measure: y = grad u(x), one gradient call.</summary>
    Gradient,
}

/// <summary>
/// The K-th of N disjoint contiguous slices of the chain-index stream (K is 0-based: 0 &lt;= K &lt; N).
/// Shard K of N covers chains [floor(K C / N), floor((K + 1) C / N)) of C chains, so concatenating the
/// shards' outputs in order K = 0 .. N-1 gives exactly the unsharded output.
/// </summary>
/// <param name="Index">K, 0-based.</param>
/// <param name="Count">N.</param>
public readonly record struct Shard(int Index, int Count)
{
    /// <summary>The whole stream (shard 0 of 1).</summary>
    public static Shard All => new(0, 1);

    /// <summary>Parses "K/N" (0-based K, e.g. from SLURM_ARRAY_TASK_ID with --array=0-(N-1)).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The shard.</returns>
    /// <exception cref="FormatException">Not of the form K/N with 0 &lt;= K &lt; N.</exception>
    public static Shard Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length != 2 ||
            !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k) ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || k >= n)
        {
            throw new FormatException($"shard '{text}' must be K/N with 0 <= K < N, e.g. 0/4 for the first of four (K is 0-based)");
        }

        return new Shard(k, n);
    }

    /// <summary>The chain range [start, end) of this shard among <paramref name="chains"/> chains.</summary>
    /// <param name="chains">Total chains C.</param>
    /// <returns>Start and end (exclusive).</returns>
    public (long Start, long End) Range(long chains) =>
        ((long)(Index * (System.Numerics.BigInteger)chains / Count), (long)((Index + 1) * (System.Numerics.BigInteger)chains / Count));

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

/// <summary>
/// Options of a large generation run. Each global chain c (0 &lt;= c &lt; ceil(Count / Langevin.Samples))
/// starts from N(InitialCentre, InitialScale^2 I), runs Langevin.BurnIn steps, then yields Langevin.Samples draws
/// Langevin.Thin steps apart; draw j of chain c is global sample c * Samples + j (the last chain is cut at Count).
/// Immutable; <see cref="Validate"/> reports every problem at once.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Total number of samples N of the unsharded stream.</summary>
    public long Count { get; init; } = 1000;

    /// <summary>The seed of every random number.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// The sampling defaults of the library and of <c>cmm sample</c> alike: MALA with its step adapted (by a separate tuning
    /// run) to acceptance 0.574 from 0.1, 300 burn-in steps, one draw per chain. The step is read relative to the model's
    /// curvature by <see cref="Fitting.FittedModel.Relative"/>.
    /// </summary>
    public static LangevinOptions DefaultLangevin { get; } = new()
    {
        Sampler = LangevinSampler.Mala,
        StepSize = 0.1,
        AdaptStepSize = true,
        BurnIn = 300,
        Samples = 1,
    };

    /// <summary>The sampler (default <see cref="DefaultLangevin"/>); Samples and Thin set draws per chain. DiagnosticChains applies per chunk.</summary>
    public LangevinOptions Langevin { get; init; } = DefaultLangevin;

    /// <summary>Samples per chunk (bounds device memory independently of N).</summary>
    public int ChunkSize { get; init; } = 1 << 16;

    /// <summary>The slice of the stream this run produces.</summary>
    public Shard Shard { get; init; } = Shard.All;

    /// <summary>Standard deviation of the initial chain states.</summary>
    public double InitialScale { get; init; } = 1.0;

    /// <summary>Mean of the initial chain states (length d); null for the origin.</summary>
    public IReadOnlyList<float>? InitialCentre { get; init; }

    /// <summary>How latents map to samples.</summary>
    public SampleMapping Mapping { get; init; } = SampleMapping.ConjugateGradient;

    /// <summary>Conjugate-solve options (for <see cref="SampleMapping.ConjugateGradient"/>).</summary>
    public ConjugateOptions Conjugate { get; init; } = new();

    /// <summary>
    /// MALA with AdaptStepSize: chains of the separate tuning run (seed-derived, not part of the output)
    /// that fix the step size before generation, so every chunk and shard uses the same step size.
    /// </summary>
    /// <remarks>Default 1,024: enough to estimate the acceptance to about 1.5 %, and a quarter of the cost of the 4,096 used
    /// before 2026-12-04, which weighed as much as 4,096 samples when each Langevin step is a conjugate solve (w = u*).</remarks>
    public int TuningChains { get; init; } = 1024;

    /// <summary>Lists every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (Count < 1)
        {
            p.Add($"the number of samples must be at least 1 (got {Count})");
        }

        if (ChunkSize < 1)
        {
            p.Add($"the chunk size must be at least 1 sample (got {ChunkSize}); 65536 suits most devices");
        }

        if (Shard.Count < 1 || Shard.Index < 0 || Shard.Index >= Shard.Count)
        {
            p.Add($"shard {Shard} must be K/N with 0 <= K < N");
        }

        if (!(InitialScale >= 0) || double.IsInfinity(InitialScale))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the initial scale must be finite and at least 0 (got {InitialScale})"));
        }

        if (TuningChains < 1)
        {
            p.Add($"tuning chains must be at least 1 (got {TuningChains})");
        }

        if (Langevin is null)
        {
            p.Add("Langevin options are required");
        }
        else
        {
            p.AddRange(Langevin.Validate());
            if (Langevin.Samples < 1)
            {
                p.Add($"generation needs at least 1 kept draw per chain (Langevin samples, got {Langevin.Samples})");
            }

            if (ChunkSize >= 1 && Langevin.Samples > ChunkSize)
            {
                p.Add($"the chunk size ({ChunkSize}) must hold at least one chain's {Langevin.Samples} draws");
            }
        }

        if (Conjugate is null)
        {
            p.Add("conjugate-solve options are required");
        }
        else
        {
            p.AddRange(Conjugate.Validate());
        }

        return p;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(new StringBuilder("invalid generation options: ").AppendJoin("; ", problems).ToString());
        }
    }
}

/// <summary>One chunk of generated samples, handed to the caller's callback (the arrays are the caller's to keep).</summary>
/// <param name="FirstIndex">Global index of the first sample (in the unsharded stream).</param>
/// <param name="Count">Samples in this chunk.</param>
/// <param name="Dimension">d.</param>
/// <param name="Latents">Latents x, row-major Count * d.</param>
/// <param name="Samples">Mapped samples (grad w*(x) or grad u(x)), or the latents again for <see cref="SampleMapping.None"/>.</param>
/// <param name="Langevin">This chunk's Langevin result.</param>
/// <param name="Conjugate">This chunk's conjugate-solve result, or null.</param>
public sealed record SampleChunk(long FirstIndex, int Count, int Dimension, float[] Latents, float[] Samples,
    LangevinResult Langevin, ConjugateResult? Conjugate);

/// <summary>Progress of a generation run.</summary>
/// <param name="Done">Samples produced so far by this run.</param>
/// <param name="Total">Samples this run (shard) produces.</param>
/// <param name="Elapsed">Time since the start.</param>
/// <param name="Remaining">Estimated time left (null before the first chunk).</param>
public sealed record GenerationProgress(long Done, long Total, TimeSpan Elapsed, TimeSpan? Remaining);

/// <summary>Summary of a generation run.</summary>
/// <param name="Status">Ok, StepSizeReduced (some chunk backed off), Diverged or Cancelled.</param>
/// <param name="FirstIndex">Global index of this shard's first sample.</param>
/// <param name="Generated">Samples produced.</param>
/// <param name="StepSize">The step size used (after tuning).</param>
/// <param name="AcceptanceRate">Mean acceptance over chunks (weighted by chains).</param>
/// <param name="DivergentChains">Chains that produced a non-finite proposal.</param>
/// <param name="ConjugateConvergedFraction">Fraction of conjugate solves that converged (1 without mapping).</param>
/// <param name="FirstChunkDiagnostics">Diagnostics of the first chunk, or null.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record GenerationResult(SamplingStatus Status, long FirstIndex, long Generated, double StepSize, double AcceptanceRate,
    long DivergentChains, double ConjugateConvergedFraction, LangevinDiagnostics? FirstChunkDiagnostics, TimeSpan Elapsed)
{
    /// <summary>Number of devices the chunks were dealt to (1 for a single-device run).</summary>
    public int Devices { get; init; } = 1;
}
