using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sampling;

[Collection(AcceleratorTestGroup.Name)]
public sealed class LangevinResumeTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(LangevinSampler.Ula)]
    [InlineData(LangevinSampler.Mala)]
    public void RestoringStatesAndStepCountContinuesTheSameStream(LangevinSampler sampler)
    {
        var ctx = fixture.Context;
        using var w = new QuadraticPotential(ctx, new double[,] { { 2, 0.3 }, { 0.3, 1 } }, [0.5, -1]);
        var opts = new LangevinOptions { Sampler = sampler, StepSize = 0.1, BurnIn = 7, Samples = 0 };

        using var a = new LangevinChains(ctx, 33, 2, seed: 5);
        a.Run(w, opts);
        var saved = a.States.ToArray();
        int step = a.StepCount;
        a.Run(w, opts);
        var uninterrupted = a.States.ToArray();

        using var b = new LangevinChains(ctx, 33, 2, seed: 5);
        b.SetStates(saved, step);
        Assert.Equal(step, b.StepCount);
        b.Run(w, opts);
        Assert.Equal(uninterrupted, b.States.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => b.SetStates(saved, -1));
    }
}
