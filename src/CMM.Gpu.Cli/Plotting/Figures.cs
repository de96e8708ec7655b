using CMM.Gpu.IO;
using ScottPlot;
using SkiaSharp;

namespace CMM.Gpu.Cli.Plotting;

/// <summary>
/// Renders the fit figures to PNG bytes with ScottPlot 5 (headless: Skia, no display needed). Panels are
/// rendered separately and placed side by side. <see cref="Save"/> writes through <see cref="AtomicFile"/>.
/// </summary>
public static class Figures
{
    private static readonly Color DataColor = Color.FromHex("#555555");
    private static readonly Color GeneratedColor = Color.FromHex("#1f77b4");
    private static readonly Color LatentColor = Color.FromHex("#2ca02c");
    private static readonly Color PotentialColor = Color.FromHex("#d62728");

    /// <summary>Renders a 1-D figure: width = panels x PanelWidth (1 or 2 panels), height = Height.</summary>
    /// <param name="figure">The input.</param>
    /// <returns>PNG bytes.</returns>
    public static byte[] Render1D(Figure1D figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        CheckSize(figure.PanelWidth, figure.Height);
        ArgumentOutOfRangeException.ThrowIfLessThan(figure.Bins, 1);
        var data = figure.Data is null ? null : Finite(figure.Data);
        var gen = figure.Generated is null ? null : Finite(figure.Generated);
        if (data is not { Length: > 0 } && gen is not { Length: > 0 })
        {
            throw new ArgumentException("Figure1D needs finite Data or Generated values", nameof(figure));
        }

        var panels = new List<Plot>();

        var left = new Plot();
        left.Title(figure.Title);
        left.XLabel("y (data space)");
        left.YLabel("density");
        var (lo, hi) = Range((data ?? []).Concat(gen ?? []));
        if (data is { Length: > 0 })
        {
            AddHistogram(left, data, lo, hi, figure.Bins, DataColor, $"data (n = {data.Length})");
        }

        if (gen is { Length: > 0 })
        {
            AddHistogram(left, gen, lo, hi, figure.Bins, GeneratedColor, $"generated (n = {gen.Length})");
        }

        left.ShowLegend(Alignment.UpperRight);
        panels.Add(left);

        var lat = figure.Latent is null ? null : Finite(figure.Latent);
        if (lat is { Length: > 0 } || figure.Potential is not null)
        {
            var right = new Plot();
            right.Title("latent");
            right.XLabel("x (latent space)");
            right.YLabel("density");
            var (llo, lhi) = lat is { Length: > 0 } ? Range(lat) : (lo, hi);
            if (lat is { Length: > 0 })
            {
                AddHistogram(right, lat, llo, lhi, figure.Bins, LatentColor, $"latent (n = {lat.Length})");
            }

            if (figure.Potential is { } w)
            {
                const int K = 400;
                var xs = new double[K];
                var ys = new double[K];
                for (int i = 0; i < K; i++)
                {
                    xs[i] = llo + ((lhi - llo) * i / (K - 1));
                    ys[i] = w(xs[i]);
                }

                var curve = right.Add.ScatterLine(xs, ys, PotentialColor);
                curve.LineWidth = 2;
                curve.LegendText = "potential w";
                curve.Axes.YAxis = right.Axes.Right;
                right.Axes.Right.Label.Text = "w(x)";
            }

            right.ShowLegend(Alignment.UpperRight);
            panels.Add(right);
        }

        return Compose(panels, figure.PanelWidth, figure.Height);
    }

