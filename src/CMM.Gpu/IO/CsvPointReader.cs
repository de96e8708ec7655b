using System.Globalization;
using System.Text;

namespace CMM.Gpu.IO;

/// <summary>
/// Reads comma-separated points: one point per line, an optional first line of column names, '#' comment
/// lines and blank lines skipped, invariant culture, any line ending (LF, CRLF, CR). See docs/file-formats.md.
/// </summary>
internal static class CsvPointReader
{
    public static PointCloud Read(Stream stream, string source)
    {
        using var reader = new StreamReader(stream, new UTF8Encoding(false, false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        var values = new List<float>();
        int columns = 0;
        long columnsLine = 0;
        bool header = false;
        bool sawContent = false;
        long lineNo = 0;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            lineNo++;
            var span = line.AsSpan().Trim();
            if (span.IsEmpty || span[0] == '#')
            {
                continue;
            }

            int fields = CountFields(span);
            if (!sawContent)
            {
                sawContent = true;
                if (IsHeader(span))
                {
                    header = true;
                    columns = fields;
                    columnsLine = lineNo;
                    continue;
                }
            }

            if (columns == 0)
            {
                columns = fields;
                columnsLine = lineNo;
            }
            else if (fields != columns)
            {
                var where = header ? $"as in the header on line {columnsLine}" : $"as on line {columnsLine}";
                throw Fail(source, PointFileError.Ragged, lineNo, null, $"expected {columns} columns ({where}), got {fields}");
            }

            if ((long)values.Count + fields > Array.MaxLength)
            {
                throw Fail(source, PointFileError.TooLarge, lineNo, null, $"more than {Array.MaxLength} values; split the file");
            }

            int column = 0;
            foreach (var range in span.Split(','))
            {
                column++;
                values.Add(ParseValue(span[range].Trim(), source, lineNo, column, firstContent: !header && lineNo == columnsLine));
            }
        }

        if (values.Count == 0)
        {
            var why = lineNo == 0 ? "the file is empty" : header ? "only a header line" : "only blank or comment lines";
            throw new PointFileException(source, PointFileError.Empty, $"{source}: no data rows ({why})");
        }

        return PointCloud.Wrap(values.ToArray(), columns, source);
    }

    private static int CountFields(ReadOnlySpan<char> line) => line.Count(',') + 1;

    /// <summary>A header line has no empty field and no field that reads as a number (NaN/inf words count as numbers).</summary>
    private static bool IsHeader(ReadOnlySpan<char> line)
    {
        foreach (var range in line.Split(','))
        {
            var f = line[range].Trim();
            if (f.IsEmpty || IsNanWord(f) || IsInfWord(f) || float.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                return false;
            }
        }

        return true;
    }

    private static float ParseValue(ReadOnlySpan<char> f, string source, long line, int column, bool firstContent)
    {
        if (f.IsEmpty)
        {
            throw Fail(source, PointFileError.NonNumeric, line, column, "empty value");
        }

        if (IsNanWord(f))
        {
            throw Fail(source, PointFileError.NonFinite, line, column, $"NaN value {Text.Quote(f)}");
        }

        if (IsInfWord(f))
        {
            throw Fail(source, PointFileError.NonFinite, line, column, $"infinite value {Text.Quote(f)}");
        }

        if (!float.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
        {
            var hint = f.IndexOfAny(";\t ") >= 0 ? " (fields must be separated by commas)"
                : firstContent ? " (a header line must have no numeric fields)"
                : string.Empty;
            throw Fail(source, PointFileError.NonNumeric, line, column, $"not a number: {Text.Quote(f)}{hint}");
        }

        if (float.IsNaN(v))
        {
            throw Fail(source, PointFileError.NonFinite, line, column, $"NaN value {Text.Quote(f)}");
        }

        if (float.IsInfinity(v))
        {
            throw Fail(source, PointFileError.OutOfRange, line, column, $"value {Text.Quote(f)} is outside the float32 range (|v| <= 3.4e38)");
        }

        return v;
    }

    private static bool IsNanWord(ReadOnlySpan<char> f)
    {
        if (f.Length > 0 && (f[0] == '+' || f[0] == '-'))
        {
            f = f[1..];
        }

        return f.Equals("nan", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsInfWord(ReadOnlySpan<char> f)
    {
        if (f.Length > 0 && (f[0] == '+' || f[0] == '-'))
        {
            f = f[1..];
        }

        return f.Equals("inf", StringComparison.OrdinalIgnoreCase) || f.Equals("infinity", StringComparison.OrdinalIgnoreCase) || f.SequenceEqual("\u221E");
    }

    private static PointFileException Fail(string source, PointFileError error, long line, int? column, string problem)
    {
        var where = column is int c ? $"line {line}, column {c}" : $"line {line}";
        return new PointFileException(source, error, $"{source}: {where}: {problem}", line, column);
    }
}

/// <summary>Small helpers for one-line messages.</summary>
internal static class Text
{
    /// <summary>Quotes a snippet of file content for a message: at most 32 characters, control characters escaped.</summary>
    public static string Quote(ReadOnlySpan<char> s)
    {
        var sb = new StringBuilder("\"");
        int n = Math.Min(s.Length, 32);
        for (int i = 0; i < n; i++)
        {
            char c = s[i];
            if (char.IsControl(c) || char.IsSurrogate(c) || c == '\u2028' || c == '\u2029')
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                sb.Append(c);
            }
        }

        if (s.Length > n)
        {
            sb.Append("...");
        }

        return sb.Append('"').ToString();
    }
}
