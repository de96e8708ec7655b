using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Sampling;

/// <summary>Scalar parameters of one Langevin step (a struct so the kernels stay within ILGPU's parameter limit).</summary>
/// <param name="Tau">Step size tau.</param>
/// <param name="Seed">Seed (Philox key).</param>
/// <param name="ChainOffset">Global index of chain 0 of the batch.</param>
/// <param name="Step">Global step index.</param>
/// <param name="Mala">1 for MALA, 0 for ULA.</param>
public readonly record struct LangevinStep(float Tau, ulong Seed, long ChainOffset, int Step, int Mala);

/// <summary>
/// Langevin chain updates over chains [n, d] row-major. Each thread handles the chains of a <see cref="PointRange"/>
/// (one chain per thread on GPUs, a block of chains on the CPU accelerator). Random numbers come from
/// <see cref="Philox"/> keyed by (seed, global chain index = chainOffset + i, step), so a chain's path does
/// not depend on the chunk it is computed in nor on the thread that computes it.
/// </summary>
public static class LangevinKernels
{
    /// <summary>Initial states x_i = centre + scale * N(0, I) from the chain's init stream.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="scale">Standard deviation of the initial states.</param>
    /// <param name="centre">Mean of the initial states [d].</param>
    /// <param name="seed">Seed.</param>
    /// <param name="chainOffset">Global index of chain 0 of the batch.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InitNormal(Index1D t, PointRange range, ArrayView<float> x, int d, float scale, ArrayView<float> centre, ulong seed, long chainOffset)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            InitNormalChain(i, x, d, scale, centre, seed, chainOffset);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InitNormalChain(long i, ArrayView<float> x, int d, float scale, ArrayView<float> centre, ulong seed, long chainOffset)
    {
        long o = i * d;
        long chain = chainOffset + i;
        for (int j = 0; 4 * j < d; j++)
        {
            var bits = Philox.Block(seed, chain, 0, Philox.PurposeInit, j);
            Philox.BoxMuller(bits.X, bits.Y, out float z0, out float z1);
            Philox.BoxMuller(bits.Z, bits.W, out float z2, out float z3);
            int k = 4 * j;
            x[o + k] = centre[k] + (scale * z0);
            if (k + 1 < d) { x[o + k + 1] = centre[k + 1] + (scale * z1); }
            if (k + 2 < d) { x[o + k + 2] = centre[k + 2] + (scale * z2); }
            if (k + 3 < d) { x[o + k + 3] = centre[k + 3] + (scale * z3); }
        }
    }

