using System.Globalization;
using System.IO.Compression;
using CMM.Gpu.IO;

namespace CMM.Gpu.Data;

/// <summary>
/// The 8 x 8 handwritten digits (UCI "Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak, 1998,
/// CC BY 4.0; the 1,797-image copy scikit-learn ships as <c>load_digits</c>), embedded in this assembly. Each image
/// is 64 pixel values 0..16, row by row; each has its digit 0..9. The built-in dataset <c>digits</c>
/// (<see cref="Datasets.Create"/>) draws rows of it; <see cref="Load"/> gives all of them with their labels.
/// Source, citation and licence: src/CMM.Gpu/Data/Resources/DIGITS-LICENSE.md and docs/datasets.md.
/// </summary>
public sealed class DigitsData
{
    /// <summary>Images in the set.</summary>
    public const int Count = 1797;

    /// <summary>Pixel rows per image.</summary>
    public const int Height = 8;

    /// <summary>Pixels per row.</summary>
    public const int Width = 8;

    /// <summary>Values per image, <c>Height * Width</c>.</summary>
    public const int Dimension = Height * Width;

    /// <summary>The largest pixel value (pixels are the count of "on" pixels in a 4 x 4 block, 0..16).</summary>
    public const int MaxPixel = 16;

    /// <summary>SHA-256 (lower-case hex) of the embedded <c>digits.csv.gz</c>, checked before it is parsed.</summary>
    public const string Sha256 = "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a";

    internal const string ResourceName = "CMM.Gpu.Data.digits.csv.gz";

    private static readonly Lazy<DigitsData> Cached = new(Parse, LazyThreadSafetyMode.ExecutionAndPublication);

    private DigitsData(float[] pixels, int[] labels)
    {
        Pixels = pixels;
        Labels = labels;
    }

    /// <summary>The images, row-major <c>[Count, 64]</c>: image i is <c>Pixels[64 i .. 64 i + 64)</c>, its 8 rows one after the other.</summary>
    public float[] Pixels { get; }

    /// <summary>The digit (0..9) of each image, <c>Count</c> of them.</summary>
    public int[] Labels { get; }

    /// <summary>The shape of each image, 8 x 8.</summary>
    public static ImageShape ImageShape => new(Height, Width);

    /// <summary>All 1,797 images and their labels, in the order of the file (a fresh copy on every call: change it freely).</summary>
    /// <returns>Pixels <c>float[1797 * 64]</c> (values 0..16) and labels <c>int[1797]</c>.</returns>
    /// <exception cref="InvalidDataException">The embedded file is missing or damaged (a broken build; never for a released assembly).</exception>
    public static DigitsData Load()
    {
        var all = Cached.Value;
        return new DigitsData((float[])all.Pixels.Clone(), (int[])all.Labels.Clone());
    }

    /// <summary>The pixels of the images at <paramref name="rows"/>, row-major <c>[rows.Length, 64]</c>, without copying the whole set.</summary>
    internal static float[] Select(ReadOnlySpan<int> rows)
    {
        var pixels = Cached.Value.Pixels;
        var result = new float[rows.Length * Dimension];
        for (int i = 0; i < rows.Length; i++)
        {
            pixels.AsSpan(rows[i] * Dimension, Dimension).CopyTo(result.AsSpan(i * Dimension));
        }

        return result;
    }

    /// <summary>The embedded file's bytes (compressed), as shipped.</summary>
    internal static byte[] ResourceBytes() => EmbeddedData.Bytes(ResourceName);

    private static DigitsData Parse()
    {
        var bytes = EmbeddedData.Verified(ResourceName, Sha256);

        var pixels = new float[Count * Dimension];
        var labels = new int[Count];
        using var reader = new StreamReader(new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress));
        int row = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (row == Count)
            {
                throw new InvalidDataException($"the embedded {ResourceName} has more than {Count} rows");
            }

            int column = 0;
            foreach (var range in line.AsSpan().Split(','))
            {
                if (column > Dimension
                    || !int.TryParse(line.AsSpan(range), NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                    || v > (column < Dimension ? MaxPixel : 9))
                {
                    throw new InvalidDataException($"the embedded {ResourceName}: row {row + 1}, value {column + 1} is not as expected");
                }

                if (column < Dimension)
                {
                    pixels[(row * Dimension) + column] = v;
                }
                else
                {
                    labels[row] = v;
                }

                column++;
            }

            if (column != Dimension + 1)
            {
                throw new InvalidDataException($"the embedded {ResourceName}: row {row + 1} has {column} values, not {Dimension + 1}");
            }

            row++;
        }

        if (row != Count)
        {
            throw new InvalidDataException($"the embedded {ResourceName} has {row} rows, not {Count}");
        }

        return new DigitsData(pixels, labels);
    }
}
