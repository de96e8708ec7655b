using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.IO;

/// <summary>Builders for in-memory point files (the .npy builder is written from NumPy's format spec, independently of the library).</summary>
internal static class PointFiles
{
    public static PointCloud Csv(string text, string name = "in.csv") =>
        PointFile.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), PointFileFormat.Csv, name);

    public static PointCloud Npy(byte[] bytes, string name = "in.npy") =>
        PointFile.Read(new MemoryStream(bytes), PointFileFormat.Npy, name);

    public static PointFileException CsvError(string text, PointFileError expected)
    {
        var e = Assert.Throws<PointFileException>(() => Csv(text));
        Assert.Equal(expected, e.Error);
        AssertOneLine(e, "in.csv");
        return e;
    }

    public static PointFileException NpyError(byte[] bytes, PointFileError expected)
    {
        var e = Assert.Throws<PointFileException>(() => Npy(bytes));
        Assert.Equal(expected, e.Error);
        AssertOneLine(e, "in.npy");
        return e;
    }

    public static void AssertOneLine(PointFileException e, string source)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.StartsWith(source + ":", e.Message, StringComparison.Ordinal);
        Assert.Equal(source, e.Path);
    }

    /// <summary>
    /// A .npy file per the NumPy format spec: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
    /// uint32 LE for 2.0/3.0), the dict text padded with spaces so the preamble+header is a multiple of 64, then '\n'.
    /// </summary>
    public static byte[] NpyBytes(string dict, byte[] data, int major = 1)
    {
        int lenBytes = major == 1 ? 2 : 4;
        int pre = 6 + 2 + lenBytes;
        int total = pre + dict.Length + 1;
        int padded = (total + 63) / 64 * 64;
        var header = dict + new string(' ', padded - total) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        var len = new byte[lenBytes];
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length);
        }

        bytes.AddRange(len);
        bytes.AddRange(major == 3 ? Encoding.UTF8.GetBytes(header) : Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data);
        return [.. bytes];
    }

    public static string Dict(string descr, string shape, bool fortran = false) =>
        $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}";

    public static byte[] F4(params float[] values)
    {
        var b = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
        }

        return b;
    }

    public static byte[] F8(params double[] values)
    {
        var b = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), values[i]);
        }

        return b;
    }

    public static PointCloud Idx(byte[] bytes, string name = "in.idx") =>
        PointFile.Read(new MemoryStream(bytes), PointFileFormat.Idx, name);

    public static PointFileException IdxError(byte[] bytes, PointFileError expected)
    {
        var e = Assert.Throws<PointFileException>(() => Idx(bytes));
        Assert.Equal(expected, e.Error);
        AssertOneLine(e, "in.idx");
        return e;
    }

    /// <summary>
    /// An IDX file as LeCun's MNIST page describes it: bytes 0 and 1 zero, byte 2 the type code (0x08 unsigned byte,
    /// 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double), byte 3 the number of dimensions, then each
    /// size as a big-endian 32-bit integer, then the data (already big-endian).
    /// </summary>
    public static byte[] IdxBytes(byte type, uint[] sizes, byte[] data)
    {
        var b = new byte[4 + (4 * sizes.Length) + data.Length];
        b[2] = type;
        b[3] = (byte)sizes.Length;
        for (int k = 0; k < sizes.Length; k++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4 + (4 * k)), sizes[k]);
        }

        data.CopyTo(b, 4 + (4 * sizes.Length));
        return b;
    }

    /// <summary>Big-endian bytes of values of the IDX type code.</summary>
    public static byte[] BigEndian(byte type, params double[] values)
    {
        int size = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, _ => 8 };
        var b = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var s = b.AsSpan(i * size, size);
            switch (type)
            {
                case 0x08: s[0] = (byte)values[i]; break;
                case 0x09: s[0] = (byte)(sbyte)values[i]; break;
                case 0x0B: BinaryPrimitives.WriteInt16BigEndian(s, (short)values[i]); break;
                case 0x0C: BinaryPrimitives.WriteInt32BigEndian(s, (int)values[i]); break;
                case 0x0D: BinaryPrimitives.WriteSingleBigEndian(s, (float)values[i]); break;
                default: BinaryPrimitives.WriteDoubleBigEndian(s, values[i]); break;
            }
        }

        return b;
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(bytes);
        }

        return memory.ToArray();
    }

    /// <summary>Bitwise equality (so -0 and 0 differ), with the first difference named.</summary>
    public static void AssertBitsEqual(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]), $"value {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
