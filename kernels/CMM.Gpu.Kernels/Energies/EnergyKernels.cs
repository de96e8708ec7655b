using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Energies;

/// <summary>
/// Built-in energies V (docs/cmfma.md) at points [n, d] row-major, in double precision; each thread handles the points of a
/// <see cref="PointRange"/>. Gaussian mixtures (a single Gaussian is one component) and the Bayesian logistic-regression
/// posterior, whose cost grows with d^2 per component and with the data's rows; the energies that cost O(d) per point stay on
/// the host.
/// </summary>
public static class EnergyKernels
{
    /// <summary>
    /// V(y) = -log sum_j exp(c_j - (y - m_j)' P_j (y - m_j) / 2) with c_j = log w_j - log((2 pi)^(d/2) det(S_j)^(1/2)) and
    /// P_j = S_j^-1; when <paramref name="withGradient"/> is 1, grad V = sum_j resp_j P_j (y - m_j), resp_j the softmax of the
    /// component log-densities.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="means">m_j, [k, d].</param>
    /// <param name="precisions">P_j, [k, d, d] row-major.</param>
    /// <param name="constants">c_j, [k].</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d] (unused when <paramref name="withGradient"/> is 0).</param>
    /// <param name="d">Dimension.</param>
    /// <param name="k">Components.</param>
    /// <param name="withGradient">1 to write the gradients.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GaussianMixture(Index1D t, PointRange range, ArrayView<float> y, ArrayView<double> means, ArrayView<double> precisions,
        ArrayView<double> constants, ArrayView<double> energies, ArrayView<double> gradients, int d, int k, int withGradient) =>
        GaussianMixtureRange(t, range, new ViewFloats(y), new ViewDoubles(means), new ViewDoubles(precisions), new ViewDoubles(constants),
            new ViewDoubles(energies), new ViewDoubles(gradients), d, k, withGradient);

    /// <summary>The body of <see cref="GaussianMixture"/>, generic over the accessors (the CPU accelerator's form uses pointers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void GaussianMixtureRange<TF, TD>(int t, PointRange range, TF y, TD means, TD precisions, TD constants, TD energies, TD gradients,
        int d, int k, int withGradient)
        where TF : struct, IFloats
        where TD : struct, IDoubles
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            if (k == 1)
            {
                // One component (a Gaussian): V = q / 2 - c_0 and grad V = P (y - m), with P (y - m) computed once. The general
                // path below gives the same bits here (its max is the one log-density, its sum exp(0) = 1 and its responsibility
                // 1), at four matrix-vector products instead of one.
                double q = 0;
                for (int a = 0; a < d; a++)
                {
                    double pr = 0;
                    for (int b = 0; b < d; b++)
                    {
                        pr += precisions[(a * d) + b] * (y[o + b] - means[b]);
                    }

                    q += (y[o + a] - means[a]) * pr;
                    if (withGradient != 0)
                    {
                        gradients[o + a] = pr;
                    }
                }

                energies[i] = -(constants[0] - (0.5 * q));
                continue;
            }

            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                max = XMath.Max(max, constants[j] - (0.5 * Quadratic(y, o, means, precisions, j, d)));
            }

            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                sum += XMath.Exp(constants[j] - (0.5 * Quadratic(y, o, means, precisions, j, d)) - max);
            }

            double logDensity = max + XMath.Log(sum);
            energies[i] = -logDensity;
            if (withGradient == 0)
            {
                continue;
            }

            for (int a = 0; a < d; a++)
            {
                gradients[o + a] = 0;
            }

            for (int j = 0; j < k; j++)
            {
                double responsibility = XMath.Exp(constants[j] - (0.5 * Quadratic(y, o, means, precisions, j, d)) - logDensity);
                long pj = (long)j * d * d;
                for (int a = 0; a < d; a++)
                {
                    double pr = 0;
                    for (int b = 0; b < d; b++)
                    {
                        pr += precisions[pj + (a * d) + b] * (y[o + b] - means[(j * d) + b]);
                    }

                    gradients[o + a] += responsibility * pr;
                }
            }
        }
    }

    /// <summary>
    /// The negative log posterior of Bayesian logistic regression at coefficients beta (the points): V = sum_r [softplus(x_r .
    /// beta) - t_r x_r . beta] + |beta|^2 / (2 sigma^2); grad V = sum_r (sigmoid(x_r . beta) - t_r) x_r + beta / sigma^2.
    /// </summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="beta">Points [n, d].</param>
    /// <param name="design">The design rows x_r, [rows, d].</param>
    /// <param name="targets">t_r in {0, 1}, [rows].</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d] (unused when <paramref name="withGradient"/> is 0).</param>
    /// <param name="d">Dimension.</param>
    /// <param name="rows">Observations.</param>
    /// <param name="priorVariance">sigma^2.</param>
    /// <param name="withGradient">1 to write the gradients.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LogisticRegression(Index1D t, PointRange range, ArrayView<float> beta, ArrayView<double> design, ArrayView<double> targets,
        ArrayView<double> energies, ArrayView<double> gradients, int d, int rows, double priorVariance, int withGradient) =>
        LogisticRegressionRange(t, range, new ViewFloats(beta), new ViewDoubles(design), new ViewDoubles(targets), new ViewDoubles(energies),
            new ViewDoubles(gradients), d, rows, priorVariance, withGradient);

    /// <summary>The body of <see cref="LogisticRegression"/>, generic over the accessors (the CPU accelerator's form uses pointers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void LogisticRegressionRange<TF, TD>(int t, PointRange range, TF beta, TD design, TD targets, TD energies, TD gradients,
        int d, int rows, double priorVariance, int withGradient)
        where TF : struct, IFloats
        where TD : struct, IDoubles
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
            double v = 0;
            for (int a = 0; a < d; a++)
            {
                double b = beta[o + a];
                v += b * b;
                if (withGradient != 0)
                {
                    gradients[o + a] = b / priorVariance;
                }
            }

            v /= 2 * priorVariance;
            for (int r = 0; r < rows; r++)
            {
                long row = (long)r * d;
                double eta = 0;
                for (int a = 0; a < d; a++)
                {
                    eta += design[row + a] * beta[o + a];
                }

                v += (eta > 0 ? eta + XMath.Log(1 + XMath.Exp(-eta)) : XMath.Log(1 + XMath.Exp(eta))) - (targets[r] * eta);
                if (withGradient != 0)
                {
                    double residual = (eta >= 0 ? 1 / (1 + XMath.Exp(-eta)) : XMath.Exp(eta) / (1 + XMath.Exp(eta))) - targets[r];
                    for (int a = 0; a < d; a++)
                    {
                        gradients[o + a] += residual * design[row + a];
                    }
                }
            }

            energies[i] = v;
        }
    }

    /// <summary>The kernels of this class for <see cref="KernelCatalog"/> (and so the PTX compile check).</summary>
    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        yield return KernelCatalog.Entry(typeof(EnergyKernels), nameof(GaussianMixture), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(EnergyKernels), nameof(LogisticRegression), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(EnergyCpuKernels), nameof(EnergyCpuKernels.GaussianMixture), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(typeof(EnergyCpuKernels), nameof(EnergyCpuKernels.LogisticRegression), KernelGrouping.Implicit);
    }

    /// <summary>(y - m_j)' P_j (y - m_j) for the point at offset <paramref name="o"/>.</summary>
    private static double Quadratic<TF, TD>(TF y, long o, TD means, TD precisions, int j, int d)
        where TF : struct, IFloats
        where TD : struct, IDoubles
    {
        long pj = (long)j * d * d;
        double q = 0;
        for (int a = 0; a < d; a++)
        {
            double ra = y[o + a] - means[(j * d) + a];
            double pr = 0;
            for (int b = 0; b < d; b++)
            {
                pr += precisions[pj + (a * d) + b] * (y[o + b] - means[(j * d) + b]);
            }

            q += ra * pr;
        }

        return q;
    }
}

