namespace CMM.Gpu.IO;

/// <summary>
/// Reads point clouds from <c>.csv</c>, <c>.npy</c> and IDX files and writes <c>.csv</c> or <c>.npy</c>, chosen by the
/// file name (<see cref="FormatOf"/>). Every problem with an
/// input file is a <see cref="PointFileException"/> whose message is one line naming the file, the line or element,
/// and the problem; see docs/file-formats.md for the rules and messages.
/// </summary>
public static class PointFile
{
    /// <summary>The extensions this class reads, for messages.</summary>
    public const string SupportedExtensions = ".csv, .npy, .idx, -idx3-ubyte, -idx1-ubyte (IDX also .gz)";

    /// <summary>The extensions this class writes, for messages.</summary>
    public const string WritableExtensions = ".csv, .npy";

    private static readonly System.Text.RegularExpressions.Regex IdxName = new(
        @"(?:\.idx|(?:^|[.-])idx[1-3]-ubyte)(?:\.gz)?$",
        System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>Reads the points in <paramref name="path"/> (format from the name, case-insensitive; see <see cref="FormatOf"/>).</summary>
    /// <param name="path">A <c>.csv</c>, <c>.npy</c> or IDX file.</param>
    /// <returns>The points, row-major float32.</returns>
    /// <exception cref="PointFileException">The file is missing, a directory, of unknown extension, unreadable or invalid.</exception>
    public static PointCloud Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Directory.Exists(path))
        {
            throw new PointFileException(path, PointFileError.IsDirectory, $"{path}: is a directory, not a point file");
        }

        var format = FormatOf(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PointFileException(path, PointFileError.NotFound, $"{path}: file not found", inner: e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new PointFileException(path, PointFileError.Unreadable, $"{path}: permission denied", inner: e);
        }
        catch (IOException e)
        {
            throw new PointFileException(path, PointFileError.Unreadable, $"{path}: cannot open: {OneLine(e.Message)}", inner: e);
        }

        using (stream)
        {
            return Read(stream, format, path);
        }
    }

    /// <summary>Reads points from a stream (for tests and in-memory data).</summary>
    /// <param name="stream">The content; read from its current position to its end.</param>
    /// <param name="format">How to parse it.</param>
    /// <param name="sourceName">The name messages use for this content (a file name).</param>
    /// <returns>The points, row-major float32.</returns>
    /// <exception cref="PointFileException">The content is invalid or cannot be read.</exception>
    public static PointCloud Read(Stream stream, PointFileFormat format, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        try
        {
            return format switch
            {
                PointFileFormat.Csv => CsvPointReader.Read(stream, sourceName),
                PointFileFormat.Npy => NpyFormat.Read(stream, sourceName),
                PointFileFormat.Idx => IdxFormat.Read(stream, sourceName),
                _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown point file format"),
            };
        }
        catch (IOException e) when (e is not PointFileException)
        {
            throw new PointFileException(sourceName, PointFileError.Unreadable, $"{sourceName}: read error: {OneLine(e.Message)}", inner: e);
        }
    }

    /// <summary>The format a path's name gives, case-insensitively.</summary>
    /// <param name="path">A file path.</param>
    /// <returns><see cref="PointFileFormat.Csv"/> for <c>.csv</c>, <see cref="PointFileFormat.Npy"/> for <c>.npy</c>,
    /// <see cref="PointFileFormat.Idx"/> for <c>.idx</c>, <c>-idx3-ubyte</c>, <c>-idx1-ubyte</c> (also <c>.idx3-ubyte</c>,
    /// <c>idx2</c>), each optionally followed by <c>.gz</c>.</returns>
    /// <exception cref="PointFileException">Any other name (<see cref="PointFileError.UnknownFormat"/>).</exception>
    public static PointFileFormat FormatOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var ext = Path.GetExtension(path);
        if (ext.Equals(".csv", StringComparison.OrdinalIgnoreCase))
        {
            return PointFileFormat.Csv;
        }

