using CMM.Gpu.Kernels.Conjugate;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Fitting;

/// <summary>Kernels of the fitting loop.</summary>
public static class FitKernels
{
    /// <summary>
    /// Packs what the fitting loop needs after an iteration's update into one buffer, for one host read:
    /// packed[0] = the bits of loss[0], packed[1] += the conjugate solve's converged points (statuses equal to
    /// <see cref="ConjugateKernels.StatusConverged"/> among the first <paramref name="statusCount"/>), packed[2] += the
    /// non-finite values among the first <paramref name="parameterCount"/> parameters. Launched over
    /// max(statusCount, parameterCount) indices; packed[1] and packed[2] must be zero on entry (integer atomics: exact).
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The indices of each thread.</param>
    /// <param name="loss">The loss (first value).</param>
    /// <param name="status">Per-point statuses of the solve (ignored when <paramref name="statusCount"/> is 0).</param>
    /// <param name="statusCount">Number of statuses.</param>
    /// <param name="parameters">The network's free parameters.</param>
    /// <param name="parameterCount">Number of parameters.</param>
    /// <param name="packed">Output [3].</param>
    public static void PackIterationFigures(Index1D t, PointRange range, ArrayView<float> loss, ArrayView<int> status, int statusCount,
        ArrayView<float> parameters, int parameterCount, ArrayView<int> packed)
    {
        int converged = 0, nonFinite = 0;
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            if (i < statusCount && status[i] == ConjugateKernels.StatusConverged)
            {
                converged++;
            }

            if (i < parameterCount && !XMath.IsFinite(parameters[i]))
            {
                nonFinite++;
            }
        }

        if ((int)t == 0)
        {
            packed[0] = (int)Interop.FloatAsInt(loss[0]);
        }

        if (converged != 0)
        {
            Atomic.Add(ref packed[1], converged);
        }

        if (nonFinite != 0)
        {
            Atomic.Add(ref packed[2], nonFinite);
        }
    }

    /// <summary>This class's entries of <see cref="KernelCatalog"/>.</summary>
    /// <returns>The entries.</returns>
    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        yield return KernelCatalog.Entry(typeof(FitKernels), nameof(PackIterationFigures), KernelGrouping.Implicit);
    }
}
