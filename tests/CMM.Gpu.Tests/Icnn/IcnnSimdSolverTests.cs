using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// The SIMD form of the fused Newton conjugate solve on the CPU accelerator (<see cref="IcnnSimdSolver"/>) against the scalar
/// pointer form (<see cref="IcnnCpuKernels.SolveNewton{TAct}"/>). The two run the same iteration with the same operations
/// but for the activations' vector exp and log (last-bit differences), so they agree on statuses and, within one, on
/// iteration counts, and their solutions within what the residuals allow: |y_a - y_b| &lt;= (res_a + res_b) / alpha.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnSimdSolverTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(1, new[] { 7 }, 0, false, false)]
    [InlineData(1, new[] { 6, 5, 4 }, 1, true, true)]
    [InlineData(2, new[] { 6, 5, 4 }, 1, true, true)]
    [InlineData(2, new[] { 9 }, 0, false, true)]
    [InlineData(5, new[] { 9 }, 2, true, false)]
    [InlineData(5, new[] { 8, 7, 6 }, 0, false, true)]
    [InlineData(16, new[] { 12, 10, 9 }, 3, false, true)]
    [InlineData(16, new[] { 11 }, 1, true, false)]
    [InlineData(24, new[] { 10, 8 }, 2, false, true)]
    [InlineData(64, new[] { 16, 16 }, 4, true, false)]
    public void SimdSolveMatchesTheScalarSolve(int d, int[] widths, int rank, bool elu, bool preconditioned)
    {
        if (!IcnnSimdSolver.IsSupported(d))
        {
            return; // no AVX2 here: the library runs the scalar form
        }

        const int n = 37; // four groups of 8 and a tail of 5
        var (arch, theta, x, start) = IcnnCases.SolveCase(d, widths, rank, elu, preconditioned, n, seed: 31); // non-finite targets at 3 and n - 2
        var ctx = fixture.Context;
        var cases = new (string Name, ConjugateOptions Options, bool Warm)[]
        {
            ("cold", new ConjugateOptions { Method = ConjugateMethod.Newton }, false),
            ("warm", new ConjugateOptions { Method = ConjugateMethod.Newton, WarmStart = true }, true),
            ("cap", new ConjugateOptions { Method = ConjugateMethod.Newton, MaxIterations = 2 }, false),
            ("tight", new ConjugateOptions { Method = ConjugateMethod.Newton, AbsoluteTolerance = 1e-7, RelativeTolerance = 0, MaxLineSearchSteps = 8 }, false),
        };

        (float[] Y, ConjugateResult R) Run(bool simd, ConjugateOptions options, bool warm)
        {
            using var pot = IcnnPotential.FromParameters(ctx, arch, theta, new IcnnPotentialOptions { SimdNewtonOnCpu = simd });
            using var solver = new ConjugateSolver(ctx);
            using var dx = DevicePoints.Upload(ctx, x, d);
            using var dy = warm ? DevicePoints.Upload(ctx, start, d) : DevicePoints.Allocate(ctx, n, d);
            var result = solver.Solve(pot, dx, dy, options);
            return (dy.ToArray(), result);
        }

        bool capped = false;
        foreach (var (name, options, warm) in cases)
        {
            var (ya, ra) = Run(simd: true, options, warm);
            var (yb, rb) = Run(simd: false, options, warm);
            for (int i = 0; i < n; i++)
            {
                string at = $"{name}, d = {d}, point {i}";
                if (name == "tight" && ra.Residuals[i] < 1e-5 && rb.Residuals[i] < 1e-5)
                {
                    // A tolerance below float noise: whether a point meets it, and when, is down to the last bits of grad w, and
                    // the slack lets the line search accept steps that change nothing, so a point may also run to the cap.
                    capped |= rb.PointStatus[i] == ConjugatePointStatus.MaxIterations;
                    Assert.True(Distance(ya, yb, i, d) <= ((ra.Residuals[i] + rb.Residuals[i]) / arch.Alpha) + 1e-5, $"{at}: solutions apart");
                    continue;
                }

                Assert.True(ra.PointStatus[i] == rb.PointStatus[i], $"{at}: status {ra.PointStatus[i]} (SIMD) vs {rb.PointStatus[i]} (scalar); iterations {ra.PointIterations[i]} vs {rb.PointIterations[i]}, residuals {ra.Residuals[i]} vs {rb.Residuals[i]}");
                Assert.True(Math.Abs(ra.PointIterations[i] - rb.PointIterations[i]) <= 1,
                    $"{at}: iterations {ra.PointIterations[i]} (SIMD) vs {rb.PointIterations[i]} (scalar)");
                capped |= rb.PointStatus[i] == ConjugatePointStatus.MaxIterations;
                if (rb.PointStatus[i] == ConjugatePointStatus.NonFinite)
                {
                    Assert.True(i == 3 || i == n - 2, $"{at}: non-finite");
                    continue;
                }

                double bound = ((ra.Residuals[i] + rb.Residuals[i]) / arch.Alpha) + 1e-5;
                double dist = Distance(ya, yb, i, d);
                Assert.True(dist <= bound * (1 + 1e-3), $"{at}: |y_simd - y_scalar| = {dist} > {bound}");
            }

            Assert.Equal(ConjugatePointStatus.NonFinite, ra.PointStatus[3]);
            Assert.Equal(ConjugatePointStatus.NonFinite, ra.PointStatus[n - 2]);
        }

        Assert.True(capped, "some point hit the iteration cap");
    }

    private static double Distance(float[] a, float[] b, int i, int d) => IcnnCases.Distance(a, b, i, d);
}
