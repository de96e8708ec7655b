using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

/// <summary>IDX files (MNIST's format), plain and gzip-compressed, written byte by byte from the format description.</summary>
public sealed class IdxFileTests : IDisposable
{
    private const byte UByte = 0x08;

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-idx-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    /// <summary>Three 2 x 3 uint8 images with pixel values 0..255 (image i, row r, column c holds 10 i + 3 r + c, the last one 255).</summary>
    private static byte[] ThreeImages()
    {
        var pixels = new byte[18];
        for (int i = 0; i < 18; i++)
        {
            pixels[i] = (byte)((10 * (i / 6)) + (i % 6));
        }

        pixels[17] = 255;
        return IdxBytes(UByte, [3, 2, 3], pixels);
    }

    public static TheoryData<string, bool> ImageNames() => new()
    {
        { "train-images-idx3-ubyte", false },
        { "train-images-idx3-ubyte.gz", true },
        { "t10k-images.idx3-ubyte", false },
        { "t10k-images.idx3-ubyte.gz", true },
        { "digits.idx", false },
        { "digits.IDX.GZ", true },
    };

    [Theory]
    [MemberData(nameof(ImageNames))]
    public void ImagesBecomePointsOfDimensionHeightTimesWidth(string name, bool gzip)
    {
        var bytes = ThreeImages();
        File.WriteAllBytes(P(name), gzip ? Gzip(bytes) : bytes);
        Assert.Equal(PointFileFormat.Idx, PointFile.FormatOf(P(name)));

        var c = PointFile.Read(P(name));
        Assert.Equal(3, c.Count);
        Assert.Equal(6, c.Dimension);
        Assert.Equal(new ImageShape(2, 3), c.ImageShape);
        Assert.Equal(P(name), c.Source);
        var expected = bytes[16..].Select(b => (float)b).ToArray();
        AssertBitsEqual(expected, c.Data.Span);
        Assert.Equal(255f, c.Row(2)[5]);
        Assert.Equal([10f, 11f, 12f, 13f, 14f, 15f], c.Row(1).ToArray());
    }

    [Theory]
    [InlineData("train-labels-idx1-ubyte", false)]
    [InlineData("train-labels-idx1-ubyte.gz", true)]
    [InlineData("t10k-labels.idx1-ubyte", false)]
    public void LabelsAreOneValuePerPoint(string name, bool gzip)
    {
        var bytes = IdxBytes(UByte, [5], [7, 2, 1, 0, 4]);
        File.WriteAllBytes(P(name), gzip ? Gzip(bytes) : bytes);
        var c = PointFile.Read(P(name));
        Assert.Equal(5, c.Count);
        Assert.Equal(1, c.Dimension);
        Assert.Null(c.ImageShape);
        Assert.Equal([7f, 2f, 1f, 0f, 4f], c.ToArray());
    }

    [Fact]
    public void TwoDimensionalIdxIsPlainPoints()
    {
        var c = Idx(IdxBytes(UByte, [2, 3], [1, 2, 3, 4, 5, 6]));
        Assert.Equal(2, c.Count);
        Assert.Equal(3, c.Dimension);
        Assert.Null(c.ImageShape);
    }

    [Theory]
    [InlineData((byte)0x09, new[] { -128.0, -1, 0, 127 })]
    [InlineData((byte)0x0B, new[] { -32768.0, -2, 300, 32767 })]
    [InlineData((byte)0x0C, new[] { -2147483648.0, -5, 16777216, 2147483647 })]
    [InlineData((byte)0x0D, new[] { -1.5, 0.1, 3e38, -0.0 })]
    [InlineData((byte)0x0E, new[] { -1.5, 0.1, 1e-300, 3.4e38 })]
    public void EveryIdxTypeIsReadBigEndian(byte type, double[] values)
    {
        var c = Idx(IdxBytes(type, [1, 2, 2], BigEndian(type, values)));
        Assert.Equal(new ImageShape(2, 2), c.ImageShape);
        AssertBitsEqual(values.Select(v => (float)v).ToArray(), c.Data.Span);
    }

