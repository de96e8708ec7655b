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
            (["fit", "--energy", good, "--target-weight", "1.5"], "target weight must be between 0 and 1"),
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

    [Fact]
    public void EvalWithAnEnergyScoresTheModelAgainstExactSamplesAndItsClosedForm()
    {
        var energy = Energy("g.json", """{"type": "gaussian", "mean": [1, -0.5], "covariance": [[2, 0.6], [0.6, 0.5]]}""");
        var (code, _, stderr) = CliTests.Run(["fit", "--energy", energy, "--out", P("g.cmm"), .. Tiny]);
        Assert.True(code == 0, stderr);
        var (evalCode, evalOut, evalErr) = CliTests.Run("eval", "--model", P("g.cmm"), "--energy", energy, "--n", "64", "--splits", "1", "--json", "--accelerator", "cpu");
        Assert.True(evalCode == 0, evalErr);
        using (var doc = JsonDocument.Parse(evalOut))
        {
            var metrics = doc.RootElement.GetProperty("metrics");
            Assert.Equal("gaussian (exact samples)", metrics.GetProperty("data").GetString());
            Assert.Equal(64, metrics.GetProperty("held_out_count").GetInt32());
            // The closed form of a Gaussian energy gives the Hessian error of w; the start is exact, five iterations keep it close.
            Assert.InRange(metrics.GetProperty("hessian_relative_error").GetDouble(), 0, 0.2);
            var energyPart = doc.RootElement.GetProperty("energy");
            Assert.InRange(energyPart.GetProperty("diagnostics").GetProperty("effective_sample_fraction").GetDouble(), 0, 1);
            Assert.True(energyPart.GetProperty("reweighted").GetProperty("mean_error").GetDouble() >= 0);
        }

        // A mixture's modes and their exact weights enter the mode coverage.
        var mix = Energy("m.json", """{"type": "gaussian-mixture", "weights": [0.3, 0.7], "means": [[-2, 0], [2, 0]], "covariances": [[[0.25, 0], [0, 0.25]], [[0.25, 0], [0, 0.25]]]}""");
        var (mixCode, mixOut, mixErr) = CliTests.Run("eval", "--samples", P("g.csv.missing"), "--energy", mix, "--accelerator", "cpu");
        Assert.Equal(2, mixCode);
        Assert.Contains("g.csv.missing", mixErr, StringComparison.Ordinal);
        File.WriteAllText(P("pts.csv"), string.Join("\n", Enumerable.Range(0, 40).Select(i => i % 10 < 3 ? "-2,0.1" : "2,-0.1")) + "\n");
        (mixCode, mixOut, mixErr) = CliTests.Run("eval", "--samples", P("pts.csv"), "--energy", mix, "--n", "40", "--splits", "1", "--json", "--accelerator", "cpu");
        Assert.True(mixCode == 0, mixErr);
        using (var doc = JsonDocument.Parse(mixOut))
        {
            var modes = doc.RootElement.GetProperty("mode_coverage").GetProperty("modes");
            Assert.Equal(0.3, modes[0].GetProperty("generated").GetDouble(), 6);
            Assert.Equal(0.3, modes[0].GetProperty("exact").GetDouble(), 6);
        }

        // Errors: an energy of another dimension, --dataset with --energy, an energy without exact samples and no --data.
        var e3 = Energy("g3.json", """{"type": "gaussian", "mean": [0, 0, 0], "covariance": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}""");
        File.WriteAllText(P("lr.csv"), "0.1,1\n0.5,0\n0.9,1\n0.2,0\n");
        var lr = Energy("lr.json", """{"type": "logistic-regression", "data": "lr.csv"}""");
        var cases = new (string[] Args, string Expected)[]
        {
            (["eval", "--model", P("g.cmm"), "--energy", e3], "dimension mismatch: --energy has d = 3"),
            (["eval", "--model", P("g.cmm"), "--energy", energy, "--dataset", "gaussian"], "not --dataset"),
            (["eval", "--model", P("g.cmm"), "--energy", lr], "has no exact sampler; give --data"),
        };
        foreach (var (args, expected) in cases)
        {
            var (c, _, err) = CliTests.Run([.. args, "--accelerator", "cpu"]);
            Assert.True(c == 2, $"{string.Join(' ', args)}: exit {c}, {err}");
            Assert.Contains(expected, err, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MalaRunsChainsOnTheEnergyAndReportsTheirEffectiveSampleSize()
    {
        var energy = Energy("g.json", """{"type": "gaussian", "mean": [1, -0.5], "covariance": [[2, 0.6], [0.6, 0.5]]}""");
        var (code, stdout, stderr) = CliTests.Run("mala", "--energy", energy, "--chains", "8", "--evaluations", "4000", "--burn-in", "100",
            "--out", P("m.csv"), "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            Assert.Equal(400, root.GetProperty("steps").GetInt32()); // 4,000 / 8 chains - 100 burn-in
            Assert.InRange(root.GetProperty("acceptance").GetDouble(), 0.3, 0.9);
            Assert.True(root.GetProperty("ess_min").GetDouble() > 50);
            Assert.True(root.GetProperty("energy_evaluations").GetInt64() >= 4000);
        }

        var draws = CMM.Gpu.IO.PointFile.Read(P("m.csv"));
        Assert.Equal(8 * 400, draws.Count);
        var cases = new (string[] Args, string Expected)[]
        {
            (["mala", "--energy", energy, "--chains", "0"], "chains must be at least 1"),
            (["mala", "--energy", energy, "--evaluations", "100", "--chains", "8"], "leaves"),
            (["mala", "--energy", energy, "--steps", "10", "--evaluations", "1000"], "not both"),
            (["mala", "--energy", P("none.json")], "does not exist"),
        };
        foreach (var (args, expected) in cases)
        {
            var (c, _, err) = CliTests.Run([.. args, "--out", P("bad.csv")]);
            Assert.True(c == 2, $"{string.Join(' ', args)}: exit {c}, {err}");
            Assert.Contains(expected, err, StringComparison.Ordinal);
            Assert.False(File.Exists(P("bad.csv")));
        }
    }
}
