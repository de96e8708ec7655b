using CMM.Gpu.Kernels.Sinkhorn;
using CMM.Gpu.Memory;
using CMM.Gpu.Sinkhorn;
using CMM.Gpu.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Tests.Sinkhorn;

/// <summary>
/// The SIMD form of the stored-cost Sinkhorn update on the CPU accelerator (<see cref="SinkhornSimd.TryUpdateStored"/>) against
/// the one-thread-per-row kernel (<see cref="SinkhornKernels.UpdateStoredRowPerThread"/>) on the same inputs: rows and
/// columns (transposed) of the stored matrix, counts that do and do not fill 8 lanes, zero-mass points (log-weight -inf),
/// relaxation, the in-place update, blocks 1 and 3, and NaN costs. Its exp is a polynomial and its sums run in another
/// order, so potentials agree to float rounding (the solver tests then check the whole solve against the double reference).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class SinkhornSimdTests(AcceleratorFixture fixture)
{
    private Accelerator Acc => fixture.Context.Accelerator;

    private static float[] LogWeights(int count, int seed)
    {
        var w = TestData.Normal(count, seed, scale: 0.3, shift: -Math.Log(count));
        w[1] = float.NegativeInfinity;
        w[count - 2] = float.NegativeInfinity;
        return w;
    }

    [Theory]
    [InlineData(0, 37, 29, 1f)]
    [InlineData(1, 37, 29, 1f)]
    [InlineData(0, 64, 64, 0.7f)]
    [InlineData(1, 64, 67, 1.3f)]
    [InlineData(1, 5, 9, 1f)] // fewer own points than lanes: the scalar body
    public void SimdUpdateMatchesTheRowKernel(int transposed, int n, int m, float omega)
    {
        if (!SinkhornSimd.IsSupported)
        {
            return; // no AVX2 here: the library runs the scalar form
        }

        var row = Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(SinkhornKernels.UpdateStoredRowPerThread);
        int ld = transposed == 0 ? m : n;
        var c = TestData.Normal(n * m, 7).Select(v => Math.Abs(v) * 3f).ToArray();
        using var cost = Acc.Allocate1D(c);
        using var h = Acc.Allocate1D(TestData.Normal(m, 8, scale: 0.5));
        using var lw = Acc.Allocate1D(LogWeights(m, 9));
        using var ownLw = Acc.Allocate1D(LogWeights(n, 10));
        var oldValues = TestData.Normal(n, 11, scale: 0.5);
        using var old = Acc.Allocate1D(oldValues);
        using var refNew = Acc.Allocate1D<float>(n);
        using var refErr = Acc.Allocate1D<float>(n);
        const float eps = 0.2f;
        row(n, cost.View, transposed, ld, h.View, lw.View, ownLw.View, old.View, refNew.View, refErr.View, m, eps, omega);
        var expectNew = refNew.GetAsArray1D();
        var expectErr = refErr.GetAsArray1D();
        foreach (int blocks in new[] { 1, 3 })
        {
            using var fresh = Acc.Allocate1D<float>(n);
            using var err = Acc.Allocate1D<float>(n);
            Assert.True(SinkhornSimd.TryUpdateStored(cost.View, transposed, ld, h.View, lw.View, ownLw.View, old.View, fresh.View, err.View, n, m, eps, omega, blocks));
            AssertClose(expectNew, fresh.GetAsArray1D(), 2e-5, $"potential, blocks {blocks}");
            AssertClose(expectErr, err.GetAsArray1D(), 1e-4, $"error, blocks {blocks}");

            // In place: old and new the same buffer.
            using var inPlace = Acc.Allocate1D(oldValues);
            Assert.True(SinkhornSimd.TryUpdateStored(cost.View, transposed, ld, h.View, lw.View, ownLw.View, inPlace.View, inPlace.View, err.View, n, m, eps, omega, blocks));
            AssertClose(expectNew, inPlace.GetAsArray1D(), 2e-5, $"in-place potential, blocks {blocks}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void ANanCostMakesItsPointNonFiniteAsInTheRowKernel(int transposed)
    {
        if (!SinkhornSimd.IsSupported)
        {
            return;
        }

        const int n = 16, m = 24;
        int ld = transposed == 0 ? m : n;
        var c = TestData.Normal(n * m, 3).Select(v => Math.Abs(v)).ToArray();
        int own = 5, other = 11;
        c[transposed == 0 ? (own * ld) + other : (other * ld) + own] = float.NaN;
        using var cost = Acc.Allocate1D(c);
        using var h = Acc.Allocate1D(new float[m]);
        using var lw = Acc.Allocate1D(Enumerable.Repeat((float)-Math.Log(m), m).ToArray());
        using var ownLw = Acc.Allocate1D(Enumerable.Repeat((float)-Math.Log(n), n).ToArray());
        using var old = Acc.Allocate1D(new float[n]);
        using var fresh = Acc.Allocate1D<float>(n);
        using var err = Acc.Allocate1D<float>(n);
        Assert.True(SinkhornSimd.TryUpdateStored(cost.View, transposed, ld, h.View, lw.View, ownLw.View, old.View, fresh.View, err.View, n, m, 0.5f, 1f, 2));
        var e = err.GetAsArray1D();
        Assert.True(float.IsNaN(e[own]), $"error of the point with a NaN cost: {e[own]}");
        Assert.All(e.Where((_, i) => i != own), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void TheSolverGivesTheSamePlanWithAndWithoutTheSimdForm()
    {
        var ctx = fixture.Context;
        var launcher = SinkhornLauncher.For(ctx);
        var x = TestData.Normal(2 * 45, 1);
        var y = TestData.Normal(2 * 38, 2, shift: 0.5);

        SinkhornResult Run(bool simd)
        {
            try
            {
                launcher.SimdOnCpu = simd;
                using var solver = new SinkhornSolver(ctx, new SinkhornOptions { Epsilon = 0.05, CostStorage = CostStorage.Stored });
                using var dx = DevicePoints.Upload(ctx, x, 2);
                using var dy = DevicePoints.Upload(ctx, y, 2);
                return solver.Solve(dx, dy);
            }
            finally
            {
                launcher.SimdOnCpu = true;
            }
        }

        var a = Run(true);
        var b = Run(false);
        Assert.Equal(b.Converged, a.Converged);
        Assert.True(Math.Abs(a.Iterations - b.Iterations) <= 2, $"{a.Iterations} vs {b.Iterations} iterations");
        Assert.Equal(CostStorage.Stored, a.CostStorage);
        Assert.True(Math.Abs(a.TransportCost - b.TransportCost) <= 1e-4 * (1 + Math.Abs(b.TransportCost)), $"transport cost {a.TransportCost} (SIMD) vs {b.TransportCost} (scalar)");
    }

    private static void AssertClose(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]))
            {
                Assert.True(float.IsNaN(actual[i]), $"{what}[{i}]: expected NaN, got {actual[i]}");
                continue;
            }

            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"{what}[{i}]: row kernel {expected[i]:R}, SIMD {actual[i]:R}");
        }
    }
}
