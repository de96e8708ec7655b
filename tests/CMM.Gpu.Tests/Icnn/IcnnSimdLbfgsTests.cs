using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;
using ILGPU.Runtime;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// The SIMD form of the fused L-BFGS conjugate solve on the CPU accelerator (<see cref="IcnnSimdSolver.TrySolveLbfgs{TAct}"/>)
/// against the scalar pointer form (<see cref="IcnnLbfgsCpuKernels.SolveLbfgs{TAct}"/>), through the public solver. The two
/// run the same iteration with the same operations but for the activations' vector exp and log (last-bit differences, which
/// the L-BFGS history carries on), so they agree on statuses but for points that end near a threshold, and their solutions
/// within what the residuals allow: |y_a - y_b| &lt;= (res_a + res_b) / alpha (w is alpha-strongly convex). A point's result
/// does not depend on its batch, its lane or the number of blocks (bit for bit).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnSimdLbfgsTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(2, new[] { 9, 7 }, 1, false, false)]
    [InlineData(2, new[] { 6, 5, 4 }, 1, true, true)]
    [InlineData(20, new[] { 12, 10 }, 3, false, true)]
    [InlineData(20, new[] { 11 }, 2, true, false)]
    [InlineData(64, new[] { 16, 12 }, 3, false, false)]
    [InlineData(64, new[] { 10 }, 2, true, false)]
    public void SimdSolveMatchesTheScalarSolve(int d, int[] widths, int rank, bool elu, bool preconditioned)
    {
        if (!IcnnSimdSolver.IsLbfgsSupported(d))
        {
            return; // no AVX2 here: the library runs the scalar form
        }

        const int n = 37; // four groups of 8 and a tail of 5
        var (arch, theta, x, start) = IcnnCases.SolveCase(d, widths, rank, elu, preconditioned, n, seed: 41); // non-finite targets at 3 and n - 2
        // A cap well above the iterations the points need (up to about 100 at d = 64), so that few points end near it.
        var lbfgs = new ConjugateOptions { Method = ConjugateMethod.Lbfgs, MaxIterations = 300 };
        var cases = new (string Name, ConjugateOptions Options, bool Warm)[]
        {
            ("cold", lbfgs, false),
            ("warm", lbfgs with { WarmStart = true }, true),
            ("cap", lbfgs with { MaxIterations = 4, History = 2 }, false),
            ("history 1", lbfgs with { History = 1, AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 }, false),
            ("steep", lbfgs with { Armijo = 0.49, MaxLineSearchSteps = 1 }, false), // one halving at most: points stall
            ("tight", lbfgs with { AbsoluteTolerance = 1e-7, RelativeTolerance = 0, MaxLineSearchSteps = 8, MaxIterations = 60 }, false),
        };

        var seen = new HashSet<ConjugatePointStatus>();
        foreach (var (name, options, warm) in cases)
        {
            var (ya, ra, ga) = Solve(arch, theta, x, warm ? start : null, d, options, simd: true);
            var (yb, rb, _) = Solve(arch, theta, x, warm ? start : null, d, options, simd: false);
            int differ = 0;
            long itersA = 0, itersB = 0;
            for (int i = 0; i < n; i++)
            {
                string at = $"{name}, d = {d}, point {i}";
                string both = $"status {ra.PointStatus[i]} (SIMD) vs {rb.PointStatus[i]} (scalar); iterations {ra.PointIterations[i]} vs {rb.PointIterations[i]}, residuals {ra.Residuals[i]} vs {rb.Residuals[i]}";
                seen.Add(ra.PointStatus[i]);
                if (i == 3 || i == n - 2)
                {
                    Assert.True(ra.PointStatus[i] == ConjugatePointStatus.NonFinite && rb.PointStatus[i] == ConjugatePointStatus.NonFinite, $"{at}: {both}");
                    Assert.Equal(0, ra.PointIterations[i]);
                    continue;
                }

                // The residual is |grad w(y) - x| at the returned y (here from the scalar gradient kernel: float rounding apart).
                double res = Distance(ga, x, i, d);
                Assert.True(Math.Abs(ra.Residuals[i] - res) <= 1e-5 + (1e-3 * res), $"{at}: residual {ra.Residuals[i]}, |grad w(y) - x| = {res}");
                double bound = ((ra.Residuals[i] + rb.Residuals[i]) / arch.Alpha) + 1e-5;
                double dist = Distance(ya, yb, i, d);
                Assert.True(dist <= bound * (1 + 1e-3), $"{at}: |y_simd - y_scalar| = {dist} > {bound}");
                if (ra.PointStatus[i] == rb.PointStatus[i])
                {
                    itersA += ra.PointIterations[i];
                    itersB += rb.PointIterations[i];
                    continue;
                }

                // A point may end otherwise only near a threshold: a tolerance at float noise (both residuals within 100 times
                // it, or below 1e-5 for the tight case, as in the Newton tests), or the iteration cap (within a fifth of it).
                differ++;
                double tol = options.AbsoluteTolerance + (options.RelativeTolerance * Distance(x, new float[x.Length], i, d));
                bool nearTolerance = Math.Max(ra.Residuals[i], rb.Residuals[i]) <= Math.Max(100 * tol, name == "tight" ? 1e-5 : 0);
                bool nearCap = Math.Max(ra.PointIterations[i], rb.PointIterations[i]) >= 0.8 * options.MaxIterations;
                Assert.True(nearTolerance || nearCap, $"{at}: {both}");
            }

            Assert.True(differ <= (name == "tight" ? n : n / 10), $"{name}, d = {d}: {differ} of {n} statuses differ");

            // The last bits of exp and log, carried on by the history, move where a long solve ends by a few steps either way
            // (at d = 2 the iteration counts are mostly equal), not how many steps the points need.
            Assert.True(Math.Abs(itersA - itersB) <= (0.1 * itersB) + n, $"{name}, d = {d}: {itersA} iterations in all (SIMD) vs {itersB} (scalar)");
        }

        Assert.Contains(ConjugatePointStatus.Converged, seen);
        Assert.Contains(ConjugatePointStatus.MaxIterations, seen);
        Assert.Contains(ConjugatePointStatus.Stalled, seen);
    }

    [Fact]
    public void APointsResultDoesNotDependOnItsBlockLaneOrBatch()
    {
        // Blocks of points run in parallel and lanes stream through a block, so a point's lane and rounds depend on the block
        // count and on the other points; its result must not, bit for bit: 1 and 4 blocks (and the library's default), and
        // some points solved alone (n = 1: one lane, seven idle).
        const int d = 20, n = 75; // nine groups of 8 and a tail of 3
        var arch = IcnnCases.Arch(d, [10, 8], 2, IcnnActivation.Softplus);
        var theta = IcnnCases.RandomTheta((int)new IcnnLayout(arch).ParameterCount, 61);
        var x = TestData.Normal(n * d, 62, scale: 2);
        x[10 * d] = float.NaN;
        var options = new ConjugateOptions { Method = ConjugateMethod.Lbfgs, History = 5, MaxIterations = 200 };
        var launch = PointLaunch.For(fixture.Context);
        int threads = launch.LoopThreads;
        (float[] Y, ConjugateResult R, float[] G) a, b, c;
        try
        {
            launch.LoopThreads = 1;
            a = Solve(arch, theta, x, null, d, options, simd: true);
            launch.LoopThreads = 4;
            b = Solve(arch, theta, x, null, d, options, simd: true);
        }
        finally
        {
            launch.LoopThreads = threads;
        }

        c = Solve(arch, theta, x, null, d, options, simd: true);
        Assert.True(a.R.PointIterations.Distinct().Count() >= 3, "the points should need different numbers of iterations");
        foreach (var other in new[] { b, c })
        {
            Assert.Equal(a.Y, other.Y);
            Assert.Equal(a.R.PointStatus, other.R.PointStatus);
            Assert.Equal(a.R.PointIterations, other.R.PointIterations);
            Assert.Equal(a.R.Residuals, other.R.Residuals);
        }

        foreach (int i in new[] { 0, 10, 37, n - 1 })
        {
            var alone = Solve(arch, theta, x.AsSpan(i * d, d).ToArray(), null, d, options, simd: true);
            Assert.Equal(a.Y.AsSpan(i * d, d).ToArray(), alone.Y);
            Assert.Equal(a.R.PointStatus[i], alone.R.PointStatus[0]);
            Assert.Equal(a.R.PointIterations[i], alone.R.PointIterations[0]);
            Assert.Equal(a.R.Residuals[i], alone.R.Residuals[0]);
        }
    }

    [Fact]
    public void NoPointsWriteNothingAndUnsupportedCallsDoNothing()
    {
        var acc = fixture.Context.Accelerator;
        using var eff = acc.Allocate1D<float>(1);
        using var lay = acc.Allocate1D<int>(1);
        using var x = acc.Allocate1D<float>(1);
        float[] seven = [7f];
        int[] sentinels = [-7, -7];
        using var y = acc.Allocate1D(seven);
        using var ints = acc.Allocate1D(sentinels);
        using var res = acc.Allocate1D(seven);
        var settings = new LbfgsSettings(1e-4f, 1e-4f, 1e-4f, 1e-9f, 100, 8);
        bool Run(int d, int count, LbfgsSettings s) => IcnnSimdSolver.TrySolveLbfgs<SoftplusActivation>(
            eff.View, lay.View, new IcnnDims { Dim = d, Count = count }, x.View, y.View, ints.View, res.View, s, 4);

        Assert.Equal(IcnnSimdSolver.IsLbfgsSupported(3), Run(3, 0, settings));
        Assert.False(Run(0, 1, settings)); // no such dimension
        if (IcnnSimdSolver.IsLbfgsSupported(3))
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => Run(3, 0, settings with { History = 0 }));
        }

        Assert.Equal(seven, y.GetAsArray1D());
        Assert.Equal(sentinels, ints.GetAsArray1D());
        Assert.Equal(seven, res.GetAsArray1D());
    }

    private (float[] Y, ConjugateResult R, float[] G) Solve(IcnnArchitecture arch, float[] theta, float[] x, float[]? start, int d, ConjugateOptions options, bool simd)
    {
        var ctx = fixture.Context;
        int n = x.Length / d;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, new IcnnPotentialOptions { SimdLbfgsOnCpu = simd });
        using var solver = new ConjugateSolver(ctx);
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var dy = start is null ? DevicePoints.Allocate(ctx, n, d) : DevicePoints.Upload(ctx, start, d);
        var result = solver.Solve(pot, dx, dy, options);
        using var w = DeviceVector.Allocate(ctx, n);
        using var g = DevicePoints.Allocate(ctx, n, d);
        pot.ValueAndGradient(dy, w, g);
        return (dy.ToArray(), result, g.ToArray());
    }

    private static double Distance(float[] a, float[] b, int i, int d) => IcnnCases.Distance(a, b, i, d);
}
