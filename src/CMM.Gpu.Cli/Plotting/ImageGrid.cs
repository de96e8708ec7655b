using SkiaSharp;

namespace CMM.Gpu.Cli.Plotting;

/// <summary>One labelled row of images (each row-major, height x width values) in an <see cref="ImageGrid"/> figure.</summary>
/// <param name="Label">Shown at the left of the row.</param>
/// <param name="Images">The images, left to right.</param>
/// <param name="Masks">Per image, 1 where observed and 0 where free, or null: free pixels of a masked image are hatched
/// (inpainting inputs).</param>
public sealed record ImageRow(string Label, IReadOnlyList<float[]> Images, IReadOnlyList<float[]>? Masks = null);

/// <summary>
/// Grey-level image grids (generated digits beside real ones, latent interpolations, inpainting rows) rendered with SkiaSharp
/// to PNG bytes: one grey scale for the whole figure (white = <c>low</c>, black = <c>high</c>: ink on paper), every pixel a square block.
/// </summary>
public static class ImageGrid
{
    private const int LabelWidth = 150;
    private const int Gap = 4;

    /// <summary>Renders the rows.</summary>
    /// <param name="rows">The rows (at least one image in all).</param>
    /// <param name="height">Image height in pixels of the data.</param>
    /// <param name="width">Image width.</param>
    /// <param name="low">The value drawn white.</param>
    /// <param name="high">The value drawn black (above <paramref name="low"/>).</param>
    /// <param name="block">Screen pixels per data pixel.</param>
    /// <returns>PNG bytes.</returns>
    public static byte[] Render(IReadOnlyList<ImageRow> rows, int height, int width, double low, double high, int block = 6)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (!(high > low))
        {
            throw new ArgumentException($"the grey scale needs high > low (got {low}, {high})", nameof(high));
        }

        int columns = rows.Count == 0 ? 0 : rows.Max(r => r.Images.Count);
        if (columns == 0)
        {
            throw new ArgumentException("no images to draw", nameof(rows));
        }

        int cell = (width * block) + Gap, rowHeight = (height * block) + Gap;
        using var surface = SKSurface.Create(new SKImageInfo(LabelWidth + (columns * cell) + Gap, (rows.Count * rowHeight) + Gap));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var font = new SKFont { Size = 13 };
        using var paint = new SKPaint();
        using var hatch = new SKPaint { Color = new SKColor(220, 60, 60), StrokeWidth = 1, IsAntialias = false };
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            int top = Gap + (r * rowHeight);
            canvas.DrawText(row.Label, 4, top + (height * block / 2f) + 5, SKTextAlign.Left, font, text);
            for (int c = 0; c < row.Images.Count; c++)
            {
                var image = row.Images[c];
                if (image.Length != height * width)
                {
                    throw new ArgumentException($"row '{row.Label}', image {c}: {image.Length} values, not {height} x {width}", nameof(rows));
                }

                var mask = row.Masks?[c];
                int left = LabelWidth + (c * cell);
                for (int y = 0; y < height; y++)
                {
                    for (int x = 0; x < width; x++)
                    {
                        int j = (y * width) + x;
                        var rect = SKRect.Create(left + (x * block), top + (y * block), block, block);
                        if (mask is not null && mask[j] == 0)
                        {
                            paint.Color = new SKColor(255, 235, 235);
                            canvas.DrawRect(rect, paint);
                            canvas.DrawLine(rect.Left, rect.Bottom, rect.Right, rect.Top, hatch);
                            continue;
                        }

                        double v = (image[j] - low) / (high - low);
                        byte g = (byte)Math.Round(255 * (1 - Math.Clamp(double.IsFinite(v) ? v : 0, 0, 1)));
                        paint.Color = new SKColor(g, g, g);
                        canvas.DrawRect(rect, paint);
                    }
                }
            }
        }

        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }
}
