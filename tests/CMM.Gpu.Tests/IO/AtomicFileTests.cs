using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.IO;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-atomic-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void WritesAndReplaces()
    {
        var p = Path.Combine(dir, "a.txt");
        AtomicFile.WriteAllText(p, "one");
        AtomicFile.WriteAllText(p, "two");
        Assert.Equal("two", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void FailureLeavesTheOldFileAndNoTemporary()
    {
        var p = Path.Combine(dir, "b.txt");
        AtomicFile.WriteAllText(p, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(p, s =>
        {
            s.WriteByte(1);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("old", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void MissingDirectoryIsNamed()
    {
        var p = Path.Combine(dir, "no", "c.txt");
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllText(p, "x"));
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(p));
    }
}
