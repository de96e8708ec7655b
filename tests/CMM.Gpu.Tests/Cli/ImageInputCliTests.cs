using CMM.Gpu.Data;
using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.Cli;

/// <summary>Image inputs through the CLI: the built-in <c>digits</c> set and IDX files, on one tiny fit.</summary>
public sealed class ImageInputCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-image-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void DigitsFitAndIdxInputsWorkThroughTheCli()
    {
        var (code, _, stderr) = CliTests.Run(["fit", "--dataset", "digits", "--out", P("digits.cmm"), .. ModelCommandTests.TinyFit]);
        Assert.True(code == 0, stderr);
        Assert.Contains("digits, n = 64, d = 64", stderr, StringComparison.Ordinal);
        Assert.Equal(64, CMM.Gpu.Icnn.IcnnModelFile.Load(P("digits.cmm")).Metadata.DataDimension);

        // Five digits as gzip-compressed MNIST-style IDX images (uint8, 5 x 8 x 8) go in as 64-dimensional points.
        var pixels = DigitsData.Load().Pixels[..(5 * 64)].Select(v => (byte)v).ToArray();
        File.WriteAllBytes(P("five-images-idx3-ubyte.gz"), Gzip(IdxBytes(0x08, [5, 8, 8], pixels)));
        var (pc, _, pe) = CliTests.Run("potential", "--model", P("digits.cmm"), "--data", P("five-images-idx3-ubyte.gz"), "--out", P("w.csv"), "--accelerator", "cpu");
        Assert.True(pc == 0, pe);
        var values = PointFile.Read(P("w.csv"));
        Assert.Equal(5, values.Count);
        Assert.Equal(1, values.Dimension);

        // IDX is an input format only: an IDX output name is refused before any work, and nothing is written.
        var (oc, _, oe) = CliTests.Run("potential", "--model", P("digits.cmm"), "--data", P("five-images-idx3-ubyte.gz"), "--out", P("w-idx1-ubyte"), "--accelerator", "cpu");
        Assert.Equal(2, oc);
        Assert.Contains("IDX files are read, not written; write .csv, .npy", oe, StringComparison.Ordinal);
        Assert.False(File.Exists(P("w-idx1-ubyte")));

        // A cut IDX file is a one-line error naming the file.
        File.WriteAllBytes(P("cut.idx"), IdxBytes(0x08, [5, 8, 8], pixels[..100]));
        var (cc, _, ce) = CliTests.Run("potential", "--model", P("digits.cmm"), "--data", P("cut.idx"), "--out", P("w2.csv"), "--accelerator", "cpu");
        Assert.Equal(2, cc);
        Assert.Equal($"cmm: error: {P("cut.idx")}: truncated: sizes 5 x 8 x 8 of unsigned bytes need 320 data bytes but the file holds 100", ce.Trim());
        Assert.False(File.Exists(P("w2.csv")));
    }

    [Fact]
    public void DigitsRefusesDimAndTooManyPoints()
    {
        var (dc, _, de) = CliTests.Run("fit", "--dataset", "digits", "--dim", "3", "--out", P("x.cmm"));
        Assert.Equal(2, dc);
        Assert.Equal("cmm: error: --dim applies only to --dataset gaussian (the 'digits' dataset has a fixed dimension)", de.Trim());

        var (nc, _, ne) = CliTests.Run("fit", "--dataset", "digits", "--n", "1798", "--out", P("x.cmm"), "--accelerator", "cpu");
        Assert.Equal(2, nc);
        Assert.Equal("cmm: error: --n 1798: the 'digits' dataset has only 1797 points (drawn without replacement)", ne.Trim());
        Assert.False(File.Exists(P("x.cmm")));

        // Without --n, a finite data set is used whole (the default 20,000 would be more than it has).
        var (ok, stdout, oe) = CliTests.Run("fit", "--dataset", "digits", "--iterations", "1", "--particles", "16", "--batch", "16", "--hidden", "4", "--out", P("all.cmm"), "--json", "--accelerator", "cpu");
        Assert.True(ok == 0, oe);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(1797, doc.RootElement.GetProperty("n").GetInt32());
    }
}
