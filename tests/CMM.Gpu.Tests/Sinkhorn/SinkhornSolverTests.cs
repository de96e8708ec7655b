using CMM.Gpu.Costs;
using CMM.Gpu.Memory;
using CMM.Gpu.Sinkhorn;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sinkhorn;

[Collection(AcceleratorTestGroup.Name)]
public sealed class SinkhornSolverTests(AcceleratorFixture fixture)
{
    private static readonly int[] CheckIterations = [10, 20, 30];
    private static readonly int[] CappedCheckIterations = [5, 7];

    private static double[] D(float[] v) => v.Select(x => (double)x).ToArray();

    private static (float[] X, float[] Y) Clouds(int n, int m, int d, int seed) =>
        (TestData.Normal(n * d, seed, scale: 1.0), TestData.Normal(m * d, seed + 1000, scale: 0.8, shift: 0.5));

    /// <summary>Compares centred potentials and the plan-derived quantities of a result with the converged reference.</summary>
    private static void AssertMatchesReference(SinkhornReference r, SinkhornResult result, string what)
    {
        double scale = Math.Max(1.0, r.MeanCost());
        var (fr, gr) = SinkhornReference.Centre(r.F, r.G, r.A, r.B);
        var (fa, ga) = SinkhornReference.Centre(D(result.F), D(result.G), r.A, r.B);
        Approx.AllEqual(fr, fa.Select(v => (float)v).ToArray(), 2e-3 * scale, 1e-3, what + " f");
        Approx.AllEqual(gr, ga.Select(v => (float)v).ToArray(), 2e-3 * scale, 1e-3, what + " g");
        Approx.Equal(r.TransportCost(), result.TransportCost, 1e-3 * scale, 1e-3, what + " <P, C>");
        Approx.Equal(r.PrimalObjective(), result.RegularizedCost, 1e-3 * scale, 1e-3, what + " regularised objective");
    }

