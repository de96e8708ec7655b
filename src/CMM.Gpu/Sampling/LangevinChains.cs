using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Sampling;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Sampling;

/// <summary>
/// A persistent set of Langevin chains on exp(-w): it owns the chain states and the per-step workspace
/// on the device, and keeps them across <see cref="Run"/> calls, so a fitting loop advances the same
/// particles a few steps per outer iteration while w changes. Chain i of the set is global chain
/// <see cref="ChainOffset"/> + i: its random numbers are Philox(seed, global chain, global step), so a
/// chain's path is the same whatever batch it is computed in and on whatever accelerator.
/// Dispose it before the context.
/// </summary>
public sealed class LangevinChains : IDisposable
{
    private readonly DevicePoints x;
    private readonly DevicePoints g;
    private readonly DevicePoints proposal;
    private readonly DevicePoints gProposal;
    private readonly DeviceVector w;
    private readonly DeviceVector wProposal;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> accepted;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> diverged;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> divergedTotal;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> divergedSinceCheck;
    private readonly MemoryBuffer1D<long, Stride1D.Dense> summary;
    private readonly DevicePoints checkpoint;
    private readonly DeviceVector centre;
    private readonly LangevinLauncher kernels;
    private DeviceVector? stats;
    private bool gradientsValid;
    private bool disposed;

    /// <summary>Allocates <paramref name="count"/> chains and starts them at <paramref name="initialCentre"/> + <paramref name="initialScale"/> * N(0, I).</summary>
    /// <param name="context">The device.</param>
    /// <param name="count">Number of chains P.</param>
    /// <param name="dimension">Dimension d.</param>
    /// <param name="seed">The seed of every random number of these chains.</param>
    /// <param name="chainOffset">Global index of the first chain (for chunked and sharded generation).</param>
    /// <param name="initialScale">Standard deviation of the initial states.</param>
    /// <param name="initialCentre">Mean of the initial states (length d), kept for <see cref="Reset"/>; null for the origin.</param>
    public LangevinChains(CmmContext context, int count, int dimension, ulong seed, long chainOffset = 0, double initialScale = 1.0,
        IReadOnlyList<float>? initialCentre = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        Shape.RequirePositive(count, nameof(count), "number of chains");
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        if (chainOffset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(chainOffset), chainOffset, "the chain offset must be 0 or more");
        }

        if (!(initialScale >= 0) || double.IsInfinity(initialScale))
        {
            throw new ArgumentOutOfRangeException(nameof(initialScale), initialScale, "the initial scale must be finite and at least 0");
        }

        if (initialCentre is not null && (initialCentre.Count != dimension || initialCentre.Any(c => !float.IsFinite(c))))
        {
            throw new ArgumentException($"the initial centre must hold {dimension} finite values (got {initialCentre.Count})", nameof(initialCentre));
        }

