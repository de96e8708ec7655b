using CMM.Gpu.Compute;
using CMM.Gpu.Fitting;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>Issue 20: the fitting loop reads an iteration's loss, converged share and parameter finiteness in one packed
/// read, counted on the device; the counts must be what the host computed from the full reads before.</summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class FitFiguresKernelTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(0, 5)]
    [InlineData(7, 3)]
    [InlineData(3000, 1000)]
    [InlineData(1000, 3000)]
    public void PackedFiguresMatchTheHostsCounts(int statuses, int parameterCount)
    {
        var ctx = fixture.Context;
        var rng = new Random(statuses + parameterCount);
        var status = Enumerable.Range(0, Math.Max(1, statuses)).Select(_ => rng.Next(4)).ToArray();
        var parameters = TestData.Normal(parameterCount, 3);
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity];
        for (int k = 0; k < Math.Min(3, parameterCount / 2); k++)
        {
            parameters[rng.Next(parameterCount)] = specials[k];
        }

        const float loss = -0.2792282f;
        using var dLoss = DeviceVector.Upload(ctx, [loss, 9f]);
        using var dStatus = ctx.Accelerator.Allocate1D(status);
        using var dParameters = DeviceVector.Upload(ctx, parameters);
        using var packed = ctx.Accelerator.Allocate1D<int>(3);
        packed.MemSetToZero();
        var launcher = ctx.GetComponent(c => new FitLauncher(c));
        launcher.PackIterationFigures(Math.Max(statuses, parameterCount), dLoss.View, dStatus.View, statuses, dParameters.View, parameterCount, packed.View);
        var host = packed.GetAsArray1D();

        Assert.Equal(loss, BitConverter.Int32BitsToSingle(host[0]));
        Assert.Equal(status.Take(statuses).Count(s => s == 1), host[1]);
        Assert.Equal(parameters.Count(v => !float.IsFinite(v)), host[2]);
    }

    [Fact]
    public void NonFiniteLossKeepsItsBits()
    {
        var ctx = fixture.Context;
        using var dLoss = DeviceVector.Upload(ctx, [float.NaN]);
        using var dStatus = ctx.Accelerator.Allocate1D<int>(1);
        using var dParameters = DeviceVector.Upload(ctx, [1f, 2f]);
        using var packed = ctx.Accelerator.Allocate1D<int>(3);
        packed.MemSetToZero();
        ctx.GetComponent(c => new FitLauncher(c)).PackIterationFigures(2, dLoss.View, dStatus.View, 0, dParameters.View, 2, packed.View);
        var host = packed.GetAsArray1D();
        Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(host[0])));
        Assert.Equal(0, host[1]);
        Assert.Equal(0, host[2]);
    }
}
