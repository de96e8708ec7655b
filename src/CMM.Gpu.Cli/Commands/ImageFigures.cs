using CMM.Gpu.Cli.Plotting;
using CMM.Gpu.Fitting;
using CMM.Gpu.IO;

namespace CMM.Gpu.Cli.Commands;

/// <summary>Figures of image models (points that are h x w images, such as the digits): generated images beside real ones
/// with latent interpolations (<c>cmm plot</c>), and inpainting rows (<c>cmm inpaint --figure</c>).</summary>
internal static class ImageFigures
{
    private const int Columns = 10;

    /// <summary>Real images (when given), generated ones, and straight lines in the latent between pairs of encoded real
    /// images (or of generated latents) mapped to images by the decoder.</summary>
    public static void WriteModelFigure(string path, FittedModel model, float[]? real, float[] samples, float[] latents, ImageShape shape)
    {
        int d = model.Dimension;
        var rows = new List<ImageRow>();
        if (real is { Length: > 0 })
        {
            rows.AddRange(Chunked("real", real, d, 2));
        }

        rows.AddRange(Chunked("generated", samples, d, 3));
        float[] ends;
        if (real is not null && real.Length >= 6 * d)
        {
            ends = model.Encode(real.AsSpan(0, 6 * d), out _);
        }
        else
        {
            ends = latents.AsSpan(0, Math.Min(latents.Length, 6 * d)).ToArray();
        }

        for (int k = 0; k + 1 < ends.Length / d && k < 6; k += 2)
        {
            var line = new float[Columns * d];
            for (int t = 0; t < Columns; t++)
            {
                float a = t / (float)(Columns - 1);
                for (int c = 0; c < d; c++)
                {
                    line[(t * d) + c] = ((1 - a) * ends[(k * d) + c]) + (a * ends[((k + 1) * d) + c]);
                }
            }

            rows.Add(new ImageRow($"interpolation {(k / 2) + 1}", Split(model.Decode(line, out _), d)));
        }

        var (low, high) = GreyRange(real is { Length: > 0 } ? real : samples);
        Figures.Save(path, ImageGrid.Render(rows, shape.Height, shape.Width, low, high));
    }

    /// <summary>Per input row (up to <paramref name="shown"/>), left to right: the masked input (free pixels hatched), its completions, and the row as given.</summary>
    public static void WriteInpaintFigure(string path, float[] data, float[] mask, int dimension, float[] completions, int perRow, ImageShape shape, int shown = 6)
    {
        int d = dimension, rowsIn = data.Length / d;
        bool oneMask = mask.Length == d;
        var rows = new List<ImageRow>();
        for (int r = 0; r < Math.Min(rowsIn, shown); r++)
        {
            var input = data.AsSpan(r * d, d).ToArray();
            var rowMask = oneMask ? mask : mask.AsSpan(r * d, d).ToArray();
            var images = new List<float[]> { input };
            var masks = new List<float[]> { rowMask };
            for (int k = 0; k < Math.Min(perRow, Columns - 2); k++)
            {
                images.Add(completions.AsSpan(((r * perRow) + k) * d, d).ToArray());
                masks.Add(Enumerable.Repeat(1f, d).ToArray());
            }

            images.Add(input);
            masks.Add(Enumerable.Repeat(1f, d).ToArray());
            rows.Add(new ImageRow($"row {r}", images, masks));
        }

        var (low, high) = GreyRange(data);
        Figures.Save(path, ImageGrid.Render(rows, shape.Height, shape.Width, low, high));
    }

    private static IEnumerable<ImageRow> Chunked(string label, float[] points, int d, int maxRows)
    {
        var all = Split(points, d);
        for (int r = 0; r < maxRows && r * Columns < all.Count; r++)
        {
            yield return new ImageRow(r == 0 ? label : "", all.Skip(r * Columns).Take(Columns).ToList());
        }
    }

    private static List<float[]> Split(float[] points, int d) =>
        Enumerable.Range(0, points.Length / d).Select(i => points.AsSpan(i * d, d).ToArray()).ToList();

    /// <summary>The grey scale: the values' 0.5th to 99.5th percentile (0 to 1 when they are all equal).</summary>
    private static (double Low, double High) GreyRange(float[] values)
    {
        var finite = values.Where(float.IsFinite).Order().ToArray();
        if (finite.Length == 0)
        {
            return (0, 1);
        }

        double low = finite[(int)(0.005 * (finite.Length - 1))], high = finite[(int)(0.995 * (finite.Length - 1))];
        return high > low ? (low, high) : (low, low + 1);
    }
}
