using CMM.Gpu.Icnn;
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

    /// <summary>The fitter runs its chains with no diagnostics but ends each run with the cold solve the diagnostics made
    /// (issue 20): states, results and the gradients the next run warm-starts from stay those of runs with diagnostics.</summary>
    [Fact]
    public void ColdGradientsAtEndLeaveWhatTheDiagnosticsLeft()
    {
        var ctx = fixture.Context;
        using var u = IcnnPotential.Create(ctx, new IcnnArchitecture(2) { HiddenWidths = [8, 8] }, seed: 9);
        using var w = new ConjugatePotential(u);
        var withDiagnostics = new LangevinOptions { StepSize = 0.05, BurnIn = 3, Samples = 0, CheckEvery = 3 };
        using var a = new LangevinChains(ctx, 40, 2, seed: 6);
        using var b = new LangevinChains(ctx, 40, 2, seed: 6);
        for (int run = 0; run < 3; run++)
        {
            var ra = a.Run(w, withDiagnostics);
            var rb = b.RunCore(w, withDiagnostics with { DiagnosticChains = 0 }, null, default, coldGradientsAtEnd: true);
            Assert.NotNull(ra.Diagnostics);
            Assert.Null(rb.Diagnostics);
            Assert.Equal(ra with { Diagnostics = null }, rb);
            Assert.Equal(a.States.ToArray(), b.States.ToArray());
            Assert.Equal(a.SolveStarts(), b.SolveStarts());
        }
    }
}
