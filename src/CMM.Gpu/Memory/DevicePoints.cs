using CMM.Gpu.Compute;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Memory;

/// <summary>
/// A point set [n, d] in device memory: row-major float32, point i occupying elements
/// [i d, (i + 1) d). The creator owns it and must dispose it before the <see cref="CmmContext"/>.
/// </summary>
public sealed class DevicePoints : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> buffer;
    private readonly DevicePoints? owner;
    private bool disposed;

    private DevicePoints(CmmContext context, int count, int dimension)
    {
        Context = context;
        Count = count;
        Dimension = dimension;
        buffer = context.Accelerator.Allocate1D<float>(Math.Max(1L, (long)count * dimension));
    }

    private DevicePoints(DevicePoints owner, int count)
    {
        Context = owner.Context;
        Count = count;
        Dimension = owner.Dimension;
        buffer = owner.buffer;
        this.owner = owner;
    }

    /// <summary>The context the memory lives on.</summary>
    public CmmContext Context { get; }

    /// <summary>Number of points n.</summary>
    public int Count { get; }

    /// <summary>Dimension d.</summary>
    public int Dimension { get; }

    /// <summary>Number of floats, n * d.</summary>
    public long Length => (long)Count * Dimension;

    /// <summary>The device view of the n * d floats (for chaining kernels without copies).</summary>
    internal ArrayView<float> View
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed || owner?.disposed == true, this);
            return buffer.View.SubView(0, Length);
        }
    }

    /// <summary>The first <paramref name="count"/> points of this set, sharing its memory (no copy). The prefix does not
    /// own the memory: disposing it does nothing, and it must not be used after this set is disposed.</summary>
    /// <param name="count">Number of points, 1 to <see cref="Count"/>.</param>
    /// <returns>The borrowed prefix (this set itself when <paramref name="count"/> equals <see cref="Count"/>).</returns>
    internal DevicePoints Prefix(int count)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        return count == Count ? this : new DevicePoints(owner ?? this, count);
    }

    /// <summary>Allocates an uninitialised point set.</summary>
    /// <param name="context">The device.</param>
    /// <param name="count">Number of points (at least 1).</param>
    /// <param name="dimension">Dimension (at least 1).</param>
    /// <returns>The buffer; the caller owns it.</returns>
    public static DevicePoints Allocate(CmmContext context, int count, int dimension)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.ThrowIfDisposed();
        Shape.RequirePositive(count, nameof(count), "number of points");
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        return new DevicePoints(context, count, dimension);
    }

    /// <summary>Uploads n points of dimension d from a row-major span of n * d floats.</summary>
    /// <param name="context">The device.</param>
    /// <param name="data">Row-major data, length n * d.</param>
    /// <param name="dimension">Dimension d.</param>
    /// <returns>The buffer; the caller owns it.</returns>
    /// <exception cref="ArgumentException">The length is not a positive multiple of d.</exception>
    public static DevicePoints Upload(CmmContext context, ReadOnlySpan<float> data, int dimension)
    {
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        if (data.Length == 0 || data.Length % dimension != 0)
        {
            throw new ArgumentException(
                $"point data has {data.Length} values, which is not a positive multiple of the dimension {dimension}", nameof(data));
        }

        var p = Allocate(context, data.Length / dimension, dimension);
        p.CopyFrom(data);
        return p;
    }

    /// <summary>Uploads a [n, d] array.</summary>
    /// <param name="context">The device.</param>
    /// <param name="points">Points, one per row.</param>
    /// <returns>The buffer; the caller owns it.</returns>
    public static DevicePoints Upload(CmmContext context, float[,] points)
    {
        ArgumentNullException.ThrowIfNull(points);
        int n = points.GetLength(0), d = points.GetLength(1);
        var flat = new float[(long)n * d];
        Buffer.BlockCopy(points, 0, flat, 0, flat.Length * sizeof(float));
        return Upload(context, flat, d);
    }

    /// <summary>Overwrites the contents from a row-major span of exactly n * d floats.</summary>
    /// <param name="data">The data.</param>
    public void CopyFrom(ReadOnlySpan<float> data)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequireLength(data.Length, Length, nameof(data), $"points [{Count}, {Dimension}]");
        Context.Tally.Write(View, data);
    }

    /// <summary>Downloads the n * d floats into <paramref name="destination"/> (exactly n * d long).</summary>
    /// <param name="destination">The destination.</param>
    public void CopyTo(Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequireLength(destination.Length, Length, nameof(destination), $"points [{Count}, {Dimension}]");
        Context.Tally.Read(View, destination);
    }

    /// <summary>Downloads into a new row-major array of n * d floats.</summary>
    /// <returns>The data.</returns>
    public float[] ToArray()
    {
        var a = new float[Length];
        CopyTo(a);
        return a;
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
