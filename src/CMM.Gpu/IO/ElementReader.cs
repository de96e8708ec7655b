using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;

namespace CMM.Gpu.IO;

/// <summary>The element types the binary readers (.npy, IDX) convert to float32.</summary>
internal enum ElementType
{
    UInt8,
    Int8,
    UInt16,
    Int16,
    UInt32,
    Int32,
    UInt64,
    Int64,
    Float32,
    Float64,
}

/// <summary>
/// Reads raw binary arrays of an <see cref="ElementType"/> into float32, in storage order, chunk by chunk: integers
/// become the nearest float32 (exact up to 2^24), float64 is rounded, a finite float64 beyond the float32 range is
/// reported. Shared by <see cref="NpyFormat"/> and <see cref="IdxFormat"/>, with the helpers that name elements.
/// </summary>
internal static class ElementReader
{
    private const int ChunkBytes = 1 << 16;

    /// <summary>
    /// The stream made seekable (a non-seekable one is copied: the copy holds exactly what the stream held, so sizes can
    /// then be checked before any allocation) and the bytes left in it; an empty stream is a <see cref="PointFileError.Empty"/>.
    /// </summary>
    /// <param name="stream">The input, at the start of the file.</param>
    /// <param name="source">The file name, for the message.</param>
    /// <returns>A seekable stream at the same position, and the bytes available from there.</returns>
    public static (Stream Stream, long Available) Seekable(Stream stream, string source)
    {
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }

        long available = stream.Length - stream.Position;
        if (available <= 0)
        {
            throw new PointFileException(source, PointFileError.Empty, $"{source}: the file is empty");
        }

