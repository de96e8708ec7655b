namespace CMM.Gpu.IO;

/// <summary>What was wrong with a point file (see docs/file-formats.md for each rule).</summary>
public enum PointFileError
{
    /// <summary>The file does not exist.</summary>
    NotFound,

    /// <summary>The path names a directory, not a file.</summary>
    IsDirectory,

    /// <summary>The name is not that of a point file (<see cref="PointFile.SupportedExtensions"/>), or names a format that is read but not written (IDX).</summary>
    UnknownFormat,

    /// <summary>The file could not be opened or read (permissions, I/O error).</summary>
    Unreadable,

    /// <summary>The file holds no data rows.</summary>
    Empty,

    /// <summary>A CSV field is not a number, or is empty.</summary>
    NonNumeric,

    /// <summary>A value is NaN or infinite.</summary>
    NonFinite,

    /// <summary>A finite value is outside the float32 range (|v| &gt; 3.4e38).</summary>
    OutOfRange,

    /// <summary>A CSV row has a different number of columns than the first row.</summary>
    Ragged,

    /// <summary>The .npy magic string, version or header dictionary is malformed, or an IDX file does not start with two zero bytes.</summary>
    BadHeader,

    /// <summary>The .npy dtype is not one of the little-endian floats or integers read (docs/file-formats.md), or the IDX data type code is unknown.</summary>
    UnsupportedDtype,

    /// <summary>The .npy or IDX shape is not (n,), (n, d) or (n, h, w), or has a zero dimension after n.</summary>
    UnsupportedShape,

    /// <summary>The .npy or IDX data (or header) is shorter than its header says.</summary>
    Truncated,

    /// <summary>The .npy or IDX file has bytes after the data its header describes.</summary>
    TrailingData,

    /// <summary>The file holds more values than one array can (about 2^31).</summary>
    TooLarge,

    /// <summary>A gzip-compressed file's compressed data is corrupt.</summary>
    CorruptCompression,

    /// <summary>A declared image shape (<c>HxW</c>) does not match the number of values per point.</summary>
    ImageShapeMismatch,
}

/// <summary>
/// A point file could not be read. <see cref="Exception.Message"/> is one line that names the file,
/// the line (CSV) or element (.npy) where known, and the problem. It derives from <see cref="IOException"/>
/// (<see cref="InvalidDataException"/> is sealed).
/// </summary>
public sealed class PointFileException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The file (or stream source name).</param>
    /// <param name="error">The kind of problem.</param>
    /// <param name="message">One line naming the file and the problem.</param>
    /// <param name="line">1-based CSV line, if known.</param>
    /// <param name="column">1-based CSV column, if known.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public PointFileException(string path, PointFileError error, string message, long? line = null, int? column = null, Exception? inner = null)
        : base(message, inner)
    {
        Path = path;
        Error = error;
        Line = line;
        Column = column;
    }

    /// <summary>Creates the exception with only a message (for serializers and analyzers).</summary>
    public PointFileException()
        : this(string.Empty, PointFileError.Unreadable, "point file could not be read")
    {
    }

    /// <summary>Creates the exception with only a message.</summary>
    /// <param name="message">The message.</param>
    public PointFileException(string message)
        : this(string.Empty, PointFileError.Unreadable, message)
    {
    }

    /// <summary>Creates the exception with only a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public PointFileException(string message, Exception innerException)
        : this(string.Empty, PointFileError.Unreadable, message, null, null, innerException)
    {
    }

    /// <summary>The file (or stream source name) that was being read.</summary>
    public string Path { get; }

    /// <summary>The kind of problem.</summary>
    public PointFileError Error { get; }

    /// <summary>1-based CSV line of the problem, or null.</summary>
    public long? Line { get; }

    /// <summary>1-based CSV column of the problem, or null.</summary>
    public int? Column { get; }
}
