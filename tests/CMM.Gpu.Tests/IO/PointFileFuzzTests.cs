using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using CMM.Gpu.IO;
using FsCheck.Xunit;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

/// <summary>
/// Bounded property-based fuzzing (FsCheck): random and mutated inputs into the readers must either parse into a
/// consistent, finite point cloud or throw <see cref="PointFileException"/>; any other exception fails the property,
/// and so does allocating far more than the input holds. A few hundred cases each keep the class under a few seconds;
/// a failure prints FsCheck's Replay seed.
/// </summary>
public sealed class PointFileFuzzTests
{
    private const int Cases = 400;

    private static readonly byte[] ValidNpyF4 = NpyBytes(Dict("<f4", "(5, 3)"), F4([.. PointFileTests.AwkwardValues(15, 1)]));
    private static readonly byte[] ValidNpyF8 = NpyBytes(Dict("<f8", "(4,)", fortran: true), F8(1, -2.5, 1e-300, 7), major: 2);
    private static readonly string ValidCsv = "x,y,z\r\n" + string.Join("\n", Enumerable.Range(0, 6).Select(i =>
        string.Join(",", PointFileTests.AwkwardValues(3, i).Select(v => v.ToString("R", CultureInfo.InvariantCulture))))) + "\n# end\n\n";

    private static readonly byte[] ValidIdxImages = IdxBytes(0x08, [3, 2, 3], [.. Enumerable.Range(0, 18).Select(i => (byte)(i * 14))]);
    private static readonly byte[] ValidIdxDoubles = IdxBytes(0x0E, [2, 2], BigEndian(0x0E, 1, -2.5, 1e-300, 7));

    private static readonly string[] HeaderTokens =
    [
        "{", "}", "(", ")", ",", ":", " ", "\n", "'descr'", "'fortran_order'", "'shape'", "'<f4'", "'<f8'", "'>f4'",
        "True", "False", "0", "1", "3", "2L", "99999999999999999999", "4294967296", "'", "\"", "[", "]", "-", "'x'", "\0",
    ];

    private const string CsvAlphabet = "0123456789,,,\n\n\r.-+eEnaifNIy# \t;\"x\0\u00e9\uFFFD";

    [Property(MaxTest = Cases)]
    public void RandomBytesIntoCsv(byte[] bytes) => MustParseOrReject(bytes, PointFileFormat.Csv);

    [Property(MaxTest = Cases)]
    public void RandomBytesIntoNpy(byte[] bytes) => MustParseOrReject(bytes, PointFileFormat.Npy);

    [Property(MaxTest = Cases)]
    public void RandomBytesAfterTheNpyMagic(byte[] bytes, bool version2)
    {
        byte[] magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', version2 ? (byte)2 : (byte)1, 0];
        MustParseOrReject([.. magic, .. bytes ?? []], PointFileFormat.Npy);
    }

    [Property(MaxTest = Cases)]
    public void MutatedNpy(int[] positions, byte[] values, int cut, bool wide)
    {
        var bytes = (byte[])(wide ? ValidNpyF8 : ValidNpyF4).Clone();
        Mutate(bytes, positions, values, headerBias: 128);
        MustParseOrReject(Cut(bytes, cut), PointFileFormat.Npy);
    }

    [Property(MaxTest = Cases)]
    public void HeaderTokenSoup(int[] choices, byte major, byte[] data)
    {
        var dict = string.Concat((choices ?? []).Select(c => HeaderTokens[(int)((uint)c % HeaderTokens.Length)]));
        var m = (major % 4) + 1; // versions 1..4; 4 is unsupported
        var bytes = NpyBytes(dict, data ?? [], m == 4 ? 1 : m);
        if (m == 4)
        {
            bytes[6] = 4;
        }

        MustParseOrReject(bytes, PointFileFormat.Npy);
    }

    [Property(MaxTest = Cases)]
    public void ShapeAndLengthFieldsLie(uint headerLength, ulong rows, ulong cols, bool wide)
    {
        var dict = Dict(wide ? "<f8" : "<f4", $"({rows}, {cols})");
        var bytes = NpyBytes(dict, F4(1, 2, 3, 4, 5, 6));
        if ((headerLength & 1) == 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
        }

        MustParseOrReject(bytes, PointFileFormat.Npy);
    }

