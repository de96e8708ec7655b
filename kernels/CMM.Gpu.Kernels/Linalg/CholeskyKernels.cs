using System.Runtime.CompilerServices;
using ILGPU;

namespace CMM.Gpu.Kernels.Linalg;

/// <summary>
/// Batched kernels over n symmetric d x d matrices stored back to back (matrix i row-major at i d^2), built on
/// <see cref="DeviceCholesky"/>. Each thread handles the matrices of a <see cref="PointRange"/> (one per thread on
/// GPUs, a block per thread on the CPU accelerator).
/// </summary>
public static class CholeskyKernels
{
    /// <summary>
    /// logDeterminants[i] = log det A_i by an in-place Cholesky factorisation (the lower triangle of each matrix is
    /// overwritten by its factor L). A matrix that is not numerically positive definite (or holds NaN or infinity in its
    /// lower triangle) gets NaN and is counted: failures[0] += the number of them (one integer atomic per thread, only
    /// when the thread has any).
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The matrices of each thread.</param>
    /// <param name="matrices">n d^2 values (overwritten).</param>
    /// <param name="logDeterminants">Output [n].</param>
    /// <param name="failures">failures[0] is incremented by the number of matrices that are not positive definite.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LogDeterminant(Index1D t, PointRange range, ArrayView<float> matrices, ArrayView<float> logDeterminants,
        ArrayView<int> failures, int d)
    {
        var a = new ViewFloats(matrices);
        int failed = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d * d;
            if (DeviceCholesky.Factor(a, o, d))
            {
                logDeterminants[i] = DeviceCholesky.LogDeterminant(a, o, d);
            }
            else
            {
                logDeterminants[i] = float.NaN;
                failed++;
            }
        }

        if (failed != 0)
        {
            Atomic.Add(ref failures[0], failed);
        }
    }

    /// <summary>
    /// inverses[i] = A_i^-1 by an in-place Cholesky factorisation of A_i (its lower triangle is overwritten by L) and d
    /// solves, one per row of the (symmetric) inverse. A matrix that is not numerically positive definite gets a NaN
    /// inverse and is counted in failures[0].
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The matrices of each thread.</param>
    /// <param name="matrices">n d^2 values (overwritten by the factors).</param>
    /// <param name="inverses">Output, n d^2 values.</param>
    /// <param name="failures">failures[0] is incremented by the number of matrices that are not positive definite.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Inverse(Index1D t, PointRange range, ArrayView<float> matrices, ArrayView<float> inverses, ArrayView<int> failures, int d)
    {
        var a = new ViewFloats(matrices);
        var inv = new ViewFloats(inverses);
        int failed = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d * d;
            bool ok = DeviceCholesky.Factor(a, o, d);
            for (int r = 0; r < d; r++)
            {
                long ro = o + (r * d);
                for (int c = 0; c < d; c++)
                {
                    inv[ro + c] = ok ? (c == r ? 1f : 0f) : float.NaN;
                }

                if (ok)
                {
                    DeviceCholesky.Solve(a, o, d, inv, ro);
                }
            }

            failed += ok ? 0 : 1;
        }

        if (failed != 0)
        {
            Atomic.Add(ref failures[0], failed);
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        yield return KernelCatalog.Entry(typeof(CholeskyKernels), nameof(LogDeterminant), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(CholeskyKernels), nameof(Inverse), KernelGrouping.Implicit);
    }
}
