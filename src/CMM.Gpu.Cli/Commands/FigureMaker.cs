using CMM.Gpu.Cli.Plotting;
using CMM.Gpu.Fitting;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Cli.Commands;

/// <summary>The figure of a fitted model: data (when given) and generated samples, latents and level sets of the potential.</summary>
internal static class FigureMaker
{
    /// <summary>Writes the figure; <paramref name="data"/> may be null (then only generated samples and latents are drawn).</summary>
    public static void Write(string path, FittedModel model, float[]? data, float[] generated, float[] latents, string title)
    {
        int d = model.Dimension;
        byte[] png;
        if (d == 1)
        {
            var (lo, hi) = Bounds(latents, 1, 0);
            var xs = Enumerable.Range(0, 201).Select(i => (float)(lo + (hi - lo) * i / 200.0)).ToArray();
            var ws = Values(model, xs, 1);
            png = Figures.Render1D(new Figure1D
            {
                Data = data,
                Generated = generated,
                Latent = latents,
                Title = title,
                Potential = x =>
                {
                    double t = Math.Clamp((x - lo) / (hi - lo) * 200.0, 0, 200);
                    int i = Math.Min(199, (int)t);
                    return ws[i] + (t - i) * (ws[i + 1] - ws[i]);
                },
            });
        }
        else
        {
            var (x0, x1) = Bounds(latents, d, 0);
            var (y0, y1) = Bounds(latents, d, 1);
            PotentialGrid? grid = d == 2
                ? PotentialGrid.EvaluateBatched(points => Values(model, points, 2), x0, x1, y0, y1, 81, 81)
                : null;
            png = Figures.Render2D(new Figure2D
            {
                Data = data is null ? null : Project(data, d),
                Generated = Project(generated, d),
                Latent = Project(latents, d),
                Potential = grid,
                Title = d == 2 ? title : title + " (first two coordinates)",
            });
        }

        Figures.Save(path, png);
    }

    private static float[] Values(FittedModel model, float[] points, int d)
    {
        var ctx = model.Potential.Context;
        using var p = DevicePoints.Upload(ctx, points, d);
        using var v = DeviceVector.Allocate(ctx, p.Count);
        model.Potential.Value(p, v);
        return v.ToArray();
    }

    private static (double Lo, double Hi) Bounds(float[] points, int d, int axis)
    {
        double lo = double.MaxValue, hi = double.MinValue;
        for (int i = axis; i < points.Length; i += d)
        {
            if (float.IsFinite(points[i]))
            {
                lo = Math.Min(lo, points[i]);
                hi = Math.Max(hi, points[i]);
            }
        }

        if (!(hi > lo))
        {
            (lo, hi) = (-3, 3);
        }

        double pad = 0.1 * (hi - lo);
        return (lo - pad, hi + pad);
    }

    private static float[] Project(float[] points, int d)
    {
        if (d == 2)
        {
            return points;
        }

        int n = points.Length / d;
        var p = new float[n * 2];
        for (int i = 0; i < n; i++)
        {
            p[2 * i] = points[i * d];
            p[2 * i + 1] = points[i * d + 1];
        }

        return p;
    }
}
