using System.Text.Json;
using CMM.Gpu.Icnn;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Cli;

/// <summary><c>cmm sample --devices</c>: several simulated CPU devices write the one-device file; bad values are one-line errors.</summary>
public sealed class SampleDevicesCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-devices-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    /// <summary>An unfitted (initial) 2-D model: enough to exercise sampling, no fit needed.</summary>
    private string Model()
    {
        var arch = new IcnnArchitecture(2) { HiddenWidths = [6, 5] };
        var model = new IcnnModel(arch, IcnnPotential.InitialParameters(arch, 1),
            new IcnnModelMetadata { DataDimension = 2, NormalizationMean = [1f, -2f], NormalizationScale = [3f, 3f] });
        IcnnModelFile.Save(P("m.cmm"), model);
        return P("m.cmm");
    }

    [Fact]
    public void SeveralDevicesWriteTheOneDeviceFile()
    {
        string[] common = ["--model", Model(), "--n", "45", "--burn-in", "5", "--seed", "11", "--chunk", "8", "--accelerator", "cpu"];
        var (c1, _, e1) = CliTests.Run(["sample", "--out", P("one.npy"), "--latent-out", P("one-lat.csv"), .. common]);
        Assert.True(c1 == 0, e1);
        Assert.Contains("cmm: accelerator cpu", e1, StringComparison.Ordinal);

        var (c3, stdout, e3) = CliTests.Run(["sample", "--out", P("three.npy"), "--latent-out", P("three-lat.csv"), "--devices", "3", "--json", .. common]);
        Assert.True(c3 == 0, e3);
        Assert.Contains("cmm: device 1 of 3 (index 0): cpu", e3, StringComparison.Ordinal);
        Assert.Contains("cmm: device 3 of 3 (index 2): cpu", e3, StringComparison.Ordinal);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(3, doc.RootElement.GetProperty("devices").GetInt32());
            Assert.Equal(45, doc.RootElement.GetProperty("generated").GetInt64());
        }

        Assert.Equal(PointFile.Read(P("one.npy")).ToArray(), PointFile.Read(P("three.npy")).ToArray());
        Assert.Equal(PointFile.Read(P("one-lat.csv")).ToArray(), PointFile.Read(P("three-lat.csv")).ToArray());

        // --devices combines with --shard: two shards on two devices each concatenate to the one-device file.
        Assert.Equal(0, CliTests.Run(["sample", "--out", P("s0.npy"), "--shard", "0/2", "--devices", "2", .. common]).Code);
        Assert.Equal(0, CliTests.Run(["sample", "--out", P("s1.npy"), "--shard", "1/2", "--devices", "all", .. common]).Code);
        Assert.Equal(PointFile.Read(P("one.npy")).ToArray(), PointFile.Read(P("s0.npy")).ToArray().Concat(PointFile.Read(P("s1.npy")).ToArray()).ToArray());
    }

    [Fact]
    public void BadDeviceCountsAreOneLineErrors()
    {
        string model = Model();
        var cases = new[]
        {
            (new[] { "--devices", "0" }, 2, "--devices '0': expected a positive number of devices or 'all'"),
            (new[] { "--devices", "-1" }, 2, "--devices '-1'"),
            (new[] { "--devices", "two" }, 2, "--devices 'two'"),
            (new[] { "--devices", "1.5" }, 2, "--devices '1.5'"),
            (new[] { "--devices", "3", "--accelerator", "nope" }, 2, "unknown accelerator 'nope'"),
            // auto on a machine without 512 GPUs: fewer devices than asked is an error, not a silent fallback.
            (new[] { "--devices", "512", "--accelerator", "auto" }, 1, "--devices 512: only "),
        };
        foreach (var (extra, expectedCode, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run(["sample", "--model", model, "--n", "4", "--out", P("x.csv"), .. extra]);
            Assert.True(code == expectedCode, string.Join(' ', extra) + " -> " + stderr);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
            Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
            Assert.False(File.Exists(P("x.csv")));
        }
    }
}
