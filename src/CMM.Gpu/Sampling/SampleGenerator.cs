using System.Diagnostics;
using System.Globalization;
using System.Text;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;

namespace CMM.Gpu.Sampling;

/// <summary>
/// Generates N samples of exp(-w) mapped through grad w* (or grad u), in chunks of bounded device memory,
/// handing each chunk to a callback (to stream it to a file). Reproducible: a sample's value depends on the
/// seed, its global index and the options, not on the chunk size, the shard or the number of devices, as long
/// as no chunk had to back off its step size (a chunk that diverged reports it in its status).
/// </summary>
public static class SampleGenerator
{
    /// <summary>Chunks computed but not yet handed to the callback, per device: bounds host memory independently of N.</summary>
    internal const int ChunksInFlightPerDevice = 2;

    /// <summary>Runs the generation on the potential's device.</summary>
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
        return Generate(potential, [potential.Context], options, onChunk, progress, cancellationToken);
    }

    /// <summary>
    /// Runs the generation on several devices of one kind (e.g. from <see cref="CmmContext.CreateAll"/>). The MALA
    /// step size is tuned once, on the potential's device; each other device gets its own copy of the potential
    /// (<see cref="PotentialReplicas.Replicate"/>) and one host thread; chunks are dealt to the devices from a
    /// shared queue of chunk indices, at most <c>2 x devices</c> of them computed ahead of the callback. The
    /// callback and the progress are called on the calling thread, in chunk order, so the output, the step size
    /// and every summary statistic equal those of a single-device run with the same options, whatever the number
    /// of devices (on devices of the same kind and model). A failing chunk stops every device; the first failure
    /// is rethrown once all device threads have ended and the copies are disposed.
    /// </summary>
    /// <param name="potential">w (or u); its device does the step-size tuning (it need not be in <paramref name="devices"/>).</param>
    /// <param name="devices">The devices, distinct, not disposed, all of one <see cref="CmmContext.Kind"/>. The potential is used
    /// as is on its own device and copied onto the others (the copies are disposed before returning).</param>
    /// <param name="options">Options (validated).</param>
    /// <param name="onChunk">Called with each chunk, in order of global index, on the calling thread.</param>
    /// <param name="progress">Optional progress, reported after each chunk, on the calling thread.</param>
    /// <param name="cancellationToken">Checked between chunks and during Langevin runs on every device.</param>
    /// <returns>The summary (<see cref="GenerationResult.Devices"/> = the number of devices).</returns>
    /// <exception cref="ArgumentException">No device, a null or repeated device, or devices of different kinds.</exception>
    /// <exception cref="ObjectDisposedException">A device is disposed.</exception>
    /// <exception cref="NotSupportedException">The potential cannot be copied to another device.</exception>
    public static GenerationResult Generate(IPotential potential, IReadOnlyList<CmmContext> devices, GenerationOptions options,
        Action<SampleChunk> onChunk, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(onChunk);
        options.ThrowIfInvalid();
        CheckDevices(potential, devices);
        var ctx = potential.Context;
        int d = potential.Dimension;
        if (options.InitialCentre is { } centre && centre.Count != d)
        {
            throw new ArgumentException($"the initial centre has {centre.Count} values but the potential's dimension is {d}", nameof(options));
        }

        var clock = Stopwatch.StartNew();
        var lo = options.Langevin;
        var plan = new ChunkPlan(options);

        ctx.Bind();
        double tau = lo.StepSize;
        var status = SamplingStatus.Ok;
        if (lo.Sampler == LangevinSampler.Mala && lo.AdaptStepSize)
        {
            // Fixed, seed-derived tuning run, once, on the potential's device: every chunk, shard and device then
            // shares the same step size.
            using var tuning = new LangevinChains(ctx, options.TuningChains, d, options.Seed ^ 0x9E3779B97F4A7C15UL, 0, options.InitialScale, options.InitialCentre);
            var tuned = tuning.Run(potential, lo with { Samples = 0, Thin = 1, DiagnosticChains = 0 }, cancellationToken);
            tau = tuned.StepSize;
            if (tuned.Status is SamplingStatus.Diverged or SamplingStatus.Cancelled)
            {
                status = tuned.Status;
            }
        }

        var runOptions = lo with { StepSize = tau, AdaptStepSize = false };
        var collector = new ChunkCollector(plan, status, onChunk, progress, clock);
        if (!collector.Stopped && plan.ChunkCount > 0)
        {
            var potentials = new IPotential[devices.Count];
            try
            {
                for (int i = 0; i < devices.Count; i++)
                {
                    if (ReferenceEquals(devices[i], ctx))
                    {
                        potentials[i] = potential;
                    }
                    else
                    {
                        devices[i].Bind();
                        potentials[i] = PotentialReplicas.Replicate(potential, devices[i]);
                    }
                }

                if (devices.Count == 1)
                {
                    devices[0].Bind();
                    RunInline(potentials[0], options, runOptions, plan, collector, cancellationToken);
                }
                else
                {
                    RunOnDevices(devices, potentials, options, runOptions, plan, collector, cancellationToken);
                }
            }
            finally
            {
                for (int i = 0; i < potentials.Length; i++)
                {
                    if (potentials[i] is IDisposable owned && !ReferenceEquals(potentials[i], potential))
                    {
                        devices[i].Bind();
                        owned.Dispose();
                    }
                }

                ctx.Bind();
            }
        }

        return collector.Result(tau, clock.Elapsed) with { Devices = devices.Count };
    }

    private static void CheckDevices(IPotential potential, IReadOnlyList<CmmContext> devices)
    {
        if (devices.Count == 0)
        {
            throw new ArgumentException("at least one device is needed", nameof(devices));
        }

        var seen = new HashSet<CmmContext>(ReferenceEqualityComparer.Instance);
        foreach (var device in devices)
        {
            if (device is null)
            {
                throw new ArgumentException("the device list contains null", nameof(devices));
            }

            device.ThrowIfDisposed();
            if (!seen.Add(device))
            {
                throw new ArgumentException($"device '{device.Description}' is listed twice: each device runs one thread of chunks", nameof(devices));
            }

            if (device.Kind != devices[0].Kind)
            {
                throw new ArgumentException(
                    $"all devices must be of one kind (got {devices[0].Kind} and {device.Kind}): the output must not depend on which device computes a chunk",
                    nameof(devices));
            }

            if (!ReferenceEquals(device, potential.Context) && !PotentialReplicas.CanReplicate(potential))
            {
                throw new NotSupportedException(
                    $"{potential.GetType().Name} cannot be copied to another device: implement {nameof(IReplicablePotential)} to generate on several devices");
            }
        }

        potential.Context.ThrowIfDisposed();
    }

    /// <summary>One device, on the calling thread.</summary>
    private static void RunInline(IPotential potential, GenerationOptions options, LangevinOptions runOptions, ChunkPlan plan,
        ChunkCollector collector, CancellationToken cancellationToken)
    {
        using var worker = new ChunkWorker(potential, options, runOptions);
        for (int k = 0; k < plan.ChunkCount && !collector.Stopped; k++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                collector.Cancel();
                break;
            }

            collector.Accept(worker.Compute(plan, k, cancellationToken));
        }
    }

    /// <summary>Several devices: one thread each takes chunk indices from a shared counter; the calling thread consumes them in order.</summary>
    private static void RunOnDevices(IReadOnlyList<CmmContext> devices, IPotential[] potentials, GenerationOptions options, LangevinOptions runOptions,
        ChunkPlan plan, ChunkCollector collector, CancellationToken cancellationToken) =>
        OrderedDealer.Run(
            devices.Count,
            i =>
            {
                devices[i].Bind();
                return new ChunkWorker(potentials[i], options, runOptions);
            },
            (worker, k, token) => worker.Compute(plan, k, token),
            plan.ChunkCount,
            ChunksInFlightPerDevice * devices.Count,
            chunk =>
            {
                collector.Accept(chunk);
                return !collector.Stopped;
            },
            collector.Cancel,
            "cmm-sample-device-",
            cancellationToken);

    /// <summary>Where the chunks of a run lie in the global chain and sample indices.</summary>
    internal sealed class ChunkPlan
    {
        public ChunkPlan(GenerationOptions options)
        {
            PerChain = options.Langevin.Samples;
            long totalChains = (options.Count + PerChain - 1) / PerChain;
            (ChainStart, ChainEnd) = options.Shard.Range(totalChains);
            FirstIndex = ChainStart * PerChain;
            EndIndex = Math.Min(ChainEnd * PerChain, options.Count);
            Total = Math.Max(0, EndIndex - FirstIndex);
            ChunkChains = Math.Max(1, options.ChunkSize / PerChain);
            ChunkCount = (int)((ChainEnd - ChainStart + ChunkChains - 1) / ChunkChains);
        }

        public int PerChain { get; }

        public long ChainStart { get; }

        public long ChainEnd { get; }

        public long FirstIndex { get; }

        public long EndIndex { get; }

        public long Total { get; }

        public int ChunkChains { get; }

        public int ChunkCount { get; }

        /// <summary>First global chain and number of chains of chunk <paramref name="k"/>.</summary>
        public (long FirstChain, int Chains) Chunk(int k)
        {
            long c0 = ChainStart + ((long)k * ChunkChains);
            return (c0, (int)Math.Min(ChunkChains, ChainEnd - c0));
        }
    }

    /// <summary>A computed chunk and its number of chains (the weight of its acceptance rate).</summary>
    internal sealed record ComputedChunk(SampleChunk Chunk, int Chains);

    /// <summary>The per-device state of a run: the potential (or its copy), the chains and the solver, reused across chunks.</summary>
    internal sealed class ChunkWorker(IPotential potential, GenerationOptions options, LangevinOptions runOptions) : IDisposable
    {
        private readonly ConjugateSolver? solver = options.Mapping == SampleMapping.ConjugateGradient ? new ConjugateSolver(potential.Context) : null;
        private LangevinChains? chains;

        /// <summary>Runs the chains of chunk <paramref name="k"/> and maps their draws.</summary>
        public ComputedChunk Compute(ChunkPlan plan, int k, CancellationToken cancellationToken)
        {
            var ctx = potential.Context;
            int d = potential.Dimension;
            int perChain = plan.PerChain;
            var (c0, nChains) = plan.Chunk(k);
            if (chains is null || chains.Count != nChains)
            {
                chains?.Dispose();
                chains = null;
                chains = new LangevinChains(ctx, nChains, d, options.Seed, c0, options.InitialScale, options.InitialCentre);
            }
            else
            {
                chains.Reset(c0, options.InitialScale);
            }

            using var draws = DevicePoints.Allocate(ctx, nChains * perChain, d);
            var chainsRef = chains;
            var lr = chains.RunCore(potential, runOptions, j => chainsRef.ScatterStates(draws, perChain, j), cancellationToken);
            ConjugateResult? cr = null;
            float[] latents, samples;
            long chunkFirst = c0 * perChain;
            int keep = (int)Math.Min((long)nChains * perChain, plan.EndIndex - chunkFirst);
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
                else if (potential is IConjugateKnown known)
                {
                    // grad w*(x) with w* known explicitly (w = u* of an ICNN u): grad u(x), no solve.
                    known.Conjugate.Gradient(draws, mapped);
                }
                else
                {
                    cr = solver!.Solve(potential, draws, mapped, options.Conjugate);
                }

                latents = draws.ToArray();
                samples = mapped.ToArray();
            }

            if (keep < draws.Count)
            {
                latents = latents.AsSpan(0, keep * d).ToArray();
                samples = options.Mapping == SampleMapping.None ? latents : samples.AsSpan(0, keep * d).ToArray();
            }

            return new ComputedChunk(new SampleChunk(chunkFirst, keep, d, latents, samples, lr, cr), nChains);
        }

        public void Dispose()
        {
            chains?.Dispose();
            solver?.Dispose();
        }
    }

    /// <summary>
    /// Consumes chunks in order on one thread: the callback, the progress and every summary statistic, so they
    /// combine in the same order (hence to the same floating-point values) whatever the number of devices.
    /// </summary>
    private sealed class ChunkCollector(ChunkPlan plan, SamplingStatus status, Action<SampleChunk> onChunk,
        IProgress<GenerationProgress>? progress, Stopwatch clock)
    {
        private long done, divergent, accChains, converged, solved;
        private double accSum;
        private LangevinDiagnostics? firstDiag;

        /// <summary>True once a chunk (or the tuning run) diverged or the run was cancelled: no further chunk is consumed.</summary>
        public bool Stopped => status is SamplingStatus.Cancelled or SamplingStatus.Diverged;

        public void Cancel() => status = SamplingStatus.Cancelled;

        public void Accept(ComputedChunk computed)
        {
            var (chunk, nChains) = computed;
            var lr = chunk.Langevin;
            firstDiag ??= lr.Diagnostics;
            accSum += lr.AcceptanceRate * nChains;
            accChains += nChains;
            divergent += lr.DivergentChains;
            if (lr.Status != SamplingStatus.Ok && status == SamplingStatus.Ok || lr.Status is SamplingStatus.Diverged or SamplingStatus.Cancelled)
            {
                status = lr.Status;
            }

            if (chunk.Conjugate is { } cr)
            {
                converged += cr.PointStatus.Take(chunk.Count).Count(s => s == ConjugatePointStatus.Converged);
                solved += chunk.Count;
            }

            onChunk(chunk);
            done += chunk.Count;
            var elapsed = clock.Elapsed;
            progress?.Report(new GenerationProgress(done, plan.Total, elapsed,
                done > 0 ? TimeSpan.FromTicks((long)(elapsed.Ticks * ((plan.Total - done) / (double)done))) : null));
        }

        public GenerationResult Result(double stepSize, TimeSpan elapsed) =>
            new(status, plan.FirstIndex, done, stepSize, accChains > 0 ? accSum / accChains : 0, divergent,
                solved > 0 ? converged / (double)solved : 1.0, firstDiag, elapsed);
    }
}
