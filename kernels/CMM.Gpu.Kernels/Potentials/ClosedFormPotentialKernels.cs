using System.Runtime.CompilerServices;
using ILGPU;

namespace CMM.Gpu.Kernels.Potentials;

/// <summary>
/// Closed-form convex potentials over points [n, d] row-major; each thread handles the points of a <see cref="PointRange"/>
/// (one point per thread on GPUs, a block of points on the CPU accelerator):
/// the quadratic w(x) = 1/2 x'Ax + b'x + c and the separable quartic w(x) = sum_k (a/4 x_k^4 + b/2 x_k^2).
/// </summary>
public static class ClosedFormPotentialKernels
{
    /// <summary>values[i] = 1/2 x_i'A x_i + b'x_i + c.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="a">A, d x d row-major (symmetric).</param>
    /// <param name="b">b, length d.</param>
    /// <param name="values">Output [n].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="c">Constant.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuadraticValue(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> values, int d, float c)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            float s = 0f;
            for (int r = 0; r < d; r++)
            {
                float ax = 0f;
                for (int k = 0; k < d; k++)
                {
                    ax += a[r * d + k] * x[o + k];
                }

                s += x[o + r] * (0.5f * ax + b[r]);
            }

            values[i] = s + c;
        }
    }

    /// <summary>gradients[i, :] = A x_i + b.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="a">A, d x d row-major.</param>
    /// <param name="b">b, length d.</param>
    /// <param name="gradients">Output [n, d].</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuadraticGradient(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> gradients, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            for (int r = 0; r < d; r++)
            {
                float ax = b[r];
                for (int k = 0; k < d; k++)
                {
                    ax += a[r * d + k] * x[o + k];
                }

                gradients[o + r] = ax;
            }
        }
    }

    /// <summary>hessians[i] = A (the same d x d block for every point).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="a">A, d x d row-major.</param>
    /// <param name="hessians">Output, n d^2.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuadraticHessian(Index1D t, PointRange range, ArrayView<float> a, ArrayView<float> hessians, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d * d;
            for (int k = 0; k < d * d; k++)
            {
                hessians[o + k] = a[k];
            }
        }
    }

    /// <summary>values[i] = sum_k (qa/4 x_k^4 + qb/2 x_k^2).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="values">Output [n].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="qa">Quartic coefficient a.</param>
    /// <param name="qb">Quadratic coefficient b.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuarticValue(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> values, int d, float qa, float qb)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            float s = 0f;
            for (int k = 0; k < d; k++)
            {
                float v = x[o + k];
                float v2 = v * v;
                s += v2 * (0.25f * qa * v2 + 0.5f * qb);
            }

            values[i] = s;
        }
    }

    /// <summary>gradients[i, k] = qa x_k^3 + qb x_k.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="gradients">Output [n, d].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="qa">Quartic coefficient a.</param>
    /// <param name="qb">Quadratic coefficient b.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuarticGradient(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> gradients, int d, float qa, float qb)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            for (int k = 0; k < d; k++)
            {
                float v = x[o + k];
                gradients[o + k] = v * (qa * v * v + qb);
            }
        }
    }

    /// <summary>hessians[i] = diag(3 qa x_k^2 + qb).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="hessians">Output, n d^2.</param>
    /// <param name="d">Dimension.</param>
    /// <param name="qa">Quartic coefficient a.</param>
    /// <param name="qb">Quadratic coefficient b.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuarticHessian(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> hessians, int d, float qa, float qb)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            long h = i * d * d;
            for (int r = 0; r < d; r++)
            {
                for (int k = 0; k < d; k++)
                {
                    float v = x[o + r];
                    hessians[h + r * d + k] = r == k ? 3f * qa * v * v + qb : 0f;
                }
            }
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        foreach (var name in new[] { nameof(QuadraticValue), nameof(QuadraticGradient), nameof(QuadraticHessian),
                     nameof(QuarticValue), nameof(QuarticGradient), nameof(QuarticHessian) })
        {
            yield return KernelCatalog.Entry(typeof(ClosedFormPotentialKernels), name, KernelGrouping.Implicit);
        }
    }
}