    public static TheoryData<int, int, int, CostStorage, KernelVariant> Shapes()
    {
        var data = new TheoryData<int, int, int, CostStorage, KernelVariant>();
        foreach (var variant in new[] { KernelVariant.RowPerThread, KernelVariant.Tiled })
        {
            foreach (var storage in new[] { CostStorage.Online, CostStorage.Stored })
            {
                data.Add(17, 29, 3, storage, variant);
                data.Add(1, 5, 2, storage, variant);
                data.Add(13, 7, 1, storage, variant);
            }
        }

        data.Add(70, 9, 5, CostStorage.Online, KernelVariant.Tiled); // more than one tile / group on the CPU accelerator
        data.Add(9, 70, 5, CostStorage.Stored, KernelVariant.Tiled);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesDoubleReference(int n, int m, int d, CostStorage storage, KernelVariant variant)
    {
        var (x, y) = Clouds(n, m, d, seed: 3 * n + m);
        var reference = new SinkhornReference(x, y, d, null, null);
        var options = new SinkhornOptions { RelativeEpsilon = 0.1, Tolerance = 1e-5, CostStorage = storage, Variant = variant, MaxIterations = 2000 };
        using var solver = new SinkhornSolver(fixture.Context, options);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var dy = DevicePoints.Upload(fixture.Context, y, d);
        var result = solver.Solve(dx, dy);

        Assert.Equal(SinkhornStatus.Converged, result.Status);
        Assert.True(result.MarginalError <= 1e-5);
        Assert.Equal(storage, result.CostStorage);
        Approx.Equal(reference.MeanCost(), result.MeanCost, 1e-6, 1e-6, "mean cost");
        Approx.Equal(0.1 * reference.MeanCost(), result.Epsilon, 1e-7, 1e-5, "epsilon");
        reference.Solve(result.Epsilon);
        AssertMatchesReference(reference, result, $"{storage}/{variant}");
        Assert.Equal(result.ErrorHistory.Count, result.ErrorHistoryIterations.Count);
        Assert.Equal(result.MarginalError, result.ErrorHistory[^1]);
    }

    [Fact]
    public void SmallEpsilonApproachesTheExactAssignment()
    {
        const int n = 6, d = 2;
        var (x, y) = Clouds(n, n, d, seed: 42);
        var reference = new SinkhornReference(x, y, d, null, null);
        double best = double.PositiveInfinity;
        foreach (var perm in Permutations(n))
        {
            double s = 0;
            for (int i = 0; i < n; i++)
            {
                s += reference.C[i, perm[i]] / n;
            }

            best = Math.Min(best, s);
        }

        var options = new SinkhornOptions { RelativeEpsilon = 2e-3, Tolerance = 1e-4, EpsilonScaling = true, MaxIterations = 3000 };
        using var solver = new SinkhornSolver(fixture.Context, options);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var dy = DevicePoints.Upload(fixture.Context, y, d);
        var result = solver.Solve(dx, dy);
        Assert.Equal(SinkhornStatus.Converged, result.Status);
        // <P, C> >= the assignment cost; the entropic excess is at most about eps log n.
        Assert.True(result.TransportCost >= best - 1e-4 * reference.MeanCost(), $"<P,C> = {result.TransportCost} below the optimum {best}");
        Approx.Equal(best, result.TransportCost, result.Epsilon * Math.Log(n) + 1e-4, 0, "<P, C> vs exact assignment");
    }

    [Fact]
    public void StoredAndOnlineAgree()
    {
        var (x, y) = Clouds(23, 19, 4, seed: 5);
        using var dx = DevicePoints.Upload(fixture.Context, x, 4);
        using var dy = DevicePoints.Upload(fixture.Context, y, 4);
        var baseOptions = new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-5 };
        using var stored = new SinkhornSolver(fixture.Context, baseOptions with { CostStorage = CostStorage.Stored });
        using var online = new SinkhornSolver(fixture.Context, baseOptions with { CostStorage = CostStorage.Online });
        var rs = stored.Solve(dx, dy);
        var ro = online.Solve(dx, dy);
        Assert.Equal(CostStorage.Stored, rs.CostStorage);
        Assert.Equal(CostStorage.Online, ro.CostStorage);
        Assert.Equal(rs.Iterations, ro.Iterations);
        Approx.AllEqual(D(rs.F), ro.F, 1e-4, 1e-4, "f");
        Approx.AllEqual(D(rs.G), ro.G, 1e-4, 1e-4, "g");
        Approx.Equal(rs.TransportCost, ro.TransportCost, 1e-5, 1e-4, "<P, C>");
    }

    [Fact]
    public void AutoStorageFollowsTheMemoryBudget()
    {
        var (x, y) = Clouds(5, 6, 2, seed: 9);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var never = new SinkhornSolver(fixture.Context, new SinkhornOptions { MaxStoredCostBytes = 0 });
        using var fits = new SinkhornSolver(fixture.Context, new SinkhornOptions());
        Assert.Equal(CostStorage.Online, never.Solve(dx, dy).CostStorage);
        Assert.Equal(0, never.StoredCostLength);
        Assert.Equal(CostStorage.Stored, fits.Solve(dx, dy).CostStorage);
        Assert.Equal(30, fits.StoredCostLength);
        using var online = new SinkhornSolver(fixture.Context, new SinkhornOptions { CostStorage = CostStorage.Online });
        Assert.Equal(CostStorage.Online, online.Solve(dx, dy).CostStorage);
        Assert.Equal(0, online.StoredCostLength);
    }