    /// <summary>Renders a 2-D figure: width = panels x PanelWidth (data, generated samples, latent with level sets: each when given), height = Height.</summary>
    /// <param name="figure">The input.</param>
    /// <returns>PNG bytes.</returns>
    public static byte[] Render2D(Figure2D figure)
    {
        ArgumentNullException.ThrowIfNull(figure);
        CheckSize(figure.PanelWidth, figure.Height);
        CheckPoints(figure.Data, nameof(figure.Data), allowEmpty: true);
        CheckPoints(figure.Generated, nameof(figure.Generated), allowEmpty: true);
        CheckPoints(figure.Latent, nameof(figure.Latent), allowEmpty: true);
        if (figure.Data is not { Length: > 0 } && figure.Generated is not { Length: > 0 })
        {
            throw new ArgumentException("Figure2D needs Data or Generated points", nameof(figure));
        }

        figure.Potential?.Check();
        ArgumentOutOfRangeException.ThrowIfLessThan(figure.MaxPoints, 1);

        // Data and generated samples in panels of their own with the same limits: overlaid, two clouds of similar
        // shape hide each other's defects (a bridge between modes, a missing tail).
        var panels = new List<Plot>();
        var clouds = new List<(float[] Points, Color Color, string Label, string Title)>();
        if (figure.Data is { Length: > 0 } data)
        {
            clouds.Add((data, DataColor, "data", "data"));
        }

        if (figure.Generated is { Length: > 0 } generated)
        {
            clouds.Add((generated, GeneratedColor, "generated", figure.Title + ": generated"));
        }

        var (xlo, xhi, ylo, yhi) = Bounds(clouds.Select(c => c.Points), figure.MaxPoints);
        foreach (var (points, color, label, title) in clouds)
        {
            var panel = new Plot();
            panel.Title(clouds.Count == 1 ? figure.Title : title);
            panel.XLabel("y1");
            panel.YLabel("y2");
            AddPoints(panel, points, figure.MaxPoints, color, label);
            panel.Axes.SetLimits(xlo, xhi, ylo, yhi);
            panel.Axes.SquareUnits();
            panel.ShowLegend(Alignment.UpperRight);
            panels.Add(panel);
        }

        if (figure.Latent is { Length: > 0 } || figure.Potential is not null)
        {
            var right = new Plot();
            right.Title("latent and level sets of w");
            right.XLabel("x1");
            right.YLabel("x2");
            if (figure.Potential is { } grid)
            {
                AddContours(right, grid, figure.Levels ?? AutoLevels(grid, figure.ContourCount));
            }

            if (figure.Latent is { Length: > 0 } lat)
            {
                AddPoints(right, lat, figure.MaxPoints, LatentColor, "latent");
            }

            right.Axes.SquareUnits();
            right.ShowLegend(Alignment.UpperRight);
            panels.Add(right);
        }

        return Compose(panels, figure.PanelWidth, figure.Height);
    }

    /// <summary>Writes PNG bytes atomically (temporary file, then rename).</summary>
    /// <param name="path">Destination; its directory must exist.</param>
    /// <param name="png">The bytes.</param>
    public static void Save(string path, byte[] png)
    {
        ArgumentNullException.ThrowIfNull(png);
        AtomicFile.Write(path, s => s.Write(png));
    }

    /// <summary>
    /// Automatic contour levels min + (max - min) (k / (count + 1))^2, k = 1..count, over the finite grid
    /// values: evenly spaced rings for a quadratic potential.
    /// </summary>
    /// <param name="grid">The sampled potential.</param>
    /// <param name="count">Number of levels (at least 1).</param>
    /// <returns>Increasing levels (empty when the grid is constant or has no finite value).</returns>
    public static IReadOnlyList<double> AutoLevels(PotentialGrid grid, int count)
    {
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in grid.Values)
        {
            if (double.IsFinite(v))
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }

        if (!(max > min))
        {
            return [];
        }

