using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// The library's input checks (CmmFitter.Create / Resume, FittedModel's Encode / Decode / PotentialValues) say exactly
/// what is wrong: a length that is not a multiple of d, too few points, or the first non-finite value by point and coordinate.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class InputValidationTests(AcceleratorFixture fixture)
{
    private static readonly FitOptions Tiny = new()
    {
        Iterations = 1,
        Particles = 16,
        BatchSize = 16,
        LangevinSteps = 1,
        HiddenWidths = [4],
        Seed = 3,
    };

    /// <summary>The bad inputs, each with the message fragment it must produce, for d = 2.</summary>
    public static TheoryData<float[], string> BadData => new()
    {
        { [1, 2, 3], "3 values is not a multiple of d = 2" },
        { [1, 2, 3, 4, 5, 6, 7], "7 values is not a multiple of d = 2" },
        { [1, 2, 3, 4, 5, float.NaN], "point 2, coordinate 1 (0-based) is NaN" },
        { [1, 2, float.PositiveInfinity, 4, float.NaN, 6], "point 1, coordinate 0 (0-based) is +infinity" },
        { [float.NegativeInfinity, 2, 3, 4], "point 0, coordinate 0 (0-based) is -infinity" },
    };

    [Theory]
    [MemberData(nameof(BadData))]
    public void CreateAndResumeNameWhatIsWrongWithTheTrainingData(float[] data, string expected)
    {
        var create = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, data, 2, Tiny));
        Assert.StartsWith("training data: ", create.Message, StringComparison.Ordinal);
        Assert.Contains(expected, create.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("at least", create.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', create.Message);
        Assert.Equal("data", create.ParamName);

        // Resume checks the data before it looks at the checkpoint.
        var resume = Assert.Throws<ArgumentException>(() => CmmFitter.Resume(fixture.Context, data, 2, Tiny, new FitCheckpoint()));
        Assert.Contains(expected, resume.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooFewTrainingPointsSaySoWithTheCount()
    {
        var e = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, new float[] { 1, 2 }, 2, Tiny));
        Assert.Contains("training data: 1 point of dimension d = 2; at least 2 are needed", e.Message, StringComparison.Ordinal);
        var empty = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, ReadOnlySpan<float>.Empty, 2, Tiny));
        Assert.Contains("0 points of dimension d = 2", empty.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FittedModelNamesWhatIsWrongWithItsPoints()
    {
        FitResult fit;
        using (var fitter = CmmFitter.Create(fixture.Context, Datasets.Create("moons", 32, 1).Points, 2, Tiny))
        {
            fit = fitter.Run();
        }

        using var model = new FittedModel(fixture.Context, fit.Model);
        foreach (var (data, expected) in BadData.Select(row => ((float[])row[0], (string)row[1])))
        {
            var encode = Assert.Throws<ArgumentException>(() => model.Encode(data, out _));
            Assert.Equal("points: ", encode.Message[..8]);
            Assert.Contains(expected, encode.Message, StringComparison.Ordinal);
            var potential = Assert.Throws<ArgumentException>(() => model.PotentialValues(data));
            Assert.Contains(expected, potential.Message, StringComparison.Ordinal);
            var decode = Assert.Throws<ArgumentException>(() => model.Decode(data, out _));
            Assert.Equal("latents: ", decode.Message[..9]);
            Assert.Contains(expected, decode.Message, StringComparison.Ordinal);
            Assert.Equal("latents", decode.ParamName);
        }

        var none = Assert.Throws<ArgumentException>(() => model.Encode(ReadOnlySpan<float>.Empty, out _));
        Assert.Contains("points: 0 points of dimension d = 2; at least 1 is needed", none.Message, StringComparison.Ordinal);
        Assert.Equal(2, model.PotentialValues(new float[] { 0.5f, 0.25f, -1f, 0.75f }).Length); // good points still work
    }
}