        if (ext.Equals(".npy", StringComparison.OrdinalIgnoreCase))
        {
            return PointFileFormat.Npy;
        }

        if (IdxName.IsMatch(Path.GetFileName(path)))
        {
            return PointFileFormat.Idx;
        }

        if (ext.Equals(".gz", StringComparison.OrdinalIgnoreCase))
        {
            throw new PointFileException(path, PointFileError.UnknownFormat, $"{path}: only IDX files are read gzip-compressed (.idx.gz, -idx3-ubyte.gz, -idx1-ubyte.gz); decompress it first");
        }

        var what = ext.Length == 0 ? "has no extension" : $"has unknown extension {Text.Quote(ext)}";
        throw new PointFileException(path, PointFileError.UnknownFormat, $"{path}: {what}; point files must be {SupportedExtensions}");
    }

    /// <summary>The format a point file written to <paramref name="path"/> gets: <see cref="FormatOf"/>, limited to the formats written.</summary>
    /// <param name="path">A destination path.</param>
    /// <returns><see cref="PointFileFormat.Csv"/> or <see cref="PointFileFormat.Npy"/>.</returns>
    /// <exception cref="PointFileException">An unknown name, or an IDX name (IDX files are read, not written), as <see cref="PointFileError.UnknownFormat"/>.</exception>
    public static PointFileFormat OutputFormatOf(string path)
    {
        var format = FormatOf(path);
        if (format == PointFileFormat.Idx)
        {
            throw new PointFileException(path, PointFileError.UnknownFormat, $"{path}: IDX files are read, not written; write {WritableExtensions}");
        }

        return format;
    }

    /// <summary>
    /// Writes <paramref name="data"/> (row-major <c>[n, dimension]</c>) to <paramref name="path"/> as CSV (shortest
    /// round-trip text, no header) or .npy (float32, shape (n, d)) by extension, atomically (temporary file, then rename).
    /// </summary>
    /// <param name="path">Destination ending in <c>.csv</c> or <c>.npy</c>.</param>
    /// <param name="data">The values; finite, at least one row, length a multiple of <paramref name="dimension"/>.</param>
    /// <param name="dimension">Values per point (d &gt;= 1).</param>
    /// <exception cref="ArgumentException">Bad dimension, empty or ragged data, or a non-finite value (named by index).</exception>
    /// <exception cref="PointFileException">Unknown extension, or an IDX name (<see cref="OutputFormatOf"/>).</exception>
    /// <exception cref="IOException">The destination directory does not exist or is not writable.</exception>
    public static void Write(string path, ReadOnlySpan<float> data, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (data.IsEmpty)
        {
            throw new ArgumentException("nothing to write: data is empty (point files hold at least one point)", nameof(data));
        }

        if (data.Length % dimension != 0)
        {
            throw new ArgumentException($"data has {data.Length} values, not a multiple of d = {dimension}", nameof(data));
        }

        RequireFinite(data, nameof(data), dimension);
        using var writer = PointFileWriter.Create(path, dimension);
        writer.Append(data);
        writer.Complete();
    }

    /// <summary>Writes a point cloud; see <see cref="Write(string, ReadOnlySpan{float}, int)"/>.</summary>
    /// <param name="path">Destination ending in <c>.csv</c> or <c>.npy</c>.</param>
    /// <param name="cloud">The points.</param>
    public static void Write(string path, PointCloud cloud)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        Write(path, cloud.Data.Span, cloud.Dimension);
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first non-finite value.</summary>
    internal static void RequireFinite(ReadOnlySpan<float> data, string paramName, int dimension = 0, long offset = 0)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if (!float.IsFinite(data[i]))
            {
                long at = offset + i;
                var where = dimension > 0 ? $" (row {at / dimension}, column {at % dimension})" : string.Empty;
                throw new ArgumentException($"{paramName}[{at}]{where} is {data[i]}; point files hold finite values only", paramName);
            }
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}
