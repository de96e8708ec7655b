using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Costs;
using CMM.Gpu.Kernels.Sinkhorn;
using CMM.Gpu.Tests.Infrastructure;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Tests.Sinkhorn;

/// <summary>
/// The CPU accelerator runs the row kernels in their <see cref="RowCpuKernels"/> form (blocks of rows, pointer accesses);
/// GPUs run the one-thread-per-row ArrayView kernels, which the solver never launches on the CPU accelerator. These tests
/// launch both forms directly on the same inputs and require bit-identical outputs, for uneven blocks and a grid-stride
/// split, with zero-mass points (log-weight -inf), the in-place update (old and new potential the same buffer), the
/// transposed stored update and both plan modes. The solver tests then check the CPU form against the double reference.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class RowCpuKernelTests(AcceleratorFixture fixture)
{
    private const int N = 37, M = 29;

    private static readonly PointRange[] Ranges = [PointRange.Blocks(N, 5), PointRange.Blocks(N, N), PointRange.GridStride(N, 4)];

    private static int Threads(PointRange r) => r.Stride > 1 ? r.Stride : (r.Count + r.PerThread - 1) / r.PerThread;

    private Accelerator Acc => fixture.Context.Accelerator;

    private MemoryBuffer1D<float, Stride1D.Dense> Buffer(float[] values) => Acc.Allocate1D(values);

    private static float[] LogWeights(int count, int seed)
    {
        var w = TestData.Normal(count, seed, scale: 0.3, shift: -Math.Log(count));
        w[1] = float.NegativeInfinity;
        w[count - 2] = float.NegativeInfinity;
        return w;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(17)]
    public void OnlineUpdateMatchesTheRowPerThreadKernel(int d)
    {
        var rowKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(SinkhornKernels.UpdateOnlineRowPerThread);
        var cpuKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, float>(RowCpuKernels.UpdateOnline);
        using var own = Buffer(TestData.Normal(N * d, 1));
        using var other = Buffer(TestData.Normal(M * d, 2));
        using var h = Buffer(TestData.Normal(M, 3, scale: 0.5));
        using var lw = Buffer(LogWeights(M, 4));
        using var ownLw = Buffer(LogWeights(N, 5));
        var old = TestData.Normal(N, 6, scale: 0.5);
        foreach (float omega in new[] { 1f, 1.3f })
        {
            // In place (old == new), as the solver's g update does.
            using var refPot = Buffer(old);
            using var refErr = Acc.Allocate1D<float>(N);
            rowKernel(N, own.View, other.View, h.View, lw.View, ownLw.View, refPot.View, refPot.View, refErr.View, M, d, 0.3f, omega);
            foreach (var range in Ranges)
            {
                using var pot = Buffer(old);
                using var err = Acc.Allocate1D<float>(N);
                cpuKernel(Threads(range), range, own.View, other.View, h.View, lw.View, ownLw.View, pot.View, pot.View, err.View, M, d, 0.3f, omega);
                Assert.Equal(refPot.GetAsArray1D(), pot.GetAsArray1D());
                Assert.Equal(refErr.GetAsArray1D(), err.GetAsArray1D());
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void StoredUpdateMatchesTheRowPerThreadKernel(int transposed)
    {
        var rowKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(SinkhornKernels.UpdateStoredRowPerThread);
        var cpuKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, float>(RowCpuKernels.UpdateStored);

        // Own = rows of an [N, M] matrix, or own = columns of an [M, N] matrix (ld = N).
        int ld = transposed == 0 ? M : N;
        var c = TestData.Normal(N * M, 7);
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = Math.Abs(c[i]);
        }

        using var cost = Buffer(c);
        using var h = Buffer(TestData.Normal(M, 8, scale: 0.5));
        using var lw = Buffer(LogWeights(M, 9));
        using var ownLw = Buffer(LogWeights(N, 10));
        using var old = Buffer(TestData.Normal(N, 11, scale: 0.5));
        using var refNew = Acc.Allocate1D<float>(N);
        using var refErr = Acc.Allocate1D<float>(N);
        rowKernel(N, cost.View, transposed, ld, h.View, lw.View, ownLw.View, old.View, refNew.View, refErr.View, M, 0.2f, 1f);
        foreach (var range in Ranges)
        {
            using var fresh = Acc.Allocate1D<float>(N);
            using var err = Acc.Allocate1D<float>(N);
            cpuKernel(Threads(range), range, cost.View, transposed, ld, h.View, lw.View, ownLw.View, old.View, fresh.View, err.View, M, 0.2f, 1f);
            Assert.Equal(refNew.GetAsArray1D(), fresh.GetAsArray1D());
            Assert.Equal(refErr.GetAsArray1D(), err.GetAsArray1D());
        }
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(1, 1)]
    public void PlanApplicationMatchesTheRowPerThreadKernel(int mode, int k)
    {
        const int d = 3;
        var rowKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(SinkhornKernels.ApplyRowPerThread);
        var cpuKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(RowCpuKernels.Apply);
        using var own = Buffer(TestData.Normal(N * d, 12));
        using var other = Buffer(TestData.Normal(M * d, 13));
        using var f = Buffer(TestData.Normal(N, 14, scale: 0.5));
        using var ownLw = Buffer(LogWeights(N, 15));
        using var g = Buffer(TestData.Normal(M, 16, scale: 0.5));
        using var lw = Buffer(LogWeights(M, 17));
        using var values = Buffer(TestData.Normal(M * k, 18));
        using var refOut = Acc.Allocate1D<float>(N * k);
        rowKernel(N, own.View, other.View, f.View, ownLw.View, g.View, lw.View, values.View, refOut.View, M, d, k, 0.4f, mode);
        foreach (var range in Ranges)
        {
            using var output = Acc.Allocate1D<float>(N * k);
            cpuKernel(Threads(range), range, own.View, other.View, f.View, ownLw.View, g.View, lw.View, values.View, output.View, M, d, k, 0.4f, mode);
            Assert.Equal(refOut.GetAsArray1D(), output.GetAsArray1D());
        }

        Assert.Contains(refOut.GetAsArray1D(), v => v != 0f);
    }

    [Fact]
    public void CostRowsMatchTheRowPerThreadKernel()
    {
        const int d = 5;
        using var x = Buffer(TestData.Normal(N * d, 19));
        using var y = Buffer(TestData.Normal(M * d, 20));
        foreach (bool half in new[] { true, false })
        {
            var rowKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                half ? CostKernels.RowPerThread<HalfSquaredEuclidean> : CostKernels.RowPerThread<Euclidean>);
            var cpuKernel = Acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                half ? RowCpuKernels.Cost<HalfSquaredEuclidean> : RowCpuKernels.Cost<Euclidean>);
            using var refCost = Acc.Allocate1D<float>(N * M);
            rowKernel(N, x.View, y.View, refCost.View, M, d);
            foreach (var range in Ranges)
            {
                using var cost = Acc.Allocate1D<float>(N * M);
                cpuKernel(Threads(range), range, x.View, y.View, cost.View, M, d);
                Assert.Equal(refCost.GetAsArray1D(), cost.GetAsArray1D());
            }
        }
    }
}
