using System.Globalization;
using System.Text.Json;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm fit --bounds</c>: a bounded fit says what it did and its samples stay in the box; a malformed value or data
/// outside the bounds is a one-line error with no model file.</summary>
public sealed class BoundsCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-bounds-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void ABoundedFitSamplesInsideAndBadBoundsAreOneLineErrors()
    {
        var rng = new Random(4);
        File.WriteAllLines(P("unit.csv"), Enumerable.Range(0, 200).Select(_ =>
            string.Create(CultureInfo.InvariantCulture, $"{0.1 + (0.8 * rng.NextDouble()):R},{0.2 + (0.6 * rng.NextDouble()):R}")));
        string[] tiny = ["--iterations", "4", "--particles", "32", "--batch", "32", "--langevin-steps", "2", "--hidden", "6", "--accelerator", "cpu"];
        var (code, stdout, stderr) = CliTests.Run(["fit", "--data", P("unit.csv"), "--bounds", "0,1", "--out", P("m.cmm"), "--json", .. tiny]);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Contains(doc.RootElement.GetProperty("data_treatment").EnumerateArray(), l => l.GetString()!.Contains("bounded (--bounds 0,1)", StringComparison.Ordinal));
        }

        (code, _, stderr) = CliTests.Run("sample", "--model", P("m.cmm"), "--n", "50", "--burn-in", "20", "--out", P("s.csv"), "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        Assert.All(PointFile.Read(P("s.csv")).Data.ToArray(), v => Assert.InRange(v, -0.05f, 1.05f));

        foreach (var (bounds, expected) in new[] { ("5", "expected off, data, or two numbers LO,HI"), ("1,0", "bounds need finite ends with the upper above the lower (got 1, 0)"), ("0,0.5", "lies outside --bounds 0,0.5"), ("data --bounds-margin 0", "margin must be in (0, 1]") })
        {
            (code, _, stderr) = CliTests.Run(["fit", "--data", P("unit.csv"), "--bounds", .. bounds.Split(' '), "--out", P("bad.cmm"), .. tiny]);
            Assert.Equal(2, code);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), line => line.Contains("error", StringComparison.Ordinal));
            Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(P("bad.cmm")));
        }
    }
}
