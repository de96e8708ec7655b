using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;

namespace CMM.Gpu.IO;

/// <summary>
/// The IDX format MNIST is distributed in: a 4-byte magic number (two zero bytes, a data type code, the number of
/// dimensions), one big-endian uint32 size per dimension, then the values, big-endian, row-major. The file may be
/// gzip-compressed (recognised by its first two bytes, 1F 8B, whatever its name). Images (n, h, w) become points of
/// dimension h * w with their <see cref="ImageShape"/>; (n, d) and (n,) (labels) read like the same .npy shapes.
/// Sizes are never trusted: an uncompressed file's length is checked first, and compressed data are read in
/// growing chunks, so a header that claims more than the file holds never allocates its claim.
/// </summary>
internal static class IdxFormat
{
    private const string KnownTypes = "0x08 unsigned byte, 0x09 signed byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double";

    public static PointCloud Read(Stream stream, string source)
    {
        (stream, long available) = ElementReader.Seekable(stream, source);

        Span<byte> head = stackalloc byte[2];
        int got = stream.ReadAtLeast(head, 2, throwOnEndOfStream: false);
        stream.Position -= got;
        if (got < 2 || head[0] != 0x1F || head[1] != 0x8B)
        {
            return ReadContent(stream, source, compressed: false, available);
        }

        // The last 4 bytes of a complete gzip file are the decompressed size mod 2^32 (its trailer). GZipStream checks
        // the trailer's CRC when it is there but says nothing when the file ends inside it, so the size is checked here.
        Span<byte> trailer = stackalloc byte[4];
        long start = stream.Position;
        stream.Position = stream.Length - Math.Min(4, available);
        int trailerBytes = stream.ReadAtLeast(trailer, 4, throwOnEndOfStream: false);
        stream.Position = start;
        using var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
        try
        {
            uint? size = trailerBytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(trailer) : null;
            return ReadContent(gzip, source, compressed: true, length: -1, size);
        }
        catch (InvalidDataException e)
        {
            throw new PointFileException(source, PointFileError.CorruptCompression, $"{source}: the gzip data is corrupt: {e.Message.ReplaceLineEndings(" ")}", inner: e);
        }
    }

