using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Sampling;

/// <summary>Four 32-bit words: a Philox counter block or its output.</summary>
/// <param name="X">Word 0.</param>
/// <param name="Y">Word 1.</param>
/// <param name="Z">Word 2.</param>
/// <param name="W">Word 3.</param>
public readonly record struct UInt4(uint X, uint Y, uint Z, uint W);

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
/// counter-based generator, so the random numbers of (seed, chain, step) are a pure function of those
/// integers and do not depend on how a batch is split into chunks or on the accelerator.
/// Counter layout used by the sampler: (chain low word, chain high word, step, purpose | block);
/// key = (seed low word, seed high word).
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53u;
    private const uint M1 = 0xCD9E8D57u;
    private const uint W0 = 0x9E3779B9u;
    private const uint W1 = 0xBB67AE85u;

    /// <summary>Purpose tag (top byte of counter word 3) of the Gaussian increments of a step.</summary>
    public const uint PurposeNoise = 0u;

    /// <summary>Purpose tag of the Metropolis-Hastings uniform of a step.</summary>
    public const uint PurposeAccept = 1u << 24;

    /// <summary>Purpose tag of the initial state of a chain.</summary>
    public const uint PurposeInit = 2u << 24;

    /// <summary>Ten Philox4x32 rounds of <paramref name="counter"/> under the key (k0, k1).</summary>
    /// <param name="counter">The counter block.</param>
    /// <param name="k0">Key word 0.</param>
    /// <param name="k1">Key word 1.</param>
    /// <returns>Four pseudo-random words.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static UInt4 Generate(UInt4 counter, uint k0, uint k1)
    {
        uint c0 = counter.X, c1 = counter.Y, c2 = counter.Z, c3 = counter.W;
        for (int r = 0; r < 10; r++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            uint n0 = hi1 ^ c1 ^ k0;
            uint n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }

        return new UInt4(c0, c1, c2, c3);
    }

    /// <summary>The block for (seed, chain, step, purpose, block index).</summary>
    /// <param name="seed">The user seed (the key).</param>
    /// <param name="chain">Global chain index.</param>
    /// <param name="step">Global step index of that chain.</param>
    /// <param name="purpose">One of the purpose tags.</param>
    /// <param name="block">Block index within the step (below 2^24).</param>
    /// <returns>Four pseudo-random words.</returns>
    public static UInt4 Block(ulong seed, long chain, int step, uint purpose, int block) =>
        Generate(new UInt4((uint)chain, (uint)((ulong)chain >> 32), (uint)step, purpose | (uint)block), (uint)seed, (uint)(seed >> 32));

    /// <summary>A uniform in (0, 1], never exactly 0: ((bits &gt;&gt; 8) + 1) * 2^-24.</summary>
    /// <param name="bits">32 random bits.</param>
    /// <returns>The uniform.</returns>
    public static float Uniform(uint bits) => ((bits >> 8) + 1u) * (1f / 16777216f);

    /// <summary>Box-Muller: two standard normals from two uniform words (first uniform in (0, 1], so the log is finite).</summary>
    /// <param name="a">Bits for the radius.</param>
    /// <param name="b">Bits for the angle.</param>
    /// <param name="z0">First normal.</param>
    /// <param name="z1">Second normal.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BoxMuller(uint a, uint b, out float z0, out float z1)
    {
        float r = XMath.Sqrt(-2f * XMath.Log(Uniform(a)));
        float theta = 2f * XMath.PI * Uniform(b);
        z0 = r * XMath.Cos(theta);
        z1 = r * XMath.Sin(theta);
    }

    /// <summary>
    /// The k-th standard normal of (seed, chain, step, purpose): normals 4j..4j+3 come from block j,
    /// so any component can be drawn without the others.
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <param name="chain">Global chain index.</param>
    /// <param name="step">Step index.</param>
    /// <param name="purpose">Purpose tag.</param>
    /// <param name="k">Component index.</param>
    /// <returns>A standard normal.</returns>
    public static float Normal(ulong seed, long chain, int step, uint purpose, int k)
    {
        var bits = Block(seed, chain, step, purpose, k >> 2);
        int lane = k & 3;
        float z0, z1;
        if (lane < 2)
        {
            BoxMuller(bits.X, bits.Y, out z0, out z1);
        }
        else
        {
            BoxMuller(bits.Z, bits.W, out z0, out z1);
        }

        return (lane & 1) == 0 ? z0 : z1;
    }
}
