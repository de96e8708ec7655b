namespace CMM.Gpu.Data;

/// <summary>
/// A set of points in R^d stored row-major as float32: point i is
/// <c>Points[i * Dimension .. (i + 1) * Dimension)</c>.
/// </summary>
/// <param name="Name">Where the points came from (a built-in dataset name or a file name).</param>
/// <param name="Points">Row-major coordinates, length <c>Count * Dimension</c>.</param>
/// <param name="Dimension">d, at least 1.</param>
public sealed record Dataset(string Name, float[] Points, int Dimension)
{
    /// <summary>The (height, width) of the images the points are (8 x 8 for <c>digits</c>), or null for points that are not images.</summary>
    public CMM.Gpu.IO.ImageShape? ImageShape { get; init; }

    /// <summary>Number of points.</summary>
    public int Count => Dimension > 0 ? Points.Length / Dimension : 0;

    /// <summary>Copies coordinate <paramref name="axis"/> of every point (for plotting and 1-D metrics).</summary>
    /// <param name="axis">0-based coordinate index, below <see cref="Dimension"/>.</param>
    /// <returns>A new array of length <see cref="Count"/>.</returns>
    public double[] Column(int axis)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(axis);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(axis, Dimension);
        var c = new double[Count];
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = Points[(i * Dimension) + axis];
        }

        return c;
    }
}
