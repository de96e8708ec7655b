using System.Text.Json;
using CMM.Gpu.IO;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Cli;

public sealed class SinkhornCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-sk-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Points(string name, int n, int d, int seed, double shift = 0)
    {
        var p = Path.Combine(dir, name);
        PointFile.Write(p, TestData.Normal(n * d, seed, shift: shift), d);
        return p;
    }

    [Fact]
    public void WritesPotentialsMapAndJsonSummary()
    {
        var x = Points("x.csv", 23, 2, 1);
        var y = Points("y.npy", 17, 2, 2, shift: 1);
        string f = Path.Combine(dir, "f.csv"), g = Path.Combine(dir, "g.npy"), map = Path.Combine(dir, "map.csv");
        var (code, stdout, _) = CliTests.Run("sinkhorn", "--x", x, "--y", y, "--json", "--f", f, "--g", g, "--map", map, "--accelerator", "cpu");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("converged").GetBoolean());
        Assert.Equal("Converged", root.GetProperty("status").GetString());
        Assert.True(root.GetProperty("marginal_error").GetDouble() <= 1e-3);
        Assert.True(root.GetProperty("transport_cost").GetDouble() > 0);
        foreach (var key in new[] { "iterations", "regularized_cost", "epsilon" })
        {
            Assert.True(root.TryGetProperty(key, out _), key);
        }

        Assert.Equal(23, PointFile.Read(f).Count);
        Assert.Equal(17, PointFile.Read(g).Count);
        var mapped = PointFile.Read(map);
        Assert.Equal((23, 2), (mapped.Count, mapped.Dimension));
    }

    [Fact]
    public void RaggedInputIsOneLineExitTwoAndNoOutput()
    {
        var bad = Path.Combine(dir, "bad.csv");
        File.WriteAllText(bad, "1,2\n3\n");
        var y = Points("y.csv", 5, 2, 3);
        var f = Path.Combine(dir, "f.csv");
        var (code, _, stderr) = CliTests.Run("sinkhorn", "--x", bad, "--y", y, "--f", f);
        Assert.Equal(2, code);
        Assert.Contains("bad.csv: line 2", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(f));
    }

    [Theory]
    [InlineData("--epsilon", "-1", "Epsilon")]
    [InlineData("--tolerance", "0", "Tolerance")]
    [InlineData("--max-iterations", "0", "MaxIterations")]
    [InlineData("--cost-storage", "disk", "auto|stored|online")]
    public void InvalidOptionsAreNamed(string option, string value, string expected)
    {
        var x = Points("x.csv", 4, 1, 1);
        var (code, _, stderr) = CliTests.Run("sinkhorn", "--x", x, "--y", x, option, value);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void DimensionMismatchNamesBothFiles()
    {
        var x = Points("x.csv", 4, 2, 1);
        var y = Points("y.csv", 4, 3, 2);
        var (code, _, stderr) = CliTests.Run("sinkhorn", "--x", x, "--y", y);
        Assert.Equal(2, code);
        Assert.Contains("d = 2", stderr, StringComparison.Ordinal);
        Assert.Contains("d = 3", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void UnwritableOutputFailsBeforeWork()
    {
        var x = Points("x.csv", 4, 1, 1);
        var (code, _, stderr) = CliTests.Run("sinkhorn", "--x", x, "--y", x, "--map", Path.Combine(dir, "missing", "m.csv"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", stderr, StringComparison.Ordinal);
    }
}