        Context = context;
        Count = count;
        Dimension = dimension;
        Seed = seed;
        kernels = context.GetComponent(c => new LangevinLauncher(c));
        x = DevicePoints.Allocate(context, count, dimension);
        g = DevicePoints.Allocate(context, count, dimension);
        proposal = DevicePoints.Allocate(context, count, dimension);
        gProposal = DevicePoints.Allocate(context, count, dimension);
        w = DeviceVector.Allocate(context, count);
        wProposal = DeviceVector.Allocate(context, count);
        accepted = context.Accelerator.Allocate1D<int>(count);
        diverged = context.Accelerator.Allocate1D<int>(count);
        divergedTotal = context.Accelerator.Allocate1D<int>(1);
        divergedSinceCheck = context.Accelerator.Allocate1D<int>(count);
        summary = context.Accelerator.Allocate1D<long>(4);
        checkpoint = DevicePoints.Allocate(context, count, dimension);
        centre = initialCentre is null ? DeviceVector.Allocate(context, dimension) : DeviceVector.Upload(context, initialCentre.ToArray());
        Reset(chainOffset, initialScale);
    }

    /// <summary>The device.</summary>
    public CmmContext Context { get; }

    /// <summary>Number of chains P.</summary>
    public int Count { get; }

    /// <summary>Dimension d.</summary>
    public int Dimension { get; }

    /// <summary>The seed.</summary>
    public ulong Seed { get; }

    /// <summary>Global index of chain 0 of this set.</summary>
    public long ChainOffset { get; private set; }

    /// <summary>Steps taken since the last <see cref="Reset"/> (the global step index of the next step).</summary>
    public int StepCount { get; private set; }

    /// <summary>
    /// The current chain states [P, d] (owned by this object: do not dispose; valid until the next
    /// <see cref="Run"/>). Always finite unless the potential itself returned non-finite values everywhere.
    /// </summary>
    public DevicePoints States
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return x;
        }
    }

    /// <summary>Restarts the chains as global chains chainOffset .. chainOffset + P - 1, at step 0, from the initial centre + scale * N(0, I).</summary>
    /// <param name="chainOffset">Global index of the first chain.</param>
    /// <param name="initialScale">Standard deviation of the initial states.</param>
    public void Reset(long chainOffset, double initialScale = 1.0)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (chainOffset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(chainOffset), chainOffset, "the chain offset must be 0 or more");
        }

        ChainOffset = chainOffset;
        StepCount = 0;
        gradientsValid = false;
        kernels.Init(Count, x.View, Dimension, (float)initialScale, centre.View, Seed, chainOffset);
    }

    /// <summary>Overwrites the chain states (e.g. to continue from saved particles).</summary>
    /// <param name="states">Row-major P * d floats.</param>
    /// <param name="stepCount">
    /// When given, also the global step index of the next step, so that a run restored from a checkpoint
    /// draws exactly the random numbers the uninterrupted run would have drawn.
    /// </param>
    /// <param name="gradients">When given, the gradients the chains held (<see cref="SolveStarts"/>), so that a
    /// <see cref="IWarmStartPotential"/>'s next run starts its first solves where the uninterrupted run would have.</param>
    public void SetStates(ReadOnlySpan<float> states, int? stepCount = null, float[]? gradients = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (stepCount is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stepCount), stepCount, "the step count must be 0 or more");
        }

        x.CopyFrom(states);
        if (stepCount is { } s)
        {
            StepCount = s;
        }

        gradientsValid = gradients is not null;
        if (gradients is not null)
        {
            g.CopyFrom(gradients);
        }
    }

    /// <summary>
    /// The gradients of the last MALA run's potential at the current states, when that potential was an
    /// <see cref="IWarmStartPotential"/>: the next run with such a potential starts its first solves there (the potential
    /// may have changed since, as in a fit). Null when there are none (after a reset, ULA, or another potential).
    /// </summary>
    /// <returns>A copy, row-major, or null.</returns>
    public float[]? SolveStarts() => gradientsValid ? g.ToArray() : null;

    /// <summary>
    /// Advances every chain BurnIn + Samples * Thin steps on exp(-w). Per step: grad w at the states (ULA) or
    /// w and grad w at the proposals (MALA), then one update kernel. Non-finite proposals are rejected (the
    /// chain keeps its last finite state) and halve the step size at the next check; see <see cref="LangevinResult.Status"/>.
    /// </summary>
    /// <param name="potential">The potential w (its dimension must be <see cref="Dimension"/>).</param>
    /// <param name="options">Sampler options (validated).</param>
    /// <param name="cancellationToken">Checked every <see cref="LangevinOptions.CheckEvery"/> steps.</param>
    /// <returns>Status, step size, acceptance and diagnostics.</returns>
    public LangevinResult Run(IPotential potential, LangevinOptions options, CancellationToken cancellationToken = default) =>
        RunCore(potential, options, null, cancellationToken);

    /// <summary>As <see cref="Run"/>, with a callback per kept draw.</summary>
    /// <param name="potential">The potential w.</param>
    /// <param name="options">Sampler options.</param>
    /// <param name="onKept">Called with the 0-based index of each kept draw, or null.</param>
    /// <param name="cancellationToken">Checked every <see cref="LangevinOptions.CheckEvery"/> steps.</param>
    /// <returns>Status, step size, acceptance and diagnostics.</returns>
    internal LangevinResult RunCore(IPotential potential, LangevinOptions options, Action<int>? onKept, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        Shape.RequireSameContext(Context, potential.Context, nameof(potential));
        Shape.RequireSameDimension(Dimension, potential.Dimension, "the chains", nameof(potential));
        if (StepCount > int.MaxValue / 2 - options.BurnIn - (options.Samples * options.Thin))
        {
            throw new InvalidOperationException("the chains' step counter would overflow: Reset them");
        }

        bool mala = options.Sampler == LangevinSampler.Mala;
        int d = Dimension;
        int total = options.BurnIn + (options.Samples * options.Thin);
        int diagChains = Math.Min(options.DiagnosticChains, Count);
        int half = options.Samples / 2;
        bool rhat = diagChains > 0 && half >= 2;
        if (rhat)
        {
            if (stats is null || stats.Length < 4L * diagChains * d)
            {
                stats?.Dispose();
                stats = DeviceVector.Allocate(Context, 4L * diagChains * d);
            }

            stats.Clear();
        }

        var tally = Context.Tally;
        tally.Clear(accepted.View);
        tally.Clear(diverged.View);
        tally.Clear(divergedTotal.View);
        tally.Clear(divergedSinceCheck.View);
        tally.Copy(x.View, checkpoint.View);
        // A potential whose gradient is a solve (w = u*) starts each proposal's solve at the chain's current gradient, and the
        // run's first solves at the gradients the last run left (when there are): a run depends on the states and those
        // starts only, and a checkpoint keeps both (SolveStarts), so a resumed fit repeats the uninterrupted one.
        var warm = potential as IWarmStartPotential;
        if (warm is not null && gradientsValid)
        {
            if (mala)
            {
                warm.ValueAndGradientFrom(x, w, g);
            }
            else
            {
                warm.GradientFrom(x, g);
            }
        }
        else if (mala)
        {
            potential.ValueAndGradient(x, w, g);
        }
        else
        {
            potential.Gradient(x, g);
        }

        double tau = options.StepSize;
        var status = SamplingStatus.Ok;
        int backoffs = 0, steps = 0, lastDiverged = 0, checks = 0;
        int adaptChains = Math.Min(Count, 4096);
        long lastAcceptedSum = 0;
        var acceptedHost = new int[adaptChains];
        var counters = new long[4];
        int countersAtStep = -1;
        for (int s = 0; s < total; s++)
        {
            if (!mala && s > 0)
            {
                if (warm is not null)
                {
                    warm.GradientFrom(x, g);
                }
                else
                {
                    potential.Gradient(x, g);
                }
            }

            var p = new LangevinStep((float)tau, Seed, ChainOffset, StepCount, mala ? 1 : 0);
            kernels.Propose(Count, x.View, g.View, proposal.View, d, p);
            if (mala && warm is not null)
            {
                tally.Copy(g.View, gProposal.View);
                warm.ValueAndGradientFrom(proposal, wProposal, gProposal);
            }
            else if (mala)
            {
                potential.ValueAndGradient(proposal, wProposal, gProposal);
            }

            kernels.Accept(Count, x.View, g.View, w.View, proposal.View, gProposal.View, wProposal.View,
                accepted.View, diverged.View, divergedTotal.View, divergedSinceCheck.View, d, p);
            StepCount++;
            steps++;

            int afterBurn = s + 1 - options.BurnIn;
            if (afterBurn > 0 && afterBurn % options.Thin == 0)
            {
                int draw = (afterBurn / options.Thin) - 1; // 0-based kept draw
                onKept?.Invoke(draw);
                if (rhat)
                {
                    if (draw < half)
                    {
                        kernels.Moments(diagChains, x.View, stats!.View, d, 0, draw + 1);
                    }
                    else if (draw >= options.Samples - half)
                    {
                        kernels.Moments(diagChains, x.View, stats!.View, d, 1, draw - (options.Samples - half) + 1);
                    }
                }
            }

            if ((s + 1) % options.CheckEvery == 0 || s + 1 == total)
            {
                checks++;
                int divergedNow;
                if (s + 1 == total)
                {
                    // The last check also brings back the counters the result needs: one read instead of three.
                    ReadCounters(counters);
                    countersAtStep = steps;
                    divergedNow = (int)counters[0];
                }
                else
                {
                    divergedNow = tally.ReadFirst<int>(divergedTotal.View);
                }

                if (divergedNow > lastDiverged)
                {
                    // Chains that diverged since the last check go back to their checkpoint; the step size halves.
                    lastDiverged = divergedNow;
                    kernels.Restore(Count, x.View, checkpoint.View, divergedSinceCheck.View, d, 0);
                    if (mala)
                    {
                        potential.ValueAndGradient(x, w, g);
                    }

                    backoffs++;
                    if (backoffs > options.MaxBackoffs)
                    {
                        status = SamplingStatus.Diverged;
                        break;
                    }

                    tau *= 0.5;
                    status = SamplingStatus.StepSizeReduced;
                }
                else
                {
                    kernels.Restore(Count, x.View, checkpoint.View, divergedSinceCheck.View, d, 1);
                }

                if (mala && options.AdaptStepSize && s < options.BurnIn)
                {
                    tally.Read(accepted.View.SubView(0, adaptChains), acceptedHost);
                    long sum = acceptedHost.Sum(v => (long)v);
                    double rate = (sum - lastAcceptedSum) / ((double)adaptChains * options.CheckEvery);
                    lastAcceptedSum = sum;
                    tau *= Math.Exp(2.0 * (rate - options.TargetAcceptance) / Math.Sqrt(checks));
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    status = SamplingStatus.Cancelled;
                    break;
                }
            }
        }

        // After MALA, g holds the gradients at the final states (ULA's are one step old).
        gradientsValid = warm is not null && mala;
        if (countersAtStep != steps)
        {
            // A run that stopped at an earlier check (cancelled or diverged), or made no step. The counters change only in
            // Accept, so those read at the last step's check are still current.
            ReadCounters(counters);
        }

        long acceptedSum = counters[1];
        double rateAll = steps == 0 ? 0 : acceptedSum / ((double)Count * steps);
        int divergentChains = (int)counters[2];
        long divergentProposals = counters[3];

        LangevinDiagnostics? diagnostics = null;
        if (diagChains > 0)
        {
            potential.Gradient(x, g);
            var hx = tally.Read(x.View.SubView(0, (long)diagChains * d));
            var hg = tally.Read(g.View.SubView(0, (long)diagChains * d));
            float[]? hs = null;
            if (rhat)
            {
                hs = tally.Read(stats!.View.SubView(0, 4L * diagChains * d));
            }

            diagnostics = LangevinDiagnosticsCalculator.Compute(hx, hg, hs, diagChains, d, half);
        }

        return new LangevinResult(status, steps, tau, rateAll, divergentChains, divergentProposals, backoffs, diagnostics);
    }

    /// <summary>One packed read of the divergence total, the accepted sum and the divergent chains and proposals.</summary>
    private void ReadCounters(long[] destination)
    {
        var tally = Context.Tally;
        tally.Clear(summary.View);
        kernels.Summarize(Count, accepted.View, diverged.View, divergedTotal.View, summary.View);
        tally.Read(summary.View, destination);
    }

    /// <summary>Copies chain rows into a draw buffer (row i goes to row i * stride + offset).</summary>
    internal void ScatterStates(DevicePoints destination, int stride, int offset) =>
        kernels.Scatter(Count, x.View, destination.View, Dimension, stride, offset);

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        x.Dispose();
        g.Dispose();
        proposal.Dispose();
        gProposal.Dispose();
        w.Dispose();
        wProposal.Dispose();
        accepted.Dispose();
        diverged.Dispose();
        divergedTotal.Dispose();
        divergedSinceCheck.Dispose();
        summary.Dispose();
        checkpoint.Dispose();
        centre.Dispose();
        stats?.Dispose();
    }
}