/// <summary>
/// The CPU accelerator's form of <see cref="EnergyKernels"/>: the same arguments and bodies, every buffer read through a pointer
/// taken once per launch (<see cref="PointerFloats"/>, <see cref="PointerDoubles"/>), so the results are bit-identical to the
/// ArrayView form (tested) at a fraction of the cost of the CPU accelerator's ArrayView accesses. Launched there only; they
/// compile to PTX as well (the catalog check).
/// </summary>
public static unsafe class EnergyCpuKernels
{
    /// <summary>CPU form of <see cref="EnergyKernels.GaussianMixture"/> (same arguments).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="means">m_j, [k, d].</param>
    /// <param name="precisions">P_j, [k, d, d] row-major.</param>
    /// <param name="constants">c_j, [k].</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d] (unused when <paramref name="withGradient"/> is 0).</param>
    /// <param name="d">Dimension.</param>
    /// <param name="k">Components.</param>
    /// <param name="withGradient">1 to write the gradients.</param>
    public static void GaussianMixture(Index1D t, PointRange range, ArrayView<float> y, ArrayView<double> means, ArrayView<double> precisions,
        ArrayView<double> constants, ArrayView<double> energies, ArrayView<double> gradients, int d, int k, int withGradient)
    {
        if (range.First(t) >= range.Limit(t))
        {
            return;
        }

        fixed (float* py = &y[0L])
        fixed (double* pm = &means[0L], pp = &precisions[0L], pc = &constants[0L], pe = &energies[0L], pg = &gradients[0L])
        {
            EnergyKernels.GaussianMixtureRange(t, range, new PointerFloats(py), new PointerDoubles(pm), new PointerDoubles(pp), new PointerDoubles(pc),
                new PointerDoubles(pe), new PointerDoubles(pg), d, k, withGradient);
        }
    }

    /// <summary>CPU form of <see cref="EnergyKernels.LogisticRegression"/> (same arguments).</summary>
    /// <param name="t">Thread index.</param>
    /// <param name="range">The points of each thread.</param>
    /// <param name="beta">Points [n, d].</param>
    /// <param name="design">The design rows x_r, [rows, d].</param>
    /// <param name="targets">t_r in {0, 1}, [rows].</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d] (unused when <paramref name="withGradient"/> is 0).</param>
    /// <param name="d">Dimension.</param>
    /// <param name="rows">Observations.</param>
    /// <param name="priorVariance">sigma^2.</param>
    /// <param name="withGradient">1 to write the gradients.</param>
    public static void LogisticRegression(Index1D t, PointRange range, ArrayView<float> beta, ArrayView<double> design, ArrayView<double> targets,
        ArrayView<double> energies, ArrayView<double> gradients, int d, int rows, double priorVariance, int withGradient)
    {
        if (range.First(t) >= range.Limit(t))
        {
            return;
        }

        fixed (float* pb = &beta[0L])
        fixed (double* px = &design[0L], pt = &targets[0L], pe = &energies[0L], pg = &gradients[0L])
        {
            EnergyKernels.LogisticRegressionRange(t, range, new PointerFloats(pb), new PointerDoubles(px), new PointerDoubles(pt), new PointerDoubles(pe),
                new PointerDoubles(pg), d, rows, priorVariance, withGradient);
        }
    }
}
