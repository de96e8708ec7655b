using CMM.Gpu.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Memory;

/// <summary>
/// A float32 vector in device memory (potentials, weights, per-point values, flattened matrices).
/// The creator owns it and must dispose it before the <see cref="CmmContext"/>.
/// </summary>
public sealed class DeviceVector : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> buffer;
    private readonly DeviceVector? owner;
    private bool disposed;

    private DeviceVector(CmmContext context, long length)
    {
        Context = context;
        Length = length;
        buffer = context.Accelerator.Allocate1D<float>(Math.Max(1L, length));
    }

    private DeviceVector(DeviceVector owner, long length)
    {
        Context = owner.Context;
        Length = length;
        buffer = owner.buffer;
        this.owner = owner;
    }

    /// <summary>The context the memory lives on.</summary>
    public CmmContext Context { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>The device view (for chaining kernels without copies).</summary>
    internal ArrayView<float> View
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed || owner?.disposed == true, this);
            return buffer.View.SubView(0, Length);
        }
    }

    /// <summary>The first <paramref name="length"/> elements, sharing this vector's memory (no copy). The prefix does not
    /// own the memory: disposing it does nothing, and it must not be used after this vector is disposed.</summary>
    /// <param name="length">Number of elements, 1 to <see cref="Length"/>.</param>
    /// <returns>The borrowed prefix (this vector itself when <paramref name="length"/> equals <see cref="Length"/>).</returns>
    internal DeviceVector Prefix(long length)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        return length == Length ? this : new DeviceVector(owner ?? this, length);
    }

    /// <summary>Allocates a zero-filled vector.</summary>
    /// <param name="context">The device.</param>
    /// <param name="length">Number of elements (at least 1).</param>
    /// <returns>The vector; the caller owns it.</returns>
    public static DeviceVector Allocate(CmmContext context, long length)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.ThrowIfDisposed();
        Shape.RequirePositive(length, nameof(length), "vector length");
        var v = new DeviceVector(context, length);
        context.Tally.Clear(v.buffer.View);
        return v;
    }

    /// <summary>Uploads a span.</summary>
    /// <param name="context">The device.</param>
    /// <param name="data">The values (at least one).</param>
    /// <returns>The vector; the caller owns it.</returns>
    public static DeviceVector Upload(CmmContext context, ReadOnlySpan<float> data)
    {
        var v = Allocate(context, data.Length);
        v.CopyFrom(data);
        return v;
    }

    /// <summary>Overwrites the contents from a span of exactly <see cref="Length"/> values.</summary>
    /// <param name="data">The data.</param>
    public void CopyFrom(ReadOnlySpan<float> data)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequireLength(data.Length, Length, nameof(data), $"vector of length {Length}");
        Context.Tally.Write(View, data);
    }

    /// <summary>Downloads into a span of exactly <see cref="Length"/> values.</summary>
    /// <param name="destination">The destination.</param>
    public void CopyTo(Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequireLength(destination.Length, Length, nameof(destination), $"vector of length {Length}");
        Context.Tally.Read(View, destination);
    }

    /// <summary>Downloads into a new array.</summary>
    /// <returns>The values.</returns>
    public float[] ToArray()
    {
        var a = new float[Length];
        CopyTo(a);
        return a;
    }

    /// <summary>Sets every element to zero.</summary>
    public void Clear()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Context.Tally.Clear(View);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            if (owner is null)
            {
                buffer.Dispose();
            }
        }
    }
}
