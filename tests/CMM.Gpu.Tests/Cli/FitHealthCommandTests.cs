using System.Text.Json;
using CMM.Gpu.Cli.Commands;
using CMM.Gpu.IO;
using CMM.Gpu.Tests.Fitting;

namespace CMM.Gpu.Tests.Cli;

/// <summary>Issue 18 on the command line: a fit whose sampler fails warns on stderr as it runs, prints the reason, exits 1
/// and writes no model at --out (its last healthy model goes to MODEL.failed.cmm, its state stays in the checkpoint).</summary>
public sealed class FitHealthCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-health-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void FailedFitExitsOneWithTheReasonAndWritesNoModelAtOut()
    {
        // The data and options of FitHealthTests.CollapsedSamplerStopsAsFailedWithItsReasonWarningAndLastHealthyModel.
        var data = P("normal128.csv");
        PointFile.Write(data, FitHealthTests.CollapsingSamplerData(), 128);
        var (code, stdout, stderr) = CliTests.Run("fit", "--data", data, "--out", P("m.cmm"), "--json", "--network", "w", "--step-size", "0.99",
            "--step-halvings", "0", "--iterations", "30", "--particles", "32", "--batch", "32", "--hidden", "8", "--seed", "3", "--accelerator", "cpu");

        Assert.True(code == 1, stderr);
        Assert.False(File.Exists(P("m.cmm")));
        Assert.Contains("cmm fit: warning: MALA acceptance of the fitting particles fell to", stderr, StringComparison.Ordinal);
        Assert.Contains("cmm: error: the fit failed (SamplerFailed): sampler failed: MALA acceptance of the fitting particles averaged", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("SamplerFailed", root.GetProperty("status").GetString());
        Assert.StartsWith("sampler failed:", root.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(10, root.GetProperty("iterations").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("model").ValueKind);
        // The last healthy model is kept, under a name that says what it is, and the checkpoint holds where the fit stopped.
        Assert.Equal(P("m.failed.cmm"), root.GetProperty("failed_model").GetString());
        var failed = CMM.Gpu.Icnn.IcnnModelFile.Load(P("m.failed.cmm"));
        Assert.Equal(root.GetProperty("failed_model_iteration").GetInt64(), failed.Metadata.Iterations);
        Assert.True(failed.Metadata.Iterations < 10);
        Assert.Equal(P("m.cmm.ckpt"), root.GetProperty("checkpoint").GetString());
        Assert.Equal(10, CMM.Gpu.Fitting.FitCheckpoint.Load(P("m.cmm.ckpt")).Iteration);
    }

    [Fact]
    public void FailedModelGoesBesideTheOutPathUnderItsOwnName()
    {
        Assert.Equal("m.failed.cmm", FitCommand.FailedModelPath("m.cmm"));
        Assert.Equal(Path.Combine("out", "model.failed.cmm"), FitCommand.FailedModelPath(Path.Combine("out", "model")));
        Assert.Equal(Path.Combine("a.b", "x.failed.bin"), FitCommand.FailedModelPath(Path.Combine("a.b", "x.bin")));
    }
}
