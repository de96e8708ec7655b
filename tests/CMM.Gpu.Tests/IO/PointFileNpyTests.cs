using System.Buffers.Binary;
using System.Text;
using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

public sealed class PointFileNpyTests
{
    /// <summary>
    /// np.save(f, np.array([[1, 2], [3, 4.5]], dtype='&lt;f4')) written out byte by byte from the format spec:
    /// magic, version 1.0, header length 118 (uint16 LE), the dict padded to 128 bytes in all with spaces and '\n'.
    /// </summary>
    internal static byte[] HandWrittenFixture()
    {
        var bytes = new List<byte> { 0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00 };
        const string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        bytes.AddRange(Encoding.ASCII.GetBytes(dict));
        bytes.AddRange(Enumerable.Repeat((byte)' ', 128 - 10 - dict.Length - 1));
        bytes.Add((byte)'\n');
        bytes.AddRange([0x00, 0x00, 0x80, 0x3F]); // 1.0f
        bytes.AddRange([0x00, 0x00, 0x00, 0x40]); // 2.0f
        bytes.AddRange([0x00, 0x00, 0x40, 0x40]); // 3.0f
        bytes.AddRange([0x00, 0x00, 0x90, 0x40]); // 4.5f
        return [.. bytes];
    }

    [Fact]
    public void HandWrittenFixtureMatchesTheSpec()
    {
        var bytes = HandWrittenFixture();
        Assert.Equal(128 + 16, bytes.Length);
        Assert.Equal((byte)'\n', bytes[127]);
        var c = Npy(bytes);
        Assert.Equal(2, c.Count);
        Assert.Equal(2, c.Dimension);
        AssertBitsEqual([1f, 2f, 3f, 4.5f], c.Data.Span);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadsAllFormatVersions(int major)
    {
        var c = Npy(NpyBytes(Dict("<f4", "(3, 1)"), F4(1, 2, 3), major));
        Assert.Equal(3, c.Count);
        Assert.Equal(1, c.Dimension);
        AssertBitsEqual([1f, 2f, 3f], c.Data.Span);
    }

    [Fact]
    public void OneDimensionalShapeMeansDOne()
    {
        var c = Npy(NpyBytes(Dict("<f4", "(4,)"), F4(4, 3, 2, 1)));
        Assert.Equal(4, c.Count);
        Assert.Equal(1, c.Dimension);
        AssertBitsEqual([4f, 3f, 2f, 1f], c.Data.Span);
    }

    [Fact]
    public void Float64IsConvertedToFloat32()
    {
        double[] v = [0.1, -2.5, 1e-3, 123456.789, 1e30, -0.0];
        var c = Npy(NpyBytes(Dict("<f8", "(3, 2)"), F8(v)));
        Assert.Equal(3, c.Count);
        Assert.Equal(2, c.Dimension);
        AssertBitsEqual(v.Select(x => (float)x).ToArray(), c.Data.Span);
    }

    [Fact]
    public void Float64OneDimensional()
    {
        var c = Npy(NpyBytes(Dict("<f8", "(2,)"), F8(1.5, -7)));
        Assert.Equal(1, c.Dimension);
        AssertBitsEqual([1.5f, -7f], c.Data.Span);
    }

    [Fact]
    public void FortranOrderIsTransposedToRowMajor()
    {
        // [[0, 1, 2], [3, 4, 5]] stored column by column: 0 3 1 4 2 5.
        var c = Npy(NpyBytes(Dict("<f4", "(2, 3)", fortran: true), F4(0, 3, 1, 4, 2, 5)));
        AssertBitsEqual([0f, 1f, 2f, 3f, 4f, 5f], c.Data.Span);
        var d = Npy(NpyBytes(Dict("<f8", "(2, 3)", fortran: true), F8(0, 3, 1, 4, 2, 5)));
        AssertBitsEqual([0f, 1f, 2f, 3f, 4f, 5f], d.Data.Span);
    }

    [Theory]
    [InlineData("{'shape': (2, 1), 'fortran_order': False, 'descr': '<f4'}")]
    [InlineData("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L, 1L)}")]
    [InlineData("{'descr':'<f4','fortran_order':False,'shape':(2,1),}")]
    public void HeaderDictVariantsParse(string dict)
    {
        var c = Npy(NpyBytes(dict, F4(5, 6)));
        AssertBitsEqual([5f, 6f], c.Data.Span);
    }

    [Fact]
    public void NotNpyAtAll()
    {
        var e = NpyError(Encoding.ASCII.GetBytes("1,2\n3,4\n"), PointFileError.BadHeader);
        Assert.Equal("in.npy: not a .npy file (it does not start with the \\x93NUMPY magic string)", e.Message);
    }

    [Fact]
    public void EmptyNpy()
    {
        var e = NpyError([], PointFileError.Empty);
        Assert.Equal("in.npy: the file is empty", e.Message);
    }

    [Fact]
    public void UnknownVersion()
    {
        var b = NpyBytes(Dict("<f4", "(1,)"), F4(1));
        b[6] = 4;
        var e = NpyError(b, PointFileError.BadHeader);
        Assert.Contains("unsupported .npy format version 4.0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BigEndianIsRejectedWithAFix()
    {
        var e = NpyError(NpyBytes(Dict(">f4", "(1,)"), [0x3F, 0x80, 0, 0]), PointFileError.UnsupportedDtype);
        Assert.Equal("in.npy: big-endian dtype \">f4\" is not supported; save little-endian float32 or float64, e.g. arr.astype('<f4')", e.Message);
    }

    [Theory]
    [InlineData("<f2")]
    [InlineData(">i8")]
    [InlineData("|b1")]
    [InlineData("<c8")]
    [InlineData("=f4")]
    public void OtherDtypesAreRejected(string descr)
    {
        var e = NpyError(NpyBytes(Dict(descr, "(1,)"), new byte[8]), PointFileError.UnsupportedDtype);
        var expected = descr[0] == '>'
            ? $"big-endian dtype \"{descr}\" is not supported"
            : $"unsupported dtype \"{descr}\"; only little-endian float32 '<f4', float64 '<f8' and integers ('|u1', '|i1', '<u2', '<i2', '<u4', '<i4', '<u8', '<i8') are supported";
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StructuredDtypeIsRejected()
    {
        var e = NpyError(NpyBytes("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", F4(1)), PointFileError.UnsupportedDtype);
        Assert.Contains("structured dtypes are not supported", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("()", "shape () is not supported; expected (n,), (n, d) or (n, h, w) images")]
    [InlineData("(1, 1, 1, 1)", "shape (1, 1, 1, 1) has more than 3 dimensions; expected (n,), (n, d) or (n, h, w) images")]
    [InlineData("(1, 0)", "shape (1, 0) has zero columns")]
    [InlineData("(1, 2, 0)", "shape (1, 2, 0) has zero values per image")]
    public void UnsupportedShapes(string shape, string expected)
    {
        var e = NpyError(NpyBytes(Dict("<f4", shape), F4(1)), PointFileError.UnsupportedShape);
        Assert.Equal("in.npy: " + expected, e.Message);
    }

    [Fact]
    public void ZeroRowsIsEmpty()
    {
        var e = NpyError(NpyBytes(Dict("<f4", "(0, 3)"), []), PointFileError.Empty);
        Assert.Equal("in.npy: no data rows (shape (0, 3))", e.Message);
    }

    [Fact]
    public void TruncatedDataIsReportedWithoutAllocatingTheClaimedSize()
    {
        // The header claims 10^9 x 3 float32 (12 GB); the file holds 8 bytes of data.
        var bytes = NpyBytes(Dict("<f4", "(1000000000, 3)"), F4(1, 2));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = NpyError(bytes, PointFileError.Truncated);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal("in.npy: truncated: shape (1000000000, 3) of '<f4' needs 12000000000 data bytes but the file holds 8", e.Message);
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void OneMissingByteIsTruncated()
    {
        var bytes = NpyBytes(Dict("<f8", "(2, 2)"), F8(1, 2, 3, 4));
        var e = NpyError(bytes[..^1], PointFileError.Truncated);
        Assert.Contains("needs 32 data bytes but the file holds 31", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AbsurdShapeIsTruncatedNotAnOverflow()
    {
        var e = NpyError(NpyBytes(Dict("<f8", "(9223372036854775807, 9223372036854775807)"), F8(1)), PointFileError.Truncated);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShapeBeyondInt64IsTooLarge()
    {
        var e = NpyError(NpyBytes(Dict("<f4", "(99999999999999999999,)"), F4(1)), PointFileError.TooLarge);
        Assert.Contains("too large", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsTruncated()
    {
        var bytes = NpyBytes(Dict("<f4", "(1,)"), F4(1));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 60000);
        var e = NpyError(bytes, PointFileError.Truncated);
        Assert.Contains("header length field says 60000 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrailingBytesAreRejected()
    {
        var bytes = NpyBytes(Dict("<f4", "(1,)"), F4(1, 2));
        var e = NpyError(bytes, PointFileError.TrailingData);
        Assert.Equal("in.npy: 4 bytes follow the data that shape (1,) of '<f4' describes", e.Message);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'shape': (1,), }", "the header lacks 'fortran_order'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "unexpected key \"x\"")]
    [InlineData("{'descr': '<f4', 'fortran_order': Nope, 'shape': (1,)}", "'fortran_order' must be True or False")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "'shape' must be a tuple of non-negative integers")]
    [InlineData("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "malformed .npy header")]
    [InlineData("['descr']", "expected '{'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", "unexpected text after the header dictionary")]
    public void MalformedHeaders(string dict, string expected)
    {
        var e = NpyError(NpyBytes(dict, F4(1)), PointFileError.BadHeader);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NaNNamesTheElement()
    {
        var e = NpyError(NpyBytes(Dict("<f4", "(2, 3)"), F4(0, 1, 2, 3, float.NaN, 5)), PointFileError.NonFinite);
        Assert.Equal("in.npy: element [1, 1]: NaN value", e.Message);
    }

    [Fact]
    public void InfinityNamesTheElementIn1D()
    {
        var e = NpyError(NpyBytes(Dict("<f8", "(3,)"), F8(0, 1, double.NegativeInfinity)), PointFileError.NonFinite);
        Assert.Equal("in.npy: element [2]: infinite value", e.Message);
    }

    [Fact]
    public void NaNInFortranOrderNamesTheLogicalElement()
    {
        // logical [[0, 1, 2], [3, NaN, 5]] stored column-major: 0 3 1 NaN 2 5
        var e = NpyError(NpyBytes(Dict("<f4", "(2, 3)", fortran: true), F4(0, 3, 1, float.NaN, 2, 5)), PointFileError.NonFinite);
        Assert.Equal("in.npy: element [1, 1]: NaN value", e.Message);
    }

    [Fact]
    public void Float64BeyondFloat32RangeIsOutOfRange()
    {
        var e = NpyError(NpyBytes(Dict("<f8", "(2, 2)"), F8(0, 1, 2, 1e300)), PointFileError.OutOfRange);
        Assert.Equal("in.npy: element [1, 1]: value 1E+300 is outside the float32 range (|v| <= 3.4e38)", e.Message);
    }

    [Fact]
    public void NonSeekableStreamsWork()
    {
        var c = PointFile.Read(new ForwardOnlyStream(HandWrittenFixture()), PointFileFormat.Npy, "pipe");
        AssertBitsEqual([1f, 2f, 3f, 4.5f], c.Data.Span);
        var e = Assert.Throws<PointFileException>(() => PointFile.Read(new ForwardOnlyStream(HandWrittenFixture()[..^2]), PointFileFormat.Npy, "pipe"));
        Assert.Equal(PointFileError.Truncated, e.Error);
    }

    private sealed class ForwardOnlyStream(byte[] bytes) : MemoryStream(bytes)
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
