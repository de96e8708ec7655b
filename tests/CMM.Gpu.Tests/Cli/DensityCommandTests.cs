using System.Text.Json;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm density</c> end to end on tiny fits, and its one-line errors.</summary>
public sealed class DensityCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-density-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    private string FitTiny(string name, params string[] extra)
    {
        var (code, _, stderr) = CliTests.Run(["fit", "--dataset", "moons", "--out", P(name), .. ModelCommandTests.TinyFit, .. extra]);
        Assert.True(code == 0, stderr);
        return P(name);
    }

    private string Points()
    {
        var data = P("d.csv");
        PointFile.Write(data, new float[] { 0.5f, 0.25f, -1f, 0.75f, 1.5f, -0.5f }, 2);
        return data;
    }

    private static readonly string[] Fast = ["--latents", "64", "--proposal-samples", "2000", "--accelerator", "cpu"];

    [Fact]
    public void WritesOneLogDensityPerPointAndReportsLogZ()
    {
        var model = FitTiny("m.cmm");
        var data = Points();
        var (code, stdout, stderr) = CliTests.Run(["density", "--model", model, "--data", data, "--out", P("q.csv"), "--json", .. Fast]);
        Assert.True(code == 0, stderr);
        Assert.Contains("log Z =", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        double logZ = r.GetProperty("log_normalizer").GetDouble();
        Assert.True(double.IsFinite(logZ));
        Assert.True(r.GetProperty("log_normalizer_se").GetDouble() >= 0);
        Assert.InRange(r.GetProperty("effective_sample_size").GetDouble(), 1, 2000);
        Assert.Equal(3, r.GetProperty("points").GetInt32());
        Assert.Equal("cmm", r.GetProperty("method").GetString());
        var q = PointFile.Read(P("q.csv"));
        Assert.Equal((3, 1), (q.Count, q.Dimension));

        // Another seed changes the log Z estimate and nothing else: log q + log Z is the same unnormalised log-density.
        var (code2, stdout2, stderr2) = CliTests.Run(["density", "--model", model, "--data", data, "--out", P("q2.npy"), "--json", "--seed", "9", .. Fast]);
        Assert.True(code2 == 0, stderr2);
        using var doc2 = JsonDocument.Parse(stdout2);
        double logZ2 = doc2.RootElement.GetProperty("log_normalizer").GetDouble();
        Assert.NotEqual(logZ, logZ2);
        var q2 = PointFile.Read(P("q2.npy")).ToArray();
        var q1 = q.ToArray();
        for (int i = 0; i < 3; i++)
        {
            Assert.InRange((q1[i] + logZ) - (q2[i] + logZ2), -1e-4, 1e-4);
        }

        // Without --json: one line on stdout, as the sibling commands.
        var (code3, stdout3, _) = CliTests.Run(["density", "--model", model, "--data", data, "--out", P("q3.csv"), .. Fast]);
        Assert.Equal(0, code3);
        Assert.Equal($"3 points written to {P("q3.csv")}", stdout3.Trim());
    }

    [Fact]
    public void MomentMeasureModelsGetTheirDensityThroughAConjugateSolve()
    {
        var model = FitTiny("mm.cmm", "--method", "mm");
        var (code, stdout, stderr) = CliTests.Run(["density", "--model", model, "--data", Points(), "--out", P("q.csv"), "--json", .. Fast]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("mm", doc.RootElement.GetProperty("method").GetString());
        Assert.Equal(3, PointFile.Read(P("q.csv")).Count);
    }

    [Fact]
    public void BadInputsAreOneLineErrorsAndWriteNothing()
    {
        var model = FitTiny("m.cmm");
        var data = Points();
        var wrong = P("d3.csv");
        PointFile.Write(wrong, new float[] { 1, 2, 3 }, 3);
        var bad = P("bad.csv");
        File.WriteAllText(bad, "1,2\nnan,1\n");
        var cases = new[]
        {
            (new[] { "density", "--model", P("none.cmm"), "--data", data, "--out", P("x.csv") }, "does not exist"),
            (new[] { "density", "--model", model, "--data", wrong, "--out", P("x.csv") }, "dimension mismatch"),
            (new[] { "density", "--model", model, "--data", bad, "--out", P("x.csv") }, "line 2"),
            (new[] { "density", "--model", model, "--data", P("missing.csv"), "--out", P("x.csv") }, "not found"),
            (new[] { "density", "--model", model, "--data", data, "--out", P("x.txt") }, ".txt"),
            (new[] { "density", "--model", model, "--data", data, "--out", P("no/x.csv") }, "does not exist"),
            (new[] { "density", "--model", model, "--data", data, "--out", P("x.csv"), "--latents", "2" }, "--latents must be at least d + 1 = 3"),
            (new[] { "density", "--model", model, "--data", data, "--out", P("x.csv"), "--proposal-samples", "10" }, "--proposal-samples must be at least 100"),
            (new[] { "density", "--model", model, "--data", data }, "--out"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run([.. args, "--accelerator", "cpu"]);
            Assert.True(code == 2, string.Join(' ', args) + " -> " + stderr);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
        }

        Assert.False(File.Exists(P("x.csv")));
        Assert.False(File.Exists(P("x.txt")));
    }
}
