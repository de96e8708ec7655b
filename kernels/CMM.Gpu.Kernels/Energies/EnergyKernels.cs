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
        ArrayView<double> constants, ArrayView<double> energies, ArrayView<double> gradients, int d, int k, int withGradient)
    {
        for (long i = range.First(t), end = range.Limit(t); i < end; i += range.Stride)
        {
            long o = i * d;
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
        ArrayView<double> energies, ArrayView<double> gradients, int d, int rows, double priorVariance, int withGradient)
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
    }

    /// <summary>(y - m_j)' P_j (y - m_j) for the point at offset <paramref name="o"/>.</summary>
    private static double Quadratic(ArrayView<float> y, long o, ArrayView<double> means, ArrayView<double> precisions, int j, int d)
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
