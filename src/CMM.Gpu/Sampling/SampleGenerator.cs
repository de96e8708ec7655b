using System.Diagnostics;
using System.Globalization;
using System.Text;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;

namespace CMM.Gpu.Sampling;

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
/// starts from N(0, InitialScale^2 I), runs Langevin.BurnIn steps, then yields Langevin.Samples draws
/// Langevin.Thin steps apart; draw j of chain c is global sample c * Samples + j (the last chain is cut at Count).
/// Immutable; <see cref="Validate"/> reports every problem at once.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Total number of samples N of the unsharded stream.</summary>
    public long Count { get; init; } = 1000;

    /// <summary>The seed of every random number.</summary>
    public ulong Seed { get; init; }

    /// <summary>The sampler; Samples and Thin set draws per chain. DiagnosticChains applies per chunk.</summary>
    public LangevinOptions Langevin { get; init; } = new();

    /// <summary>Samples per chunk (bounds device memory independently of N).</summary>
    public int ChunkSize { get; init; } = 1 << 16;

    /// <summary>The slice of the stream this run produces.</summary>
    public Shard Shard { get; init; } = Shard.All;

    /// <summary>Standard deviation of the initial chain states.</summary>
    public double InitialScale { get; init; } = 1.0;

    /// <summary>How latents map to samples.</summary>
    public SampleMapping Mapping { get; init; } = SampleMapping.ConjugateGradient;

    /// <summary>Conjugate-solve options (for <see cref="SampleMapping.ConjugateGradient"/>).</summary>
    public ConjugateOptions Conjugate { get; init; } = new();

    /// <summary>
    /// MALA with AdaptStepSize: chains of the separate tuning run (seed-derived, not part of the output)
    /// that fix the step size before generation, so every chunk and shard uses the same step size.
    /// </summary>
    public int TuningChains { get; init; } = 4096;

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
    long DivergentChains, double ConjugateConvergedFraction, LangevinDiagnostics? FirstChunkDiagnostics, TimeSpan Elapsed);

/// <summary>
/// Generates N samples of exp(-w) mapped through grad w* (or grad u), in chunks of bounded device memory,
/// handing each chunk to a callback (to stream it to a file). Reproducible: a sample's value depends on the
/// seed, its global index and the options, not on the chunk size or the shard, as long as no chunk had to
/// back off its step size (a chunk that diverged reports it in its status).
/// </summary>
public static class SampleGenerator
{
    /// <summary>Runs the generation.</summary>
    /// <param name="potential">w (or u for the moment-measure mapping).</param>
    /// <param name="options">Options (validated).</param>
    /// <param name="onChunk">Called with each chunk, in order of global index.</param>
    /// <param name="progress">Optional progress, reported after each chunk.</param>
    /// <param name="cancellationToken">Checked between chunks and during Langevin runs.</param>
    /// <returns>The summary.</returns>
    public static GenerationResult Generate(IPotential potential, GenerationOptions options, Action<SampleChunk> onChunk,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(onChunk);
        options.ThrowIfInvalid();
        var ctx = potential.Context;
        int d = potential.Dimension;
        var clock = Stopwatch.StartNew();
        var lo = options.Langevin;
        int perChain = lo.Samples;
        long totalChains = (options.Count + perChain - 1) / perChain;
        var (chainStart, chainEnd) = options.Shard.Range(totalChains);
        long firstIndex = chainStart * perChain;
        long endIndex = Math.Min(chainEnd * perChain, options.Count);
        long total = Math.Max(0, endIndex - firstIndex);

        double tau = lo.StepSize;
        var status = SamplingStatus.Ok;
        if (lo.Sampler == LangevinSampler.Mala && lo.AdaptStepSize)
        {
            // Fixed, seed-derived tuning run: every chunk and shard then shares the same step size.
            using var tuning = new LangevinChains(ctx, options.TuningChains, d, options.Seed ^ 0x9E3779B97F4A7C15UL, 0, options.InitialScale);
            var tuned = tuning.Run(potential, lo with { Samples = 0, Thin = 1, DiagnosticChains = 0 }, cancellationToken);
            tau = tuned.StepSize;
            if (tuned.Status is SamplingStatus.Diverged or SamplingStatus.Cancelled)
            {
                status = tuned.Status;
            }
        }

        var runOptions = lo with { StepSize = tau, AdaptStepSize = false };
        int chunkChains = Math.Max(1, options.ChunkSize / perChain);
        using var solver = options.Mapping == SampleMapping.ConjugateGradient ? new ConjugateSolver(ctx) : null;
        long done = 0, divergent = 0, accChains = 0, converged = 0, solved = 0;
        double accSum = 0;
        LangevinDiagnostics? firstDiag = null;
        LangevinChains? chains = null;
        try
        {
            for (long c0 = chainStart; c0 < chainEnd && status is not (SamplingStatus.Cancelled or SamplingStatus.Diverged); c0 += chunkChains)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    status = SamplingStatus.Cancelled;
                    break;
                }

                int nChains = (int)Math.Min(chunkChains, chainEnd - c0);
                if (chains is null || chains.Count != nChains)
                {
                    chains?.Dispose();
                    chains = new LangevinChains(ctx, nChains, d, options.Seed, c0, options.InitialScale);
                }
                else
                {
                    chains.Reset(c0, options.InitialScale);
                }

                using var draws = DevicePoints.Allocate(ctx, nChains * perChain, d);
                var chainsRef = chains;
                var lr = chains.RunCore(potential, runOptions, j => chainsRef.ScatterStates(draws, perChain, j), cancellationToken);
                firstDiag ??= lr.Diagnostics;
                accSum += lr.AcceptanceRate * nChains;
                accChains += nChains;
                divergent += lr.DivergentChains;
                if (lr.Status != SamplingStatus.Ok && status == SamplingStatus.Ok || lr.Status is SamplingStatus.Diverged or SamplingStatus.Cancelled)
                {
                    status = lr.Status;
                }

                ConjugateResult? cr = null;
                float[] latents, samples;
                long chunkFirst = c0 * perChain;
                int keep = (int)Math.Min((long)nChains * perChain, endIndex - chunkFirst);
                if (options.Mapping == SampleMapping.None)
                {
                    latents = draws.ToArray();
                    samples = latents;
                }
                else
                {
                    using var mapped = DevicePoints.Allocate(ctx, draws.Count, d);
                    if (options.Mapping == SampleMapping.Gradient)
                    {
                        potential.Gradient(draws, mapped);
                    }
                    else
                    {
                        cr = solver!.Solve(potential, draws, mapped, options.Conjugate);
                        converged += cr.PointStatus.Take(keep).Count(s => s == ConjugatePointStatus.Converged);
                        solved += keep;
                    }

                    latents = draws.ToArray();
                    samples = mapped.ToArray();
                }

                if (keep < draws.Count)
                {
                    latents = latents.AsSpan(0, keep * d).ToArray();
                    samples = samples.AsSpan(0, keep * d).ToArray();
                }

                onChunk(new SampleChunk(chunkFirst, keep, d, latents, samples, lr, cr));
                done += keep;
                var elapsed = clock.Elapsed;
                progress?.Report(new GenerationProgress(done, total, elapsed,
                    done > 0 ? TimeSpan.FromTicks((long)(elapsed.Ticks * ((total - done) / (double)done))) : null));
            }
        }
        finally
        {
            chains?.Dispose();
        }

        return new GenerationResult(status, firstIndex, done, tau, accChains > 0 ? accSum / accChains : 0, divergent,
            solved > 0 ? converged / (double)solved : 1.0, firstDiag, clock.Elapsed);
    }
}