        return Enumerable.Range(1, count).Select(k => min + ((max - min) * Math.Pow((double)k / (count + 1), 2))).ToArray();
    }

    private static void CheckSize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 50);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 50);
    }

    private static void CheckPoints(float[]? p, string name, bool allowEmpty)
    {
        if (p is null)
        {
            return;
        }

        if (p.Length % 2 != 0 || (!allowEmpty && p.Length == 0))
        {
            throw new ArgumentException($"{name} must be row-major [n, 2] with n >= {(allowEmpty ? 0 : 1)} (got {p.Length} values)", name);
        }
    }

    private static double[] Finite(IReadOnlyList<float> v) => v.Where(float.IsFinite).Select(x => (double)x).ToArray();

    private static (double Lo, double Hi) Range(IEnumerable<double> values)
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (var v in values)
        {
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }

        if (!(hi > lo))
        {
            lo -= 0.5;
            hi += 0.5;
        }

        double pad = 0.02 * (hi - lo);
        return (lo - pad, hi + pad);
    }

    /// <summary>A density histogram drawn as a filled step outline (so several overlay legibly).</summary>
    private static void AddHistogram(Plot plot, double[] values, double lo, double hi, int bins, Color color, string label)
    {
        double width = (hi - lo) / bins;
        var counts = new int[bins];
        foreach (var v in values)
        {
            int b = (int)Math.Floor((v - lo) / width);
            counts[Math.Clamp(b, 0, bins - 1)]++;
        }

        var xs = new double[(2 * bins) + 2];
        var ys = new double[xs.Length];
        xs[0] = lo;
        for (int b = 0; b < bins; b++)
        {
            double h = counts[b] / (values.Length * width);
            xs[(2 * b) + 1] = lo + (b * width);
            ys[(2 * b) + 1] = h;
            xs[(2 * b) + 2] = lo + ((b + 1) * width);
            ys[(2 * b) + 2] = h;
        }

        xs[^1] = hi;
        var s = plot.Add.ScatterLine(xs, ys, color);
        s.LineWidth = 1.5f;
        s.FillY = true;
        s.FillYColor = color.WithAlpha(0.2);
        s.LegendText = label;
    }

    /// <summary>The finite bounding box of the first <paramref name="max"/> points of the clouds, padded by 5 %.</summary>
    private static (double XLo, double XHi, double YLo, double YHi) Bounds(IEnumerable<float[]> clouds, int max)
    {
        double xlo = double.PositiveInfinity, xhi = double.NegativeInfinity, ylo = double.PositiveInfinity, yhi = double.NegativeInfinity;
        foreach (var points in clouds)
        {
            int n = Math.Min(points.Length / 2, max);
            for (int i = 0; i < n; i++)
            {
                float x = points[2 * i], y = points[(2 * i) + 1];
                if (float.IsFinite(x) && float.IsFinite(y))
                {
                    (xlo, xhi, ylo, yhi) = (Math.Min(xlo, x), Math.Max(xhi, x), Math.Min(ylo, y), Math.Max(yhi, y));
                }
            }
        }

        if (!(xlo <= xhi && ylo <= yhi))
        {
            return (-1, 1, -1, 1);
        }

        double px = Math.Max(0.05 * (xhi - xlo), 1e-3), py = Math.Max(0.05 * (yhi - ylo), 1e-3);
        return (xlo - px, xhi + px, ylo - py, yhi + py);
    }

    private static void AddPoints(Plot plot, float[] points, int max, Color color, string label)
    {
        int n = Math.Min(points.Length / 2, max);
        var xs = new List<double>(n);
        var ys = new List<double>(n);
        for (int i = 0; i < n; i++)
        {
            float x = points[2 * i], y = points[(2 * i) + 1];
            if (float.IsFinite(x) && float.IsFinite(y))
            {
                xs.Add(x);
                ys.Add(y);
            }
        }

        var s = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray(), color.WithAlpha(0.5));
        s.MarkerSize = 3;
        s.LegendText = $"{label} (n = {points.Length / 2})";
    }

    private static void AddContours(Plot plot, PotentialGrid grid, IReadOnlyList<double> levels)
    {
        var cmap = new ScottPlot.Colormaps.Viridis();
        for (int k = 0; k < levels.Count; k++)
        {
            var color = cmap.GetColor(levels.Count == 1 ? 0.5 : 0.85 * k / (levels.Count - 1));
            bool first = true;
            foreach (var line in MarchingSquares.Trace(grid, levels[k]))
            {
                if (line.Count < 2)
                {
                    continue;
                }

                var s = plot.Add.ScatterLine(line.Select(p => p.X).ToArray(), line.Select(p => p.Y).ToArray(), color);
                s.LineWidth = 1.2f;
                if (first && k == 0)
                {
                    s.LegendText = "level sets of w";
                }

                first = false;
            }
        }
    }

    private static byte[] Compose(List<Plot> panels, int panelWidth, int height)
    {
        var info = new SKImageInfo(panelWidth * panels.Count, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info) ?? throw new InvalidOperationException("Skia could not create a raster surface");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        for (int i = 0; i < panels.Count; i++)
        {
            var bytes = panels[i].GetImageBytes(panelWidth, height, ImageFormat.Png);
            using var bmp = SKBitmap.Decode(bytes) ?? throw new InvalidOperationException("ScottPlot produced an undecodable panel");
            canvas.DrawBitmap(bmp, i * panelWidth, 0);
        }

        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
