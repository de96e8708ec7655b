using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

public sealed class PointFileWriterTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-writer-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Theory]
    [InlineData("s.npy", 3)]
    [InlineData("s.csv", 3)]
    [InlineData("t.npy", 1)]
    public void ChunksAppearOnlyAfterComplete(string name, int d)
    {
        var p = P(name);
        var all = PointFileTests.AwkwardValues(41 * d, seed: d);
        using (var w = PointFileWriter.Create(p, d))
        {
            Assert.Equal(PointFile.FormatOf(p), w.Format);
            w.Append(all.AsSpan(0, 7 * d));
            w.Append(all.AsSpan(7 * d, 0));
            w.Append(all.AsSpan(7 * d, 30 * d));
            w.Append(all.AsSpan(37 * d));
            Assert.Equal(41, w.Count);
            Assert.False(File.Exists(p));
            w.Complete();
            Assert.True(File.Exists(p));
        }

        var c = PointFile.Read(p);
        Assert.Equal(41, c.Count);
        Assert.Equal(d, c.Dimension);
        AssertBitsEqual(all, c.Data.Span);
        Assert.Single(Directory.GetFileSystemEntries(dir));
    }

    [Theory]
    [InlineData("a.npy")]
    [InlineData("a.csv")]
    public void AbandonedWriterLeavesNoFileAndKeepsTheOldOne(string name)
    {
        var p = P(name);
        using (var w = PointFileWriter.Create(p, 2))
        {
            w.Append([1f, 2f]);
        }

        Assert.Empty(Directory.GetFileSystemEntries(dir));

        PointFile.Write(p, [5f, 6f], 2);
        var before = File.ReadAllBytes(p);
        using (var w = PointFileWriter.Create(p, 2))
        {
            w.Append([1f, 2f, 3f, 4f]);
        }

        Assert.Equal(before, File.ReadAllBytes(p));
        Assert.Single(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void CompleteReplacesAnExistingFile()
    {
        var p = P("r.csv");
        PointFile.Write(p, [1f, 2f, 3f], 1);
        using (var w = PointFileWriter.Create(p, 2))
        {
            w.Append([7f, 8f]);
            Assert.Equal(3, PointFile.Read(p).Count);
            w.Complete();
        }

        AssertBitsEqual([7f, 8f], PointFile.Read(p).Data.Span);
        Assert.Single(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void MisuseIsRejected()
    {
        var p = P("m.npy");
        using var w = PointFileWriter.Create(p, 2);
        Assert.Throws<ArgumentException>(() => w.Append([1f, 2f, 3f]));
        var e = Assert.Throws<ArgumentException>(() => w.Append([1f, 2f, 3f, float.NegativeInfinity]));
        Assert.Contains("rows[3] (row 1, column 1)", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, w.Count);
        Assert.Throws<InvalidOperationException>(w.Complete);
        w.Append([1f, 2f]);
        w.Complete();
        w.Complete(); // idempotent
        Assert.Throws<InvalidOperationException>(() => w.Append([1f, 2f]));
        Assert.Equal(1, PointFile.Read(p).Count);
    }

    [Fact]
    public void NonFiniteRowLaterInTheStreamIsNamedByGlobalIndex()
    {
        using var w = PointFileWriter.Create(P("g.csv"), 2);
        w.Append([1f, 2f, 3f, 4f]);
        var e = Assert.Throws<ArgumentException>(() => w.Append([5f, float.NaN]));
        Assert.Contains("rows[5] (row 2, column 1) is NaN", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DisposedWriterThrows()
    {
        var w = PointFileWriter.Create(P("d.npy"), 1);
        w.Dispose();
        w.Dispose();
        Assert.Throws<ObjectDisposedException>(() => w.Append([1f]));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void NpyHeaderKeepsItsReservedSizeForLargeCounts()
    {
        // The header is rewritten in place: the data must still start at byte 128 and the count must be the real one.
        var p = P("big.npy");
        const int chunkRows = 5000;
        const int chunks = 41;
        var chunk = new float[chunkRows * 2];
        using (var w = PointFileWriter.Create(p, 2))
        {
            for (int k = 0; k < chunks; k++)
            {
                chunk.AsSpan().Fill(k);
                w.Append(chunk);
            }

            w.Complete();
        }

        Assert.Equal(128 + ((long)chunkRows * chunks * 2 * 4), new FileInfo(p).Length);
        var c = PointFile.Read(p);
        Assert.Equal(chunkRows * chunks, c.Count);
        Assert.Equal(40f, c.Row((chunkRows * chunks) - 1)[1]);
        Assert.Equal(7f, c.Row((chunkRows * 7) + 3)[0]);
    }

    [Theory]
    [InlineData("mem.npy")]
    [InlineData("mem.csv")]
    public void MemoryDoesNotGrowWithRowCount(string name)
    {
        // 2 * 10^5 rows x 3 (2.4 MB as float32) streamed in chunks of 1000 rows: the writer's own allocations
        // stay far below the data size (one text buffer for CSV, nothing per row for .npy).
        var chunk = new float[3000];
        for (int i = 0; i < chunk.Length; i++)
        {
            chunk[i] = i * 0.37f;
        }

        using var w = PointFileWriter.Create(P(name), 3);
        w.Append(chunk);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 1; k < 200; k++)
        {
            w.Append(chunk);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        w.Complete();
        Assert.True(allocated < 256 * 1024, $"writer allocated {allocated} bytes for 2.4 MB of rows");
        Assert.Equal(200_000, w.Count);
    }
}
