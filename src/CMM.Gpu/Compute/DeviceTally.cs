using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Compute;

/// <summary>
/// The counters behind <see cref="CmmContext.Counters"/>, one per context. ILGPU 1.5.3 has no launch hook or launch counter
/// (its profiling markers time a stream, they count nothing), so every kernel the library loads is wrapped once, at load time,
/// by <see cref="Counted{T1, T2}(Action{T1, T2})"/> and its overloads (one per delegate arity), and every host copy, fill
/// and device copy goes through the methods below. A launch costs one interlocked increment more.
/// </summary>
internal sealed class DeviceTally
{
    private long launches;
    private long reads;
    private long writes;
    private long synchronizations;
    private long memoryOperations;

    /// <summary>The counts now.</summary>
    public DeviceCounters Snapshot() => new(
        Interlocked.Read(ref launches),
        Interlocked.Read(ref reads),
        Interlocked.Read(ref writes),
        Interlocked.Read(ref synchronizations),
        Interlocked.Read(ref memoryOperations));

    /// <summary>Counts an explicit wait for the device (the caller waits).</summary>
    public void CountSynchronization() => Interlocked.Increment(ref synchronizations);

    /// <summary>Copies the first <c>destination.Length</c> elements of device memory to the host (ILGPU waits for the stream:
    /// a host synchronisation). An empty destination copies nothing, waits for nothing and is not counted, as in ILGPU.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device view (at least as long as <paramref name="destination"/>).</param>
    /// <param name="destination">The host memory.</param>
    public void Read<T>(ArrayView<T> source, Span<T> destination)
        where T : unmanaged
    {
        if (!destination.IsEmpty)
        {
            Interlocked.Increment(ref reads);
        }

        source.CopyToCPU(destination);
    }

    /// <summary>Copies device memory into a new host array (a host synchronisation).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device view.</param>
    /// <returns>The values.</returns>
    public T[] Read<T>(ArrayView<T> source)
        where T : unmanaged
    {
        var a = new T[source.Length];
        Read(source, a);
        return a;
    }

    /// <summary>The first element of a device view (a host synchronisation).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device view (at least one element).</param>
    /// <returns>Element 0.</returns>
    public T ReadFirst<T>(ArrayView<T> source)
        where T : unmanaged
    {
        Span<T> one = stackalloc T[1];
        Read(source.SubView(0, 1), one);
        return one[0];
    }

    /// <summary>Copies host memory to the start of a device view (ILGPU 1.5.3 waits for the stream after the copy: a host
    /// synchronisation). An empty source copies nothing and is not counted, as in ILGPU.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="target">The device view (at least as long as <paramref name="source"/>).</param>
    /// <param name="source">The host memory.</param>
    public void Write<T>(ArrayView<T> target, ReadOnlySpan<T> source)
        where T : unmanaged
    {
        if (!source.IsEmpty)
        {
            Interlocked.Increment(ref writes);
        }

        target.CopyFromCPU(source);
    }

    /// <summary>Zero-fills a device view (queued; no host wait).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="target">The device view.</param>
    public void Clear<T>(ArrayView<T> target)
        where T : unmanaged
    {
        Interlocked.Increment(ref memoryOperations);
        target.MemSetToZero();
    }

    /// <summary>Fills every byte of a device view with <paramref name="value"/> (queued; no host wait).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="target">The device view.</param>
    /// <param name="value">The byte value.</param>
    public void FillBytes<T>(ArrayView<T> target, byte value)
        where T : unmanaged
    {
        Interlocked.Increment(ref memoryOperations);
        target.MemSet(value);
    }

    /// <summary>Copies one device view into another of the same length (queued; no host wait).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The source view.</param>
    /// <param name="target">The target view.</param>
    public void Copy<T>(ArrayView<T> source, ArrayView<T> target)
        where T : unmanaged
    {
        Interlocked.Increment(ref memoryOperations);
        source.CopyTo(target);
    }

    /// <summary>Zero-fills a dense buffer view (queued; no host wait).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="target">The device view.</param>
    public void Clear<T>(ArrayView1D<T, Stride1D.Dense> target)
        where T : unmanaged => Clear(target.BaseView);

    /// <summary>Copies a dense buffer view into a new host array (a host synchronisation).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device view.</param>
    /// <returns>The values.</returns>
    public T[] Read<T>(ArrayView1D<T, Stride1D.Dense> source)
        where T : unmanaged => Read(source.BaseView);

    /// <summary>Copies a dense buffer view to the host (a host synchronisation).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="source">The device view.</param>
    /// <param name="destination">Exactly as long as <paramref name="source"/>.</param>
    public void Read<T>(ArrayView1D<T, Stride1D.Dense> source, Span<T> destination)
        where T : unmanaged => Read(source.BaseView, destination);

    /// <summary>Allocates a buffer holding <paramref name="values"/> (one host write, as ILGPU's <c>Allocate1D(T[])</c>).</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="accelerator">The accelerator.</param>
    /// <param name="values">The values (at least one).</param>
    /// <returns>The buffer; the caller owns it.</returns>
    public MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(Accelerator accelerator, T[] values)
        where T : unmanaged
    {
        var buffer = accelerator.Allocate1D<T>(values.Length);
        Write(buffer.View.BaseView, values);
        return buffer;
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2> Counted<T1, T2>(Action<T1, T2> kernel) =>
        (a1, a2) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3> Counted<T1, T2, T3>(Action<T1, T2, T3> kernel) =>
        (a1, a2, a3) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4> Counted<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel) =>
        (a1, a2, a3, a4) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5> Counted<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel) =>
        (a1, a2, a3, a4, a5) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6> Counted<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel) =>
        (a1, a2, a3, a4, a5, a6) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7> Counted<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8> Counted<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
        };

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16> kernel) =>
        (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) =>
        {
            Interlocked.Increment(ref launches);
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16);
        };
}
