using System.Security.Cryptography;
using CMM.Gpu.Data;
using CMM.Gpu.IO;
using CMM.Gpu.Tests.Docs;

namespace CMM.Gpu.Tests.Data;

/// <summary>The embedded 8x8 digits: the file is the one scikit-learn ships, and <c>digits</c> draws rows of it.</summary>
public sealed class DigitsDataTests
{
    /// <summary>sha256sum of sklearn/datasets/data/digits.csv.gz (scikit-learn 1.2.1), the file embedded.</summary>
    private const string ExpectedSha256 = "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a";

    [Fact]
    public void EmbeddedFileIsScikitLearnsByteForByte()
    {
        var bytes = DigitsData.ResourceBytes();
        Assert.Equal(57_512, bytes.Length);
        Assert.Equal(ExpectedSha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal(ExpectedSha256, DigitsData.Sha256);

        // The file in the repository, and the sha256 its licence note gives, are the same.
        var resources = Repository.PathOf("src", "CMM.Gpu", "Data", "Resources");
        Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(resources, "digits.csv.gz")));
        var note = File.ReadAllText(Path.Combine(resources, "DIGITS-LICENSE.md"));
        Assert.Contains(ExpectedSha256, note, StringComparison.Ordinal);
        Assert.Contains("CC BY 4.0", note, StringComparison.Ordinal);
        Assert.Contains("BSD-3-Clause", note, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadGivesEveryImageWithItsLabel()
    {
        var digits = DigitsData.Load();
        Assert.Equal(1797, DigitsData.Count);
        Assert.Equal(1797 * 64, digits.Pixels.Length);
        Assert.Equal(1797, digits.Labels.Length);
        Assert.Equal(new ImageShape(8, 8), DigitsData.ImageShape);
        Assert.All(digits.Pixels, v => Assert.True(v >= 0 && v <= 16 && v == MathF.Round(v), $"pixel {v}"));
        Assert.Equal(0f, digits.Pixels.Min());
        Assert.Equal(16f, digits.Pixels.Max());

        // scikit-learn's class counts: np.bincount(load_digits().target).
        int[] expected = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
        Assert.Equal(expected, Enumerable.Range(0, 10).Select(d => digits.Labels.Count(l => l == d)).ToArray());

        // The first row of the file: 0,0,5,13,9,1,0,0, ... ,0 then label 0.
        Assert.Equal([0f, 0f, 5f, 13f, 9f, 1f, 0f, 0f], digits.Pixels[..8]);
        Assert.Equal(0, digits.Labels[0]);
        Assert.Equal(8, digits.Labels[^1]);
    }

    [Fact]
    public void LoadReturnsCopiesTheCallerMayChange()
    {
        var a = DigitsData.Load();
        a.Pixels[0] = 99;
        a.Labels[0] = 99;
        var b = DigitsData.Load();
        Assert.Equal(0f, b.Pixels[0]);
        Assert.Equal(0, b.Labels[0]);
    }

    [Fact]
    public void DatasetDrawsDistinctRowsBySeed()
    {
        var all = DigitsData.Load();
        var images = Enumerable.Range(0, 1797).Select(i => string.Join(',', all.Pixels.AsSpan(i * 64, 64).ToArray())).ToHashSet(StringComparer.Ordinal);

        var ds = Datasets.Create("digits", 300, seed: 5);
        Assert.Equal("digits", ds.Name);
        Assert.Equal(64, ds.Dimension);
        Assert.Equal(300, ds.Count);
        Assert.Equal(new ImageShape(8, 8), ds.ImageShape);
        Assert.Equal(64, Datasets.DimensionOf("digits"));
        Assert.Equal(1797, Datasets.MaxCount("digits"));
        Assert.Equal(new ImageShape(8, 8), Datasets.ImageShapeOf("digits"));
        Assert.Null(Datasets.MaxCount("moons"));
        Assert.Null(Datasets.ImageShapeOf("gaussian"));
        Assert.Null(Datasets.Truth("digits"));
        Assert.Null(DatasetModes.For("digits"));

        // Every drawn point is an image of the set.
        for (int i = 0; i < 300; i++)
        {
            Assert.Contains(string.Join(',', ds.Points.AsSpan(i * 64, 64).ToArray()), images);
        }

        // n = 1797 is every row exactly once (a permutation of the file).
        var everything = Datasets.Create("digits", 1797, seed: 5).Points;
        Assert.Equal(all.Pixels.Sum(v => (double)v), everything.Sum(v => (double)v));
        var sortedAll = Enumerable.Range(0, 1797).Select(i => string.Join(',', all.Pixels.AsSpan(i * 64, 64).ToArray())).Order(StringComparer.Ordinal);
        var sortedDrawn = Enumerable.Range(0, 1797).Select(i => string.Join(',', everything.AsSpan(i * 64, 64).ToArray())).Order(StringComparer.Ordinal);
        Assert.Equal(sortedAll, sortedDrawn);

        // Same seed, same draw; another seed, another subset.
        Assert.Equal(ds.Points, Datasets.Create("digits", 300, seed: 5).Points);
        var other = Datasets.Create("digits", 300, seed: 6).Points;
        int same = Enumerable.Range(0, 300).Count(i => ds.Points.AsSpan(i * 64, 64).SequenceEqual(other.AsSpan(i * 64, 64)));
        Assert.True(same < 30, $"{same} of 300 rows equal at the same position for seeds 5 and 6");
    }

    [Fact]
    public void MoreRowsThanTheSetHasIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => Datasets.Create("digits", 1798, seed: 1));
        Assert.StartsWith("the 'digits' dataset has 1797 images; n = 1798 is more than can be drawn without replacement (use at most 1797)", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Datasets.Create("digits", 0, seed: 1));
        var o = Assert.Throws<ArgumentException>(() => Datasets.Create("digits", 10, 1, new DatasetOptions { Dimension = 3 }));
        Assert.Contains("Dimension does not apply to 'digits'", o.Message, StringComparison.Ordinal);
    }
}
