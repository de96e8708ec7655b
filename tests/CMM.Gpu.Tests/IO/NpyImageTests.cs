using System.Buffers.Binary;
using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

/// <summary>.npy images (n, h, w) and integer dtypes, built from NumPy's format spec independently of the reader.</summary>
public sealed class NpyImageTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-npy-img-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    [Fact]
    public void ImagesAreRowMajorPointsWithTheirShape()
    {
        // np.arange(24, dtype='<f4').reshape(2, 3, 4): image i, row r, column c holds 12 i + 4 r + c.
        var values = Enumerable.Range(0, 24).Select(v => (float)v).ToArray();
        File.WriteAllBytes(P("img.npy"), NpyBytes(Dict("<f4", "(2, 3, 4)"), F4(values)));
        var c = PointFile.Read(P("img.npy"));
        Assert.Equal(2, c.Count);
        Assert.Equal(12, c.Dimension);
        Assert.Equal(new ImageShape(3, 4), c.ImageShape);
        AssertBitsEqual(values, c.Data.Span);

        // (n, d) and (n,) stay plain points.
        Assert.Null(Npy(NpyBytes(Dict("<f4", "(2, 3)"), F4(1, 2, 3, 4, 5, 6))).ImageShape);
        Assert.Null(Npy(NpyBytes(Dict("<f4", "(2,)"), F4(1, 2))).ImageShape);
    }

    [Fact]
    public void FortranOrderImagesAreReorderedToRowMajor()
    {
        // Logical a[i, r, c] = 100 i + 10 r + c for shape (2, 3, 4), stored column-major: i fastest, then r, then c.
        const int N = 2, H = 3, W = 4;
        var stored = new float[N * H * W];
        var logical = new float[N * H * W];
        for (int i = 0; i < N; i++)
        {
            for (int r = 0; r < H; r++)
            {
                for (int c = 0; c < W; c++)
                {
                    float v = (100 * i) + (10 * r) + c;
                    stored[i + (N * r) + (N * H * c)] = v;
                    logical[(((i * H) + r) * W) + c] = v;
                }
            }
        }

        var cloud = Npy(NpyBytes(Dict("<f4", "(2, 3, 4)", fortran: true), F4(stored)));
        Assert.Equal(new ImageShape(3, 4), cloud.ImageShape);
        AssertBitsEqual(logical, cloud.Data.Span);

        // A NaN at logical [1, 2, 0] (stored at 1 + 2*2 = 5) is named logically.
        stored[5] = float.NaN;
        var e = NpyError(NpyBytes(Dict("<f4", "(2, 3, 4)", fortran: true), F4(stored)), PointFileError.NonFinite);
        Assert.Equal("in.npy: element [1, 2, 0]: NaN value", e.Message);
    }

    [Fact]
    public void Uint8ImagesRead()
    {
        byte[] pixels = [0, 1, 2, 3, 128, 200, 254, 255];
        var c = Npy(NpyBytes(Dict("|u1", "(2, 2, 2)"), pixels));
        Assert.Equal(new ImageShape(2, 2), c.ImageShape);
        Assert.Equal(pixels.Select(b => (float)b).ToArray(), c.ToArray());
    }

    public static TheoryData<string, byte[], float[]> IntegerDtypes()
    {
        static byte[] Le(int size, params long[] v)
        {
            var b = new byte[v.Length * size];
            for (int i = 0; i < v.Length; i++)
            {
                var s = b.AsSpan(i * size, size);
                switch (size)
                {
                    case 1: s[0] = (byte)v[i]; break;
                    case 2: BinaryPrimitives.WriteInt16LittleEndian(s, (short)v[i]); break;
                    case 4: BinaryPrimitives.WriteInt32LittleEndian(s, (int)v[i]); break;
                    default: BinaryPrimitives.WriteInt64LittleEndian(s, v[i]); break;
                }
            }

            return b;
        }

        return new()
        {
            { "|u1", Le(1, 0, 255), [0f, 255f] },
            { "<u1", Le(1, 7, 9), [7f, 9f] },
            { "|i1", Le(1, -128, 127), [-128f, 127f] },
            { "<u2", Le(2, 0, 0xFFFF), [0f, 65535f] },
            { "<i2", Le(2, -32768, 32767), [-32768f, 32767f] },
            { "<u4", Le(4, 0, 0xFFFFFFFF), [0f, 4294967295f] },
            { "<i4", Le(4, int.MinValue, 16_777_217), [-2147483648f, 16777216f] }, // 2^24 + 1 rounds to even
            { "<u8", Le(8, 0, -1), [0f, 18446744073709551615f] },
            { "<i8", Le(8, long.MinValue, (1L << 40) + 3), [-9223372036854775808f, 1099511627776f] },
        };
    }

    [Theory]
    [MemberData(nameof(IntegerDtypes))]
    public void IntegerDtypesBecomeTheNearestFloat32(string descr, byte[] data, float[] expected)
    {
        var c = Npy(NpyBytes(Dict(descr, "(2,)"), data));
        AssertBitsEqual(expected, c.Data.Span);
    }

    [Fact]
    public void Int64AndFloat64ImagesRead()
    {
        var ints = Npy(NpyBytes(Dict("<i8", "(1, 2, 2)"), [.. BitConverter.GetBytes(-3L), .. BitConverter.GetBytes(0L), .. BitConverter.GetBytes(5L), .. BitConverter.GetBytes(1L << 30)]));
        Assert.Equal([-3f, 0f, 5f, 1073741824f], ints.ToArray());
        Assert.Equal(new ImageShape(2, 2), ints.ImageShape);

        var doubles = Npy(NpyBytes(Dict("<f8", "(1, 1, 3)"), F8(0.1, -2, 1e-3)));
        AssertBitsEqual([0.1f, -2f, 1e-3f], doubles.Data.Span);
        Assert.Equal(new ImageShape(1, 3), doubles.ImageShape);
        var big = NpyError(NpyBytes(Dict("<f8", "(1, 1, 3)"), F8(0.1, 1e300, 1)), PointFileError.OutOfRange);
        Assert.Equal("in.npy: element [0, 0, 1]: value 1E+300 is outside the float32 range (|v| <= 3.4e38)", big.Message);
    }

    [Theory]
    [InlineData("(2, 2, 2, 2)")]
    [InlineData("(1, 1, 1, 1, 1)")]
    public void MoreThanThreeDimensionsIsAnError(string shape)
    {
        var e = NpyError(NpyBytes(Dict("|u1", shape), new byte[32]), PointFileError.UnsupportedShape);
        Assert.Equal($"in.npy: shape {shape} has more than 3 dimensions; expected (n,), (n, d) or (n, h, w) images", e.Message);
    }

    [Fact]
    public void TruncatedImageFilesAreErrorsAtEveryCut()
    {
        // Every proper prefix of a valid (2, 2, 3) uint8 file is refused, never read as fewer points.
        var bytes = NpyBytes(Dict("|u1", "(2, 2, 3)"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        for (int length = 0; length < bytes.Length; length++)
        {
            var e = Assert.Throws<PointFileException>(() => Npy(bytes[..length]));

            // Nothing; too short for the magic string and version; then cut in the header length, the header or the data.
            var expected = length == 0 ? PointFileError.Empty : length < 8 ? PointFileError.BadHeader : PointFileError.Truncated;
            Assert.True(expected == e.Error, $"length {length}: {e.Error}: {e.Message}");
            AssertOneLine(e, "in.npy");
        }

        var data = Assert.Throws<PointFileException>(() => Npy(bytes[..^5]));
        Assert.Equal("in.npy: truncated: shape (2, 2, 3) of '|u1' needs 12 data bytes but the file holds 7", data.Message);
    }
}
