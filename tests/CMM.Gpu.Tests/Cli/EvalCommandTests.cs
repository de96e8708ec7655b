using System.Text.Json;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm eval --data FILE --n N</c>: N is the number of held-out points used (and of samples generated).</summary>
public sealed class EvalCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-eval-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void NSelectsThatManyPointsOfADataFile()
    {
        var (fitCode, _, fitErr) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("m.cmm"), .. ModelCommandTests.TinyFit]);
        Assert.True(fitCode == 0, fitErr);
        var file = P("held.csv");
        PointFile.Write(file, CMM.Gpu.Data.Datasets.Create("moons", 60, 5).Points, 2);
        string[] common = ["eval", "--model", P("m.cmm"), "--data", file, "--splits", "1", "--json", "--accelerator", "cpu"];

        var (code, stdout, stderr) = CliTests.Run([.. common, "--n", "20"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("using 20 of the 60 points", stderr, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(20, doc.RootElement.GetProperty("held_out_count").GetInt32());
            Assert.Equal(20, doc.RootElement.GetProperty("generated_count").GetInt32());
        }

        // Without --n every point of the file is used.
        var (all, allOut, allErr) = CliTests.Run(common);
        Assert.True(all == 0, allErr);
        using (var doc = JsonDocument.Parse(allOut))
        {
            Assert.Equal(60, doc.RootElement.GetProperty("held_out_count").GetInt32());
        }

        // More points than the file holds, or too few to evaluate, are one-line errors.
        foreach (var (n, expected) in new[] { ("61", "holds only 60 points"), ("3", "--n must be at least 4") })
        {
            var (bad, _, badErr) = CliTests.Run([.. common, "--n", n]);
            Assert.Equal(2, bad);
            Assert.Contains(expected, badErr, StringComparison.Ordinal);
            Assert.Single(badErr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
        }
    }
}
