using ILGPU;

namespace CMM.Gpu.Kernels;

/// <summary>
/// Which points of a batch one thread of a per-point kernel handles. Thread t handles the points
/// <see cref="First"/>(t), <see cref="First"/>(t) + <see cref="Stride"/>, ... below <see cref="Limit"/>(t).
/// The launcher chooses the form and the launch extent; the kernel body is the same loop for all of them:
/// <code>for (long p = range.First(t), end = range.Limit(t); p &lt; end; p += range.Stride) { ... point p ... }</code>
/// A point's result never depends on the thread that computes it, so every form gives identical output.
/// </summary>
/// <param name="Count">Number of points n.</param>
/// <param name="PerThread">Thread t starts at point t * PerThread.</param>
/// <param name="Span">Thread t stops before point t * PerThread + Span (and before n).</param>
/// <param name="Stride">Distance between the points of one thread.</param>
public readonly record struct PointRange(int Count, int PerThread, int Span, int Stride)
{
    /// <summary>One thread per point (GPUs): launch n threads; each loop runs once.</summary>
    /// <param name="count">Number of points n.</param>
    /// <returns>The range.</returns>
    public static PointRange OnePerPoint(int count) => new(count, 1, 1, 1);

    /// <summary>Grid-stride form: launch <paramref name="threads"/> threads; thread t handles t, t + threads, ...</summary>
    /// <param name="count">Number of points n.</param>
    /// <param name="threads">Launch extent (at least 1).</param>
    /// <returns>The range.</returns>
    public static PointRange GridStride(int count, int threads) => new(count, 1, count, threads);

    /// <summary>Contiguous blocks: thread t handles points [t b, (t + 1) b) with b = <paramref name="perThread"/>.</summary>
    /// <param name="count">Number of points n.</param>
    /// <param name="perThread">Points per thread b (at least 1); launch ceil(n / b) threads.</param>
    /// <returns>The range.</returns>
    public static PointRange Blocks(int count, int perThread) => new(count, perThread, perThread, 1);

    /// <summary>The first point of thread <paramref name="t"/>.</summary>
    /// <param name="t">Thread index.</param>
    /// <returns>The point index.</returns>
    public long First(Index1D t) => (long)(int)t * PerThread;

    /// <summary>The exclusive end of thread <paramref name="t"/>'s points.</summary>
    /// <param name="t">Thread index.</param>
    /// <returns>min(n, First(t) + Span).</returns>
    public long Limit(Index1D t)
    {
        long end = First(t) + Span;
        return end < Count ? end : Count;
    }
}
