using System.Globalization;
using System.Runtime.InteropServices;

namespace CMM.Gpu.IO;

/// <summary>
/// Streams points to a <c>.csv</c> or <c>.npy</c> file chunk by chunk, with memory independent of the number of rows.
/// Everything goes to a hidden temporary file next to the destination (see <see cref="AtomicFile"/>);
/// <see cref="Complete"/> fixes the .npy header's row count, flushes to disk and renames the file into place.
/// Disposing without <see cref="Complete"/> deletes the temporary file, so an interrupted run leaves no output.
/// </summary>
/// <remarks>
/// The .npy header is written first with room reserved for any row count: it is padded with spaces to a fixed
/// 128 bytes (the longest possible header, a 19-digit row count and a 10-digit dimension, needs 97), and
/// <see cref="Complete"/> seeks back and rewrites it with the final count in the same 128 bytes.
/// A writer is not thread-safe: append from one thread at a time.
/// </remarks>
public sealed class PointFileWriter : IDisposable
{
    private readonly FileStream stream;
    private readonly string fullPath;
    private readonly string tempPath;
    private byte[] textBuffer = [];
    private bool completed;
    private bool disposed;

    private PointFileWriter(string path, PointFileFormat format, int dimension, FileStream stream, string fullPath, string tempPath)
    {
        Path = path;
        Format = format;
        Dimension = dimension;
        this.stream = stream;
        this.fullPath = fullPath;
        this.tempPath = tempPath;
    }

    /// <summary>The destination.</summary>
    public string Path { get; }

    /// <summary>The format chosen from the destination's extension.</summary>
    public PointFileFormat Format { get; }

    /// <summary>Values per point.</summary>
    public int Dimension { get; }

    /// <summary>Rows appended so far.</summary>
    public long Count { get; private set; }

    /// <summary>Starts writing <paramref name="path"/> (format by extension) through a temporary file.</summary>
    /// <param name="path">Destination ending in <c>.csv</c> or <c>.npy</c>.</param>
    /// <param name="dimension">Values per point (d &gt;= 1).</param>
    /// <returns>The writer; call <see cref="Append"/>, then <see cref="Complete"/>, and dispose it.</returns>
    /// <exception cref="PointFileException">Unknown extension, or an IDX name (<see cref="PointFile.OutputFormatOf"/>).</exception>
    /// <exception cref="IOException">The destination directory does not exist, is not writable, or the path is a directory.</exception>
    public static PointFileWriter Create(string path, int dimension)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var format = PointFile.OutputFormatOf(path);
        var stream = AtomicFile.CreateTemporary(path, out var full, out var temp);
        var writer = new PointFileWriter(path, format, dimension, stream, full, temp);
        try
        {
            if (format == PointFileFormat.Npy)
            {
                NpyFormat.WriteHeader(stream, 0, dimension);
            }
        }
        catch
        {
            writer.Dispose();
            throw;
        }

        return writer;
    }

    /// <summary>Appends whole rows (row-major; the length must be a multiple of <see cref="Dimension"/>).</summary>
    /// <param name="rows">The values; all finite.</param>
    /// <exception cref="ArgumentException">Length not a multiple of d, or a non-finite value (nothing of this call is written).</exception>
    /// <exception cref="InvalidOperationException">After <see cref="Complete"/>.</exception>
    public void Append(ReadOnlySpan<float> rows)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed)
        {
            throw new InvalidOperationException($"{Path}: already completed; create a new writer to write more");
        }

        if (rows.Length % Dimension != 0)
        {
            throw new ArgumentException($"rows has {rows.Length} values, not a multiple of d = {Dimension}", nameof(rows));
        }

        PointFile.RequireFinite(rows, nameof(rows), Dimension, Count * Dimension);
        if (Format == PointFileFormat.Npy)
        {
            if (BitConverter.IsLittleEndian)
            {
                stream.Write(MemoryMarshal.AsBytes(rows));
            }
            else
            {
                Span<byte> b = stackalloc byte[4];
                foreach (var v in rows)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, v);
                    stream.Write(b);
                }
            }
        }
        else
        {
            WriteCsvRows(rows);
        }

        Count += rows.Length / Dimension;
    }

    /// <summary>Finishes the file: fixes the .npy row count, flushes to disk and renames it into place.</summary>
    /// <exception cref="InvalidOperationException">No rows were appended (a point file holds at least one point).</exception>
    /// <exception cref="IOException">The rename failed (the temporary file is deleted).</exception>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed)
        {
            return;
        }

        if (Count == 0)
        {
            throw new InvalidOperationException($"{Path}: no rows were appended; a point file holds at least one point");
        }

        if (Format == PointFileFormat.Npy)
        {
            stream.Position = 0;
            NpyFormat.WriteHeader(stream, Count, Dimension);
        }

        stream.Flush(flushToDisk: true);
        stream.Dispose();
        try
        {
            AtomicFile.Commit(Path, tempPath, fullPath);
        }
        catch
        {
            AtomicFile.TryDelete(tempPath);
            disposed = true;
            throw;
        }

        completed = true;
    }

    /// <summary>Closes the writer; without <see cref="Complete"/> the temporary file is deleted and the destination is untouched.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        if (!completed)
        {
            stream.Dispose();
            AtomicFile.TryDelete(tempPath);
        }
    }

    private void WriteCsvRows(ReadOnlySpan<float> rows)
    {
        // A float needs at most 15 UTF-8 bytes in round-trip form ("-1.17549435E-38"); 16 with the separator.
        int needed = rows.Length * 16;
        int chunkValues = Math.Max(Dimension, (1 << 16) / 16 / Dimension * Dimension);
        if (textBuffer.Length < Math.Min(needed, chunkValues * 16))
        {
            textBuffer = new byte[Math.Min(needed, chunkValues * 16)];
        }

        int pos = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            if (pos + 16 > textBuffer.Length)
            {
                stream.Write(textBuffer, 0, pos);
                pos = 0;
            }

            if (!rows[i].TryFormat(textBuffer.AsSpan(pos), out int written, "R", CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException("float did not fit its text buffer");
            }

            pos += written;
            textBuffer[pos++] = (byte)((i + 1) % Dimension == 0 ? '\n' : ',');
        }

        stream.Write(textBuffer, 0, pos);
    }
}
