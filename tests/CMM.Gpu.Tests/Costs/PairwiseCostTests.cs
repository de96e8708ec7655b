using CMM.Gpu.Costs;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Costs;

[Collection(AcceleratorTestGroup.Name)]
public sealed class PairwiseCostTests(AcceleratorFixture fixture)
{
    public static TheoryData<int, int, int, CostKind, KernelVariant> Shapes()
    {
        var data = new TheoryData<int, int, int, CostKind, KernelVariant>();
        foreach (var variant in new[] { KernelVariant.RowPerThread, KernelVariant.Tiled })
        {
            foreach (var cost in new[] { CostKind.HalfSquaredEuclidean, CostKind.Euclidean })
            {
                data.Add(1, 1, 1, cost, variant);
                data.Add(17, 29, 3, cost, variant);
                data.Add(13, 7, 1, cost, variant);
                data.Add(9, 11, 65, cost, variant);
                data.Add(33, 5, 16, cost, variant);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesDoubleReference(int n, int m, int d, CostKind cost, KernelVariant variant)
    {
        var x = TestData.Normal(n * d, seed: 1 + n, scale: 2.0);
        var y = TestData.Normal(m * d, seed: 100 + m, scale: 1.5, shift: 0.3);
        var actual = PairwiseCost.For(fixture.Context).Compute(x, y, d, cost, variant);
        var expected = Reference.PairwiseCost(x, y, d, cost == CostKind.HalfSquaredEuclidean);
        Approx.AllEqual(expected, actual, atol: 1e-5, rtol: 2e-5 * Math.Sqrt(d), what: $"C ({variant}, {cost})");
    }

    [Fact]
    public void AutoVariantMatchesBothForms()
    {
        var x = TestData.Normal(19 * 4, 7);
        var y = TestData.Normal(23 * 4, 8);
        var pc = PairwiseCost.For(fixture.Context);
        var auto = pc.Compute(x, y, 4);
        var row = pc.Compute(x, y, 4, variant: KernelVariant.RowPerThread);
        var tiled = pc.Compute(x, y, 4, variant: KernelVariant.Tiled);
        Assert.Equal(fixture.Context.IsGpu ? KernelVariant.Tiled : KernelVariant.RowPerThread, pc.Resolve(KernelVariant.Auto));
        Assert.Equal(auto, fixture.Context.IsGpu ? tiled : row);
        for (int i = 0; i < row.Length; i++)
        {
            Approx.Equal(row[i], tiled[i], 1e-5, 1e-5);
        }
    }

    [Fact]
    public void DimensionMismatchIsNamed()
    {
        using var x = DevicePoints.Upload(fixture.Context, new float[6], 3);
        using var y = DevicePoints.Upload(fixture.Context, new float[6], 2);
        using var c = DeviceVector.Allocate(fixture.Context, 6);
        var e = Assert.Throws<ArgumentException>(() => PairwiseCost.For(fixture.Context).Compute(x, y, c));
        Assert.Contains("dimension mismatch", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongDestinationLengthIsNamed()
    {
        using var x = DevicePoints.Upload(fixture.Context, new float[6], 3);
        using var y = DevicePoints.Upload(fixture.Context, new float[9], 3);
        using var c = DeviceVector.Allocate(fixture.Context, 5);
        var e = Assert.Throws<ArgumentException>(() => PairwiseCost.For(fixture.Context).Compute(x, y, c));
        Assert.Contains("[2, 3] cost matrix", e.Message, StringComparison.Ordinal);
    }
}