    [Theory]
    [InlineData(CostStorage.Online, KernelVariant.RowPerThread)]
    [InlineData(CostStorage.Stored, KernelVariant.RowPerThread)]
    [InlineData(CostStorage.Online, KernelVariant.Tiled)]
    [InlineData(CostStorage.Stored, KernelVariant.Tiled)]
    public void ZeroMassEntries(CostStorage storage, KernelVariant variant)
    {
        const int n = 11, m = 9, d = 2;
        var (x, y) = Clouds(n, m, d, seed: 77);
        var a = Enumerable.Range(0, n).Select(i => i % 4 == 1 ? 0f : 1f + i).ToArray();
        var b = Enumerable.Range(0, m).Select(j => j == 0 || j == 5 ? 0f : 2f).ToArray();
        var reference = new SinkhornReference(x, y, d, D(a), D(b));
        var options = new SinkhornOptions { RelativeEpsilon = 0.1, Tolerance = 1e-5, CostStorage = storage, Variant = variant };
        using var solver = new SinkhornSolver(fixture.Context, options);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var dy = DevicePoints.Upload(fixture.Context, y, d);
        var result = solver.Solve(dx, dy, a, b);
        Assert.Equal(SinkhornStatus.Converged, result.Status);
        Assert.All(result.F, v => Assert.True(float.IsFinite(v)));
        Assert.All(result.G, v => Assert.True(float.IsFinite(v)));
        reference.Solve(result.Epsilon);
        AssertMatchesReference(reference, result, "zero mass");

        // Zero-mass rows carry the soft c-transform of g (finite and defined), and no mass in P.
        var gD = D(result.G);
        for (int i = 0; i < n; i++)
        {
            if (a[i] == 0)
            {
                Approx.Equal(reference.CTransformRow(i, gD, result.Epsilon), result.F[i], 1e-4, 1e-4, $"f[{i}] (zero mass)");
            }
        }

        var rowMass = solver.ApplyPlan(Enumerable.Repeat(1f, m).ToArray());
        var colMass = solver.ApplyPlanTransposed(Enumerable.Repeat(1f, n).ToArray());
        Approx.AllEqual(reference.A, rowMass, 1e-4, 1e-3, "row marginal");
        Approx.AllEqual(reference.B, colMass, 1e-5, 1e-4, "column marginal");
        for (int i = 0; i < n; i++)
        {
            if (a[i] == 0)
            {
                Assert.Equal(0f, rowMass[i]);
            }
        }
    }

    [Theory]
    [InlineData(CostStorage.Online, KernelVariant.RowPerThread)]
    [InlineData(CostStorage.Stored, KernelVariant.Tiled)]
    [InlineData(CostStorage.Online, KernelVariant.Tiled)]
    public void TinyEpsilonStaysFinite(CostStorage storage, KernelVariant variant)
    {
        var (x, y) = Clouds(15, 12, 3, seed: 13);
        var options = new SinkhornOptions { RelativeEpsilon = 1e-4, Tolerance = 1e-4, MaxIterations = 30, CheckEvery = 10, CostStorage = storage, Variant = variant };
        using var solver = new SinkhornSolver(fixture.Context, options);
        using var dx = DevicePoints.Upload(fixture.Context, x, 3);
        using var dy = DevicePoints.Upload(fixture.Context, y, 3);
        var result = solver.Solve(dx, dy);
        Assert.NotEqual(SinkhornStatus.Diverged, result.Status);
        Assert.False(result.RetriedWithScaling);
        Assert.All(result.F, v => Assert.True(float.IsFinite(v), "f not finite"));
        Assert.All(result.G, v => Assert.True(float.IsFinite(v), "g not finite"));
        Assert.True(double.IsFinite(result.MarginalError));
        Assert.True(double.IsFinite(result.TransportCost));
        Assert.Equal(result.ErrorHistory.Count, result.ErrorHistoryIterations.Count);
        Assert.Equal(CheckIterations.Take(result.ErrorHistory.Count), result.ErrorHistoryIterations);
    }