/// <summary>Loads the Langevin kernels once per context and launches them by the <see cref="PointLaunch"/> rule.</summary>
internal sealed class LangevinLauncher(CmmContext context)
{
    private readonly PointLaunch launch = PointLaunch.For(context);

    private readonly Action<Index1D, PointRange, ArrayView<float>, int, float, ArrayView<float>, ulong, long> init =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, int, float, ArrayView<float>, ulong, long>(LangevinKernels.InitNormal, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, LangevinStep> propose =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, LangevinStep>(LangevinKernels.Propose, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, LangevinStep> accept =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, LangevinStep>(LangevinKernels.Accept, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int> restore =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(LangevinKernels.RestoreDiverged, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, int, int> moments =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, int, int, int>(LangevinKernels.AccumulateMoments, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<long>> summarize =
        LightKernels.For(context).Load<PointRange, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<long>>(LangevinKernels.SummarizeCounters, HostLoop.PerBlock);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, int, int> scatter =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, int, int, int>(LangevinKernels.ScatterRows, HostLoop.PerBlock);

    public void Init(int n, ArrayView<float> x, int d, float scale, ArrayView<float> centre, ulong seed, long chainOffset)
    {
        var range = launch.Plan(n, out int threads);
        init(threads, range, x, d, scale, centre, seed, chainOffset);
    }

    public void Propose(int n, ArrayView<float> x, ArrayView<float> g, ArrayView<float> proposal, int d, LangevinStep p)
    {
        var range = launch.Plan(n, out int threads);
        propose(threads, range, x, g, proposal, d, p);
    }

    public void Accept(int n, ArrayView<float> x, ArrayView<float> g, ArrayView<float> w, ArrayView<float> y, ArrayView<float> gy,
        ArrayView<float> wy, ArrayView<int> accepted, ArrayView<int> diverged, ArrayView<int> divergedTotal, ArrayView<int> divergedSinceCheck,
        int d, LangevinStep p)
    {
        var range = launch.Plan(n, out int threads);
        accept(threads, range, x, g, w, y, gy, wy, accepted, diverged, divergedTotal, divergedSinceCheck, d, p);
    }

    public void Restore(int n, ArrayView<float> x, ArrayView<float> checkpoint, ArrayView<int> divergedSinceCheck, int d, int saveOthers)
    {
        var range = launch.Plan(n, out int threads);
        restore(threads, range, x, checkpoint, divergedSinceCheck, d, saveOthers);
    }

    public void Moments(int n, ArrayView<float> x, ArrayView<float> stats, int d, int half, int count)
    {
        var range = launch.Plan(n, out int threads);
        moments(threads, range, x, stats, d, half, count);
    }

    public void Summarize(int n, ArrayView<int> accepted, ArrayView<int> diverged, ArrayView<int> divergedTotal, ArrayView<long> summary)
    {
        var range = launch.Plan(n, out int threads);
        summarize(threads, range, accepted, diverged, divergedTotal, summary);
    }

    public void Scatter(int n, ArrayView<float> x, ArrayView<float> destination, int d, int stride, int offset)
    {
        var range = launch.Plan(n, out int threads);
        scatter(threads, range, x, destination, d, stride, offset);
    }
}