    [Property(MaxTest = Cases)]
    public void RandomBytesIntoIdx(byte[] bytes) => MustParseOrReject(bytes, PointFileFormat.Idx);

    [Property(MaxTest = Cases)]
    public void MutatedIdx(int[] positions, byte[] values, int cut, bool wide, bool gzip)
    {
        var bytes = (byte[])(wide ? ValidIdxDoubles : ValidIdxImages).Clone();
        if (gzip)
        {
            bytes = Gzip(bytes);
        }

        Mutate(bytes, positions, values, headerBias: gzip ? bytes.Length : 16);
        MustParseOrReject(Cut(bytes, cut), PointFileFormat.Idx, compressed: gzip);
    }

    [Property(MaxTest = Cases)]
    public void IdxSizesLie(uint n, uint h, uint w, byte type, byte rank, bool gzip)
    {
        byte t = (byte)(type % 8) switch { 0 => 0x08, 1 => 0x09, 2 => 0x0B, 3 => 0x0C, 4 => 0x0D, 5 => 0x0E, 6 => 0x0A, _ => type };
        uint[] sizes = ((rank % 5) switch { 0 => [], 1 => [n], 2 => [n, h], 3 => [n, h, w], _ => [n, h, w, 2] });
        var bytes = IdxBytes(t, sizes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        MustParseOrReject(gzip ? Gzip(bytes) : bytes, PointFileFormat.Idx, compressed: gzip);
    }

    [Property(MaxTest = Cases)]
    public void MutatedCsv(int[] positions, int[] chars, int cut)
    {
        var text = ValidCsv.ToCharArray();
        var ps = positions ?? [];
        var cs = chars ?? [];
        for (int i = 0; i < Math.Min(ps.Length, cs.Length); i++)
        {
            text[(int)((uint)ps[i] % text.Length)] = CsvAlphabet[(int)((uint)cs[i] % CsvAlphabet.Length)];
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        MustParseOrReject(Cut(bytes, cut), PointFileFormat.Csv);
    }

    [Property(MaxTest = Cases)]
    public void CsvFromTheAlphabet(int[] chars)
    {
        var text = string.Concat((chars ?? []).Select(c => CsvAlphabet[(int)((uint)c % CsvAlphabet.Length)]));
        MustParseOrReject(Encoding.UTF8.GetBytes(text), PointFileFormat.Csv);
    }

    private static void Mutate(byte[] bytes, int[]? positions, byte[]? values, int headerBias)
    {
        var ps = positions ?? [];
        var vs = values ?? [];
        for (int i = 0; i < Math.Min(ps.Length, vs.Length); i++)
        {
            // Half the mutations land in the preamble/header, where the parser's decisions are.
            int range = (i & 1) == 0 ? Math.Min(headerBias, bytes.Length) : bytes.Length;
            bytes[(int)((uint)ps[i] % range)] = vs[i];
        }
    }

    private static byte[] Cut(byte[] bytes, int cut) => cut > 0 ? bytes[..(cut % (bytes.Length + 1))] : bytes;

    /// <summary>Compressed input may decompress to more than it holds, up to what its header claims; 4 MiB bounds the chunks read before a lie shows.</summary>
    private static void MustParseOrReject(byte[]? input, PointFileFormat format, bool compressed = false)
    {
        input ??= [];
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            var c = PointFile.Read(new MemoryStream(input), format, "fuzz");
            Assert.True(c.Count >= 1 && c.Dimension >= 1);
            Assert.Equal((long)c.Count * c.Dimension, c.Data.Length);
            foreach (var v in c.Data.Span)
            {
                Assert.True(float.IsFinite(v));
            }
        }
        catch (PointFileException e)
        {
            Assert.DoesNotContain('\n', e.Message);
            Assert.StartsWith("fuzz: ", e.Message, StringComparison.Ordinal);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < (compressed ? 4 << 20 : 1 << 20) + (64L * input.Length), $"reading {input.Length} bytes allocated {allocated}");
    }
}
