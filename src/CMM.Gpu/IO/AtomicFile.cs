namespace CMM.Gpu.IO;

/// <summary>
/// Writes files so that readers never see a half-written file: the content goes to a temporary file
/// in the same directory, is flushed to disk, then renamed over the destination. On failure the
/// temporary file is removed and the destination is left untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> atomically through <paramref name="write"/>.</summary>
    /// <param name="path">The destination.</param>
    /// <param name="write">Writes the whole content to the stream it is given.</param>
    /// <exception cref="IOException">The directory does not exist or is not writable (message names the path).</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(write);
        var stream = CreateTemporary(path, out var full, out var temp);
        try
        {
            using (stream)
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            Commit(path, temp, full);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes text atomically (UTF-8, no byte-order mark).</summary>
    /// <param name="path">The destination.</param>
    /// <param name="text">The content.</param>
    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write(text);
        });

    /// <summary>
    /// Opens a new, uniquely named hidden temporary file next to <paramref name="path"/> (same directory,
    /// so the final rename stays on one file system). The caller writes it, flushes it to disk, closes it,
    /// then calls <see cref="Commit"/>, or <see cref="TryDelete"/> on any failure.
    /// </summary>
    internal static FileStream CreateTemporary(string path, out string fullPath, out string tempPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        fullPath = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(dir))
        {
            throw new IOException($"cannot write '{path}': directory '{dir}' does not exist");
        }

        if (Directory.Exists(fullPath))
        {
            throw new IOException($"cannot write '{path}': it is a directory");
        }

        tempPath = Path.Combine(dir, "." + Path.GetFileName(fullPath) + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            return new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot write '{path}': permission denied", e);
        }
    }

    /// <summary>Renames the finished temporary file over the destination.</summary>
    internal static void Commit(string path, string tempPath, string fullPath)
    {
        try
        {
            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot write '{path}': permission denied", e);
        }
    }

    /// <summary>Deletes a temporary file, ignoring failures (its name is unique and hidden).</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // best effort: the temporary name is unique and hidden
        }
        catch (UnauthorizedAccessException)
        {
            // best effort
        }
    }
}
