using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;
using CMM.Gpu.Tests.Potentials;
using ILGPU;

namespace CMM.Gpu.Tests.Compute;

/// <summary>
/// The per-point kernels (Langevin, conjugate solve, closed-form potentials) run one point per thread on GPUs
/// and loop over blocks of points on the CPU accelerator (<see cref="PointLaunch"/>). These tests check that
/// every launch form covers each point exactly once and gives bit-identical results to one thread per point,
/// on awkward sizes and with thread counts that leave a short last block.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class PointLaunchTests(AcceleratorFixture fixture)
{
    /// <summary>The looped forms compared with one thread per point: default thread count, and 5 threads (uneven blocks).
    /// Auto is the default: on the CPU accelerator it plans blocks and runs the light kernels on the host (<see cref="LightKernels"/>).</summary>
    private static readonly (PointLaunchForm Form, int? Threads)[] LoopedForms =
    [
        (PointLaunchForm.Blocks, null),
        (PointLaunchForm.Blocks, 5),
        (PointLaunchForm.GridStride, 5),
        (PointLaunchForm.Auto, null),
        (PointLaunchForm.Auto, 5),
    ];

    private T With<T>(PointLaunchForm form, int? threads, Func<T> run)
    {
        var launch = PointLaunch.For(fixture.Context);
        int saved = launch.LoopThreads;
        try
        {
            launch.Form = form;
            if (threads is { } t)
            {
                launch.LoopThreads = t;
            }

            return run();
        }
        finally
        {
            launch.Form = PointLaunchForm.Auto;
            launch.LoopThreads = saved;
        }
    }

    private static void AssertBitIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}[{i}]: one thread per point gave {expected[i]:R}, the looped form {actual[i]:R}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1003)]
    [InlineData(65_537)]
    public void EveryFormCoversEachPointExactlyOnce(int n)
    {
        foreach (var (form, threads) in LoopedForms.Where(f => f.Form != PointLaunchForm.Auto).Append((PointLaunchForm.OnePerPoint, null)).Append((PointLaunchForm.Blocks, 1)))
        {
            With(form, threads, () =>
            {
                var launch = PointLaunch.For(fixture.Context);
                var range = launch.Plan(n, out int extent);
                if (form != PointLaunchForm.OnePerPoint)
                {
                    Assert.InRange(extent, 0, launch.LoopThreads);
                }

                var seen = new int[n];
                for (int t = 0; t < extent; t++)
                {
                    int mine = 0;
                    for (long p = range.First(new Index1D(t)), end = range.Limit(new Index1D(t)); p < end; p += range.Stride)
                    {
                        seen[p]++;
                        mine++;
                    }

                    Assert.True(mine > 0, $"{form}: thread {t} of {extent} has no point (n = {n})");
                }

                Assert.All(seen, c => Assert.Equal(1, c));
                return 0;
            });
        }
    }

    [Fact]
    public void AutoIsOnePointPerThreadOnGpusAndBlocksOnTheCpuAccelerator()
    {
        var launch = PointLaunch.For(fixture.Context);
        Assert.Equal(PointLaunchForm.Auto, launch.Form);
        Assert.Equal(fixture.Context.IsGpu ? PointLaunchForm.OnePerPoint : PointLaunchForm.Blocks, launch.Resolved);
        Assert.Equal(!fixture.Context.IsGpu, launch.HostForm);
        Assert.False(With(PointLaunchForm.Blocks, null, () => launch.HostForm), "a forced form launches its kernels");
        Assert.Throws<ArgumentOutOfRangeException>(() => launch.LoopThreads = 0);
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(1003, 2)]
    public void CholeskyLogDeterminantsAreIdenticalInEveryForm(int n, int d)
    {
        var a = Linalg.BatchedCholeskyTests.RandomSpd(n, d, 5);
        a[d * d * (n / 2)] = -1; // one failure, counted in whatever block holds it
        var expected = With(PointLaunchForm.OnePerPoint, null, () => Linalg.BatchedCholeskyTests.Run(fixture.Context, a, d));
        Assert.Equal(1, expected.Failures);
        foreach (var (form, threads) in LoopedForms)
        {
            var actual = With(form, threads, () => Linalg.BatchedCholeskyTests.Run(fixture.Context, a, d));
            AssertBitIdentical(expected.LogDet, actual.LogDet, $"log det {form}/{threads}");
            AssertBitIdentical(expected.Factors, actual.Factors, $"factors {form}/{threads}");
            Assert.Equal(expected.Failures, actual.Failures);
        }
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(17, 3)]
    [InlineData(1003, 2)]
    public void ClosedFormPotentialsAreIdenticalInEveryForm(int n, int d)
    {
        var ctx = fixture.Context;
        using var quadratic = new QuadraticPotential(ctx, ClosedFormPotentialTests.SpdMatrix(d, 3), new[] { 0.25, -0.5, 1.0 }[..d], 0.75);
        var quartic = new SeparableQuarticPotential(ctx, d, 0.6, 1.1);
        using var x = DevicePoints.Upload(ctx, TestData.Normal(n * d, 11, scale: 1.5), d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var gradients = DevicePoints.Allocate(ctx, n, d);
        using var hessians = DeviceVector.Allocate(ctx, (long)n * d * d);
        foreach (IPotential w in new IPotential[] { quadratic, quartic })
        {
            float[][] Evaluate()
            {
                w.Value(x, values);
                w.Gradient(x, gradients);
                w.Hessian(x, hessians);
                return [values.ToArray(), gradients.ToArray(), hessians.ToArray()];
            }

            var expected = With(PointLaunchForm.OnePerPoint, null, Evaluate);
            foreach (var (form, threads) in LoopedForms)
            {
                var actual = With(form, threads, Evaluate);
                string what = $"{w.GetType().Name} {form}/{threads}";
                AssertBitIdentical(expected[0], actual[0], what + " value");
                AssertBitIdentical(expected[1], actual[1], what + " gradient");
                AssertBitIdentical(expected[2], actual[2], what + " Hessian");
            }
        }
    }

    [Theory]
    [InlineData(LangevinSampler.Ula, 0.1, 1)]
    [InlineData(LangevinSampler.Ula, 0.1, 17)]
    [InlineData(LangevinSampler.Mala, 0.6, 17)]
    [InlineData(LangevinSampler.Mala, 0.6, 1003)]
    [InlineData(LangevinSampler.Ula, 50.0, 1003)] // diverges: rejections, restores and back-off
    public void LangevinChainsAreIdenticalInEveryForm(LangevinSampler sampler, double stepSize, int n)
    {
        const int d = 3;
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, d, 1, 1);
        var options = new LangevinOptions
        {
            Sampler = sampler, StepSize = stepSize, BurnIn = 6, Samples = 4, Thin = 2, CheckEvery = 3,
            DiagnosticChains = Math.Min(n, 64),
        };

        (float[] States, float[] Draws, LangevinResult Result) Run()
        {
            using var chains = new LangevinChains(ctx, n, d, seed: 21, chainOffset: 5, initialScale: 2);
            var result = chains.Run(w, options);
            using var draws = DevicePoints.Upload(ctx, new float[2 * n * d], d);
            chains.ScatterStates(draws, 2, 1);
            return (chains.States.ToArray(), draws.ToArray(), result);
        }

        var expected = With(PointLaunchForm.OnePerPoint, null, Run);
        if (stepSize > 10)
        {
            Assert.True(expected.Result.DivergentProposals > 0, "the huge step should produce non-finite proposals");
        }

        foreach (var (form, threads) in LoopedForms)
        {
            var actual = With(form, threads, Run);
            string what = $"{sampler} n={n} {form}/{threads}";
            AssertBitIdentical(expected.States, actual.States, what + " states");
            AssertBitIdentical(expected.Draws, actual.Draws, what + " scattered draws");
            var (e, a) = (expected.Result, actual.Result);
            Assert.Equal((e.Status, e.Steps, e.StepSize, e.AcceptanceRate, e.DivergentChains, e.DivergentProposals, e.Backoffs),
                (a.Status, a.Steps, a.StepSize, a.AcceptanceRate, a.DivergentChains, a.DivergentProposals, a.Backoffs));
            Assert.Equal(e.Diagnostics!.SplitRHat, a.Diagnostics!.SplitRHat);
            Assert.Equal(e.Diagnostics.SteinGradientMean, a.Diagnostics.SteinGradientMean);
            Assert.Equal(e.Diagnostics.SteinInnerMean, a.Diagnostics.SteinInnerMean);
        }
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton, 1)]
    [InlineData(ConjugateMethod.Newton, 17)]
    [InlineData(ConjugateMethod.Lbfgs, 17)]
    [InlineData(ConjugateMethod.Newton, 1003)]
    [InlineData(ConjugateMethod.Lbfgs, 1003)]
    public void ConjugateSolveIsIdenticalInEveryForm(ConjugateMethod method, int n)
    {
        const int d = 3;
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, d, 0.8, 0.5);
        var x = TestData.Normal(n * d, 31, scale: 3);
        if (n > 1)
        {
            x[d] = float.NaN; // point 1 ends NonFinite
        }

        var options = new ConjugateOptions { Method = method, MaxIterations = 40 };

        (float[] Y, ConjugateResult Result) Solve()
        {
            using var solver = new ConjugateSolver(ctx);
            var y = solver.Decode(w, x, options, out var result);
            return (y, result);
        }

        var expected = With(PointLaunchForm.OnePerPoint, null, Solve);
        Assert.True(expected.Result.Iterations > 1, "the quartic should need several iterations");
        foreach (var (form, threads) in LoopedForms)
        {
            var actual = With(form, threads, Solve);
            string what = $"{method} n={n} {form}/{threads}";
            AssertBitIdentical(expected.Y, actual.Y, what + " y");
            AssertBitIdentical([.. expected.Result.Residuals], [.. actual.Result.Residuals], what + " residuals");
            Assert.Equal(expected.Result.PointStatus, actual.Result.PointStatus);
            Assert.Equal(expected.Result.PointIterations, actual.Result.PointIterations);
            Assert.Equal((expected.Result.Status, expected.Result.Iterations, expected.Result.ConvergedFraction),
                (actual.Result.Status, actual.Result.Iterations, actual.Result.ConvergedFraction));
        }
    }

    [Theory]
    [InlineData(IcnnOptimizerMethod.Adam, 0f)]
    [InlineData(IcnnOptimizerMethod.Adam, 0.5f)]
    [InlineData(IcnnOptimizerMethod.Sgd, 0.5f)]
    public void ParameterKernelsAreIdenticalOnTheHostAndLaunched(IcnnOptimizerMethod method, float maxNorm)
    {
        // The light per-parameter kernels (slot reduction, effective parameters, gradient norm, clip factor, Adam / SGD) as
        // host loops (the CPU accelerator's default) and launched; on GPUs both runs launch them.
        var ctx = fixture.Context;
        var arch = Icnn.IcnnCases.Arch(2, [9, 7], 1, IcnnActivation.Softplus, preconditioned: true);
        var theta = Icnn.IcnnCases.RandomTheta((int)new IcnnLayout(arch).ParameterCount, 3);
        var data = TestData.Normal(2 * 37, 4, scale: 2);
        var model = TestData.Normal(2 * 29, 5, scale: 1.5, shift: 0.5);

        (float[] Parameters, float[] Gradient, float Loss) Run(bool host)
        {
            var launch = PointLaunch.For(ctx);
            try
            {
                launch.LightKernelsOnHost = host;
                using var pot = IcnnPotential.FromParameters(ctx, arch, theta);
                using var opt = new IcnnOptimizer(pot, new IcnnOptimizerOptions { Method = method, LearningRate = 0.05f, MaxGradientNorm = maxNorm });
                using var dd = DevicePoints.Upload(ctx, data, 2);
                using var dm = DevicePoints.Upload(ctx, model, 2);
                using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
                using var loss = DeviceVector.Allocate(ctx, 1);
                for (int step = 0; step < 3; step++)
                {
                    pot.SemiDualParameterGradient(dd, dm, grad, loss);
                    opt.Step(grad);
                }

                return (pot.Parameters.ToArray(), grad.ToArray(), loss.ToArray()[0]);
            }
            finally
            {
                launch.LightKernelsOnHost = true;
            }
        }

        var launched = Run(host: false);
        var hosted = Run(host: true);
        AssertBitIdentical(launched.Parameters, hosted.Parameters, $"{method} parameters");
        AssertBitIdentical(launched.Gradient, hosted.Gradient, $"{method} gradient");
        Assert.Equal(BitConverter.SingleToInt32Bits(launched.Loss), BitConverter.SingleToInt32Bits(hosted.Loss));
    }
}