    private static PointCloud ReadContent(Stream content, string source, bool compressed, long length, uint? gzipSize = null)
    {
        string holds = compressed ? "the decompressed data holds" : "the file holds";
        Span<byte> magic = stackalloc byte[4];
        int got = content.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (got == 0)
        {
            throw Fail(source, PointFileError.Empty, "the gzip data decompresses to nothing (an empty or cut file)");
        }

        if (magic[0] != 0 || (got > 1 && magic[1] != 0))
        {
            throw Fail(source, PointFileError.BadHeader, $"not an IDX file (it starts with {Hex(magic[..got])}, not with the two zero bytes of an IDX magic number)");
        }

        if (got < 4)
        {
            throw Fail(source, PointFileError.Truncated, $"truncated: {holds} {got} byte{(got == 1 ? "" : "s")}, less than the 4-byte IDX magic number");
        }

        var magicText = Hex(magic);
        var (type, typeName) = magic[2] switch
        {
            0x08 => (ElementType.UInt8, "unsigned bytes"),
            0x09 => (ElementType.Int8, "signed bytes"),
            0x0B => (ElementType.Int16, "shorts"),
            0x0C => (ElementType.Int32, "ints"),
            0x0D => (ElementType.Float32, "floats"),
            0x0E => (ElementType.Float64, "doubles"),
            _ => throw Fail(source, PointFileError.UnsupportedDtype, $"unknown IDX data type 0x{magic[2]:X2} in the magic number {magicText}; known types: {KnownTypes}"),
        };

        int rank = magic[3];
        if (rank is 0 or > 3)
        {
            throw Fail(source, PointFileError.UnsupportedShape, $"the magic number {magicText} announces {rank} dimensions; expected 1 (labels), 2 or 3 (n x h x w images)");
        }

        int headerBytes = 4 + (4 * rank);
        Span<byte> sizeBytes = stackalloc byte[4 * rank];
        got = content.ReadAtLeast(sizeBytes, sizeBytes.Length, throwOnEndOfStream: false);
        if (got < sizeBytes.Length)
        {
            throw Fail(source, PointFileError.Truncated, $"truncated: the magic number {magicText} announces a header of {headerBytes} bytes but {holds} {4 + got}");
        }

        var shape = new long[rank];
        for (int k = 0; k < rank; k++)
        {
            shape[k] = BinaryPrimitives.ReadUInt32BigEndian(sizeBytes[(4 * k)..]);
        }

        var sizes = string.Join(" x ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture)));
        if (shape[0] == 0)
        {
            throw Fail(source, PointFileError.Empty, $"no data items (sizes {sizes})");
        }

        if (shape.Skip(1).Any(s => s == 0))
        {
            throw Fail(source, PointFileError.UnsupportedShape, $"sizes {sizes} have zero values per item");
        }

        int itemSize = ElementReader.SizeOf(type);
        var product = shape.Aggregate(BigInteger.One, (p, s) => p * s);
        var needed = product * itemSize;
        if (!compressed)
        {
            long dataBytes = length - headerBytes;
            if (needed > dataBytes)
            {
                throw Fail(source, PointFileError.Truncated, $"truncated: sizes {sizes} of {typeName} need {needed} data bytes but {holds} {dataBytes}");
            }

            if (needed < dataBytes)
            {
                throw Fail(source, PointFileError.TrailingData, $"{dataBytes - needed} bytes follow the data that sizes {sizes} of {typeName} describe");
            }
        }

        long dim = rank == 1 ? 1 : (long)(product / shape[0]);
        if (product > Array.MaxLength || dim > int.MaxValue)
        {
            throw Fail(source, PointFileError.TooLarge, $"sizes {sizes} hold {product} values; at most {Array.MaxLength} are supported");
        }

        long count = (long)product;
        var (data, elements, bytes) = ElementReader.Read(
            content, count, type, bigEndian: true, initialCapacity: compressed ? 1 << 16 : count,
            (at, v) => Fail(source, PointFileError.OutOfRange, $"element {ElementReader.IndexText(at, shape, false)}: value {v.ToString("G6", CultureInfo.InvariantCulture)} is outside the float32 range (|v| <= 3.4e38)"));
        if (elements < count)
        {
            throw Fail(source, PointFileError.Truncated, $"truncated: sizes {sizes} of {typeName} need {needed} data bytes but {holds} {bytes}");
        }

        if (compressed && content.ReadByte() >= 0)
        {
            throw Fail(source, PointFileError.TrailingData, $"the decompressed data continues after the {needed} data bytes that sizes {sizes} of {typeName} describe");
        }

        long total = headerBytes + (long)needed;
        if (compressed && gzipSize != (uint)total)
        {
            throw Fail(source, PointFileError.CorruptCompression, $"cut or damaged gzip file: the size in its trailer (the last 4 bytes) is {gzipSize?.ToString(CultureInfo.InvariantCulture) ?? "missing"}, not the {total} bytes decompressed (concatenated gzip members are not supported)");
        }

        if (ElementReader.IsFloat(type) && ElementReader.FirstNonFinite(data) is var bad and >= 0)
        {
            var kind = float.IsNaN(data[bad]) ? "NaN value" : "infinite value";
            throw Fail(source, PointFileError.NonFinite, $"element {ElementReader.IndexText(bad, shape, false)}: {kind}");
        }

        ImageShape? image = rank == 3 ? new ImageShape((int)shape[1], (int)shape[2]) : null;
        return PointCloud.Wrap(data, (int)dim, source, image);
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => "0x" + Convert.ToHexString(bytes);

    private static PointFileException Fail(string source, PointFileError error, string problem) =>
        new(source, error, $"{source}: {problem}");
}