    [Fact]
    public void GzipIsRecognisedByItsMagicBytesNotItsName()
    {
        // A compressed file without .gz, and a plain file with .gz, both read.
        File.WriteAllBytes(P("a-idx3-ubyte"), Gzip(ThreeImages()));
        File.WriteAllBytes(P("b-idx3-ubyte.gz"), ThreeImages());
        Assert.Equal(PointFile.Read(P("a-idx3-ubyte")).ToArray(), PointFile.Read(P("b-idx3-ubyte.gz")).ToArray());
    }

    [Fact]
    public void NonSeekableStreamsWork()
    {
        foreach (var bytes in new[] { ThreeImages(), Gzip(ThreeImages()) })
        {
            using var s = new NonSeekable(bytes);
            var c = PointFile.Read(s, PointFileFormat.Idx, "pipe");
            Assert.Equal(new ImageShape(2, 3), c.ImageShape);
            Assert.Equal(3, c.Count);
        }
    }

    /// <summary>
    /// Cutting a valid file anywhere is an error of the right kind, plain or gzip-compressed (the truncated content
    /// compressed): 0 bytes is empty; inside the magic number or the sizes or the data, truncated, with the sizes.
    /// </summary>
    [Theory]
    [InlineData(0, PointFileError.Empty, "the file is empty")]
    [InlineData(1, PointFileError.Truncated, "truncated: {holds} 1 byte, less than the 4-byte IDX magic number")]
    [InlineData(3, PointFileError.Truncated, "truncated: {holds} 3 bytes, less than the 4-byte IDX magic number")]
    [InlineData(4, PointFileError.Truncated, "truncated: the magic number 0x00000803 announces a header of 16 bytes but {holds} 4")]
    [InlineData(15, PointFileError.Truncated, "truncated: the magic number 0x00000803 announces a header of 16 bytes but {holds} 15")]
    [InlineData(16, PointFileError.Truncated, "truncated: sizes 3 x 2 x 3 of unsigned bytes need 18 data bytes but {holds} 0")]
    [InlineData(17, PointFileError.Truncated, "truncated: sizes 3 x 2 x 3 of unsigned bytes need 18 data bytes but {holds} 1")]
    [InlineData(33, PointFileError.Truncated, "truncated: sizes 3 x 2 x 3 of unsigned bytes need 18 data bytes but {holds} 17")]
    public void TruncatedFilesSayWhatIsMissing(int length, PointFileError error, string message)
    {
        var cut = ThreeImages()[..length];
        var plain = IdxError(cut, error);
        Assert.Equal("in.idx: " + message.Replace("{holds}", "the file holds", StringComparison.Ordinal), plain.Message);

        if (length == 0)
        {
            // gzip -c < /dev/null: a header, an empty final deflate block, CRC-32 0 and size 0.
            byte[] emptyGzip = [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
            var empty = IdxError(emptyGzip, PointFileError.Empty);
            Assert.Equal("in.idx: the gzip data decompresses to nothing (an empty or cut file)", empty.Message);
            return;
        }

        var compressed = IdxError(Gzip(cut), error);
        Assert.Equal("in.idx: " + message.Replace("{holds}", "the decompressed data holds", StringComparison.Ordinal), compressed.Message);
    }

    [Fact]
    public void TruncatedGzipDataIsAnErrorAtEveryCut()
    {
        // Cutting the compressed bytes themselves: whatever the cut, a one-line error, never a cloud. A cut inside
        // the 8-byte trailer (CRC-32, size) leaves every data byte decompressible; the size check catches it.
        var gz = Gzip(IdxBytes(0x0E, [2, 2, 2], BigEndian(0x0E, 1, 2, 3, 4, 5, 6, 7, 8)));
        for (int length = 1; length < gz.Length; length++)
        {
            var e = Assert.Throws<PointFileException>(() => Idx(gz[..length]));
            AssertOneLine(e, "in.idx");
            var expected = length == 1 ? [PointFileError.BadHeader] // 0x1F alone is not the gzip magic
                : length > gz.Length - 8 ? [PointFileError.CorruptCompression]
                : new[] { PointFileError.Empty, PointFileError.Truncated, PointFileError.CorruptCompression };
            Assert.True(expected.Contains(e.Error), $"cut at {length} of {gz.Length}: {e.Error}: {e.Message}");
        }

        var inTrailer = Assert.Throws<PointFileException>(() => Idx(gz[..^3]));
        Assert.StartsWith("in.idx: cut or damaged gzip file: the size in its trailer (the last 4 bytes) is ", inTrailer.Message, StringComparison.Ordinal);
        Assert.EndsWith(", not the 80 bytes decompressed (concatenated gzip members are not supported)", inTrailer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DamagedGzipIsReported()
    {
        var good = Gzip(ThreeImages());
        Assert.Equal(3, Idx(good).Count);

        // A wrong CRC-32 (first 4 trailer bytes), a wrong size (last 4), a damaged deflate stream.
        foreach (int at in new[] { good.Length - 8, good.Length - 1, 10 })
        {
            var bad = (byte[])good.Clone();
            bad[at] ^= 0x55;
            var e = Assert.Throws<PointFileException>(() => Idx(bad));
            Assert.True(e.Error == PointFileError.CorruptCompression, $"byte {at}: {e.Error}: {e.Message}");
            AssertOneLine(e, "in.idx");
        }
    }

    [Fact]
    public void TrailingBytesAreRejected()
    {
        byte[] longer = [.. ThreeImages(), 9, 9];
        Assert.Equal("in.idx: 2 bytes follow the data that sizes 3 x 2 x 3 of unsigned bytes describe", IdxError(longer, PointFileError.TrailingData).Message);
        Assert.Equal("in.idx: the decompressed data continues after the 18 data bytes that sizes 3 x 2 x 3 of unsigned bytes describe", IdxError(Gzip(longer), PointFileError.TrailingData).Message);
    }

    [Fact]
    public void UnknownMagicAndTypeAreOneLineErrors()
    {
        var text = IdxError("1,2,3\n"u8.ToArray(), PointFileError.BadHeader);
        Assert.Equal("in.idx: not an IDX file (it starts with 0x312C322C, not with the two zero bytes of an IDX magic number)", text.Message);

        var type = IdxError(IdxBytes(0x07, [1], [0]), PointFileError.UnsupportedDtype);
        Assert.Equal("in.idx: unknown IDX data type 0x07 in the magic number 0x00000701; known types: 0x08 unsigned byte, 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double", type.Message);

        var rank0 = IdxError([0, 0, 8, 0, 1], PointFileError.UnsupportedShape);
        Assert.Equal("in.idx: the magic number 0x00000800 announces 0 dimensions; expected 1 (labels), 2 or 3 (n x h x w images)", rank0.Message);
        var rank4 = IdxError(IdxBytes(UByte, [1, 1, 1, 1], [5]), PointFileError.UnsupportedShape);
        Assert.Contains("announces 4 dimensions", rank4.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ZeroSizes()
    {
        Assert.Equal("in.idx: no data items (sizes 0 x 28 x 28)", IdxError(IdxBytes(UByte, [0, 28, 28], []), PointFileError.Empty).Message);
        Assert.Equal("in.idx: sizes 5 x 0 x 28 have zero values per item", IdxError(IdxBytes(UByte, [5, 0, 28], []), PointFileError.UnsupportedShape).Message);
    }

    [Fact]
    public void HugeClaimsAreRefusedWithoutAllocatingThem()
    {
        // 60000 x 280 x 280 bytes claimed (4.7 GB); plain and compressed, a few bytes held.
        var claim = IdxBytes(UByte, [60000, 280, 280], [1, 2, 3]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var plain = IdxError(claim, PointFileError.Truncated);
        Assert.Equal("in.idx: truncated: sizes 60000 x 280 x 280 of unsigned bytes need 4704000000 data bytes but the file holds 3", plain.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);

        // Within Array.MaxLength values (2000 x 1000 x 1000 bytes), so the compressed reader starts reading.
        var fits = Gzip(IdxBytes(UByte, [2000, 1000, 1000], [1, 2, 3]));
        before = GC.GetAllocatedBytesForCurrentThread();
        var compressed = IdxError(fits, PointFileError.Truncated);
        Assert.Equal("in.idx: truncated: sizes 2000 x 1000 x 1000 of unsigned bytes need 2000000000 data bytes but the decompressed data holds 3", compressed.Message);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 4 << 20, $"allocated {allocated} bytes");

        var tooMany = IdxError(Gzip(IdxBytes(UByte, [65536, 65536, 1], [1])), PointFileError.TooLarge);
        Assert.Equal("in.idx: sizes 65536 x 65536 x 1 hold 4294967296 values; at most 2147483591 are supported", tooMany.Message);
    }

    [Fact]
    public void NonFiniteAndOutOfRangeValuesNameTheElement()
    {
        var nan = IdxError(IdxBytes(0x0D, [2, 2, 2], BigEndian(0x0D, 0, 1, 2, 3, 4, 5, float.NaN, 7)), PointFileError.NonFinite);
        Assert.Equal("in.idx: element [1, 1, 0]: NaN value", nan.Message);
        var big = IdxError(IdxBytes(0x0E, [3], BigEndian(0x0E, 0, 1e300, 2)), PointFileError.OutOfRange);
        Assert.Equal("in.idx: element [1]: value 1E+300 is outside the float32 range (|v| <= 3.4e38)", big.Message);
    }

    [Theory]
    [InlineData("train-images-idx3-ubyte")]
    [InlineData("train-labels-idx1-ubyte")]
    [InlineData("TRAIN-IMAGES-IDX3-UBYTE.GZ")]
    [InlineData("a.idx3-ubyte.gz")]
    [InlineData("a.idx1-ubyte")]
    [InlineData("dir.x/a.idx")]
    [InlineData("a.idx.gz")]
    public void IdxNames(string name) => Assert.Equal(PointFileFormat.Idx, PointFile.FormatOf(name));

    [Theory]
    [InlineData("a.csv.gz", "a.csv.gz: only IDX files are read gzip-compressed (.idx.gz, -idx3-ubyte.gz, -idx1-ubyte.gz); decompress it first")]
    [InlineData("a-idx4-ubyte", "a-idx4-ubyte: has no extension; point files must be .csv, .npy, .idx, -idx3-ubyte, -idx1-ubyte (IDX also .gz)")]
    [InlineData("a.idx.bak", "a.idx.bak: has unknown extension \".bak\"; point files must be .csv, .npy, .idx, -idx3-ubyte, -idx1-ubyte (IDX also .gz)")]
    [InlineData("trainidx3-ubyte", "trainidx3-ubyte: has no extension; point files must be .csv, .npy, .idx, -idx3-ubyte, -idx1-ubyte (IDX also .gz)")]
    public void NotIdxNames(string name, string message)
    {
        var e = Assert.Throws<PointFileException>(() => PointFile.FormatOf(name));
        Assert.Equal(PointFileError.UnknownFormat, e.Error);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void IdxIsReadNotWritten()
    {
        var e = Assert.Throws<PointFileException>(() => PointFile.Write(P("out-idx3-ubyte"), [1f, 2f], 2));
        Assert.Equal($"{P("out-idx3-ubyte")}: IDX files are read, not written; write .csv, .npy", e.Message);
        Assert.Throws<PointFileException>(() => PointFileWriter.Create(P("out.idx"), 2));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }
    }
}
