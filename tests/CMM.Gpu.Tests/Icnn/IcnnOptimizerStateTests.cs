using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnOptimizerStateTests(AcceleratorFixture fixture)
{
    [Fact]
    public void ExportedStateContinuesIdenticallyAndLearningRateOverrideMatchesOptions()
    {
        var ctx = fixture.Context;
        var arch = new IcnnArchitecture(2) { HiddenWidths = [5] };
        using var a = IcnnPotential.Create(ctx, arch, seed: 1);
        using var b = IcnnPotential.Create(ctx, arch, seed: 1);
        using var optA = new IcnnOptimizer(a, new IcnnOptimizerOptions { LearningRate = 0.01f });
        using var optB = new IcnnOptimizer(b, new IcnnOptimizerOptions { LearningRate = 0.5f });
        var g = TestData.Normal(a.ParameterCount, 3);
        using var grad = DeviceVector.Upload(ctx, g);
        optA.Step(grad);
        optA.Step(grad, 0.01f);
        b.SetParameters(a.GetParameters());
        var (m, v, steps) = optA.ExportState();
        Assert.Equal(2, steps);
        optB.ImportState(m, v, steps);
        optA.Step(grad);
        optB.Step(grad, 0.01f); // same rate as optA's options
        Assert.Equal(a.GetParameters(), b.GetParameters());
        Assert.Equal(3, optB.Steps);
        Assert.Throws<ArgumentOutOfRangeException>(() => optB.Step(grad, 0f));
        Assert.Throws<ArgumentException>(() => optB.ImportState(m.AsSpan(1), v, 1));
    }
}
