namespace CMM.Gpu.Cli.Plotting;

/// <summary>
/// A scalar function sampled on a rectangular grid: <c>Values[iy, ix]</c> = f(Xs[ix], Ys[iy]), with Xs and
/// Ys strictly increasing. Build it from a function with <see cref="Evaluate"/> or, for a batched model
/// (e.g. an <c>IPotential</c> evaluated on the device), with <see cref="EvaluateBatched"/>.
/// </summary>
/// <param name="Xs">Grid abscissae, at least 2, increasing.</param>
/// <param name="Ys">Grid ordinates, at least 2, increasing.</param>
/// <param name="Values">Values [Ys.Count, Xs.Count].</param>
public sealed record PotentialGrid(IReadOnlyList<double> Xs, IReadOnlyList<double> Ys, double[,] Values)
{
    /// <summary>Checks the shapes.</summary>
    /// <exception cref="ArgumentException">Shapes disagree or fewer than 2 points per axis.</exception>
    public void Check()
    {
        ArgumentNullException.ThrowIfNull(Xs);
        ArgumentNullException.ThrowIfNull(Ys);
        ArgumentNullException.ThrowIfNull(Values);
        if (Xs.Count < 2 || Ys.Count < 2 || Values.GetLength(0) != Ys.Count || Values.GetLength(1) != Xs.Count)
        {
            throw new ArgumentException($"grid needs at least 2 x 2 points and Values[{Ys.Count}, {Xs.Count}] (got Values[{Values.GetLength(0)}, {Values.GetLength(1)}])");
        }
    }

    /// <summary>Samples f on an nx x ny grid over [xMin, xMax] x [yMin, yMax].</summary>
    /// <param name="f">The function (x, y) -&gt; value.</param>
    /// <param name="xMin">Left end.</param>
    /// <param name="xMax">Right end (&gt; xMin).</param>
    /// <param name="yMin">Bottom end.</param>
    /// <param name="yMax">Top end (&gt; yMin).</param>
    /// <param name="nx">Points along x (at least 2; default 101).</param>
    /// <param name="ny">Points along y (at least 2; default 101).</param>
    /// <returns>The grid.</returns>
    public static PotentialGrid Evaluate(Func<double, double, double> f, double xMin, double xMax, double yMin, double yMax, int nx = 101, int ny = 101)
    {
        ArgumentNullException.ThrowIfNull(f);
        var (xs, ys) = Axes(xMin, xMax, yMin, yMax, nx, ny);
        var v = new double[ny, nx];
        for (int iy = 0; iy < ny; iy++)
        {
            for (int ix = 0; ix < nx; ix++)
            {
                v[iy, ix] = f(xs[ix], ys[iy]);
            }
        }

        return new PotentialGrid(xs, ys, v);
    }

    /// <summary>
    /// Samples a batched function: <paramref name="batch"/> receives all nx*ny grid points row-major [n, 2]
    /// (x fastest) and returns n values.
    /// </summary>
    /// <param name="batch">Points -&gt; values.</param>
    /// <param name="xMin">Left end.</param>
    /// <param name="xMax">Right end.</param>
    /// <param name="yMin">Bottom end.</param>
    /// <param name="yMax">Top end.</param>
    /// <param name="nx">Points along x.</param>
    /// <param name="ny">Points along y.</param>
    /// <returns>The grid.</returns>
    public static PotentialGrid EvaluateBatched(Func<float[], float[]> batch, double xMin, double xMax, double yMin, double yMax, int nx = 101, int ny = 101)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var (xs, ys) = Axes(xMin, xMax, yMin, yMax, nx, ny);
        var pts = new float[2 * nx * ny];
        for (int iy = 0; iy < ny; iy++)
        {
            for (int ix = 0; ix < nx; ix++)
            {
                pts[2 * ((iy * nx) + ix)] = (float)xs[ix];
                pts[(2 * ((iy * nx) + ix)) + 1] = (float)ys[iy];
            }
        }

        var w = batch(pts);
        if (w is null || w.Length != nx * ny)
        {
            throw new ArgumentException($"the batched function returned {w?.Length ?? 0} values for {nx * ny} points", nameof(batch));
        }

        var v = new double[ny, nx];
        for (int iy = 0; iy < ny; iy++)
        {
            for (int ix = 0; ix < nx; ix++)
            {
                v[iy, ix] = w[(iy * nx) + ix];
            }
        }

        return new PotentialGrid(xs, ys, v);
    }

    private static (double[] Xs, double[] Ys) Axes(double xMin, double xMax, double yMin, double yMax, int nx, int ny)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nx, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(ny, 2);
        if (!(xMax > xMin) || !(yMax > yMin) || !double.IsFinite(xMax - xMin) || !double.IsFinite(yMax - yMin))
        {
            throw new ArgumentException($"grid bounds must be finite with xMin < xMax and yMin < yMax (got [{xMin}, {xMax}] x [{yMin}, {yMax}])");
        }

        var xs = new double[nx];
        var ys = new double[ny];
        for (int i = 0; i < nx; i++)
        {
            xs[i] = xMin + ((xMax - xMin) * i / (nx - 1));
        }

        for (int i = 0; i < ny; i++)
        {
            ys[i] = yMin + ((yMax - yMin) * i / (ny - 1));
        }

        return (xs, ys);
    }
}
