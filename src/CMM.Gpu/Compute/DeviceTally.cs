using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Compute;

/// <summary>
/// The counters behind <see cref="CmmContext.Counters"/>, one per context. ILGPU 1.5.3 has no launch hook or launch counter
/// (its profiling markers time a stream, they count nothing), so every kernel the library loads is wrapped once, at load time,
/// by <see cref="Counted{T1, T2}(Action{T1, T2}, string)"/> and its overloads (one per delegate arity), and every host copy, fill
/// and device copy goes through the methods below. A launch costs one interlocked increment more.
/// </summary>
internal sealed class DeviceTally
{
    private long launches;
    private long reads;
    private long writes;
    private long synchronizations;
    private long memoryOperations;
    private readonly ConcurrentDictionary<string, KernelTime> profile = new();
    private Accelerator? profiled;

    /// <summary>Whether launches are being timed (<see cref="StartProfile"/>).</summary>
    public bool Profiling => profiled is not null;

    /// <summary>
    /// Times every later launch (clearing earlier rows): the device is waited for before and after each one and the wall time between is added to the
    /// kernel's row of <see cref="Profile"/>. This serialises the stream (the times add up to the run's device time, not to
    /// its wall time with overlap): a diagnostic for finding which kernel a run spends its time in, not a mode to run in.
    /// </summary>
    /// <param name="accelerator">The context's accelerator (waited for around each launch).</param>
    public void StartProfile(Accelerator accelerator)
    {
        profile.Clear();
        profiled = accelerator;
    }

    /// <summary>Stops timing launches; <see cref="Profile"/> keeps its rows.</summary>
    public void StopProfile() => profiled = null;

    /// <summary>Launches and seconds per kernel since <see cref="StartProfile"/>, most time first.</summary>
    public IReadOnlyList<KernelTime> Profile() => [.. profile.Values.OrderByDescending(k => k.Seconds)];

    /// <summary>Counts a launch; when profiling, waits for earlier work and returns the start time (else 0).</summary>
    private long Begin()
    {
        Interlocked.Increment(ref launches);
        if (profiled is null)
        {
            return 0;
        }

        profiled.Synchronize();
        return Stopwatch.GetTimestamp();
    }

    /// <summary>When profiling, waits for the launch and adds its time to the kernel's row.</summary>
    private void End(long start, string name)
    {
        if (profiled is null || start == 0)
        {
            return;
        }

        profiled.Synchronize();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        profile.AddOrUpdate(name, _ => new KernelTime(name, 1, seconds), (_, k) => k with { Launches = k.Launches + 1, Seconds = k.Seconds + seconds });
    }

    /// <summary>A kernel's name from the expression that loaded it: the last <c>XxxKernels.Name</c> it mentions (as in
    /// <c>nameof(IcnnKernels.Evaluate)</c> or <c>IcnnKernels.AdamStep</c>), else the expression itself, shortened.</summary>
    internal static string KernelName(string source)
    {
        var matches = Regex.Matches(source, @"\b(\w*Kernels\.\w+)");
        if (matches.Count > 0)
        {
            return matches[^1].Groups[1].Value;
        }

        var flat = Regex.Replace(source, @"\s+", " ").Trim();
        return flat.Length <= 60 ? flat : flat[..60];
    }

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
    public Action<T1, T2> Counted<T1, T2>(Action<T1, T2> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2) =>
        {
            long t = Begin();
            kernel(a1, a2);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3> Counted<T1, T2, T3>(Action<T1, T2, T3> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3) =>
        {
            long t = Begin();
            kernel(a1, a2, a3);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4> Counted<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5> Counted<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6> Counted<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7> Counted<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8> Counted<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
            End(t, name);
        };
    }

    /// <summary>The kernel delegate <paramref name="kernel"/>, counting each launch.</summary>
    public Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16> Counted<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16> kernel, [CallerArgumentExpression(nameof(kernel))] string source = "")
    {
        var name = KernelName(source);
        return (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16) =>
        {
            long t = Begin();
            kernel(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16);
            End(t, name);
        };
    }
}

/// <summary>One row of a kernel profile (<see cref="CmmContext.KernelProfile"/>).</summary>
/// <param name="Kernel">The kernel, as <c>Class.Method</c>.</param>
/// <param name="Launches">Launches timed.</param>
/// <param name="Seconds">Wall seconds from launch to completion, summed over the launches.</param>
public sealed record KernelTime(string Kernel, long Launches, double Seconds);
