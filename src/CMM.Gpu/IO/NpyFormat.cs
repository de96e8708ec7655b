using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace CMM.Gpu.IO;

/// <summary>
/// The NumPy <c>.npy</c> format (versions 1.0, 2.0, 3.0): magic <c>\x93NUMPY</c>, version bytes, a little-endian
/// header length (uint16 for 1.0, uint32 for 2.0/3.0), then a Python dict literal with 'descr', 'fortran_order'
/// and 'shape', padded with spaces and ended by '\n', then the raw data.
/// Reading never allocates more than the file holds: sizes from the header are checked against the stream length first.
/// </summary>
internal static class NpyFormat
{
    /// <summary>Largest header this reader accepts (NumPy's own default limit is 10000 bytes).</summary>
    public const int MaxHeaderLength = 1 << 16;

    /// <summary>Total size of the preamble + header <see cref="PointFileWriter"/> reserves, so the row count can be rewritten in place.</summary>
    public const int ReservedHeaderSize = 128;

    /// <summary>The dtypes read, for messages.</summary>
    private const string DtypesRead = "only little-endian float32 '<f4', float64 '<f8' and integers ('|u1', '|i1', '<u2', '<i2', '<u4', '<i4', '<u8', '<i8')";

    /// <summary>The shapes read, for messages.</summary>
    private const string ShapesRead = "(n,), (n, d) or (n, h, w) images";

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static PointCloud Read(Stream stream, string source)
    {
        (stream, _) = ElementReader.Seekable(stream, source);

        Span<byte> pre = stackalloc byte[12];
        int got = ReadAtMost(stream, pre[..8]);
        if (got < 8 || !pre[..6].SequenceEqual(Magic))
        {
            throw Fail(source, PointFileError.BadHeader, "not a .npy file (it does not start with the \\x93NUMPY magic string)");
        }

        byte major = pre[6], minor = pre[7];
        int lengthBytes = major switch
        {
            1 => 2,
            2 or 3 => 4,
            _ => 0,
        };
        if (lengthBytes == 0 || minor != 0)
        {
            throw Fail(source, PointFileError.BadHeader, $"unsupported .npy format version {major}.{minor} (this reader knows 1.0, 2.0 and 3.0)");
        }

        if (ReadAtMost(stream, pre[..lengthBytes]) < lengthBytes)
        {
            throw Fail(source, PointFileError.Truncated, "the file ends inside the .npy preamble");
        }

        long headerLength = lengthBytes == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(pre) : BinaryPrimitives.ReadUInt32LittleEndian(pre);
        long afterPreamble = stream.Length - stream.Position;
        if (headerLength > afterPreamble)
        {
            throw Fail(source, PointFileError.Truncated, $"the header length field says {headerLength} bytes but only {afterPreamble} follow");
        }

        if (headerLength > MaxHeaderLength)
        {
            throw Fail(source, PointFileError.BadHeader, $"header of {headerLength} bytes is implausibly long (limit {MaxHeaderLength})");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var text = major == 3 ? new UTF8Encoding(false, false).GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        var header = Header.Parse(text, source);

        var type = DtypeOf(header.Descr) ?? throw UnsupportedDtype(source, header.Descr);
        int itemSize = ElementReader.SizeOf(type);

        var shape = header.Shape;
        if (shape.Length == 0)
        {
            throw Fail(source, PointFileError.UnsupportedShape, $"shape {ShapeText(shape)} is not supported; expected {ShapesRead}");
        }

        if (shape.Length > 3)
        {
            throw Fail(source, PointFileError.UnsupportedShape, $"shape {ShapeText(shape)} has more than 3 dimensions; expected {ShapesRead}");
        }

        long rows = shape[0];
        if (rows == 0)
        {
            throw Fail(source, PointFileError.Empty, $"no data rows (shape {ShapeText(shape)})");
        }

        if (shape.Skip(1).Any(s => s == 0))
        {
            var what = shape.Length == 2 ? "zero columns" : "zero values per image";
            throw Fail(source, PointFileError.UnsupportedShape, $"shape {ShapeText(shape)} has {what}");
        }

        var needed = shape.Aggregate(System.Numerics.BigInteger.One, (p, s) => p * s) * itemSize;
        long dataBytes = stream.Length - stream.Position;
        if (needed > dataBytes)
        {
            throw Fail(source, PointFileError.Truncated, $"truncated: shape {ShapeText(shape)} of '{header.Descr}' needs {needed} data bytes but the file holds {dataBytes}");
        }

        if (needed < dataBytes)
        {
            throw Fail(source, PointFileError.TrailingData, $"{dataBytes - needed} bytes follow the data that shape {ShapeText(shape)} of '{header.Descr}' describes");
        }

        long count = (long)(needed / itemSize); // fits: needed <= file length
        long dim = count / rows;
        if (count > Array.MaxLength || dim > int.MaxValue)
        {
            throw Fail(source, PointFileError.TooLarge, $"shape {ShapeText(shape)} holds {count} values; at most {Array.MaxLength} are supported");
        }

        bool fortran = header.FortranOrder && shape.Length >= 2;
        float[] data;
        try
        {
            (data, long read, _) = ElementReader.Read(
                stream, count, type, bigEndian: false, initialCapacity: count,
                (at, v) => Fail(source, PointFileError.OutOfRange, $"element {ElementReader.IndexText(at, shape, fortran)}: value {v.ToString("G6", CultureInfo.InvariantCulture)} is outside the float32 range (|v| <= 3.4e38)"));
            if (read < count)
            {
                throw new EndOfStreamException();
            }
        }
        catch (EndOfStreamException e)
        {
            throw new PointFileException(source, PointFileError.Truncated, $"{source}: truncated: the data ends early", inner: e);
        }

        if (fortran)
        {
            data = ElementReader.FortranToRowMajor(data, shape);
        }

        if (ElementReader.IsFloat(type) && ElementReader.FirstNonFinite(data) is var bad and >= 0)
        {
            var kind = float.IsNaN(data[bad]) ? "NaN value" : "infinite value";
            throw Fail(source, PointFileError.NonFinite, $"element {ElementReader.IndexText(bad, shape, false)}: {kind}");
        }

        ImageShape? image = shape.Length == 3 ? new ImageShape((int)shape[1], (int)shape[2]) : null;
        return PointCloud.Wrap(data, (int)dim, source, image);
    }

    /// <summary>Writes the preamble and header for float32 data of shape (rows, dimension), padded to exactly <paramref name="totalSize"/> bytes.</summary>
    public static void WriteHeader(Stream stream, long rows, int dimension, int totalSize = ReservedHeaderSize)
    {
        var dict = string.Create(CultureInfo.InvariantCulture, $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dimension}), }}");
        int unpadded = Magic.Length + 4 + dict.Length + 1;
        if (unpadded > totalSize || totalSize > ushort.MaxValue)
        {
            throw new InvalidOperationException($"npy header needs {unpadded} bytes but {totalSize} were reserved");
        }

        Span<byte> buffer = stackalloc byte[totalSize];
        buffer.Fill((byte)' ');
        Magic.CopyTo(buffer);
        buffer[6] = 1;
        buffer[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[8..], (ushort)(totalSize - 10));
        Encoding.ASCII.GetBytes(dict, buffer[10..]);
        buffer[totalSize - 1] = (byte)'\n';
        stream.Write(buffer);
    }

    private static string ShapeText(long[] shape) => shape.Length == 1
        ? $"({shape[0]},)"
        : "(" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + ")";

    /// <summary>The element type of a dtype this reader knows (little-endian floats and integers; one-byte integers in any byte order), or null.</summary>
    private static ElementType? DtypeOf(string descr) => descr switch
    {
        "<f4" => ElementType.Float32,
        "<f8" => ElementType.Float64,
        "|u1" or "<u1" or ">u1" => ElementType.UInt8,
        "|i1" or "<i1" or ">i1" => ElementType.Int8,
        "<u2" => ElementType.UInt16,
        "<i2" => ElementType.Int16,
        "<u4" => ElementType.UInt32,
        "<i4" => ElementType.Int32,
        "<u8" => ElementType.UInt64,
        "<i8" => ElementType.Int64,
        _ => null,
    };

    private static PointFileException UnsupportedDtype(string source, string descr)
    {
        var q = Text.Quote(descr);
        if (descr.Length == 3 && descr[0] == '>' && descr[1] is 'f' or 'i' or 'u')
        {
            return Fail(source, PointFileError.UnsupportedDtype, $"big-endian dtype {q} is not supported; save little-endian float32 or float64, e.g. arr.astype('<f4')");
        }

        return Fail(source, PointFileError.UnsupportedDtype, $"unsupported dtype {q}; {DtypesRead} are supported (convert with arr.astype('<f4'))");
    }

    private static int ReadAtMost(Stream stream, Span<byte> buffer) => stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);

    private static PointFileException Fail(string source, PointFileError error, string problem) =>
        new(source, error, $"{source}: {problem}");

    /// <summary>The parsed header dictionary.</summary>
    private sealed record Header(string Descr, bool FortranOrder, long[] Shape)
    {
        /// <summary>Parses the Python dict literal NumPy writes (strings, True/False, tuples of ints; trailing commas allowed).</summary>
        public static Header Parse(string text, string source)
        {
            var p = new Parser(text, source);
            return p.ParseHeader();
        }
    }

    private sealed class Parser(string text, string source)
    {
        private int pos;

        public Header ParseHeader()
        {
            string? descr = null;
            bool? fortran = null;
            long[]? shape = null;
            SkipSpace();
            Expect('{');
            while (true)
            {
                SkipSpace();
                if (Peek() == '}')
                {
                    pos++;
                    break;
                }

                var key = ParseString();
                SkipSpace();
                Expect(':');
                SkipSpace();
                switch (key)
                {
                    case "descr":
                        if (Peek() == '[')
                        {
                            throw Fail(source, PointFileError.UnsupportedDtype, $"structured dtypes are not supported; {DtypesRead} are");
                        }

                        descr = ParseString();
                        break;
                    case "fortran_order":
                        fortran = ParseBool();
                        break;
                    case "shape":
                        shape = ParseShape();
                        break;
                    default:
                        throw Bad($"unexpected key {Text.Quote(key)} in the header (NumPy writes only 'descr', 'fortran_order' and 'shape')");
                }

                SkipSpace();
                if (Peek() == ',')
                {
                    pos++;
                    continue;
                }

                Expect('}');
                break;
            }

            SkipSpace();
            if (pos != text.Length)
            {
                throw Bad("unexpected text after the header dictionary");
            }

            if (descr is null || fortran is null || shape is null)
            {
                var missing = descr is null ? "descr" : fortran is null ? "fortran_order" : "shape";
                throw Bad($"the header lacks '{missing}'");
            }

            return new Header(descr, fortran.Value, shape);
        }

        private char Peek() => pos < text.Length ? text[pos] : '\0';

        private void SkipSpace()
        {
            while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
            {
                pos++;
            }
        }

        private void Expect(char c)
        {
            if (Peek() != c)
            {
                throw Bad($"expected '{c}' at header offset {pos}");
            }

            pos++;
        }

        private string ParseString()
        {
            char q = Peek();
            if (q != '\'' && q != '"')
            {
                throw Bad($"expected a quoted string at header offset {pos}");
            }

            int end = text.IndexOf(q, pos + 1);
            if (end < 0)
            {
                throw Bad("unterminated string in the header");
            }

            var s = text.Substring(pos + 1, end - pos - 1);
            pos = end + 1;
            return s;
        }

        private bool ParseBool()
        {
            if (string.CompareOrdinal(text, pos, "True", 0, 4) == 0)
            {
                pos += 4;
                return true;
            }

            if (string.CompareOrdinal(text, pos, "False", 0, 5) == 0)
            {
                pos += 5;
                return false;
            }

            throw Bad($"'fortran_order' must be True or False (header offset {pos})");
        }

        private long[] ParseShape()
        {
            Expect('(');
            var dims = new List<long>();
            while (true)
            {
                SkipSpace();
                if (Peek() == ')')
                {
                    pos++;
                    break;
                }

                int start = pos;
                while (pos < text.Length && char.IsAsciiDigit(text[pos]))
                {
                    pos++;
                }

                if (pos == start)
                {
                    throw Bad($"'shape' must be a tuple of non-negative integers (header offset {pos})");
                }

                if (!long.TryParse(text.AsSpan(start, pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out var dim))
                {
                    throw Fail(source, PointFileError.TooLarge, $"shape dimension {Text.Quote(text.AsSpan(start, pos - start))} is too large");
                }

                if (Peek() == 'L')
                {
                    pos++; // Python 2 long suffix
                }

                if (dims.Count >= 32)
                {
                    throw Fail(source, PointFileError.UnsupportedShape, $"shape has more than 32 dimensions; expected {ShapesRead}");
                }

                dims.Add(dim);
                SkipSpace();
                if (Peek() == ',')
                {
                    pos++;
                    continue;
                }

                Expect(')');
                break;
            }

            return [.. dims];
        }

        private PointFileException Bad(string problem) => Fail(source, PointFileError.BadHeader, $"malformed .npy header: {problem}");
    }
}
