using System.Text.Json;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary>The model commands end to end on tiny fits: fit, resume, eval, sample (sharded), encode/decode, potential, demo.</summary>
public sealed class ModelCommandTests : IDisposable
{
    internal static readonly string[] TinyFit =
        ["--iterations", "4", "--particles", "32", "--batch", "32", "--langevin-steps", "2", "--hidden", "6", "--n", "64", "--accelerator", "cpu"];

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-model-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    private string FitTiny(string name = "m.cmm", string dataset = "moons", params string[] extra)
    {
        var (code, _, stderr) = CliTests.Run(["fit", "--dataset", dataset, "--out", P(name), .. TinyFit, .. extra]);
        Assert.True(code == 0, stderr);
        return P(name);
    }

    [Fact]
    public void FitWritesAModelAndJsonSummary()
    {
        var (code, stdout, _) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("a.cmm"), "--json", "--checkpoint-every", "2", .. TinyFit]);
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("Completed", doc.RootElement.GetProperty("status").GetString());
        Assert.Equal(4, doc.RootElement.GetProperty("iterations").GetInt32());
        Assert.True(File.Exists(P("a.cmm")));
        // A completed fit removes its checkpoint (the model holds everything) and reports none.
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("checkpoint").ValueKind);
        Assert.False(File.Exists(P("a.cmm") + ".ckpt"));
    }

    [Fact]
    public void ResumeContinuesFromTheCheckpoint()
    {
        // A 2-iteration fit kept with --keep-checkpoint leaves a checkpoint at iteration 2; resuming with --iterations 4 runs
        // iterations 3 and 4. (Bit-identical resumption under unchanged options is tested on the library in FittingTests.)
        var (c2, _, e2) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("half.cmm"), "--checkpoint-every", "2", "--keep-checkpoint", .. TinyFit[..1], "2", .. TinyFit[2..]]);
        Assert.True(c2 == 0, e2);
        var (c3, _, e3) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("half.cmm"), "--checkpoint-every", "2", "--resume", .. TinyFit]);
        Assert.True(c3 == 0, e3);
        Assert.Contains("at iteration 2", e3, StringComparison.Ordinal);
        Assert.Equal(4, CMM.Gpu.Icnn.IcnnModelFile.Load(P("half.cmm")).Metadata.Iterations);
        Assert.False(File.Exists(P("half.cmm") + ".ckpt"));
    }

    [Fact]
    public void EarlyStoppingFitReportsTheBestValidatedIteration()
    {
        var (code, stdout, stderr) = CliTests.Run(["fit", "--dataset", "moons", "--out", P("es.cmm"), "--json", .. TinyFit,
            "--validation-fraction", "0.25", "--validate-every", "2"]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        int best = doc.RootElement.GetProperty("best_iteration").GetInt32();
        Assert.InRange(best, 2, 4);
        Assert.True(doc.RootElement.GetProperty("best_validation").GetDouble() > 0);
        Assert.Equal(best, CMM.Gpu.Icnn.IcnnModelFile.Load(P("es.cmm")).Metadata.Iterations);
        Assert.Contains("validation energy", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void GaussianDimensionCarriesFromFitToEval()
    {
        var model = FitTiny("g3.cmm", "gaussian", "--dim", "3");
        Assert.Equal(3, CMM.Gpu.Icnn.IcnnModelFile.Load(model).Metadata.DataDimension);
        var (code, stdout, stderr) = CliTests.Run("eval", "--model", model, "--dataset", "gaussian", "--n", "40", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("dimension").GetInt32());
        Assert.Equal(5, doc.RootElement.GetProperty("splits").GetInt32()); // the default
        var (one, oneOut, oneErr) = CliTests.Run("eval", "--model", model, "--dataset", "gaussian", "--n", "40", "--splits", "1", "--accelerator", "cpu");
        Assert.True(one == 0, oneErr);
        Assert.DoesNotContain("splits", oneOut, StringComparison.Ordinal); // a single split says nothing about averaging
        var (zero, _, zeroErr) = CliTests.Run("eval", "--model", model, "--dataset", "gaussian", "--n", "40", "--splits", "0", "--accelerator", "cpu");
        Assert.Equal(2, zero);
        Assert.Contains("--splits must be at least 1", zeroErr, StringComparison.Ordinal);
        var (bad, _, badErr) = CliTests.Run("eval", "--model", model, "--dataset", "gaussian", "--dim", "2", "--n", "40", "--accelerator", "cpu");
        Assert.Equal(2, bad);
        Assert.Contains("dimension mismatch", badErr, StringComparison.Ordinal);
    }

    [Fact]
    public void BadFitInputsAreOneLineErrors()
    {
        var bad = P("bad.csv");
        File.WriteAllText(bad, "1,2\n3,4\nnan,1\n");
        var cases = new[]
        {
            (new[] { "fit", "--data", bad, "--out", P("x.cmm") }, "line 3"),
            (new[] { "fit", "--dataset", "moon", "--out", P("x.cmm") }, "did you mean 'moons'"),
            (new[] { "fit", "--dataset", "moons", "--out", P("x.cmm"), "--iterations", "0" }, "iterations must be"),
            (new[] { "fit", "--dataset", "moons", "--out", P("x.cmm"), "--hidden", "8,a" }, "--hidden"),
            (new[] { "fit", "--dataset", "moons", "--out", P("no/x.cmm") }, "does not exist"),
            (new[] { "fit", "--dataset", "moons", "--out", P("x.cmm"), "--resume" }, "checkpoint"),
            (new[] { "fit", "--out", P("x.cmm") }, "--data FILE or --dataset NAME"),
            (new[] { "fit", "--dataset", "moons", "--dim", "3", "--out", P("x.cmm") }, "--dim applies only to --dataset gaussian"),
            (new[] { "fit", "--data", bad, "--dim", "3", "--out", P("x.cmm") }, "--dim applies only to --dataset gaussian"),
            (new[] { "fit", "--dataset", "gaussian", "--dim", "0", "--out", P("x.cmm") }, "--dim must be between"),
            (new[] { "fit", "--dataset", "moons", "--out", P("x.cmm"), "--validation-fraction", "0.7" }, "validation fraction must be between 0"),
            (new[] { "fit", "--dataset", "moons", "--out", P("x.cmm"), "--validation-fraction", "0.2", "--patience", "0" }, "patience must be"),
            (new[] { "fit", "--dataset", "moons", "--n", "5", "--out", P("x.cmm"), "--validation-fraction", "0.1", "--accelerator", "cpu" }, "early stopping needs at least 2"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run(args);
            Assert.True(code == 2, string.Join(' ', args) + " -> " + stderr);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
        }

        Assert.False(File.Exists(P("x.cmm")));
    }

    [Fact]
    public void CorruptModelFilesAreRejected()
    {
        var model = FitTiny();
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(P("trunc.cmm"), bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = CliTests.Run("sample", "--model", P("trunc.cmm"), "--n", "4", "--out", P("s.csv"));
        Assert.Equal(2, code);
        Assert.Contains("trunc.cmm", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(P("s.csv")));
        var (code2, _, stderr2) = CliTests.Run("sample", "--model", P("none.cmm"), "--n", "4", "--out", P("s.csv"));
        Assert.Equal(2, code2);
        Assert.Contains("does not exist", stderr2, StringComparison.Ordinal);
    }

    [Fact]
    public void SampleShardsConcatenateToTheFullRun()
    {
        var model = FitTiny();
        string[] common = ["--model", model, "--n", "10", "--burn-in", "5", "--seed", "3", "--accelerator", "cpu"];
        Assert.Equal(0, CliTests.Run(["sample", "--out", P("all.npy"), "--latent-out", P("lat.csv"), .. common]).Code);
        Assert.Equal(0, CliTests.Run(["sample", "--out", P("s0.npy"), "--shard", "0/2", .. common]).Code);
        Assert.Equal(0, CliTests.Run(["sample", "--out", P("s1.npy"), "--shard", "1/2", .. common]).Code);
        var all = PointFile.Read(P("all.npy"));
        var s0 = PointFile.Read(P("s0.npy"));
        var s1 = PointFile.Read(P("s1.npy"));
        Assert.Equal(10, all.Count);
        Assert.Equal(10, PointFile.Read(P("lat.csv")).Count);
        Assert.Equal(all.ToArray(), s0.ToArray().Concat(s1.ToArray()).ToArray());
        var (code, _, stderr) = CliTests.Run(["sample", "--out", P("bad.npy"), "--shard", "2/2", .. common]);
        Assert.Equal(2, code);
        Assert.Contains("--shard", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeOfEncodeIsTheIdentityAndPotentialIsOnePerPoint()
    {
        var model = FitTiny();
        var data = P("d.csv");
        PointFile.Write(data, new float[] { 0.5f, 0.25f, -1f, 0.75f, 1.5f, -0.5f }, 2);
        Assert.Equal(0, CliTests.Run("encode", "--model", model, "--data", data, "--out", P("lat.csv")).Code);
        Assert.Equal(0, CliTests.Run("decode", "--model", model, "--data", P("lat.csv"), "--out", P("back.csv")).Code);
        var back = PointFile.Read(P("back.csv")).ToArray();
        var orig = PointFile.Read(data).ToArray();
        for (int i = 0; i < orig.Length; i++)
        {
            Assert.InRange(back[i] - orig[i], -1e-3f, 1e-3f);
        }

        Assert.Equal(0, CliTests.Run("potential", "--model", model, "--data", data, "--out", P("w.csv")).Code);
        var w = PointFile.Read(P("w.csv"));
        Assert.Equal((3, 1), (w.Count, w.Dimension));
        var wrong = P("d3.csv");
        PointFile.Write(wrong, new float[] { 1, 2, 3 }, 3);
        var (code, _, stderr) = CliTests.Run("encode", "--model", model, "--data", wrong, "--out", P("x.csv"));
        Assert.Equal(2, code);
        Assert.Contains("dimension mismatch", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void EvalReportsMetricsWithNoiseFloors()
    {
        var model = FitTiny("g.cmm", "gaussian");
        var (code, stdout, stderr) = CliTests.Run("eval", "--model", model, "--dataset", "gaussian", "--n", "64", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.True(r.GetProperty("energy_distance").GetDouble() >= 0);
        Assert.True(r.GetProperty("energy_distance_noise_floor").GetDouble() >= 0);
        Assert.True(r.GetProperty("sinkhorn_divergence").ValueKind == JsonValueKind.Number);
        Assert.True(r.GetProperty("hessian_relative_error").GetDouble() >= 0);
        Assert.InRange(r.GetProperty("off_support_share").GetDouble(), 0, 1);
        Assert.Equal(JsonValueKind.Null, r.GetProperty("mode_coverage").ValueKind); // a Gaussian has no modes to cover
        // Held-out log-likelihood of the model and of the cross-fitted Gaussian (docs/density.md).
        Assert.True(double.IsFinite(r.GetProperty("log_likelihood").GetDouble()));
        Assert.True(r.GetProperty("log_likelihood_standard_error").GetDouble() > 0);
        Assert.True(double.IsFinite(r.GetProperty("gaussian_log_likelihood").GetDouble()));
        Assert.True(r.GetProperty("log_normalizer_effective_sample_fraction").GetDouble() > 0);
    }

    [Fact]
    public void EvalReportsModeCoverageForBuiltInDatasetsWithModesOnly()
    {
        var model = FitTiny();
        var (code, stdout, stderr) = CliTests.Run("eval", "--model", model, "--dataset", "moons", "--n", "64", "--splits", "1", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var modes = doc.RootElement.GetProperty("mode_coverage");
        Assert.Equal("moons", modes.GetProperty("data").GetString());
        Assert.Equal(64, modes.GetProperty("held_out_count").GetInt32());
        Assert.Equal(2, modes.GetProperty("modes").GetArrayLength());

        // The same points from a file: no known modes, so no mode coverage (the off-support share needs none).
        var file = P("moons.csv");
        PointFile.Write(file, CMM.Gpu.Data.Datasets.Create("moons", 64, 5).Points, 2);
        var (code2, stdout2, stderr2) = CliTests.Run("eval", "--model", model, "--data", file, "--splits", "1", "--accelerator", "cpu");
        Assert.True(code2 == 0, stderr2);
        Assert.DoesNotContain("mode coverage", stdout2, StringComparison.Ordinal);
        Assert.Contains("off-support share", stdout2, StringComparison.Ordinal);
    }

    [Fact]
    public void PlotWritesAPngAndRefusesOtherExtensions()
    {
        var model = FitTiny();
        var data = P("d.csv");
        PointFile.Write(data, new float[] { 0.5f, 0.25f, -1f, 0.75f, 1.5f, -0.5f }, 2);
        var (code, _, stderr) = CliTests.Run("plot", "--model", model, "--data", data, "--out", P("f.png"), "--n", "16");
        Assert.True(code == 0, stderr);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(P("f.png"))[..4]);
        var (code2, _, stderr2) = CliTests.Run("plot", "--model", model, "--out", P("f.jpg"));
        Assert.Equal(2, code2);
        Assert.Contains(".png", stderr2, StringComparison.Ordinal);

        // Fresh points of a built-in dataset, or no data at all (generated samples alone: two panels instead of three).
        var (code3, _, stderr3) = CliTests.Run("plot", "--model", model, "--dataset", "moons", "--out", P("g.png"), "--n", "16");
        Assert.True(code3 == 0, stderr3);
        var (code4, _, stderr4) = CliTests.Run("plot", "--model", model, "--out", P("h.png"), "--n", "16");
        Assert.True(code4 == 0, stderr4);
        Assert.True(PngWidth(P("g.png")) > PngWidth(P("h.png")), "the data panel is drawn only when there is data");
        var (code5, _, stderr5) = CliTests.Run("plot", "--model", model, "--data", data, "--dataset", "moons", "--out", P("i.png"));
        Assert.Equal(2, code5);
        Assert.Contains("at most one of --data", stderr5, StringComparison.Ordinal);
        Assert.False(File.Exists(P("i.png")));
    }

    private static int PngWidth(string path)
    {
        var b = File.ReadAllBytes(path);
        return (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
    }

    [Fact]
    public void DemoWritesEveryArtefact()
    {
        var outDir = P("demo");
        var (code, stdout, stderr) = CliTests.Run("demo", "--out", outDir, "--iterations", "3", "--n", "64", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        foreach (var f in new[] { "model.cmm", "samples.csv", "latents.csv", "figure.png", "metrics.md", "metrics.json" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
            Assert.Contains(f, stdout, StringComparison.Ordinal);
        }

        var png = File.ReadAllBytes(Path.Combine(outDir, "figure.png"));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, png[..4]);
        Assert.False(File.Exists(Path.Combine(outDir, "model.cmm.ckpt")));
    }
}
