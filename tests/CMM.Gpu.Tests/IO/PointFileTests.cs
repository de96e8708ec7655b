using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

/// <summary>Files on disk: dispatch by extension, missing files and directories, round trips through <see cref="PointFile.Write(string, ReadOnlySpan{float}, int)"/>.</summary>
public sealed class PointFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-points-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void MissingFile()
    {
        var p = P("nope.csv");
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(p));
        Assert.Equal(PointFileError.NotFound, e.Error);
        Assert.Equal($"{p}: file not found", e.Message);
        Assert.Equal(p, e.Path);
    }

    [Fact]
    public void MissingDirectoryInPathIsNotFound()
    {
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(P("no/such/dir.npy")));
        Assert.Equal(PointFileError.NotFound, e.Error);
    }

    [Fact]
    public void DirectoryInsteadOfFile()
    {
        var p = P("folder.csv");
        Directory.CreateDirectory(p);
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(p));
        Assert.Equal(PointFileError.IsDirectory, e.Error);
        Assert.Equal($"{p}: is a directory, not a point file", e.Message);
    }

    [Theory]
    [InlineData("points.txt", "has unknown extension \".txt\"")]
    [InlineData("points", "has no extension")]
    [InlineData("points.npz", "has unknown extension \".npz\"")]
    public void UnknownExtension(string name, string expected)
    {
        var p = P(name);
        File.WriteAllText(p, "1,2\n");
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(p));
        Assert.Equal(PointFileError.UnknownFormat, e.Error);
        Assert.Equal($"{p}: {expected}; point files must be .csv, .npy, .idx, -idx3-ubyte, -idx1-ubyte (IDX also .gz)", e.Message);
    }

    [Fact]
    public void ExtensionIsCaseInsensitive()
    {
        Assert.Equal(PointFileFormat.Csv, PointFile.FormatOf("A.CSV"));
        Assert.Equal(PointFileFormat.Npy, PointFile.FormatOf("dir.x/a.Npy"));
    }

    [Fact]
    public void ErrorsFromFilesNameThePath()
    {
        var p = P("bad.csv");
        File.WriteAllText(p, "1,2\n3\n");
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(p));
        Assert.Equal($"{p}: line 2: expected 2 columns (as on line 1), got 1", e.Message);
    }

    public static TheoryData<string, int, int> Shapes => new()
    {
        { "a.csv", 1, 1 },
        { "b.csv", 17, 3 },
        { "c.npy", 1, 1 },
        { "d.npy", 29, 1 },
        { "e.npy", 17, 29 },
        { "f.CSV", 5, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RoundTripIsBitExact(string name, int n, int d)
    {
        var data = AwkwardValues(n * d, seed: n + (31 * d));
        var p = P(name);
        PointFile.Write(p, data, d);
        var c = PointFile.Read(p);
        Assert.Equal(n, c.Count);
        Assert.Equal(d, c.Dimension);
        Assert.Equal(p, c.Source);
        AssertBitsEqual(data, c.Data.Span);
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void WrittenNpyIsByteIdenticalToNumPysOwnFile()
    {
        var p = P("fixture.npy");
        PointFile.Write(p, [1f, 2f, 3f, 4.5f], 2);
        Assert.Equal(PointFileNpyTests.HandWrittenFixture(), File.ReadAllBytes(p));
    }

    [Fact]
    public void WrittenCsvIsPlainRoundTripText()
    {
        var p = P("plain.csv");
        PointFile.Write(p, [1f, -0.1f, 3e-10f, 16777216f], 2);
        Assert.Equal("1,-0.1\n3E-10,16777216\n", File.ReadAllText(p));
    }

    [Fact]
    public void WritePointCloudOverload()
    {
        var cloud = new PointCloud([1f, 2f, 3f], 1, "mem");
        var p = P("cloud.npy");
        PointFile.Write(p, cloud);
        AssertBitsEqual(cloud.Data.Span, PointFile.Read(p).Data.Span);
    }

    [Fact]
    public void WriteRejectsBadDataAndLeavesNothing()
    {
        var p = P("x.csv");
        var nan = Assert.Throws<ArgumentException>(() => PointFile.Write(p, [1f, 2f, 3f, float.NaN], 2));
        Assert.Contains("data[3] (row 1, column 1) is NaN; point files hold finite values only", nan.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PointFile.Write(p, [1f, 2f, 3f], 2));
        Assert.Throws<ArgumentException>(() => PointFile.Write(p, [], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => PointFile.Write(p, [1f], 0));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void WriteFailureKeepsTheOldFile()
    {
        var p = P("keep.npy");
        PointFile.Write(p, [1f, 2f], 1);
        var before = File.ReadAllBytes(p);
        Assert.Throws<ArgumentException>(() => PointFile.Write(p, [float.PositiveInfinity], 1));
        Assert.Equal(before, File.ReadAllBytes(p));
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void WriteToUnknownExtensionOrMissingDirectory()
    {
        var e = Assert.Throws<PointFileException>(() => PointFile.Write(P("x.txt"), [1f], 1));
        Assert.Equal(PointFileError.UnknownFormat, e.Error);
        var io = Assert.Throws<IOException>(() => PointFile.Write(P("no/x.csv"), [1f], 1));
        Assert.Contains("does not exist", io.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void WriteOverADirectoryFailsClearly()
    {
        var p = P("taken.csv");
        Directory.CreateDirectory(p);
        var e = Assert.Throws<IOException>(() => PointFile.Write(p, [1f], 1));
        Assert.Contains("it is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PointCloudConstructorValidatesAndCopies()
    {
        var src = new float[] { 1f, 2f };
        var c = new PointCloud(src, 2, "mem");
        src[0] = 99f;
        Assert.Equal(1f, c.Data.Span[0]);
        Assert.Equal(1, c.Count);
        var copy = c.ToArray();
        copy[1] = 5f;
        Assert.Equal(2f, c.Row(0)[1]);
        Assert.Throws<ArgumentException>(() => new PointCloud([1f, float.NaN], 1, "mem"));
        Assert.Throws<ArgumentException>(() => new PointCloud([1f, 2f, 3f], 2, "mem"));
        Assert.Throws<ArgumentException>(() => new PointCloud([], 2, "mem"));
        Assert.Throws<ArgumentOutOfRangeException>(() => c.Row(1));
    }

    /// <summary>Values that stress round-trip formatting: extremes, subnormals, -0, non-terminating decimals.</summary>
    internal static float[] AwkwardValues(int length, int seed)
    {
        float[] special = [0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1e-38f, 1.17549435E-38f, 0.1f, 1f / 3f, 16777217f, -123456.79f];
        var rng = new Random(seed);
        var v = new float[length];
        for (int i = 0; i < length; i++)
        {
            v[i] = i < special.Length ? special[i]
                : (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 30)));
        }

        rng.Shuffle(v);
        return v;
    }
}
