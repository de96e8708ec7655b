using CMM.Gpu.Cli.Plotting;
using SkiaSharp;

namespace CMM.Gpu.Tests.Plotting;

/// <summary>Image grids: the PNG has the computed size, a pixel at the high end is drawn black and one at the low end white,
/// free pixels of a masked image are marked, and bad input is refused.</summary>
public sealed class ImageGridTests
{
    [Fact]
    public void GridHasTheExpectedSizeAndGreyLevels()
    {
        var ink = new float[4 * 3];
        ink[0] = 16; // pixel (0, 0) full ink, the rest paper
        var rows = new[]
        {
            new ImageRow("generated", [ink, ink]),
            new ImageRow("inpainting", [ink], [Enumerable.Repeat(1f, 6).Concat(Enumerable.Repeat(0f, 6)).ToArray()]),
        };
        var png = ImageGrid.Render(rows, height: 4, width: 3, low: 0, high: 16, block: 5);
        using var bitmap = SKBitmap.Decode(png);
        Assert.Equal(150 + (2 * ((3 * 5) + 4)) + 4, bitmap.Width);
        Assert.Equal((2 * ((4 * 5) + 4)) + 4, bitmap.Height);
        // First image of the first row starts at (150, 4): its pixel (0, 0) is black, its pixel (0, 1) white.
        Assert.Equal(new SKColor(0, 0, 0), bitmap.GetPixel(150 + 2, 4 + 2));
        Assert.Equal(new SKColor(255, 255, 255), bitmap.GetPixel(150 + 5 + 2, 4 + 2));
        // The masked image's bottom half (rows 2-3) is free: tinted, not white paper.
        var free = bitmap.GetPixel(150 + 5 + 1, 4 + 24 + (3 * 5) + 1);
        Assert.NotEqual(new SKColor(255, 255, 255), free);
    }

    [Fact]
    public void BadInputIsRefused()
    {
        Assert.Throws<ArgumentException>(() => ImageGrid.Render([new ImageRow("x", [new float[5]])], 2, 3, 0, 1));
        Assert.Throws<ArgumentException>(() => ImageGrid.Render([new ImageRow("x", [])], 2, 3, 0, 1));
        Assert.Throws<ArgumentException>(() => ImageGrid.Render([new ImageRow("x", [new float[6]])], 2, 3, 1, 1));
    }
}
