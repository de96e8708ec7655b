using System.Runtime.CompilerServices;
using ILGPU;

namespace CMM.Gpu.Kernels.Potentials;

/// <summary>
/// The two pointwise steps of a conjugate potential w = u* around the conjugate solve z = grad u*(x) (solve grad u(z) = x):
/// the solve's start and the Legendre value w(x) = &lt;x, z&gt; - u(z). Rows are points [n, d]; each thread handles the
/// points of a <see cref="PointRange"/>.
/// </summary>
public static class ConjugatePotentialKernels
{
    /// <summary>z_i = centre + ratio (x_i - image), the start of the solve grad u(z) = x_i: one isotropic Newton step of u from
    /// its centre, where grad u(centre) = image.</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="z">Output [n, d].</param>
    /// <param name="centre">[d].</param>
    /// <param name="image">[d].</param>
    /// <param name="ratio">The inverse of u's typical curvature.</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Start(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> z, ArrayView<float> centre,
        ArrayView<float> image, float ratio, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            for (int k = 0; k < d; k++)
            {
                z[o + k] = centre[k] + (ratio * (x[o + k] - image[k]));
            }
        }
    }

    /// <summary>values_i = &lt;x_i, z_i&gt; - u_i: the Legendre transform's value at x_i from the maximiser z_i and u_i = u(z_i).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="z">Maximisers [n, d].</param>
    /// <param name="u">u(z_i) [n].</param>
    /// <param name="values">Output [n] (may be <paramref name="u"/>).</param>
    /// <param name="d">Dimension.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Legendre(Index1D t, PointRange range, ArrayView<float> x, ArrayView<float> z, ArrayView<float> u,
        ArrayView<float> values, int d)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            float s = 0f;
            for (int k = 0; k < d; k++)
            {
                s += x[o + k] * z[o + k];
            }

            values[i] = s - u[i];
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        yield return KernelCatalog.Entry(typeof(ConjugatePotentialKernels), nameof(Start), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(ConjugatePotentialKernels), nameof(Legendre), KernelGrouping.Implicit);
    }
}
