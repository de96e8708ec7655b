namespace CMM.Gpu;

/// <summary>
/// A snapshot of the device work a <see cref="CmmContext"/> has issued since it was created: kernel launches, and the
/// operations that make the host wait for the device (<see cref="HostSynchronizations"/>). Take one with
/// <see cref="CmmContext.Counters"/> before and after some work and subtract them to get what that work issued. The counts
/// cover everything the library does on the context, from any thread; work of another thread on the same context during
/// the interval is included.
/// </summary>
/// <param name="KernelLaunches">ILGPU kernels launched by the library (every kernel it loads is counted at each launch).</param>
/// <param name="HostReads">Device-to-host copies. ILGPU waits for the stream before copying, so each is a host synchronisation.</param>
/// <param name="HostWrites">Host-to-device copies. ILGPU 1.5.3's <c>CopyFromCPU</c> waits for the stream after copying (the
/// host memory is not pinned), so each is a host synchronisation too.</param>
/// <param name="Synchronizations">Explicit waits for the device (<see cref="CmmContext.Synchronize"/>).</param>
/// <param name="MemoryOperations">Device-side fills and device-to-device copies (queued without a host wait; on a GPU each is a
/// driver call much like a launch).</param>
public readonly record struct DeviceCounters(long KernelLaunches, long HostReads, long HostWrites, long Synchronizations, long MemoryOperations)
{
    /// <summary>Operations after which the host has waited for all queued device work: reads, writes and explicit waits.</summary>
    public long HostSynchronizations => HostReads + HostWrites + Synchronizations;

    /// <summary>The work issued between two snapshots: <paramref name="later"/> minus <paramref name="earlier"/>, field by field.</summary>
    /// <param name="later">The later snapshot.</param>
    /// <param name="earlier">The earlier snapshot.</param>
    /// <returns>The difference.</returns>
    public static DeviceCounters operator -(DeviceCounters later, DeviceCounters earlier) =>
        new(later.KernelLaunches - earlier.KernelLaunches,
            later.HostReads - earlier.HostReads,
            later.HostWrites - earlier.HostWrites,
            later.Synchronizations - earlier.Synchronizations,
            later.MemoryOperations - earlier.MemoryOperations);

    /// <summary>Field-by-field sum (totals over several intervals).</summary>
    /// <param name="a">The first counts.</param>
    /// <param name="b">The second counts.</param>
    /// <returns>The sum.</returns>
    public static DeviceCounters operator +(DeviceCounters a, DeviceCounters b) =>
        new(a.KernelLaunches + b.KernelLaunches,
            a.HostReads + b.HostReads,
            a.HostWrites + b.HostWrites,
            a.Synchronizations + b.Synchronizations,
            a.MemoryOperations + b.MemoryOperations);

    /// <summary>The work issued since <paramref name="earlier"/> (this snapshot minus it).</summary>
    /// <param name="earlier">The earlier snapshot.</param>
    /// <returns>The difference.</returns>
    public DeviceCounters Since(DeviceCounters earlier) => this - earlier;

    /// <summary>Named alternative to the <c>-</c> operator.</summary>
    /// <param name="later">The later snapshot.</param>
    /// <param name="earlier">The earlier snapshot.</param>
    /// <returns>The difference.</returns>
    public static DeviceCounters Subtract(DeviceCounters later, DeviceCounters earlier) => later - earlier;

    /// <summary>Named alternative to the <c>+</c> operator.</summary>
    /// <param name="a">The first counts.</param>
    /// <param name="b">The second counts.</param>
    /// <returns>The sum.</returns>
    public static DeviceCounters Add(DeviceCounters a, DeviceCounters b) => a + b;
}
