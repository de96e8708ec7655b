using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Linalg;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Linalg;

/// <summary>
/// Log determinants of a batch of small symmetric positive-definite matrices on the device, by one Cholesky
/// factorisation per matrix (kernels/CMM.Gpu.Kernels/Linalg: <c>CholeskyKernels.LogDeterminant</c> on the shared device
/// Cholesky). One thread per matrix on GPUs, a block of matrices per thread on the CPU accelerator (<see cref="PointLaunch"/>).
/// Costs d^3 / 6 multiply-adds and d^2 floats per matrix: meant for small d (tens).
/// </summary>
public static class BatchedCholesky
{
    /// <summary>
    /// logDeterminants[i] = log det A_i for the n = matrices.Length / d^2 matrices stored back to back (row-major d x d
    /// each, only the lower triangle is read). The matrices are overwritten by their Cholesky factors. A matrix that is
    /// not numerically positive definite in float32, or holds NaN or infinity, gets NaN; the return value counts them.
    /// Synchronises (it reads the count).
    /// </summary>
    /// <param name="matrices">n d^2 values, overwritten.</param>
    /// <param name="dimension">d (at least 1).</param>
    /// <param name="logDeterminants">Output of length at least n.</param>
    /// <returns>The number of matrices that are not positive definite.</returns>
    /// <exception cref="ArgumentException">The lengths do not fit, or the buffers are on different devices.</exception>
    public static int LogDeterminants(DeviceVector matrices, int dimension, DeviceVector logDeterminants)
    {
        ArgumentNullException.ThrowIfNull(matrices);
        ArgumentNullException.ThrowIfNull(logDeterminants);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var context = matrices.Context;
        Shape.RequireSameContext(context, logDeterminants.Context, nameof(logDeterminants));
        long dd = (long)dimension * dimension;
        if (matrices.Length % dd != 0)
        {
            throw new ArgumentException($"matrices has {matrices.Length} values, not a multiple of d^2 = {dd}", nameof(matrices));
        }

        long n = matrices.Length / dd;
        if (n > int.MaxValue)
        {
            throw new ArgumentException($"{n} matrices are more than one launch takes ({int.MaxValue})", nameof(matrices));
        }

        if (logDeterminants.Length < n)
        {
            throw new ArgumentException($"logDeterminants has length {logDeterminants.Length} but there are {n} matrices", nameof(logDeterminants));
        }

        var launcher = context.GetComponent(c => new Launcher(c));
        using var failures = context.Accelerator.Allocate1D<int>(1);
        context.Tally.Clear(failures.View);
        launcher.LogDeterminant((int)n, matrices.View, logDeterminants.View, failures.View, dimension);
        return context.Tally.ReadFirst<int>(failures.View);
    }

    /// <summary>
    /// inverses = the inverses of the n = matrices.Length / d^2 symmetric positive-definite matrices (row-major d x d each);
    /// the matrices are overwritten by their Cholesky factors. A matrix that is not numerically positive definite gets a
    /// NaN inverse; the return value counts them. Synchronises.
    /// </summary>
    /// <param name="matrices">n d^2 values, overwritten.</param>
    /// <param name="dimension">d (at least 1).</param>
    /// <param name="inverses">Output of length n d^2.</param>
    /// <returns>The number of matrices that are not positive definite.</returns>
    /// <exception cref="ArgumentException">The lengths do not fit, or the buffers are on different devices.</exception>
    public static int Inverses(DeviceVector matrices, int dimension, DeviceVector inverses)
    {
        ArgumentNullException.ThrowIfNull(matrices);
        ArgumentNullException.ThrowIfNull(inverses);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var context = matrices.Context;
        Shape.RequireSameContext(context, inverses.Context, nameof(inverses));
        long dd = (long)dimension * dimension;
        if (matrices.Length % dd != 0 || matrices.Length / dd > int.MaxValue)
        {
            throw new ArgumentException($"matrices has {matrices.Length} values, not a multiple of d^2 = {dd} (or too many for one launch)", nameof(matrices));
        }

        Shape.RequireLength(inverses.Length, matrices.Length, nameof(inverses), "one d x d inverse per matrix");
        var launcher = context.GetComponent(c => new Launcher(c));
        using var failures = context.Accelerator.Allocate1D<int>(1);
        context.Tally.Clear(failures.View);
        launcher.Inverse((int)(matrices.Length / dd), matrices.View, inverses.View, failures.View, dimension);
        return context.Tally.ReadFirst<int>(failures.View);
    }

    private sealed class Launcher(CmmContext context)
    {
        private readonly PointLaunch launch = PointLaunch.For(context);

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> inverse =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(
                CholeskyKernels.Inverse));

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> logDeterminant =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(
                CholeskyKernels.LogDeterminant));

        public void Inverse(int n, ArrayView<float> matrices, ArrayView<float> output, ArrayView<int> failures, int d) =>
            Run(inverse, n, matrices, output, failures, d);

        public void LogDeterminant(int n, ArrayView<float> matrices, ArrayView<float> output, ArrayView<int> failures, int d) =>
            Run(logDeterminant, n, matrices, output, failures, d);

        /// <summary>One launch of a per-matrix kernel over n matrices, by the <see cref="PointLaunch"/> rule.</summary>
        private void Run(Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> kernel, int n,
            ArrayView<float> matrices, ArrayView<float> output, ArrayView<int> failures, int d)
        {
            var range = launch.Plan(n, out int threads);
            if (threads > 0)
            {
                kernel(threads, range, matrices, output, failures, d);
            }
        }
    }
}
