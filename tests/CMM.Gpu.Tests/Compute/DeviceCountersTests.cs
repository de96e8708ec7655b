using System.Text.Json;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Cli;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Compute;

/// <summary>Issue 20: every kernel launch and every host synchronisation of the library is counted per context, exactly,
/// and a fit reports its counts per iteration.</summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class DeviceCountersTests(AcceleratorFixture fixture)
{
    private static readonly IcnnArchitecture Arch = new(2) { HiddenWidths = [8, 8] };

    [Fact]
    public void SnapshotsSubtractAndAddFieldByField()
    {
        var a = new DeviceCounters(10, 3, 2, 1, 7);
        var b = new DeviceCounters(4, 1, 2, 0, 5);
        Assert.Equal(new DeviceCounters(6, 2, 0, 1, 2), a - b);
        Assert.Equal(a - b, a.Since(b));
        Assert.Equal(a - b, DeviceCounters.Subtract(a, b));
        Assert.Equal(new DeviceCounters(14, 4, 4, 1, 12), a + b);
        Assert.Equal(a + b, DeviceCounters.Add(a, b));
        Assert.Equal(6, a.HostSynchronizations);
        Assert.Equal(default, a - a);
    }

    [Fact]
    public void CountedKernelIncrementsOncePerCallAndPassesItsArguments()
    {
        var tally = new DeviceTally();
        int seen = 0;
        var kernel = tally.Counted<int, int, int>((x, y, z) => seen += x + y + z);
        kernel(1, 2, 3);
        kernel(4, 5, 6);
        Assert.Equal(21, seen);
        Assert.Equal(new DeviceCounters(2, 0, 0, 0, 0), tally.Snapshot());
    }

    [Theory]
    [InlineData("context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange>(\n   LangevinKernels.Propose)", "LangevinKernels.Propose")]
    [InlineData("acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, IcnnDims>>(point, nameof(IcnnKernels.Evaluate), activation))", "IcnnKernels.Evaluate")]
    [InlineData("IcnnKernels.AdamStep", "IcnnKernels.AdamStep")]
    [InlineData("(a, b) => seen += a", "(a, b) => seen += a")]
    public void KernelNamesComeFromTheLoadingExpression(string source, string name) => Assert.Equal(name, DeviceTally.KernelName(source));

    [Fact]
    public void KernelProfileTimesEveryLaunchByNameUntilStopped()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 1, 1);
        using var chains = new LangevinChains(ctx, 33, 2, seed: 4);
        var options = new LangevinOptions { BurnIn = 4, Samples = 0, DiagnosticChains = 0 };
        try
        {
            ctx.StartKernelProfile();
            var before = ctx.Counters;
            chains.Run(w, options);
            long launches = (ctx.Counters - before).KernelLaunches;
            var rows = ctx.KernelProfile;
            Assert.Equal(launches, rows.Sum(r => r.Launches));
            Assert.Contains(rows, r => r.Kernel == "LangevinKernels.Propose" && r.Launches == 4);
            Assert.All(rows, r => Assert.True(r.Seconds >= 0 && double.IsFinite(r.Seconds), $"{r.Kernel}: {r.Seconds} s"));
            Assert.Equal(rows.OrderByDescending(r => r.Seconds).Select(r => r.Kernel), rows.Select(r => r.Kernel));
        }
        finally
        {
            ctx.StopKernelProfile();
        }

        long timed = ctx.KernelProfile.Sum(r => r.Launches);
        chains.Run(w, options);
        Assert.Equal(timed, ctx.KernelProfile.Sum(r => r.Launches)); // stopped: nothing more timed, the rows kept
    }

    [Fact]
    public void UploadsDownloadsFillsAndWaitsAreCountedOneEach()
    {
        var ctx = fixture.Context;
        var before = ctx.Counters;
        using var v = DeviceVector.Upload(ctx, [1f, 2f, 3f]); // a zero fill, then a write
        Assert.Equal(new DeviceCounters(0, 0, 1, 0, 1), ctx.Counters - before);

        before = ctx.Counters;
        Assert.Equal([1f, 2f, 3f], v.ToArray());
        Assert.Equal(new DeviceCounters(0, 1, 0, 0, 0), ctx.Counters - before);

        before = ctx.Counters;
        v.Clear();
        ctx.Synchronize();
        using var p = DevicePoints.Upload(ctx, [1f, 2f, 3f, 4f], 2); // no fill: points are allocated uninitialised
        p.CopyTo(new float[4]);
        var d = ctx.Counters - before;
        Assert.Equal(new DeviceCounters(0, 1, 1, 1, 1), d);
        Assert.Equal(3, d.HostSynchronizations);
    }

    [Fact]
    public void IcnnEvaluationsCountTheirKernelsAndNoHostWait()
    {
        var ctx = fixture.Context;
        using var w = IcnnPotential.Create(ctx, Arch, seed: 3);
        using var x = DevicePoints.Upload(ctx, TestData.Normal(2 * 33, 1), 2);
        using var values = DeviceVector.Allocate(ctx, 33);
        using var grads = DevicePoints.Allocate(ctx, 33, 2);

        var before = ctx.Counters;
        w.Value(x, values);
        Assert.Equal(new DeviceCounters(1, 0, 0, 0, 0), ctx.Counters - before);

        before = ctx.Counters;
        w.ValueAndGradient(x, values, grads);
        w.Gradient(x, grads);
        Assert.Equal(new DeviceCounters(2, 0, 0, 0, 0), ctx.Counters - before);

        // Reading a result back is the host synchronisation; setting the parameters is a write and a Materialize launch.
        before = ctx.Counters;
        _ = values.ToArray();
        w.SetParameters(w.GetParameters());
        Assert.Equal(new DeviceCounters(1, 2, 1, 0, 0), ctx.Counters - before);
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton)]
    [InlineData(ConjugateMethod.Lbfgs)]
    public void FusedConjugateSolveIsOneLaunchAndTwoReads(ConjugateMethod method)
    {
        var ctx = fixture.Context;
        using var w = IcnnPotential.Create(ctx, Arch, seed: 5);
        using var solver = new ConjugateSolver(ctx);
        using var x = DevicePoints.Upload(ctx, TestData.Normal(2 * 40, 2), 2);
        using var y = DevicePoints.Allocate(ctx, 40, 2);
        var options = new ConjugateOptions { Method = method };
        solver.Solve(w, x, y, options); // allocates the workspace

        var before = ctx.Counters;
        solver.Solve(w, x, y, options);
        // SolveNewton or SolveLbfgs, after the copy y = x; then the statuses and iterations, and the residuals, are read.
        Assert.Equal(new DeviceCounters(1, 2, 0, 0, 1), ctx.Counters - before);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DeferredSolveReadsOnlyWhatIsAskedAndGoesStaleAtTheNextSolve(bool hostDriven)
    {
        var ctx = fixture.Context;
        using var w = IcnnPotential.Create(ctx, Arch, seed: 5);
        using var solver = new ConjugateSolver(ctx) { BatchedOnly = hostDriven };
        using var x = DevicePoints.Upload(ctx, TestData.Normal(2 * 40, 2), 2);
        using var y = DevicePoints.Allocate(ctx, 40, 2);
        var options = new ConjugateOptions { Method = ConjugateMethod.Newton };
        var eager = solver.Solve(w, x, y, options); // also allocates the workspace
        var eagerY = y.ToArray();

        var before = ctx.Counters;
        var handle = solver.SolveDeferred(w, x, y, options);
        var solve = ctx.Counters - before;
        if (!hostDriven)
        {
            Assert.Equal(new DeviceCounters(1, 0, 0, 0, 1), solve); // the copy y = x and SolveNewton: nothing read
        }

        before = ctx.Counters;
        Assert.Equal(eager.ConvergedFraction, handle.ConvergedFraction);
        Assert.Equal(new DeviceCounters(0, 1, 0, 0, 0), ctx.Counters - before); // the statuses only

        before = ctx.Counters;
        var result = handle.Result;
        Assert.Equal(new DeviceCounters(0, hostDriven ? 3 : 2, 0, 0, 0), ctx.Counters - before);
        Assert.Equal((eager.Status, eager.Method, eager.Iterations, eager.ConvergedFraction, eager.MaxResidual),
            (result.Status, result.Method, result.Iterations, result.ConvergedFraction, result.MaxResidual));
        Assert.Equal(eager.PointStatus, result.PointStatus);
        Assert.Equal(eager.PointIterations, result.PointIterations);
        Assert.Equal(eager.Residuals, result.Residuals);
        Assert.Equal(eagerY, y.ToArray());

        // Read once: asking again reads nothing.
        before = ctx.Counters;
        Assert.Same(result, handle.Result);
        Assert.Equal(result.ConvergedFraction, handle.ConvergedFraction);
        Assert.Equal(default, ctx.Counters - before);

        // A result not read before the solver's next solve is gone: asking for it throws rather than reading the newer one's.
        var unread = solver.SolveDeferred(w, x, y, options);
        solver.SolveDeferred(w, x, y, options);
        Assert.Throws<InvalidOperationException>(() => unread.Result);
        Assert.Throws<InvalidOperationException>(() => unread.ConvergedFraction);
        Assert.Same(result, handle.Result);
        var last = solver.SolveDeferred(w, x, y, options);
        solver.Dispose();
        Assert.Throws<ObjectDisposedException>(() => last.Result);
    }

    [Fact]
    public void ConjugatePotentialReadsItsSolvesOnlyWhenAsked()
    {
        var ctx = fixture.Context;
        using var u = IcnnPotential.Create(ctx, Arch, seed: 7);
        using var w = new ConjugatePotential(u);
        using var x = DevicePoints.Upload(ctx, TestData.Normal(2 * 30, 3), 2);
        using var z = DevicePoints.Allocate(ctx, 30, 2);
        using var values = DeviceVector.Allocate(ctx, 30);
        Assert.Null(w.LastSolve);
        w.ValueAndGradient(x, values, z); // compiles and allocates

        var before = ctx.Counters;
        w.ValueAndGradient(x, values, z);
        w.GradientFrom(x, z);
        Assert.Equal(0, (ctx.Counters - before).HostSynchronizations);

        before = ctx.Counters;
        Assert.Equal(1.0, w.LastConvergedFraction);
        Assert.Equal(1, (ctx.Counters - before).HostReads);
        before = ctx.Counters;
        Assert.Equal(1.0, w.LastSolve!.ConvergedFraction);
        Assert.Equal(2, (ctx.Counters - before).HostReads);
    }

    [Fact]
    public void LangevinRunReadsItsCountersOnce()
    {
        var ctx = fixture.Context;
        using var u = IcnnPotential.Create(ctx, Arch, seed: 7);
        using var w = new ConjugatePotential(u);
        using var chains = new LangevinChains(ctx, 50, 2, seed: 3);
        var options = new LangevinOptions { StepSize = 0.05, BurnIn = 4, Samples = 0, CheckEvery = 4, DiagnosticChains = 0 };
        chains.Run(w, options); // compiles; the next run warm-starts as a fit's do

        var before = ctx.Counters;
        var r = chains.Run(w, options);
        var work = ctx.Counters - before;
        // The check at the last step reads the divergence total, the accepted and the divergent counts together.
        Assert.Equal(1, work.HostSynchronizations);
        Assert.Equal(4, r.Steps);
        Assert.InRange(r.AcceptanceRate, 0.01, 1);
    }

    [Fact]
    public void FitReportsItsIterationsWorkPerIterationAndRepeatsIt()
    {
        var ctx = fixture.Context;
        var data = TestData.Normal(2 * 64, 11);
        var options = new FitOptions { Iterations = 3, Particles = 32, BatchSize = 32, LangevinSteps = 2, HiddenWidths = [8], Seed = 4 };

        FitResult Fit(out DeviceCounters aroundRun)
        {
            using var f = CmmFitter.Create(ctx, data, 2, options);
            var before = ctx.Counters;
            var r = f.Run();
            aroundRun = ctx.Counters - before;
            return r;
        }

        var r = Fit(out var aroundRun);
        Assert.Equal(FitStatus.Completed, r.Status);
        Assert.Equal(3, r.LossHistory.Count);
        var work = r.DeviceWork;
        // Each iteration's Langevin run proposes and accepts at every step (2 launches each) and reads the chain counters back.
        Assert.True(work.KernelLaunches >= 3 * options.LangevinSteps * 2, work.ToString());
        Assert.True(work.HostReads >= 3, work.ToString());
        Assert.Equal((double)work.KernelLaunches / 3, r.KernelLaunchesPerIteration);
        Assert.Equal((double)work.HostSynchronizations / 3, r.HostSynchronizationsPerIteration);
        // The iterations are part of Run, which also builds the result (reads the parameters) after them.
        Assert.Equal(work.KernelLaunches, aroundRun.KernelLaunches);
        Assert.True(aroundRun.HostReads > work.HostReads, $"{aroundRun} against {work}");

        // The same fit issues the same work: the counts are exact, not sampled.
        Assert.Equal(work, Fit(out _).DeviceWork);
    }

    /// <summary>Regression bound on the host round trips of a fitting iteration (docs/performance.md, issue 20): before the
    /// deferred solve results, the packed Langevin counters and the fitter's runs without diagnostics, 24 (u = w*) and 10 (w).</summary>
    [Theory]
    [InlineData(FitNetwork.Conjugate)]
    [InlineData(FitNetwork.Potential)]
    public void FitIterationMakesAtMostMaxHostSynchronizations(FitNetwork network)
    {
        var ctx = fixture.Context;
        var data = TestData.Normal(2 * 64, 11);
        var options = new FitOptions { Iterations = 3, Particles = 32, BatchSize = 32, LangevinSteps = 3, HiddenWidths = [8], Seed = 4, Network = network };
        using var f = CmmFitter.Create(ctx, data, 2, options);
        var r = f.Run();
        Assert.Equal(FitStatus.Completed, r.Status);
        Assert.InRange(r.HostSynchronizationsPerIteration, 1, MaxHostSynchronizationsPerIteration);
    }

    /// <summary>A default iteration's host synchronisations: the Langevin run's packed counters, the packed loss, converged share
    /// and parameters' finiteness, and the batch write.</summary>
    private const double MaxHostSynchronizationsPerIteration = 3;

    [Fact]
    public void FitJsonPrintsTheMeansPerIteration()
    {
        var dir = Directory.CreateTempSubdirectory("cmm-counters-cli-").FullName;
        try
        {
            var (code, stdout, stderr) = CliTests.Run("fit", "--dataset", "moons", "--n", "48", "--out", Path.Combine(dir, "m.cmm"), "--json",
                "--iterations", "2", "--particles", "32", "--batch", "32", "--langevin-steps", "2", "--hidden", "8", "--accelerator", "cpu");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            Assert.Equal(2, root.GetProperty("iterations").GetInt32());
            Assert.True(root.GetProperty("kernel_launches_per_iteration").GetDouble() > 0, stdout);
            Assert.True(root.GetProperty("host_syncs_per_iteration").GetDouble() > 0, stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