    /// <summary>Proposal y = x - tau grad w(x) + sqrt(2 tau) xi, xi ~ N(0, I) from (seed, chain, step).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="g">grad w(x) [n, d].</param>
    /// <param name="proposal">Output [n, d].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="p">Step parameters (tau, seed, chain offset, step).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Propose(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> g, ArrayView<float> proposal,
        int d, LangevinStep p)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            ProposeChain(i, x, g, proposal, d, p);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ProposeChain(long i, ArrayView<float> x, ArrayView<float> g, ArrayView<float> proposal, int d, LangevinStep p)
    {
        long o = i * d;
        long chain = p.ChainOffset + i;
        float tau = p.Tau;
        ulong seed = p.Seed;
        int step = p.Step;
        float s = XMath.Sqrt(2f * tau);
        for (int j = 0; 4 * j < d; j++)
        {
            var bits = Philox.Block(seed, chain, step, Philox.PurposeNoise, j);
            Philox.BoxMuller(bits.X, bits.Y, out float z0, out float z1);
            Philox.BoxMuller(bits.Z, bits.W, out float z2, out float z3);
            int k = 4 * j;
            proposal[o + k] = x[o + k] - tau * g[o + k] + s * z0;
            if (k + 1 < d) { proposal[o + k + 1] = x[o + k + 1] - tau * g[o + k + 1] + s * z1; }
            if (k + 2 < d) { proposal[o + k + 2] = x[o + k + 2] - tau * g[o + k + 2] + s * z2; }
            if (k + 3 < d) { proposal[o + k + 3] = x[o + k + 3] - tau * g[o + k + 3] + s * z3; }
        }
    }

    /// <summary>
    /// Accepts or rejects the proposal of every chain. A non-finite proposal (or, for MALA, a non-finite
    /// w or grad w at it) is always rejected and counted in <paramref name="diverged"/>, so a chain never
    /// leaves its last finite state. ULA (Mala = 0) accepts every finite proposal;
    /// MALA accepts with probability min(1, exp(w(x) - w(y) + (|y - x + tau g(x)|^2 - |x - y + tau g(y)|^2) / (4 tau))).
    /// On acceptance the proposal, and for MALA its value and gradient, become the chain's state.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="g">grad w(x) [n, d] (MALA: kept in step with x).</param>
    /// <param name="w">w(x) [n] (MALA only).</param>
    /// <param name="y">Proposals [n, d].</param>
    /// <param name="gy">grad w(y) [n, d] (MALA only).</param>
    /// <param name="wy">w(y) [n] (MALA only).</param>
    /// <param name="accepted">Per-chain accepted-move counter.</param>
    /// <param name="diverged">Per-chain count of non-finite proposals.</param>
    /// <param name="divergedTotal">divergedTotal[0] counts non-finite proposals of all chains (one integer atomic per thread that saw any).</param>
    /// <param name="divergedSinceCheck">Set to 1 for a chain with a non-finite proposal (cleared by <see cref="RestoreDiverged"/>).</param>
    /// <param name="d">Dimension.</param>
    /// <param name="p">Step parameters.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accept(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> g, ArrayView<float> w,
        ArrayView<float> y, ArrayView<float> gy, ArrayView<float> wy, ArrayView<int> accepted, ArrayView<int> diverged,
        ArrayView<int> divergedTotal, ArrayView<int> divergedSinceCheck, int d, LangevinStep p)
    {
        int divergedHere = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            divergedHere += AcceptChain(i, x, g, w, y, gy, wy, accepted, diverged, divergedSinceCheck, d, p);
        }

        if (divergedHere != 0)
        {
            Atomic.Add(ref divergedTotal[0], divergedHere);
        }
    }

    /// <summary>
    /// Packs a run's counters for one host read: summary[0] = divergedTotal[0], summary[1] = the sum of
    /// <paramref name="accepted"/>, summary[2] = the chains with a non-finite proposal, summary[3] = the sum of
    /// <paramref name="diverged"/>. <paramref name="summary"/> must be zero on entry (integer atomics: the sums are exact).
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="accepted">Per-chain accepted-move counter.</param>
    /// <param name="diverged">Per-chain count of non-finite proposals.</param>
    /// <param name="divergedTotal">The total of non-finite proposals (one value).</param>
    /// <param name="summary">Output [4].</param>
    public static void SummarizeCounters(Index1D t, PointRange range, ArrayView<int> accepted, ArrayView<int> diverged,
        ArrayView<int> divergedTotal, ArrayView<long> summary)
    {
        long acceptedHere = 0, chainsHere = 0, proposalsHere = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            acceptedHere += accepted[i];
            int v = diverged[i];
            proposalsHere += v;
            if (v > 0)
            {
                chainsHere++;
            }
        }

        if ((int)t == 0)
        {
            summary[0] = divergedTotal[0];
        }

        if (acceptedHere != 0)
        {
            Atomic.Add(ref summary[1], acceptedHere);
        }

        if (chainsHere != 0)
        {
            Atomic.Add(ref summary[2], chainsHere);
        }

        if (proposalsHere != 0)
        {
            Atomic.Add(ref summary[3], proposalsHere);
        }
    }

    /// <summary>Accept/reject of chain i; returns 1 if its proposal was non-finite, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int AcceptChain(long i, ArrayView<float> x, ArrayView<float> g, ArrayView<float> w,
        ArrayView<float> y, ArrayView<float> gy, ArrayView<float> wy, ArrayView<int> accepted, ArrayView<int> diverged,
        ArrayView<int> divergedSinceCheck, int d, LangevinStep p)
    {
        float tau = p.Tau;
        long o = i * d;
        bool finite = true;
        for (int k = 0; k < d; k++)
        {
            finite &= XMath.IsFinite(y[o + k]);
        }

        if (p.Mala != 0)
        {
            finite &= XMath.IsFinite(wy[i]);
            for (int k = 0; k < d; k++)
            {
                finite &= XMath.IsFinite(gy[o + k]);
            }
        }

        if (!finite)
        {
            diverged[i] += 1;
            divergedSinceCheck[i] = 1;
            return 1;
        }

        if (p.Mala != 0)
        {
            float forward = 0f, backward = 0f;
            for (int k = 0; k < d; k++)
            {
                float delta = y[o + k] - x[o + k];
                float f = delta + tau * g[o + k];
                float b = -delta + tau * gy[o + k];
                forward += f * f;
                backward += b * b;
            }

            float logAlpha = w[i] - wy[i] + (forward - backward) / (4f * tau);
            var bits = Philox.Block(p.Seed, p.ChainOffset + i, p.Step, Philox.PurposeAccept, 0);
            float u = Philox.Uniform(bits.X);
            if (!(XMath.Log(u) <= logAlpha))
            {
                return 0;
            }

            w[i] = wy[i];
            for (int k = 0; k < d; k++)
            {
                g[o + k] = gy[o + k];
            }
        }

        for (int k = 0; k < d; k++)
        {
            x[o + k] = y[o + k];
        }

        accepted[i] += 1;
        return 0;
    }

    /// <summary>
    /// Welford update of per-chain, per-dimension running mean and M2 for one half of the kept draws
    /// (split R-hat): stats[((i d + k) 2 + half) 2 + {0: mean, 1: M2}].
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="stats">Statistics, 4 n d floats.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="half">0 or 1.</param>
    /// <param name="count">Number of draws in this half including this one (at least 1).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateMoments(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> stats, int d, int half, int count)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            AccumulateMomentsChain(i, x, stats, d, half, count);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateMomentsChain(long i, ArrayView<float> x, ArrayView<float> stats, int d, int half, int count)
    {
        long o = i * d;
        for (int k = 0; k < d; k++)
        {
            long s = ((o + k) * 2 + half) * 2;
            float v = x[o + k];
            float mean = stats[s];
            float delta = v - mean;
            mean += delta / count;
            stats[s] = mean;
            stats[s + 1] += delta * (v - mean);
        }
    }

    /// <summary>
    /// Divergence recovery: a chain flagged in <paramref name="divergedSinceCheck"/> goes back to its checkpoint
    /// (its state at the last check without divergence) and its flag is cleared; every other chain's state is
    /// copied into the checkpoint when <paramref name="saveOthers"/> is 1.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="checkpoint">Checkpoint states [n, d].</param>
    /// <param name="divergedSinceCheck">Per-chain flags.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="saveOthers">1 to refresh the checkpoint of chains that did not diverge.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RestoreDiverged(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> checkpoint,
        ArrayView<int> divergedSinceCheck, int d, int saveOthers)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            RestoreDivergedChain(i, x, checkpoint, divergedSinceCheck, d, saveOthers);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RestoreDivergedChain(long i, ArrayView<float> x, ArrayView<float> checkpoint, ArrayView<int> divergedSinceCheck, int d, int saveOthers)
    {
        long o = i * d;
        if (divergedSinceCheck[i] != 0)
        {
            divergedSinceCheck[i] = 0;
            for (int k = 0; k < d; k++)
            {
                x[o + k] = checkpoint[o + k];
            }
        }
        else if (saveOthers != 0)
        {
            for (int k = 0; k < d; k++)
            {
                checkpoint[o + k] = x[o + k];
            }
        }
    }

    /// <summary>Scatters chain states into a draw buffer: destination row i * stride + offset = x row i.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The chains of each thread.</param>
    /// <param name="x">States [n, d].</param>
    /// <param name="destination">Draws [n * stride, d].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="stride">Draws per chain.</param>
    /// <param name="offset">Index of this draw within the chain's draws.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterRows(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> destination, int d, int stride, int offset)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            long to = (i * stride + offset) * d;
            for (int k = 0; k < d; k++)
            {
                destination[to + k] = x[o + k];
            }
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(InitNormal), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(Propose), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(Accept), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(AccumulateMoments), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(ScatterRows), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(RestoreDiverged), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(LangevinKernels), nameof(SummarizeCounters), KernelGrouping.Implicit);
    }
}
