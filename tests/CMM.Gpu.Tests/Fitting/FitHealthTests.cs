using CMM.Gpu.Conjugate;
using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// Issue 18: a fit whose sampler or conjugate solver stops working says so while it runs (observer warnings), adapts
/// (halves the Langevin step) or stops with a failed status and a reason, and returns its last healthy parameters; a
/// healthy fit is left bit for bit as it was.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class FitHealthTests(AcceleratorFixture fixture) : IDisposable
{
    private const int D = 128;
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-health-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>300 standard normal points in d = 128 (seed 5): with the Langevin step at 0.99 of the inverse curvature, the
    /// particles' MALA acceptance collapses (measured: 11 %, 12 %, then 0 % from iteration 3; mean 2 % over the first 10);
    /// at half that step it is 20-70 %.</summary>
    internal static float[] CollapsingSamplerData() => TestData.Normal(300 * D, 5);

    internal static FitOptions CollapsingSampler(int iterations, int halvings) => new()
    {
        Network = FitNetwork.Potential,
        Iterations = iterations,
        Particles = 32,
        BatchSize = 32,
        HiddenWidths = [8],
        LangevinStepSize = 0.99,
        MaxStepHalvings = halvings,
        CheckpointEvery = 0,
        Seed = 3,
    };

    private static FitOptions Tiny() => new()
    {
        Network = FitNetwork.Potential,
        Iterations = 6,
        Particles = 32,
        BatchSize = 32,
        LangevinSteps = 2,
        HiddenWidths = [8],
        CheckpointEvery = 0,
        Seed = 7,
    };

    private static FitProgress Figures(int iteration, double acceptance, double converged = 1) =>
        new(iteration, 100, 0, 0, double.NaN, acceptance, converged, TimeSpan.Zero);

    [Fact]
    public void MonitorWarnsOnceHalvesTheStepThenStopsOnWindowMeans()
    {
        var h = new FitHealth(new FitOptions { HealthWindow = 3, MaxStepHalvings = 1 });
        // A single low iteration warns but does not act: the window's mean decides.
        var v = h.Observe(Figures(1, 0.01));
        Assert.Equal(FitHealthAction.None, v.Action);
        Assert.Contains("fell to 1.0 % at iteration 1, below its floor of 5.0 %", Assert.Single(v.Warnings), StringComparison.Ordinal);
        Assert.Empty(h.Observe(Figures(2, 0.3)).Warnings); // above the floor
        Assert.Empty(h.Observe(Figures(3, 0.02)).Warnings); // already warned within the window
        Assert.Equal(3, h.Acceptance.Count);               // mean 11 %: healthy

        v = h.Observe(Figures(4, 0.0)); // window 0.3, 0.02, 0.0: mean 10.7 %
        Assert.Equal(FitHealthAction.None, v.Action);
        v = h.Observe(Figures(5, 0.0)); // 0.02, 0, 0
        Assert.Equal(FitHealthAction.HalveLangevinStep, v.Action);
        Assert.Contains("averaged 0.7 % over iterations 3-5, below its floor of 5.0 %: Langevin step halved (halving 1 of 1)", Assert.Single(v.Warnings), StringComparison.Ordinal);
        Assert.Equal(1, h.StepHalvings);
        Assert.Empty(h.Acceptance); // the new step gets a fresh window

        Assert.Contains("the fit stops", Assert.Single(h.Observe(Figures(6, 0.0)).Warnings), StringComparison.Ordinal);
        Assert.Equal(FitHealthAction.None, h.Observe(Figures(7, 0.04)).Action);
        v = h.Observe(Figures(8, 0.03));
        Assert.Equal(FitHealthAction.StopSamplerFailed, v.Action);
        Assert.Equal("sampler failed: MALA acceptance of the fitting particles averaged 2.3 % over iterations 6-8, below its floor of 5.0 % " +
                     "(FitOptions.MinLangevinAcceptance, cmm fit --min-acceptance), after 1 halving of the Langevin step", v.Reason);
    }

    [Fact]
    public void MonitorStopsOnUnconvergedSolvesAndIsOffAtFloorZero()
    {
        var h = new FitHealth(new FitOptions { HealthWindow = 2 });
        var v = h.Observe(Figures(1, 0.6, 0.4));
        Assert.Contains("only 40.0 % of the conjugate solves converged at iteration 1, below the floor of 50.0 %", Assert.Single(v.Warnings), StringComparison.Ordinal);
        v = h.Observe(Figures(2, 0.6, 0.5)); // mean 45 %
        Assert.Equal(FitHealthAction.StopSolverFailed, v.Action);
        Assert.Equal("conjugate solver failed: 45.0 % of the solves converged on average over iterations 1-2, below the floor of 50.0 % (FitOptions.MinConjugateConverged, cmm fit --min-converged)", v.Reason);

        var off = new FitHealth(new FitOptions { HealthWindow = 2, MinLangevinAcceptance = 0, MinConjugateConverged = 0 });
        for (int t = 1; t <= 5; t++)
        {
            var quiet = off.Observe(Figures(t, 0, 0));
            Assert.Equal(FitHealthAction.None, quiet.Action);
            Assert.Empty(quiet.Warnings);
        }

        // ULA reports acceptance 1 and the objectives without solves report 1: never judged low.
        Assert.True(new FitHealth(new FitOptions()).IsHealthy(Figures(1, 1, 1)));
        Assert.False(new FitHealth(new FitOptions()).IsHealthy(Figures(1, 1, double.NaN)));
    }

    [Fact]
    public void HealthOptionsAreValidatedAndEnterTheFingerprintOnlyWhenChanged()
    {
        var bad = new FitOptions { HealthWindow = 0, MinLangevinAcceptance = 1.5, MinConjugateConverged = double.NaN, MaxStepHalvings = -1 };
        var problems = bad.Validate();
        Assert.Contains(problems, p => p.Contains("health window", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("minimum MALA acceptance", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("minimum converged share", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("step halvings", StringComparison.Ordinal));
        // Default monitoring keeps the fingerprints (checkpoints, model files) of fits from before it existed.
        Assert.DoesNotContain("health", new FitOptions().Describe(), StringComparison.Ordinal);
        Assert.Contains("health_window=10;min_acceptance=0.05;min_converged=0.5;step_halvings=0", new FitOptions { MaxStepHalvings = 0 }.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void CollapsedSamplerStopsAsFailedWithItsReasonWarningAndLastHealthyModel()
    {
        var log = new HealthLog();
        using var f = CmmFitter.Create(fixture.Context, CollapsingSamplerData(), D, CollapsingSampler(30, halvings: 0));
        log.Watch(f);
        var r = f.Run(log);

        Assert.Equal(FitStatus.SamplerFailed, r.Status);
        Assert.False(r.Succeeded);
        Assert.Equal(10, r.Iterations); // the first full window
        Assert.Matches(@"^sampler failed: MALA acceptance of the fitting particles averaged \d\.\d % over iterations 1-10, below its floor of 5\.0 %", r.Reason);
        // The observer heard about it when the acceptance first dropped, before the fit stopped.
        var (warnedAt, warning) = Assert.Single(log.Warnings);
        Assert.True(warnedAt < 10);
        Assert.Contains("below its floor of 5.0 %", warning, StringComparison.Ordinal);
        // The model holds the parameters an iteration with acceptance at or above the floor started from (the start itself
        // when there was none), not the last ones.
        int healthy = (int)r.Model.Metadata.Iterations;
        Assert.True(healthy < 10);
        Assert.True(log.Acceptance[healthy] >= 0.05); // log.Acceptance[t] is iteration t + 1's
        Assert.All(log.Acceptance.Skip(healthy + 1), a => Assert.True(a < 0.05));
        Assert.Equal(log.Parameters[healthy], r.Model.Parameters.ToArray());
        Assert.NotEqual(log.Parameters[10], r.Model.Parameters.ToArray());
    }

    [Fact]
    public void CollapsedSamplerRecoversByHalvingTheStepAndTheMonitorStateSurvivesAResume()
    {
        var data = CollapsingSamplerData();
        var options = CollapsingSampler(20, halvings: 4) with { CheckpointEvery = 7 };
        var ckpt = Path.Combine(dir, "at7.ckpt");
        var log = new HealthLog { KeepCheckpointAt = (7, ckpt) };
        float[] expected;
        double initialStep;
        using (var f = CmmFitter.Create(fixture.Context, data, D, options))
        {
            initialStep = f.LangevinStep;
            log.Watch(f);
            var r = f.Run(log, Path.Combine(dir, "running.ckpt"));
            Assert.Equal(FitStatus.Completed, r.Status);
            Assert.Null(r.Reason);
            Assert.Equal(1, r.StepHalvings);
            Assert.Equal(initialStep / 2, f.LangevinStep); // no divergence back-off on top
            Assert.Contains(log.Warnings, w => w.Iteration == 10 && w.Message.Contains("Langevin step halved (halving 1 of 4)", StringComparison.Ordinal));
            Assert.All(log.Acceptance.Skip(10), a => Assert.True(a >= 0.05)); // the halved step works
            expected = f.Potential.GetParameters();
        }

        // The checkpoint of iteration 7 holds 7 of the window's figures: the resumed fit halves at iteration 10 as well.
        var c = FitCheckpoint.Load(ckpt);
        Assert.Equal(7, c.HealthAcceptance.Length);
        using (var f = CmmFitter.Resume(fixture.Context, data, D, options, c))
        {
            var r = f.Run();
            Assert.Equal(1, r.StepHalvings);
            Assert.Equal(expected, f.Potential.GetParameters());
        }
    }

    [Fact]
    public void UnconvergedConjugateSolvesStopTheFitAsSolverFailed()
    {
        var data = Datasets.Create("moons", 90, 3).Points;
        var log = new HealthLog();
        using var f = CmmFitter.Create(fixture.Context, data, 2, Tiny() with { Iterations = 20, HealthWindow = 4 });
        var start = f.Potential.GetParameters();
        // One iteration and a tolerance no float residual reaches: no solve can converge.
        f.ConjugateSolveOptions = f.ConjugateSolveOptions with { MaxIterations = 1, AbsoluteTolerance = 1e-30, RelativeTolerance = 0 };
        var r = f.Run(log);

        Assert.Equal(FitStatus.SolverFailed, r.Status);
        Assert.Equal(4, r.Iterations);
        // (A few points may meet the tolerance exactly: measured 1.6 % on the CPU.)
        Assert.Matches(@"^conjugate solver failed: \d\.\d % of the solves converged on average over iterations 1-4, below the floor of 50\.0 % \(FitOptions\.MinConjugateConverged, cmm fit --min-converged\)$", r.Reason);
        var (warnedAt, warning) = Assert.Single(log.Warnings);
        Assert.Equal(1, warnedAt);
        Assert.Matches(@"^only \d\.\d % of the conjugate solves converged at iteration 1, below the floor of 50\.0 %; if it stays there over 4 iterations the fit stops$", warning);
        // No iteration was healthy: the model is the fit's start.
        Assert.Equal(0, r.Model.Metadata.Iterations);
        Assert.Equal(start, r.Model.Parameters.ToArray());
    }

    [Fact]
    public void HealthyFitIsTheSameWithTheMonitorOff()
    {
        // Bit for bit: the monitor reads the figures and never acts on a healthy fit.
        var data = Datasets.Create("moons", 90, 3).Points;
        var log = new HealthLog();
        float[] monitored;
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny()))
        {
            var r = f.Run(log);
            Assert.Equal(FitStatus.Completed, r.Status);
            Assert.True(r.Succeeded);
            Assert.Null(r.Reason);
            Assert.Equal(0, r.StepHalvings);
            Assert.Equal(r.Iterations, r.Model.Metadata.Iterations);
            monitored = f.Potential.GetParameters();
        }

        Assert.Empty(log.Warnings);
        Assert.All(log.Acceptance, a => Assert.True(a >= 0.05));
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny() with { MinLangevinAcceptance = 0, MinConjugateConverged = 0 }))
        {
            f.Run();
            Assert.Equal(monitored, f.Potential.GetParameters());
        }
    }

    [Fact]
    public void CheckpointsKeepTheHealthState()
    {
        var c = new FitCheckpoint { Iteration = 5, Model = [1, 2], OptionsFingerprint = "o", DataFingerprint = "d",
            HealthAcceptance = [0.5, 0.01], HealthConverged = [1, 0.75], StepHalvings = 2, HealthyIteration = 4, HealthyParameters = [6, 7] };
        var back = FitCheckpoint.Deserialize(c.Serialize(), "c");
        Assert.Equal([0.5, 0.01], back.HealthAcceptance);
        Assert.Equal([1, 0.75], back.HealthConverged);
        Assert.Equal(2, back.StepHalvings);
        Assert.Equal(4, back.HealthyIteration);
        Assert.Equal([6f, 7f], back.HealthyParameters);
    }

    private sealed class HealthLog : IFitObserver
    {
        public CmmFitter? Fitter { get; private set; }

        public (int Iteration, string Path)? KeepCheckpointAt { get; init; }

        public List<(int Iteration, string Message)> Warnings { get; } = [];

        /// <summary>Acceptance of iteration t + 1 at index t.</summary>
        public List<double> Acceptance { get; } = [];

        /// <summary>Parameters after iteration t at index t (index 0: the start; only with <see cref="Watch"/>).</summary>
        public List<float[]> Parameters { get; } = [];

        public void Watch(CmmFitter fitter)
        {
            Fitter = fitter;
            Parameters.Add(fitter.Potential.GetParameters());
        }

        public void OnIteration(FitProgress progress)
        {
            Acceptance.Add(progress.LangevinAcceptance);
            if (Fitter is not null)
            {
                Parameters.Add(Fitter.Potential.GetParameters());
            }
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
            if (KeepCheckpointAt is { } k && k.Iteration == iteration)
            {
                File.Copy(path, k.Path, overwrite: true);
            }
        }

        public void OnHealthWarning(int iteration, string message) => Warnings.Add((iteration, message));
    }
}
