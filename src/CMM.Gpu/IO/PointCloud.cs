namespace CMM.Gpu.IO;

/// <summary>The on-disk formats <see cref="PointFile"/> reads and writes.</summary>
public enum PointFileFormat
{
    /// <summary>Comma-separated text, one point per line (<c>.csv</c>).</summary>
    Csv,

    /// <summary>NumPy array file (<c>.npy</c>): float or integer values, shape (n,), (n, d) or (n, h, w) images.</summary>
    Npy,

    /// <summary>
    /// IDX file, the format MNIST is distributed in (<c>.idx</c>, <c>-idx3-ubyte</c>, <c>-idx1-ubyte</c>, optionally
    /// gzip-compressed with <c>.gz</c>): (n, h, w) images, (n, d) or (n,) labels. Read only.
    /// </summary>
    Idx,
}

/// <summary>
/// An immutable set of <see cref="Count"/> points in R^<see cref="Dimension"/>, stored row-major
/// <c>[n, d]</c> float32 (the layout <c>DevicePoints.Upload(context, cloud.Data.Span, cloud.Dimension)</c> takes).
/// Every value is finite (the readers reject NaN and infinities). Points read from images ((n, h, w) arrays) carry
/// their <see cref="ImageShape"/>.
/// </summary>
public sealed class PointCloud
{
    private readonly float[] data;

    /// <summary>Creates a point cloud from a copy of <paramref name="data"/>.</summary>
    /// <param name="data">Row-major values, <c>Count * dimension</c> of them.</param>
    /// <param name="dimension">Values per point (d &gt;= 1).</param>
    /// <param name="source">Where the points came from (a file name), for messages.</param>
    /// <exception cref="ArgumentException">Empty data, length not a multiple of d, or a non-finite value.</exception>
    public PointCloud(ReadOnlySpan<float> data, int dimension, string source)
        : this(Validated(data, dimension), dimension, source, trusted: true)
    {
    }

    private PointCloud(float[] data, int dimension, string source, bool trusted, ImageShape? imageShape = null)
    {
        _ = trusted;
        this.data = data;
        ImageShape = imageShape;
        Dimension = dimension;
        Count = data.Length / dimension;
        Source = source ?? string.Empty;
        float max = 0f;
        foreach (var v in data)
        {
            max = MathF.Max(max, MathF.Abs(v));
        }

        MaxAbsValue = max;
    }

    /// <summary>The values, row-major <c>[Count, Dimension]</c>.</summary>
    public ReadOnlyMemory<float> Data => data;

    /// <summary>Number of points n.</summary>
    public int Count { get; }

    /// <summary>Values per point d.</summary>
    public int Dimension { get; }

    /// <summary>Where the points came from (file path or stream source name).</summary>
    public string Source { get; }

    /// <summary>
    /// The (height, width) of the images the points are, row-major (<c>Height * Width == Dimension</c>), or null for
    /// plain points: set by the readers for (n, h, w) .npy arrays and IDX image files, or by <see cref="WithImageShape"/>.
    /// </summary>
    public ImageShape? ImageShape { get; }

    /// <summary>The largest |value| in the cloud.</summary>
    public float MaxAbsValue { get; }

    /// <summary>
    /// True when squared costs between points of this magnitude can overflow float32:
    /// 1/2 |x - y|^2 &lt;= 2 d max|v|^2 exceeds float.MaxValue (roughly max|v| &gt; 1.3e19 / sqrt(d)).
    /// Callers should rescale the data (or refuse it) and say so; see docs/file-formats.md.
    /// </summary>
    public bool SquaredCostsMayOverflow => 2.0 * Dimension * (double)MaxAbsValue * MaxAbsValue > float.MaxValue;

    /// <summary>One-line warning for <see cref="SquaredCostsMayOverflow"/>, or null when there is nothing to say.</summary>
    public string? OverflowWarning => SquaredCostsMayOverflow
        ? $"{Source}: values up to {MaxAbsValue.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)} in d = {Dimension}: squared costs can overflow float32 (keep |v| below {Math.Sqrt(float.MaxValue / (2.0 * Dimension)).ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}); rescale the data"
        : null;

    /// <summary>Point <paramref name="index"/> as a span of <see cref="Dimension"/> values.</summary>
    /// <param name="index">0-based point index.</param>
    /// <returns>The point's coordinates.</returns>
    public ReadOnlySpan<float> Row(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return new ReadOnlySpan<float>(data, index * Dimension, Dimension);
    }

    /// <summary>A copy of the values, row-major.</summary>
    /// <returns>A new array.</returns>
    public float[] ToArray() => (float[])data.Clone();

    /// <summary>The same points, declared to be images of <paramref name="shape"/> (null: plain points). The values are shared, not copied.</summary>
    /// <param name="shape">The image shape; its pixel count must equal <see cref="Dimension"/>.</param>
    /// <returns>A cloud with <see cref="ImageShape"/> set.</returns>
    /// <exception cref="PointFileException"><see cref="PointFileError.ImageShapeMismatch"/>: the shape does not have
    /// <see cref="Dimension"/> pixels (<c>x.csv: image shape 8x9: 64 values per point are not 8 x 9</c>).</exception>
    public PointCloud WithImageShape(ImageShape? shape)
    {
        shape?.RequireFits(Dimension, source: Source);
        return new PointCloud(data, Dimension, Source, trusted: true, shape);
    }

    /// <summary>Wraps an array the reader built and validated (no copy).</summary>
    internal static PointCloud Wrap(float[] data, int dimension, string source, ImageShape? imageShape = null) =>
        new(data, dimension, source, trusted: true, imageShape);

    private static float[] Validated(ReadOnlySpan<float> data, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (data.IsEmpty)
        {
            throw new ArgumentException("a point cloud needs at least one point", nameof(data));
        }

        if (data.Length % dimension != 0)
        {
            throw new ArgumentException($"data has {data.Length} values, not a multiple of d = {dimension}", nameof(data));
        }

        PointFile.RequireFinite(data, nameof(data));
        return data.ToArray();
    }
}
