using System.Buffers.Binary;
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
