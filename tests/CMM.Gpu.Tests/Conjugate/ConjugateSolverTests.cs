using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Tests.Infrastructure;
using CMM.Gpu.Tests.Potentials;

namespace CMM.Gpu.Tests.Conjugate;

[Collection(AcceleratorTestGroup.Name)]
public sealed class ConjugateSolverTests(AcceleratorFixture fixture)
{
    /// <summary>grad w*(x) = A^-1 (x - b) for w = 1/2 x'Ax + b'x + c, in double.</summary>
    private static double[] ClosedForm(double[,] a, double[] b, float[] x, int i, int d)
    {
        var m = (double[,])a.Clone();
        var z = Enumerable.Range(0, d).Select(k => x[i * d + k] - b[k]).ToArray();
        for (int c = 0; c < d; c++)
        {
            for (int r = c + 1; r < d; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < d; k++)
                {
                    m[r, k] -= f * m[c, k];
                }

                z[r] -= f * z[c];
            }
        }

        for (int r = d - 1; r >= 0; r--)
        {
            double t = z[r];
            for (int k = r + 1; k < d; k++)
            {
                t -= m[r, k] * z[k];
            }

            z[r] = t / m[r, r];
        }

        return z;
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton, 1, 1)]
    [InlineData(ConjugateMethod.Newton, 17, 3)]
    [InlineData(ConjugateMethod.Lbfgs, 9, 5)]
    [InlineData(ConjugateMethod.Auto, 7, 20)]
    public void QuadraticMatchesClosedForm(ConjugateMethod method, int n, int d)
    {
        var ctx = fixture.Context;
        var a = ClosedFormPotentialTests.SpdMatrix(d, 50 + d);
        var b = TestData.Normal(d, 60 + d).Select(v => (double)v).ToArray();
        using var w = new QuadraticPotential(ctx, a, b, 1.5);
        var x = TestData.Normal(n * d, 70 + n, scale: 2);
        using var solver = new ConjugateSolver(ctx);
        var y = solver.Decode(w, x, new ConjugateOptions { Method = method, AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 }, out var result);
        Assert.Equal(ConjugateStatus.Converged, result.Status);
        Assert.Equal(1.0, result.ConvergedFraction);
        Assert.Equal(method == ConjugateMethod.Auto ? ConjugateMethod.Lbfgs : method, result.Method);
        Assert.All(result.Residuals, r => Assert.True(r <= 1e-5 * 20));
        if (method == ConjugateMethod.Newton)
        {
            // Exact Hessian on a quadratic: one Newton step, then the convergence check.
            Assert.All(result.PointIterations, it => Assert.InRange(it, 0, 2));
        }

        for (int i = 0; i < n; i++)
        {
            var expected = ClosedForm(a, b, x, i, d);
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(expected[k], y[i * d + k], 1e-4, 1e-4, $"y[{i},{k}]");
            }
        }
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton, 2)]
    [InlineData(ConjugateMethod.Lbfgs, 3)]
    public void DecodeOfEncodeIsIdentityForTheQuartic(ConjugateMethod method, int d)
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, d, 0.8, 0.5);
        const int n = 29;
        var y0 = TestData.Normal(n * d, 80 + d, scale: 2);
        using var dy = DevicePoints.Upload(ctx, y0, d);
        using var dx = DevicePoints.Allocate(ctx, n, d);
        ConjugateSolver.Encode(w, dy, dx);
        using var back = DevicePoints.Allocate(ctx, n, d);
        using var solver = new ConjugateSolver(ctx);
        var result = solver.Solve(w, dx, back, new ConjugateOptions { Method = method, AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 });
        Assert.Equal(ConjugateStatus.Converged, result.Status);
        var y = back.ToArray();
        for (int i = 0; i < y.Length; i++)
        {
            // grad w has slope >= 0.5, so |y - y0| <= |residual| / 0.5.
            Approx.Equal(y0[i], y[i], 1e-4, 1e-4, $"y[{i}]");
        }
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton, false)]
    [InlineData(ConjugateMethod.Lbfgs, false)]
    [InlineData(ConjugateMethod.Newton, true)]
    [InlineData(ConjugateMethod.Lbfgs, true)]
    public void PackingTheActivePointsLeavesEveryPointsSolveUnchanged(ConjugateMethod method, bool hostDriven)
    {
        // Once some points converge, the solver evaluates the potential only at the points still active, packed. A point
        // solved alone is never packed; its result, status and iteration count must be exactly those it gets in the batch.
        const int n = 40, d = 2;
        var ctx = fixture.Context;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [8, 8], Rank = 1, Alpha = 0.1f };
        using var w = IcnnPotential.FromParameters(ctx, arch, TestData.Normal((int)new IcnnLayout(arch).ParameterCount, 81, scale: 0.9));
        var x = TestData.Normal(n * d, 82, scale: 2.5);
        var options = new ConjugateOptions { Method = method, AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 };
        using var solver = new ConjugateSolver(ctx) { BatchedOnly = hostDriven }; // packing is the host-driven path's; the fused solves are per point too
        var batch = solver.Decode(w, x, options, out var all);
        Assert.True(all.PointIterations.Distinct().Count() >= 3, "the points should need different numbers of iterations");
        for (int i = 0; i < n; i++)
        {
            var alone = solver.Decode(w, x.AsSpan(i * d, d), options, out var one);
            Assert.Equal(batch.AsSpan(i * d, d).ToArray(), alone);
            Assert.Equal(all.PointStatus[i], one.PointStatus[0]);
            Assert.Equal(all.PointIterations[i], one.PointIterations[0]);
            Assert.Equal(all.Residuals[i], one.Residuals[0]);
        }
    }

    [Theory]
    [InlineData(1, false, 1f)]
    [InlineData(2, false, 8f)]
    [InlineData(3, true, 4f)]
    [InlineData(5, false, 1f)]
    public void TheFusedIcnnNewtonSolveMatchesTheHostDrivenOne(int d, bool elu, float sharpness)
    {
        // The same iteration in one launch: every point converges to the same solution (within the tolerance), with the
        // same status, and grad w(y) = x holds at it.
        var arch = new CMM.Gpu.Icnn.IcnnArchitecture(d)
        {
            HiddenWidths = [7, 6], Rank = Math.Min(d, 2), Alpha = 0.2f, Sharpness = sharpness,
            Activation = elu ? IcnnActivation.Elu : IcnnActivation.Softplus,
            Preconditioner = new CMM.Gpu.Icnn.IcnnPreconditioner
            {
                Centre = Enumerable.Range(0, d).Select(k => 0.3f * k).ToArray(), InputScale = Enumerable.Repeat(1.3f, d).ToArray(), OutputScale = 1.7f,
            },
        };
        var theta = TestData.Normal((int)new CMM.Gpu.Icnn.IcnnLayout(arch).ParameterCount, 21, scale: 0.6);
        const int n = 37;
        var x = TestData.Normal(n * d, 22, scale: 2.5);
        var ctx = fixture.Context;
        using var w = CMM.Gpu.Icnn.IcnnPotential.FromParameters(ctx, arch, theta);
        using var fused = new ConjugateSolver(ctx);
        using var host = new ConjugateSolver(ctx) { BatchedOnly = true };
        var options = new ConjugateOptions { Method = ConjugateMethod.Newton, AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 };
        var yf = fused.Decode(w, x, options, out var rf);
        var yh = host.Decode(w, x, options, out var rh);
        Assert.Equal(ConjugateStatus.Converged, rf.Status);
        Assert.Equal(rh.PointStatus, rf.PointStatus);
        Approx.AllEqual(yh.Select(v => (double)v).ToArray(), yf, 1e-3, 1e-3, "fused vs host-driven solution");
        var back = ConjugateSolver.Encode(w, yf);
        Approx.AllEqual(x.Select(v => (double)v).ToArray(), back, 1e-4, 1e-4, "grad w(y) = x");
        Assert.True(rf.Iterations <= rh.Iterations + 2, $"fused {rf.Iterations} vs host-driven {rh.Iterations} iterations");
    }

    [Theory]
    [InlineData(17, false, false, false)]
    [InlineData(17, true, true, false)]
    [InlineData(33, false, true, false)]
    [InlineData(33, true, false, false)]
    [InlineData(64, false, false, false)]
    [InlineData(64, true, true, false)]
    [InlineData(17, false, false, true)]
    [InlineData(17, true, true, true)]
    [InlineData(33, false, true, true)]
    [InlineData(33, true, false, true)]
    [InlineData(64, false, false, true)]
    [InlineData(64, true, true, true)]
    public void TheFusedIcnnLbfgsSolveMatchesTheHostDrivenOne(int d, bool warm, bool elu, bool simd)
    {
        // The host-driven L-BFGS iteration per point in one launch, in the same arithmetic order: the same statuses and
        // iteration counts, and solutions within (residual_a + residual_b) / alpha of each other (w is alpha-strongly
        // convex); on the CPU accelerator they are bit-identical, with the scalar forms or with the SIMD forms (simd: the
        // evaluation and the fused solve of IcnnSimdSolver, with the same lane-wise passes). Cold and warm starts, default
        // options and a cap that most points hit.
        var arch = new IcnnArchitecture(d)
        {
            HiddenWidths = [12, 10], Rank = 3, Alpha = 0.3f, Sharpness = 2f, Activation = elu ? IcnnActivation.Elu : IcnnActivation.Softplus,
        };
        var theta = TestData.Normal((int)new IcnnLayout(arch).ParameterCount, 31 + d, scale: 0.5);
        const int n = 11;
        var x = TestData.Normal(n * d, 32 + d, scale: 2.5);
        var start = TestData.Normal(n * d, 33 + d);
        var ctx = fixture.Context;
        // Bit for bit needs the same arithmetic on both sides: the SIMD forms have their own exp and log.
        using var w = IcnnPotential.FromParameters(ctx, arch, theta, new IcnnPotentialOptions { SimdEvaluateOnCpu = simd, SimdLbfgsOnCpu = simd });
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var fused = new ConjugateSolver(ctx);
        using var host = new ConjugateSolver(ctx) { BatchedOnly = true };
        foreach (var options in new[]
                 {
                     new ConjugateOptions { Method = ConjugateMethod.Lbfgs, WarmStart = warm },
                     new ConjugateOptions { Method = ConjugateMethod.Lbfgs, WarmStart = warm, MaxIterations = 6, AbsoluteTolerance = 1e-6, RelativeTolerance = 1e-6, History = 4 },
                 })
        {
            ConjugateResult Run(ConjugateSolver solver, out float[] y)
            {
                using var dy = DevicePoints.Upload(ctx, start, d);
                var r = solver.Solve(w, dx, dy, options);
                y = dy.ToArray();
                return r;
            }

            var rf = Run(fused, out var yf);
            var rh = Run(host, out var yh);
            string what = $"d = {d}, warm = {warm}, cap {options.MaxIterations}, SIMD {simd}";
            Assert.Equal(rh.PointStatus, rf.PointStatus);
            Assert.Equal(rh.PointIterations, rf.PointIterations);
            Assert.Equal(rh.Iterations, rf.Iterations);
            if (options.MaxIterations == 100)
            {
                Assert.True(rf.Status == ConjugateStatus.Converged, $"{what}: {rf.Status}");
                Assert.True(rf.PointIterations.Min() > 3, what);
            }
            else
            {
                Assert.True(rf.PointStatus.Count(s => s == ConjugatePointStatus.MaxIterations) > n / 2, $"{what}: {string.Join(", ", rf.PointStatus)}");
            }

            for (int i = 0; i < n; i++)
            {
                double dist = 0;
                for (int k = 0; k < d; k++)
                {
                    dist += Math.Pow(yf[(i * d) + k] - yh[(i * d) + k], 2);
                }

                Assert.True(Math.Sqrt(dist) <= ((rf.Residuals[i] + rh.Residuals[i]) / arch.Alpha) + 1e-6, $"{what}: point {i} is {Math.Sqrt(dist)} apart");
            }

            if (ctx.Accelerator.AcceleratorType == ILGPU.Runtime.AcceleratorType.CPU)
            {
                Assert.Equal(yh, yf);
                Assert.Equal(rh.Residuals, rf.Residuals);
            }
        }
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton)]
    [InlineData(ConjugateMethod.Lbfgs)]
    public void NonFiniteIcnnParametersOrTargetsArePointStatuses(ConjugateMethod method)
    {
        // A non-finite target fails its point only; a non-finite parameter fails every point. Fused and host-driven alike.
        const int d = 3, n = 4;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [6], Rank = 1, Alpha = 0.5f };
        var theta = TestData.Normal((int)new IcnnLayout(arch).ParameterCount, 41, scale: 0.5);
        var x = TestData.Normal(n * d, 42);
        x[(2 * d) + 1] = float.NaN;
        var ctx = fixture.Context;
        var options = new ConjugateOptions { Method = method };
        foreach (bool hostDriven in new[] { false, true })
        {
            using var solver = new ConjugateSolver(ctx) { BatchedOnly = hostDriven };
            using (var w = IcnnPotential.FromParameters(ctx, arch, theta))
            {
                solver.Decode(w, x, options, out var r);
                Assert.Equal(ConjugateStatus.NonFinite, r.Status);
                Assert.Equal(new[] { ConjugatePointStatus.Converged, ConjugatePointStatus.Converged, ConjugatePointStatus.NonFinite, ConjugatePointStatus.Converged }, r.PointStatus);
            }

            var bad = theta.ToArray();
            bad[3] = float.NaN;
            using (var w = IcnnPotential.FromParameters(ctx, arch, bad))
            {
                solver.Decode(w, TestData.Normal(n * d, 43), options, out var r);
                Assert.Equal(ConjugateStatus.NonFinite, r.Status);
                Assert.All(r.PointStatus, s => Assert.Equal(ConjugatePointStatus.NonFinite, s));
                Assert.All(r.PointIterations, it => Assert.Equal(0, it));
            }
        }
    }

    [Fact]
    public void WarmStartAtTheSolutionTakesNoIterations()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 1, 1);
        var x = TestData.Normal(22, 5, scale: 3);
        using var dx = DevicePoints.Upload(ctx, x, 2);
        using var dy = DevicePoints.Allocate(ctx, 11, 2);
        using var solver = new ConjugateSolver(ctx);
        var cold = solver.Solve(w, dx, dy);
        Assert.Equal(ConjugateStatus.Converged, cold.Status);
        Assert.True(cold.Iterations > 1);
        var warm = solver.Solve(w, dx, dy, new ConjugateOptions { WarmStart = true });
        Assert.Equal(ConjugateStatus.Converged, warm.Status);
        Assert.Equal(0, warm.Iterations);
    }

    [Fact]
    public void IterationCapIsAStatusNotAnException()
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 3, 1, 0.1);
        var x = TestData.Normal(30, 6, scale: 20);
        using var solver = new ConjugateSolver(ctx);
        var y = solver.Decode(w, x, new ConjugateOptions { Method = ConjugateMethod.Lbfgs, MaxIterations = 1, AbsoluteTolerance = 1e-6, RelativeTolerance = 0 }, out var result);
        Assert.Equal(ConjugateStatus.MaxIterations, result.Status);
        Assert.True(result.ConvergedFraction < 1);
        Assert.Contains(ConjugatePointStatus.MaxIterations, result.PointStatus);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(ConjugateMethod.Newton)]
    [InlineData(ConjugateMethod.Lbfgs)]
    public void NonFiniteTargetIsAPointStatus(ConjugateMethod method)
    {
        var ctx = fixture.Context;
        var w = new SeparableQuarticPotential(ctx, 2, 1, 1);
        var x = new[] { 1f, 2f, float.NaN, 0f, -1f, 0.5f };
        using var solver = new ConjugateSolver(ctx);
        solver.Decode(w, x, new ConjugateOptions { Method = method }, out var result);
        Assert.Equal(ConjugateStatus.NonFinite, result.Status);
        Assert.Equal(new[] { ConjugatePointStatus.Converged, ConjugatePointStatus.NonFinite, ConjugatePointStatus.Converged }, result.PointStatus);
        Assert.Equal(2.0 / 3, result.ConvergedFraction, 12);
    }

    [Fact]
    public void HostEncodeDecodeRoundTripAndShapeErrors()
    {
        var ctx = fixture.Context;
        using var w = new QuadraticPotential(ctx, new double[,] { { 3, 1 }, { 1, 2 } }, [0.5, -0.5]);
        var y0 = TestData.Normal(34, 9);
        var x = ConjugateSolver.Encode(w, y0);
        for (int i = 0; i < 17; i++)
        {
            Approx.Equal((3.0 * y0[2 * i]) + y0[(2 * i) + 1] + 0.5, x[2 * i], 1e-5, 1e-5, "encode");
        }

        using var solver = new ConjugateSolver(ctx);
        var y = solver.Decode(w, x, null, out var result);
        Assert.Equal(ConjugateStatus.Converged, result.Status);
        Approx.AllEqual(y0.Select(v => (double)v).ToArray(), y, 1e-4, 1e-4, "decode(encode(y))");

        using var x3 = Memory.DevicePoints.Allocate(ctx, 4, 3);
        using var y3 = Memory.DevicePoints.Allocate(ctx, 4, 3);
        Assert.Contains("dimension mismatch", Assert.Throws<ArgumentException>(() => solver.Solve(w, x3, y3)).Message, StringComparison.Ordinal);
        using var x2 = Memory.DevicePoints.Allocate(ctx, 4, 2);
        Assert.Throws<ArgumentException>(() => solver.Solve(w, x2, x2));
    }

    [Fact]
    public void OptionsReportEveryProblem()
    {
        var bad = new ConjugateOptions { MaxIterations = 0, History = 0, Armijo = 1, AbsoluteTolerance = 0, RelativeTolerance = 0 };
        Assert.Equal(4, bad.Validate().Count);
        Assert.Empty(new ConjugateOptions().Validate());
        Assert.Equal(ConjugateMethod.Newton, new ConjugateOptions().Resolve(16));
        Assert.Equal(ConjugateMethod.Lbfgs, new ConjugateOptions().Resolve(17));
    }
}