    [Fact]
    public void SwappingXAndYSwapsFAndG()
    {
        var (x, y) = Clouds(13, 8, 2, seed: 21);
        var a = Enumerable.Range(0, 13).Select(i => 1f + (i % 3)).ToArray();
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-5 });
        var xy = solver.Solve(dx, dy, a);
        var yx = solver.Solve(dy, dx, default, a);
        Approx.Equal(xy.Epsilon, yx.Epsilon, 0, 1e-6, "epsilon");
        var aN = D(a).Select(v => v / a.Sum()).ToArray();
        var bN = Enumerable.Repeat(1.0 / 8, 8).ToArray();
        var (f1, g1) = SinkhornReference.Centre(D(xy.F), D(xy.G), aN, bN);
        var (g2, f2) = SinkhornReference.Centre(D(yx.F), D(yx.G), bN, aN);
        Approx.AllEqual(f1, f2.Select(v => (float)v).ToArray(), 1e-4, 1e-3, "f(x,y) vs g(y,x)");
        Approx.AllEqual(g1, g2.Select(v => (float)v).ToArray(), 1e-4, 1e-3, "g(x,y) vs f(y,x)");
        Approx.Equal(xy.TransportCost, yx.TransportCost, 1e-5, 1e-4, "<P, C>");
    }

    [Theory]
    [InlineData(KernelVariant.RowPerThread)]
    [InlineData(KernelVariant.Tiled)]
    public void EntropicMapMatchesReferenceInAndOutOfSample(KernelVariant variant)
    {
        const int n = 16, m = 21, d = 3;
        var (x, y) = Clouds(n, m, d, seed: 8);
        var b = Enumerable.Range(0, m).Select(j => j == 4 ? 0f : 1f).ToArray();
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-5, Variant = variant, CostStorage = CostStorage.Online });
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var dy = DevicePoints.Upload(fixture.Context, y, d);
        var result = solver.Solve(dx, dy, default, b);
        Assert.True(result.Converged);
        var reference = new SinkhornReference(x, y, d, null, D(b));
        reference.Solve(result.Epsilon);

        // In sample: T(x_i) = sum_j P_ij y_j / a_i from the reference plan.
        using var mapped = DevicePoints.Allocate(fixture.Context, n, d);
        solver.EntropicMap(dx, mapped);
        var t = mapped.ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                double s = 0;
                for (int j = 0; j < m; j++)
                {
                    s += reference.Plan(i, j) * y[j * d + k];
                }

                Approx.Equal(s / reference.A[i], t[i * d + k], 2e-3, 2e-3, $"T(x_{i})[{k}]");
            }
        }

        // New points (including one far away): the reference softmax with the reference g.
        var q = TestData.Normal(5 * d, 99, scale: 1.5);
        q[0] = 8f;
        var tq = solver.EntropicMap(q);
        for (int i = 0; i < 5; i++)
        {
            var expected = reference.Map(q, i);
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(expected[k], tq[i * d + k], 2e-3, 2e-3, $"T(q_{i})[{k}]");
            }
        }

        // Inverse map (onto x): the barycentric projection sum_i P_ij x_i / b_j for in-sample y.
        using var inverse = DevicePoints.Allocate(fixture.Context, m, d);
        solver.InverseEntropicMap(dy, inverse);
        var ti = inverse.ToArray();
        for (int j = 0; j < m; j++)
        {
            if (b[j] == 0)
            {
                continue;
            }

            for (int k = 0; k < d; k++)
            {
                double s = 0;
                for (int i = 0; i < n; i++)
                {
                    s += reference.Plan(i, j) * x[i * d + k];
                }

                Approx.Equal(s / reference.B[j], ti[j * d + k], 2e-3, 2e-3, $"T'(y_{j})[{k}]");
            }
        }
    }

    [Fact]
    public void ApplyingThePlanMatchesTheDenseProduct()
    {
        const int n = 17, m = 29, d = 3;
        var (x, y) = Clouds(n, m, d, seed: 31);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.1, Tolerance = 1e-4 });
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var dy = DevicePoints.Upload(fixture.Context, y, d);
        var result = solver.Solve(dx, dy);
        var reference = new SinkhornReference(x, y, d, null, null);
        var v = TestData.Normal(m, 5);
        var u = TestData.Normal(n, 6);
        var pv = solver.ApplyPlan(v);
        var ptu = solver.ApplyPlanTransposed(u);

        // The dense plan from the solver's own potentials, in double.
        var fD = D(result.F);
        var gD = D(result.G);
        var expectedPv = new double[n];
        var expectedPtu = new double[m];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < m; j++)
            {
                double p = reference.Plan(i, j, fD, gD, result.Epsilon);
                expectedPv[i] += p * v[j];
                expectedPtu[j] += p * u[i];
            }
        }

        Approx.AllEqual(expectedPv, pv, 1e-6, 1e-4, "P v");
        Approx.AllEqual(expectedPtu, ptu, 1e-6, 1e-4, "P^T u");
    }

    [Fact]
    public void SinkhornDivergenceIsZeroOnItselfAndPositiveOtherwise()
    {
        var (x, y) = Clouds(14, 11, 2, seed: 17);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.1, Tolerance = 1e-5 });
        var self = solver.Divergence(dx, dx);
        var other = solver.Divergence(dx, dy);
        double scale = SinkhornSolver.MeanCost(x, y, 2);
        Assert.True(self.Converged && other.Converged);
        Assert.True(Math.Abs(self.Value) < 1e-4 * scale, $"S(x, x) = {self.Value}");
        Assert.True(other.Value > 1e-2 * scale, $"S(x, y) = {other.Value}");
        Assert.Equal(other.Cross.Epsilon, other.SelfX.Epsilon);
        Assert.Equal(other.Cross.Epsilon, other.SelfY.Epsilon);

        // Against the reference: the three primal objectives at the same epsilon.
        double eps = other.Cross.Epsilon;
        double Ot(float[] p, float[] q)
        {
            var r = new SinkhornReference(p, q, 2, null, null);
            r.Solve(eps);
            return r.PrimalObjective();
        }

        double expected = Ot(x, y) - 0.5 * Ot(x, x) - 0.5 * Ot(y, y);
        Approx.Equal(expected, other.Value, 1e-3 * scale, 1e-3, "S_eps");
    }

    [Fact]
    public void WarmStartRestartsFromThePreviousPotentials()
    {
        var (x, y) = Clouds(20, 18, 2, seed: 4);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-4 });
        var cold = solver.Solve(dx, dy);
        Assert.True(cold.Converged);
        Assert.False(cold.WarmStarted);
        var warm = solver.Solve(dx, dy, warmStart: true);
        Assert.True(warm.Converged);
        Assert.True(warm.WarmStarted);
        Assert.Equal(1, warm.Iterations);
        Approx.AllEqual(D(cold.F), warm.F, 1e-3, 1e-3, "f");

        // From host potentials.
        using var other = new SinkhornSolver(fixture.Context, solver.Options);
        other.SetPotentials(cold.F, cold.G);
        var fromHost = other.Solve(dx, dy, warmStart: true);
        Assert.True(fromHost.WarmStarted);
        Assert.Equal(1, fromHost.Iterations);

        // A size change falls back to a cold start.
        using var dy2 = DevicePoints.Upload(fixture.Context, y.AsSpan(0, 17 * 2), 2);
        Assert.False(solver.Solve(dx, dy2, warmStart: true).WarmStarted);
        Assert.Throws<ArgumentException>(() => other.SetPotentials([1f, float.NaN], [0f]));
    }

    [Fact]
    public void FittingLoopPatternWarmStartsAcrossMovedParticles()
    {
        // Data y [B, d] against particles x [P, d], the particles moving a little between outer iterations.
        const int b = 24, p = 19, d = 2;
        var data = TestData.Normal(b * d, 50);
        var particles = TestData.Normal(p * d, 51, scale: 1.2);
        using var dData = DevicePoints.Upload(fixture.Context, data, d);
        using var dParticles = DevicePoints.Upload(fixture.Context, particles, d);
        using var targets = DevicePoints.Allocate(fixture.Context, b, d);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-4, CheckEvery = 5 });
        var first = solver.Solve(dData, dParticles);
        Assert.True(first.Converged);
        for (int i = 0; i < particles.Length; i++)
        {
            particles[i] += 0.01f * MathF.Sin(i);
        }

        dParticles.CopyFrom(particles);
        var warm = solver.Solve(dData, dParticles, warmStart: true);
        Assert.True(warm.Converged);
        Assert.True(warm.WarmStarted);
        using var coldSolver = new SinkhornSolver(fixture.Context, solver.Options);
        var cold = coldSolver.Solve(dData, dParticles);
        Assert.True(warm.Iterations < cold.Iterations, $"warm {warm.Iterations} vs cold {cold.Iterations} iterations");

        // The barycentric map of each data point onto the particles, vs the reference.
        solver.EntropicMap(dData, targets);
        var t = targets.ToArray();
        var reference = new SinkhornReference(data, particles, d, null, null);
        reference.Solve(warm.Epsilon);
        for (int i = 0; i < b; i++)
        {
            var expected = reference.Map(data, i);
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(expected[k], t[i * d + k], 5e-3, 5e-3, $"T(y_{i})[{k}]");
            }
        }
    }

    [Fact]
    public void EpsilonScalingAndRelaxationReachTheSameSolution()
    {
        var (x, y) = Clouds(15, 17, 2, seed: 12);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        var o = new SinkhornOptions { RelativeEpsilon = 0.04, Tolerance = 1e-5, MaxIterations = 3000 };
        using var plain = new SinkhornSolver(fixture.Context, o);
        using var scaled = new SinkhornSolver(fixture.Context, o with { EpsilonScaling = true, ScalingStart = 50, ScalingDecay = 0.8 });
        using var relaxed = new SinkhornSolver(fixture.Context, o with { Relaxation = 1.5 });
        var rp = plain.Solve(dx, dy);
        var rs = scaled.Solve(dx, dy);
        var rr = relaxed.Solve(dx, dy);
        Assert.True(rp.Converged && rs.Converged && rr.Converged);
        Assert.Equal(rp.Epsilon, rs.Epsilon);
        var aN = Enumerable.Repeat(1.0 / 15, 15).ToArray();
        var bN = Enumerable.Repeat(1.0 / 17, 17).ToArray();
        var (fp, _) = SinkhornReference.Centre(D(rp.F), D(rp.G), aN, bN);
        foreach (var r in new[] { rs, rr })
        {
            var (f, _) = SinkhornReference.Centre(D(r.F), D(r.G), aN, bN);
            Approx.AllEqual(fp, f.Select(v => (float)v).ToArray(), 2e-3, 2e-3, "centred f");
            Approx.Equal(rp.TransportCost, r.TransportCost, 1e-4, 1e-3, "<P, C>");
        }
    }

    [Fact]
    public void IterationCapIsAStatus()
    {
        var (x, y) = Clouds(10, 10, 2, seed: 2);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.01, Tolerance = 1e-9, MaxIterations = 7, CheckEvery = 5 });
        var r = solver.Solve(dx, dy);
        Assert.Equal(SinkhornStatus.MaxIterations, r.Status);
        Assert.Equal(7, r.Iterations);
        Assert.Equal(CappedCheckIterations, r.ErrorHistoryIterations);
        Assert.True(r.MarginalError > 1e-9);
    }

    [Fact]
    public void CancellationIsAStatusAtTheNextCheck()
    {
        var (x, y) = Clouds(10, 10, 2, seed: 3);
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { RelativeEpsilon = 0.01, Tolerance = 1e-9, CheckEvery = 4 });
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = solver.Solve(dx, dy, cancellationToken: cts.Token);
        Assert.Equal(SinkhornStatus.Cancelled, r.Status);
        Assert.Equal(4, r.Iterations);
        Assert.All(r.F, v => Assert.True(float.IsFinite(v)));
        Assert.True(double.IsFinite(r.TransportCost));
    }

    [Fact]
    public void NonFiniteCostsAreReportedAsDivergedNotThrown()
    {
        // Coordinates of 1e25 square to infinity in float32: every cost is infinite.
        var x = new[] { 1e25f, 0f, -1e25f, 1f };
        var y = new[] { 0f, 1e25f, 2f, -1e25f };
        using var dx = DevicePoints.Upload(fixture.Context, x, 2);
        using var dy = DevicePoints.Upload(fixture.Context, y, 2);
        using var solver = new SinkhornSolver(fixture.Context, new SinkhornOptions { Epsilon = 1.0, MaxIterations = 20, CheckEvery = 5 });
        var r = solver.Solve(dx, dy);
        Assert.Equal(SinkhornStatus.Diverged, r.Status);
        Assert.True(r.RetriedWithScaling);
        Assert.True(double.IsNaN(r.TransportCost));
        Assert.Throws<InvalidOperationException>(() => solver.EntropicMap(x));
    }

    [Fact]
    public void MeanCostMatchesTheDoubleSum()
    {
        var (x, y) = Clouds(7, 9, 3, seed: 1);
        var a = new[] { 1f, 0f, 2f, 3f, 1f, 1f, 5f };
        var r = new SinkhornReference(x, y, 3, D(a), null);
        Approx.Equal(r.MeanCost(), SinkhornSolver.MeanCost(x, y, 3, a), 1e-9, 1e-9, "weighted mean cost");
    }

    [Fact]
    public void OptionValidationReportsEveryProblem()
    {
        Assert.Empty(new SinkhornOptions().Validate());
        var bad = new SinkhornOptions
        {
            Epsilon = -1,
            Tolerance = 0,
            MaxIterations = 0,
            CheckEvery = 0,
            EpsilonScaling = true,
            ScalingStart = 0.5,
            ScalingDecay = 1.5,
            Relaxation = 2,
            CostStorage = (CostStorage)9,
            MaxStoredCostBytes = -1,
            Variant = (KernelVariant)7,
        };
        var problems = bad.Validate();
        Assert.Equal(10, problems.Count);
        foreach (var name in new[] { "Epsilon", "Tolerance", "MaxIterations", "CheckEvery", "ScalingStart", "ScalingDecay", "Relaxation", "CostStorage", "MaxStoredCostBytes", "Variant" })
        {
            Assert.Contains(problems, p => p.StartsWith(name + " is", StringComparison.Ordinal));
        }

        Assert.Contains("RelativeEpsilon is", new SinkhornOptions { RelativeEpsilon = double.NaN }.Validate().Single(), StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => new SinkhornSolver(fixture.Context, bad));
        Assert.Contains("MaxIterations is 0: use at least 1.", e.Message, StringComparison.Ordinal);
        Assert.Contains("Relaxation is 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MisuseThrows()
    {
        using var solver = new SinkhornSolver(fixture.Context);
        using var x = DevicePoints.Upload(fixture.Context, new float[6], 3);
        using var y = DevicePoints.Upload(fixture.Context, new float[6], 2);
        using var y3 = DevicePoints.Upload(fixture.Context, new float[6], 3);
        Assert.Contains("dimension mismatch", Assert.Throws<ArgumentException>(() => solver.Solve(x, y)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => solver.Solve(x, y3, [1f]));
        Assert.Throws<ArgumentException>(() => solver.Solve(x, y3, [1f, -1f]));
        Assert.Throws<ArgumentException>(() => solver.Solve(x, y3, [0f, 0f]));
        Assert.Throws<InvalidOperationException>(() => solver.ApplyPlan([1f, 1f]));
        solver.Dispose();
        Assert.Throws<ObjectDisposedException>(() => solver.Solve(x, y3));
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        return Permute(p, 0);
    }

    private static IEnumerable<int[]> Permute(int[] p, int k)
    {
        if (k == p.Length)
        {
            yield return (int[])p.Clone();
            yield break;
        }

        for (int i = k; i < p.Length; i++)
        {
            (p[k], p[i]) = (p[i], p[k]);
            foreach (var q in Permute(p, k + 1))
            {
                yield return q;
            }

            (p[k], p[i]) = (p[i], p[k]);
        }
    }
}