        return (stream, available);
    }

    public static int SizeOf(ElementType type) => type switch
    {
        ElementType.UInt8 or ElementType.Int8 => 1,
        ElementType.UInt16 or ElementType.Int16 => 2,
        ElementType.UInt32 or ElementType.Int32 or ElementType.Float32 => 4,
        _ => 8,
    };

    public static bool IsFloat(ElementType type) => type is ElementType.Float32 or ElementType.Float64;

    /// <summary>
    /// Reads up to <paramref name="count"/> elements. The array grows as data arrives (doubling from at most
    /// <paramref name="initialCapacity"/>), so a header that claims more than the stream holds never allocates the claim.
    /// </summary>
    /// <param name="stream">Positioned at the first element.</param>
    /// <param name="count">Elements the header announces.</param>
    /// <param name="type">Their type.</param>
    /// <param name="bigEndian">Byte order of multi-byte elements.</param>
    /// <param name="initialCapacity">Elements to allocate at first (pass <paramref name="count"/> when the stream is known to hold them).</param>
    /// <param name="outOfRange">Builds the error for the first finite float64 beyond the float32 range, given its storage index and value.</param>
    /// <returns>The values (exactly <paramref name="count"/> of them unless the stream ended early) and the bytes read.</returns>
    public static (float[] Data, long Elements, long Bytes) Read(Stream stream, long count, ElementType type, bool bigEndian, long initialCapacity, Func<long, double, Exception> outOfRange)
    {
        int size = SizeOf(type);
        var data = new float[Math.Min(count, Math.Max(initialCapacity, 1))];
        var buffer = new byte[ChunkBytes];
        long done = 0, bytes = 0;
        int carry = 0; // bytes of a partial element left at the start of the buffer
        while (done < count)
        {
            int want = (int)Math.Min(ChunkBytes - carry, ((count - done) * size) - carry);
            int got = stream.ReadAtLeast(buffer.AsSpan(carry, want), want, throwOnEndOfStream: false);
            bytes += got;
            int available = carry + got;
            int n = available / size;
            if (done + n > data.Length)
            {
                Array.Resize(ref data, (int)Math.Min(count, Math.Max(done + n, Math.Min((long)data.Length * 2, Array.MaxLength))));
            }

            Convert(buffer.AsSpan(0, n * size), data.AsSpan((int)done, n), type, bigEndian, done, outOfRange);
            done += n;
            carry = available - (n * size);
            if (got < want)
            {
                break;
            }

            buffer.AsSpan(n * size, carry).CopyTo(buffer);
        }

        if (done < data.Length)
        {
            Array.Resize(ref data, (int)done);
        }

        return (data, done, bytes);
    }

    /// <summary>Storage index of the first NaN or infinity, or -1.</summary>
    public static long FirstNonFinite(float[] data)
    {
        for (long i = 0; i < data.Length; i++)
        {
            if (!float.IsFinite(data[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Reorders column-major (Fortran) data of <paramref name="shape"/> into row-major.</summary>
    public static float[] FortranToRowMajor(float[] columnMajor, long[] shape)
    {
        int rank = shape.Length;
        if (rank < 2)
        {
            return columnMajor;
        }

        // Column-major strides: axis 0 varies fastest.
        var stride = new long[rank];
        stride[0] = 1;
        for (int k = 1; k < rank; k++)
        {
            stride[k] = stride[k - 1] * shape[k - 1];
        }

        var result = new float[columnMajor.Length];
        var index = new long[rank];
        long source = 0;
        for (long flat = 0; flat < result.Length; flat++)
        {
            result[flat] = columnMajor[source];

            // Advance the row-major odometer (last axis fastest), keeping the column-major offset in step.
            for (int k = rank - 1; k >= 0; k--)
            {
                index[k]++;
                source += stride[k];
                if (index[k] < shape[k])
                {
                    break;
                }

                source -= stride[k] * shape[k];
                index[k] = 0;
            }
        }

        return result;
    }

    /// <summary>The element at storage index <paramref name="flat"/> as NumPy indexes it: <c>[i]</c>, <c>[i, j]</c>, <c>[i, r, c]</c>.</summary>
    public static string IndexText(long flat, long[] shape, bool columnMajor)
    {
        var index = new long[shape.Length];
        if (columnMajor)
        {
            for (int k = 0; k < shape.Length; k++)
            {
                index[k] = flat % shape[k];
                flat /= shape[k];
            }
        }
        else
        {
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                index[k] = flat % shape[k];
                flat /= shape[k];
            }
        }

        return "[" + string.Join(", ", index.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]";
    }

    private static void Convert(ReadOnlySpan<byte> src, Span<float> dst, ElementType type, bool bigEndian, long offset, Func<long, double, Exception> outOfRange)
    {
        switch (type)
        {
            case ElementType.UInt8:
                for (int i = 0; i < dst.Length; i++)
                {
                    dst[i] = src[i];
                }

                break;
            case ElementType.Int8:
                for (int i = 0; i < dst.Length; i++)
                {
                    dst[i] = (sbyte)src[i];
                }

                break;
            case ElementType.UInt16:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(2 * i, 2);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
                }

                break;
            case ElementType.Int16:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(2 * i, 2);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadInt16BigEndian(s) : BinaryPrimitives.ReadInt16LittleEndian(s);
                }

                break;
            case ElementType.UInt32:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(4 * i, 4);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
                }

                break;
            case ElementType.Int32:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(4 * i, 4);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadInt32BigEndian(s) : BinaryPrimitives.ReadInt32LittleEndian(s);
                }

                break;
            case ElementType.UInt64:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(8 * i, 8);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s);
                }

                break;
            case ElementType.Int64:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(8 * i, 8);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadInt64BigEndian(s) : BinaryPrimitives.ReadInt64LittleEndian(s);
                }

                break;
            case ElementType.Float32:
                src.CopyTo(MemoryMarshal.AsBytes(dst));
                if (bigEndian == BitConverter.IsLittleEndian)
                {
                    var asInts = MemoryMarshal.Cast<float, int>(dst);
                    BinaryPrimitives.ReverseEndianness(asInts, asInts);
                }

                break;
            case ElementType.Float64:
                for (int i = 0; i < dst.Length; i++)
                {
                    var s = src.Slice(8 * i, 8);
                    double v = bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(s) : BinaryPrimitives.ReadDoubleLittleEndian(s);
                    if (double.IsFinite(v) && Math.Abs(v) > float.MaxValue)
                    {
                        throw outOfRange(offset + i, v);
                    }

                    dst[i] = (float)v;
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "unknown element type");
        }
    }
}
