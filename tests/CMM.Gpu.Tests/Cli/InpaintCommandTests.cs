using System.Text.Json;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm inpaint</c>: completions keep the observed values, come grouped by row, and bad masks are one-line errors
/// with no output file.</summary>
public sealed class InpaintCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-inpaint-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void CompletesRowsAndRefusesBadMasks()
    {
        var (code, _, stderr) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("m.cmm"), .. ModelCommandTests.TinyFit]);
        Assert.True(code == 0, stderr);
        File.WriteAllText(P("rows.csv"), "0.5,9\n-0.25,9\n1.0,9\n");
        File.WriteAllText(P("mask.csv"), "1,0\n");
        (code, var stdout, stderr) = CliTests.Run("inpaint", "--model", P("m.cmm"), "--data", P("rows.csv"), "--mask", P("mask.csv"),
            "--completions", "3", "--steps", "30", "--out", P("c.csv"), "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(3, doc.RootElement.GetProperty("rows").GetInt32());
            Assert.Equal(3, doc.RootElement.GetProperty("completions_per_row").GetInt32());
        }

        var completions = PointFile.Read(P("c.csv"));
        Assert.Equal(9, completions.Count);
        var values = completions.Data.ToArray();
        float[] observed = [0.5f, -0.25f, 1.0f];
        for (int i = 0; i < 9; i++)
        {
            Assert.Equal(observed[i / 3], values[2 * i]);
            Assert.True(float.IsFinite(values[(2 * i) + 1]));
        }

        File.WriteAllText(P("all.csv"), "1,1\n");
        File.WriteAllText(P("wide.csv"), "1,0,1\n");
        File.WriteAllText(P("two.csv"), "1,0\n0,1\n");
        foreach (var (file, expected) in new[] { ("all.csv", "observes everything"), ("wide.csv", "1 x 3 values"), ("two.csv", "2 x 2 values") })
        {
            (code, _, stderr) = CliTests.Run("inpaint", "--model", P("m.cmm"), "--data", P("rows.csv"), "--mask", P(file), "--out", P("bad.csv"), "--accelerator", "cpu");
            Assert.Equal(2, code);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), line => line.Contains("error", StringComparison.Ordinal));
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(P("bad.csv")));
        }
    }

    [Fact]
    public void ImageFiguresForPlotAndInpaint()
    {
        // A 4-pixel "image" model (2 x 2): enough to exercise the image figures end to end.
        var rng = new Random(5);
        File.WriteAllLines(P("img.csv"), Enumerable.Range(0, 80).Select(_ => string.Join(",", Enumerable.Range(0, 4).Select(_ => (rng.NextDouble() * 2).ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))));
        var (code, _, stderr) = CliTests.Run("fit", "--data", P("img.csv"), "--iterations", "3", "--particles", "32", "--batch", "32", "--hidden", "6", "--out", P("img.cmm"), "--accelerator", "cpu");
        Assert.True(code == 0, stderr);

        (code, _, stderr) = CliTests.Run("plot", "--model", P("img.cmm"), "--data", P("img.csv"), "--image-shape", "2x2", "--n", "40", "--out", P("grid.png"), "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using (var grid = SkiaSharp.SKBitmap.Decode(P("grid.png")))
        {
            Assert.True(grid.Height > grid.Width / 4, "rows of real, generated and interpolated images");
        }

        (code, _, stderr) = CliTests.Run("plot", "--model", P("img.cmm"), "--image-shape", "3x2", "--out", P("bad.png"), "--accelerator", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--image-shape 3x2", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(P("bad.png")));

        File.WriteAllText(P("top.csv"), "1,1,0,0\n");
        (code, _, stderr) = CliTests.Run("inpaint", "--model", P("img.cmm"), "--data", P("img.csv"), "--mask", P("top.csv"), "--completions", "2", "--steps", "20",
            "--out", P("done.csv"), "--figure", P("inpaint.png"), "--image-shape", "2x2", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        Assert.True(SkiaSharp.SKBitmap.DecodeBounds(P("inpaint.png")).Height > 0);

        (code, _, stderr) = CliTests.Run("inpaint", "--model", P("img.cmm"), "--data", P("img.csv"), "--mask", P("top.csv"), "--out", P("no.csv"), "--figure", P("no.png"), "--accelerator", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--figure needs the image shape", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(P("no.csv")));
    }
}
