using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Compute;

[Collection(AcceleratorTestGroup.Name)]
public sealed class MemoryTests(AcceleratorFixture fixture)
{
    [Fact]
    public void PointsRoundTripFromSpanAndArray()
    {
        var data = TestData.Normal(21, 3);
        using var p = DevicePoints.Upload(fixture.Context, data, 7);
        Assert.Equal(3, p.Count);
        Assert.Equal(7, p.Dimension);
        Assert.Equal(data, p.ToArray());

        var grid = new float[,] { { 1, 2 }, { 3, 4 }, { 5, 6 } };
        using var q = DevicePoints.Upload(fixture.Context, grid);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, q.ToArray());
    }

    [Fact]
    public void VectorRoundTripAndClear()
    {
        using var v = DeviceVector.Upload(fixture.Context, new float[] { 1, -2, 3.5f });
        Assert.Equal(new float[] { 1, -2, 3.5f }, v.ToArray());
        v.Clear();
        Assert.Equal(new float[3], v.ToArray());
        using var z = DeviceVector.Allocate(fixture.Context, 4);
        Assert.Equal(new float[4], z.ToArray());
    }

    [Fact]
    public void RaggedDataIsRejectedWithAMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => DevicePoints.Upload(fixture.Context, new float[7], 3));
        Assert.Contains("not a positive multiple of the dimension 3", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => DevicePoints.Allocate(fixture.Context, 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => DevicePoints.Allocate(fixture.Context, 3, -1));
        Assert.Throws<ArgumentException>(() => DevicePoints.Upload(fixture.Context, ReadOnlySpan<float>.Empty, 2));
    }

    [Fact]
    public void CopiesCheckLengths()
    {
        using var p = DevicePoints.Allocate(fixture.Context, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => p.CopyFrom(new float[3]));
        Assert.Contains("points [2, 2] needs 4", e.Message, StringComparison.Ordinal);
        using var v = DeviceVector.Allocate(fixture.Context, 3);
        Assert.Throws<ArgumentException>(() => v.CopyTo(new float[2]));
    }

    [Fact]
    public void DisposedBuffersThrow()
    {
        var v = DeviceVector.Allocate(fixture.Context, 3);
        v.Dispose();
        v.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => v.ToArray());
        var p = DevicePoints.Allocate(fixture.Context, 1, 1);
        p.Dispose();
        Assert.Throws<ObjectDisposedException>(() => p.ToArray());
    }
}
