namespace CMM.Gpu.Tests.Sinkhorn;

/// <summary>
/// Naive double-precision log-domain Sinkhorn, written independently of the kernels, with the library's
/// convention P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps) and C_ij = 1/2 |x_i - y_j|^2.
/// </summary>
public sealed class SinkhornReference
{
    public SinkhornReference(float[] x, float[] y, int d, double[]? a, double[]? b)
    {
        D = d;
        N = x.Length / d;
        M = y.Length / d;
        X = x;
        Y = y;
        A = Normalise(a, N);
        B = Normalise(b, M);
        C = new double[N, M];
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < M; j++)
            {
                C[i, j] = Cost(x, i, y, j, d);
            }
        }
    }

    public int N { get; }
    public int M { get; }
    public int D { get; }
    public float[] X { get; }
    public float[] Y { get; }
    public double[] A { get; }
    public double[] B { get; }
    public double[,] C { get; }
    public double[] F { get; private set; } = [];
    public double[] G { get; private set; } = [];
    public double Eps { get; private set; }

    public static double Cost(float[] p, int i, float[] q, int j, int d)
    {
        double s = 0;
        for (int k = 0; k < d; k++)
        {
            double diff = (double)p[i * d + k] - q[j * d + k];
            s += diff * diff;
        }

        return 0.5 * s;
    }

    public double MeanCost()
    {
        double s = 0;
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < M; j++)
            {
                s += A[i] * B[j] * C[i, j];
            }
        }

        return s;
    }

    /// <summary>Alternating exact updates until the L1 row-marginal error is below 1e-9 (or the cap).</summary>
    public int Solve(double eps, int maxIterations = 20_000)
    {
        Eps = eps;
        var f = new double[N];
        var g = new double[M];
        var logA = A.Select(v => v > 0 ? Math.Log(v) : double.NegativeInfinity).ToArray();
        var logB = B.Select(v => v > 0 ? Math.Log(v) : double.NegativeInfinity).ToArray();
        var terms = new double[Math.Max(N, M)];
        for (int it = 0; it < maxIterations; it++)
        {
            for (int i = 0; i < N; i++)
            {
                for (int j = 0; j < M; j++)
                {
                    terms[j] = logB[j] + (g[j] - C[i, j]) / eps;
                }

                f[i] = -eps * Lse(terms, M);
            }

            for (int j = 0; j < M; j++)
            {
                for (int i = 0; i < N; i++)
                {
                    terms[i] = logA[i] + (f[i] - C[i, j]) / eps;
                }

                g[j] = -eps * Lse(terms, N);
            }

            F = f;
            G = g;
            if (it % 10 == 9 && RowMarginalError() < 1e-9)
            {
                return it + 1;
            }
        }

        return maxIterations;
    }

    public double CTransformRow(int i, double[] g, double eps)
    {
        var terms = new double[M];
        for (int j = 0; j < M; j++)
        {
            terms[j] = (B[j] > 0 ? Math.Log(B[j]) : double.NegativeInfinity) + (g[j] - C[i, j]) / eps;
        }

        return -eps * Lse(terms, M);
    }

    public double Plan(int i, int j) => Plan(i, j, F, G, Eps);

    public double Plan(int i, int j, IReadOnlyList<double> f, IReadOnlyList<double> g, double eps) =>
        A[i] * B[j] * Math.Exp((f[i] + g[j] - C[i, j]) / eps);

    public double RowMarginalError()
    {
        double e = 0;
        for (int i = 0; i < N; i++)
        {
            double r = 0;
            for (int j = 0; j < M; j++)
            {
                r += Plan(i, j);
            }

            e += Math.Abs(r - A[i]);
        }

        return e;
    }

    public double TransportCost()
    {
        double s = 0;
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < M; j++)
            {
                s += Plan(i, j) * C[i, j];
            }
        }

        return s;
    }

    /// <summary>The primal &lt;P, C&gt; + eps KL(P | a x b) (independent of the dual formula the library uses).</summary>
    public double PrimalObjective()
    {
        double s = 0;
        for (int i = 0; i < N; i++)
        {
            for (int j = 0; j < M; j++)
            {
                double p = Plan(i, j);
                if (p > 0)
                {
                    s += p * C[i, j] + Eps * (p * Math.Log(p / (A[i] * B[j])) - p + A[i] * B[j]);
                }
            }
        }

        return s;
    }

    /// <summary>The entropic map at a point q (row-major, d values): sum_j p_j y_j, p_j ∝ b_j exp((g_j - C(q, y_j)) / eps).</summary>
    public double[] Map(float[] q, int qi)
    {
        var logits = new double[M];
        double max = double.NegativeInfinity;
        for (int j = 0; j < M; j++)
        {
            logits[j] = B[j] > 0 ? Math.Log(B[j]) + (G[j] - Cost(q, qi, Y, j, D)) / Eps : double.NegativeInfinity;
            max = Math.Max(max, logits[j]);
        }

        double z = 0;
        var t = new double[D];
        for (int j = 0; j < M; j++)
        {
            double w = Math.Exp(logits[j] - max);
            z += w;
            for (int k = 0; k < D; k++)
            {
                t[k] += w * Y[j * D + k];
            }
        }

        for (int k = 0; k < D; k++)
        {
            t[k] /= z;
        }

        return t;
    }

    /// <summary>Potentials shifted by the constant that makes sum_i a_i f_i = sum_j b_j g_j (f + c, g - c leave P unchanged).</summary>
    public static (double[] F, double[] G) Centre(IReadOnlyList<double> f, IReadOnlyList<double> g, double[] a, double[] b)
    {
        double fa = 0, gb = 0;
        for (int i = 0; i < f.Count; i++)
        {
            fa += a[i] > 0 ? a[i] * f[i] : 0;
        }

        for (int j = 0; j < g.Count; j++)
        {
            gb += b[j] > 0 ? b[j] * g[j] : 0;
        }

        double c = 0.5 * (gb - fa);
        return (f.Select(v => v + c).ToArray(), g.Select(v => v - c).ToArray());
    }

    /// <summary>log sum exp of the first count terms; -inf terms (zero mass) contribute nothing.</summary>
    private static double Lse(double[] terms, int count)
    {
        double max = double.NegativeInfinity;
        for (int k = 0; k < count; k++)
        {
            max = Math.Max(max, terms[k]);
        }

        double s = 0;
        for (int k = 0; k < count; k++)
        {
            if (terms[k] != double.NegativeInfinity)
            {
                s += Math.Exp(terms[k] - max);
            }
        }

        return max + Math.Log(s);
    }

    private static double[] Normalise(double[]? w, int count)
    {
        if (w is null)
        {
            return Enumerable.Repeat(1.0 / count, count).ToArray();
        }

        double s = w.Sum();
        return w.Select(v => v / s).ToArray();
    }
}
