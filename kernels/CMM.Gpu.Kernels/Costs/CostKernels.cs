using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Kernels.Costs;

/// <summary>
/// Pairwise cost matrices C[i, j] = c(x_i, y_j) for row-major point clouds x [n, d] and y [m, d],
/// written row-major into C [n, m].
/// </summary>
public static class CostKernels
{
    /// <summary>
    /// CPU-friendly form: one thread per x point, inner loops over y and the dimensions, no barriers.
    /// </summary>
    /// <typeparam name="TCost">The cost as a function of the squared distance.</typeparam>
    /// <param name="i">Row index (x point).</param>
    /// <param name="x">x points, n * d.</param>
    /// <param name="y">y points, m * d.</param>
    /// <param name="cost">Output, n * m.</param>
    /// <param name="m">Number of y points.</param>
    /// <param name="d">Dimension.</param>
    public static void RowPerThread<TCost>(
        Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> cost, int m, int d)
        where TCost : struct, IPointCost
    {
        CostRow<TCost, ViewFloats>(i, new ViewFloats(x), new ViewFloats(y), new ViewFloats(cost), m, d);
    }

    /// <summary>Row <paramref name="row"/> of the cost matrix through any accessor (the body of <see cref="RowPerThread{TCost}"/>).</summary>
    internal static void CostRow<TCost, TF>(long row, TF x, TF y, TF cost, int m, int d)
        where TCost : struct, IPointCost
        where TF : struct, IFloats
    {
        var c = default(TCost);
        long xo = row * d;
        long co = row * m;
        for (int j = 0; j < m; j++)
        {
            cost[co + j] = c.FromSquaredDistance(DeviceMath.SquaredDistance(x, xo, y, (long)j * d, d));
        }
    }

    /// <summary>
    /// GPU form: square groups of T x T threads (T = Group.DimX = Group.DimY), one thread per cell,
    /// tiles of both clouds staged through dynamic shared memory (2 T^2 floats) chunk by chunk along
    /// the dimension. Threads along X walk y, so writes of C are coalesced.
    /// Launch with grid (ceil(m / T), ceil(n / T)), group (T, T) and 2 T^2 floats of dynamic shared memory.
    /// </summary>
    /// <typeparam name="TCost">The cost as a function of the squared distance.</typeparam>
    /// <param name="x">x points, n * d.</param>
    /// <param name="y">y points, m * d.</param>
    /// <param name="cost">Output, n * m.</param>
    /// <param name="n">Number of x points.</param>
    /// <param name="m">Number of y points.</param>
    /// <param name="d">Dimension.</param>
    public static void Tiled<TCost>(
        ArrayView<float> x, ArrayView<float> y, ArrayView<float> cost, int n, int m, int d)
        where TCost : struct, IPointCost
    {
        var shared = SharedMemory.GetDynamic<float>();
        int t = Group.DimX;
        int tx = Group.IdxX;
        int ty = Group.IdxY;
        int rowBase = Grid.IdxY * t;
        int colBase = Grid.IdxX * t;
        int yTile = t * t;
        float s = 0f;
        for (int k0 = 0; k0 < d; k0 += t)
        {
            // Thread (tx, ty) loads dimension k0 + tx of x row rowBase + ty and of y row colBase + ty.
            int k = k0 + tx;
            int xr = rowBase + ty;
            int yr = colBase + ty;
            shared[ty * t + tx] = xr < n && k < d ? x[(long)xr * d + k] : 0f;
            shared[yTile + ty * t + tx] = yr < m && k < d ? y[(long)yr * d + k] : 0f;
            Group.Barrier();
            for (int kk = 0; kk < t; kk++)
            {
                float diff = shared[ty * t + kk] - shared[yTile + tx * t + kk];
                s += diff * diff;
            }

            Group.Barrier();
        }

        int i = rowBase + ty;
        int j = colBase + tx;
        if (i < n && j < m)
        {
            cost[(long)(int)i * m + j] = default(TCost).FromSquaredDistance(s);
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        foreach (var t in new[] { typeof(HalfSquaredEuclidean), typeof(Euclidean) })
        {
            yield return KernelCatalog.Entry(typeof(CostKernels), nameof(RowPerThread), KernelGrouping.Implicit, t);
            yield return KernelCatalog.Entry(typeof(CostKernels), nameof(Tiled), KernelGrouping.Explicit, t);
        }
    }
}
