using System.Text.Json;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm fit --energy FILE.json</c>: a tiny CMFMA fit end to end (model, diagnostics, sampling it), and its
/// one-line errors with no model written.</summary>
public sealed class EnergyFitCommandTests : IDisposable
{
    private static readonly string[] Tiny = ["--iterations", "5", "--particles", "64", "--hidden", "8", "--accelerator", "cpu"];

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-energy-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    private string Energy(string name, string json)
    {
        File.WriteAllText(P(name), json);
        return P(name);
    }

    [Fact]
    public void AFitToAnEnergyWritesAModelWithItsDiagnostics()
    {
        var energy = Energy("g.json", """{"type": "gaussian", "mean": [1, -0.5], "covariance": [[2, 0.6], [0.6, 0.5]]}""");
        var (code, stdout, stderr) = CliTests.Run(["fit", "--energy", energy, "--out", P("g.cmm"), "--json", .. Tiny]);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            Assert.Equal("Completed", root.GetProperty("status").GetString());
            Assert.Equal("residual", root.GetProperty("objective").GetString());
            var ess = root.GetProperty("diagnostics").GetProperty("effective_sample_fraction").GetDouble();
            Assert.InRange(ess, 0, 1);
        }

        Assert.Contains("effective sample size", stderr, StringComparison.Ordinal);
        Assert.Contains("log normaliser", stderr, StringComparison.Ordinal);
        var (sampleCode, _, sampleErr) = CliTests.Run("sample", "--model", P("g.cmm"), "--n", "8", "--burn-in", "5", "--out", P("s.csv"), "--accelerator", "cpu");
        Assert.True(sampleCode == 0, sampleErr);
        Assert.Equal(8, File.ReadAllLines(P("s.csv")).Length);

        // Samples with their log q and log importance weights; the same values from cmm density --energy.
        var (wCode, wOut, wErr) = CliTests.Run("sample", "--model", P("g.cmm"), "--n", "16", "--burn-in", "5", "--out", P("s2.csv"),
            "--energy", energy, "--weights", P("w.csv"), "--json", "--accelerator", "cpu");
        Assert.True(wCode == 0, wErr);
        using (var doc = JsonDocument.Parse(wOut))
        {
            Assert.InRange(doc.RootElement.GetProperty("effective_sample_fraction").GetDouble(), 0, 1);
        }

        var weights = CMM.Gpu.IO.PointFile.Read(P("w.csv"));
        Assert.Equal(2, weights.Dimension);
        Assert.Equal(16, weights.Count);
        var samples = CMM.Gpu.IO.PointFile.Read(P("s2.csv")).ToArray();
        var v = new double[16];
        CMM.Gpu.Energies.EnergyFile.Load(energy).Evaluate(samples, v, default);
        for (int i = 0; i < 16; i++)
        {
            // log weight = -V - log q (float32 in the file).
            Assert.Equal(-v[i] - weights.Data.Span[2 * i], weights.Data.Span[(2 * i) + 1], 3);
        }

        var (dCode, _, dErr) = CliTests.Run("density", "--model", P("g.cmm"), "--data", P("s2.csv"), "--energy", energy, "--out", P("d.csv"), "--accelerator", "cpu");
        Assert.True(dCode == 0, dErr);
        Assert.Equal(2, CMM.Gpu.IO.PointFile.Read(P("d.csv")).Dimension);

        // --weights without --energy, and an energy of another dimension, are refused before sampling.
        var (badCode, _, badErr) = CliTests.Run("sample", "--model", P("g.cmm"), "--n", "4", "--out", P("s3.csv"), "--weights", P("w3.csv"), "--accelerator", "cpu");
        Assert.Equal(2, badCode);
        Assert.Contains("--weights and --energy go together", badErr, StringComparison.Ordinal);
        var e3 = Energy("g3.json", """{"type": "gaussian", "mean": [0, 0, 0], "covariance": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}""");
        var (dimCode, _, dimErr) = CliTests.Run("sample", "--model", P("g.cmm"), "--n", "4", "--out", P("s3.csv"), "--energy", e3, "--weights", P("w3.csv"), "--accelerator", "cpu");
        Assert.Equal(2, dimCode);
        Assert.Contains("dimension mismatch", dimErr, StringComparison.Ordinal);
        Assert.False(File.Exists(P("s3.csv")));
    }

    [Fact]
    public void BadEnergiesAndOptionsAreOneLineErrorsAndWriteNoModel()
    {
        var good = Energy("g.json", """{"type": "gaussian", "mean": [0, 0], "covariance": [[1, 0], [0, 1]]}""");
        var data = Energy("d.csv", "0,0\n1,1\n2,0\n");
        var cases = new (string[] Args, string Expected)[]
        {
            (["fit", "--energy", P("missing.json")], "does not exist"),
            (["fit", "--energy", Energy("b1.json", """{"type": "gaussian", "mean": [0, 0], "covariance": [[1, 2], [2, 1]]}""")], "not positive definite"),
            (["fit", "--energy", Energy("b2.json", """{"type": "wells"}""")], "unknown energy type 'wells'"),
            (["fit", "--energy", Energy("b3.json", "{")], "not valid JSON"),
            (["fit", "--energy", good, "--data", data], "not both"),
            (["fit", "--energy", good, "--objective", "semidual"], "--energy fits with --objective residual"),
            (["fit", "--energy", good, "--network", "conjugate"], "--network w"),
            (["fit", "--data", data, "--objective", "residual"], "--objective residual fits an energy"),
            (["fit", "--energy", good, "--proposal-share", "1"], "proposal share"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run([.. args, "--out", P("m.cmm"), .. Tiny]);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}, {stderr}");
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
            Assert.False(File.Exists(P("m.cmm")), string.Join(' ', args));
        }
    }
}
