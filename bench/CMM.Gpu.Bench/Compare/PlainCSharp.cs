using System.Numerics;
using CMM.Gpu.Kernels.Sampling;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// Straightforward plain-C# implementations of the benchmarked computations: scalar code in a Parallel.For over
/// rows / points (the "within 2x" reference of issue 7), and Vector&lt;float&gt; variants where SIMD is natural.
/// Same float32 arithmetic and the same streaming log-sum-exp as the kernels.
/// </summary>
internal static class PlainCSharp
{
    /// <summary>C[i, j] = 1/2 |x_i - y_j|^2, one row per Parallel.For iteration.</summary>
    public static void PairwiseScalar(float[] x, float[] y, float[] c, int n, int m, int d) =>
        Parallel.For(0, n, i =>
        {
            int io = i * d;
            long ro = (long)i * m;
            for (int j = 0; j < m; j++)
            {
                int jo = j * d;
                float s = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = x[io + k] - y[jo + k];
                    s += diff * diff;
                }

                c[ro + j] = 0.5f * s;
            }
        });

    /// <summary>The same with Vector&lt;float&gt; over j; <paramref name="yT"/> is y transposed to [d, m] (done once, in setup).</summary>
    public static void PairwiseSimd(float[] x, float[] yT, float[] c, int n, int m, int d) =>
        Parallel.For(0, n, i =>
        {
            int w = Vector<float>.Count;
            int io = i * d;
            long ro = (long)i * m;
            var half = new Vector<float>(0.5f);
            int j = 0;
            for (; j <= m - w; j += w)
            {
                var s = Vector<float>.Zero;
                for (int k = 0; k < d; k++)
                {
                    var diff = new Vector<float>(x[io + k]) - new Vector<float>(yT, (k * m) + j);
                    s += diff * diff;
                }

                (half * s).CopyTo(c, (int)(ro + j));
            }

            for (; j < m; j++)
            {
                float s = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = x[io + k] - yT[(k * m) + j];
                    s += diff * diff;
                }

                c[ro + j] = 0.5f * s;
            }
        });

    /// <summary>One half-iteration of log-domain Sinkhorn, online cost, scalar:
    /// result_i = eps (log w_i - LSE_j(lw_j + (h_j - C_ij) / eps)), streaming LSE as in the kernels.</summary>
    public static void SinkhornHalfScalar(float[] own, float[] other, float[] otherPotential, float[] otherLogWeight,
        float[] ownLogWeight, float[] result, int n, int m, int d, float eps) =>
        Parallel.For(0, n, i =>
        {
            float invEps = 1f / eps;
            int io = i * d;
            float max = float.NegativeInfinity, sum = 0;
            for (int j = 0; j < m; j++)
            {
                int jo = j * d;
                float sq = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = own[io + k] - other[jo + k];
                    sq += diff * diff;
                }

                Accumulate(ref max, ref sum, ((otherPotential[j] - (0.5f * sq)) * invEps) + otherLogWeight[j]);
            }

            result[i] = eps * (ownLogWeight[i] - (max + MathF.Log(sum)));
        });

    /// <summary>The same from a stored row-major cost matrix [rows, ld]; transposed = own points index columns (strided reads).</summary>
    public static void SinkhornHalfStoredScalar(float[] cost, bool transposed, int ld, float[] otherPotential, float[] otherLogWeight,
        float[] ownLogWeight, float[] result, int n, int m, float eps) =>
        Parallel.For(0, n, i =>
        {
            float invEps = 1f / eps;
            float max = float.NegativeInfinity, sum = 0;
            for (int j = 0; j < m; j++)
            {
                float c = transposed ? cost[((long)j * ld) + i] : cost[((long)i * ld) + j];
                Accumulate(ref max, ref sum, ((otherPotential[j] - c) * invEps) + otherLogWeight[j]);
            }

            result[i] = eps * (ownLogWeight[i] - (max + MathF.Log(sum)));
        });

    /// <summary>Online half-iteration with Vector&lt;float&gt; over j and Vector.Exp: two passes over a per-thread row buffer
    /// (values, then max, then sum of exp). <paramref name="otherT"/> is the other cloud transposed to [d, m].</summary>
    public static void SinkhornHalfSimd(float[] own, float[] otherT, float[] otherPotential, float[] otherLogWeight,
        float[] ownLogWeight, float[] result, int n, int m, int d, float eps) =>
        Parallel.For(0, n, () => new float[m], (i, _, row) =>
        {
            int w = Vector<float>.Count;
            float invEps = 1f / eps;
            int io = i * d;
            var vInv = new Vector<float>(invEps);
            var vHalf = new Vector<float>(0.5f);
            var vMax = new Vector<float>(float.NegativeInfinity);
            int j = 0;
            for (; j <= m - w; j += w)
            {
                var s = Vector<float>.Zero;
                for (int k = 0; k < d; k++)
                {
                    var diff = new Vector<float>(own[io + k]) - new Vector<float>(otherT, (k * m) + j);
                    s += diff * diff;
                }

                var v = ((new Vector<float>(otherPotential, j) - (vHalf * s)) * vInv) + new Vector<float>(otherLogWeight, j);
                v.CopyTo(row, j);
                vMax = Vector.Max(vMax, v);
            }

            float max = float.NegativeInfinity;
            for (int l = 0; l < w; l++)
            {
                max = MathF.Max(max, vMax[l]);
            }

            for (int jj = j; jj < m; jj++)
            {
                float sq = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = own[io + k] - otherT[(k * m) + jj];
                    sq += diff * diff;
                }

                row[jj] = ((otherPotential[jj] - (0.5f * sq)) * invEps) + otherLogWeight[jj];
                max = MathF.Max(max, row[jj]);
            }

            var vm = new Vector<float>(max);
            var acc = Vector<float>.Zero;
            j = 0;
            for (; j <= m - w; j += w)
            {
                acc += Vector.Exp(new Vector<float>(row, j) - vm);
            }

            float sum = Vector.Sum(acc);
            for (; j < m; j++)
            {
                sum += MathF.Exp(row[j] - max);
            }

            result[i] = eps * (ownLogWeight[i] - (max + MathF.Log(sum)));
            return row;
        }, _ => { });

    /// <summary>One ULA step for w(x) = 1/2 x'Ax + b'x: g = Ax + b, y = x - tau g + sqrt(2 tau) xi (Philox, same streams as
    /// the kernels), finite check, accept. One chain per Parallel.For iteration.</summary>
    public static void LangevinUlaStep(float[] x, float[] a, float[] b, int n, int d, float tau, ulong seed, int step) =>
        Parallel.For(0, n, () => (new float[d], new float[d]), (i, _, buffers) =>
        {
            var (g, y) = buffers;
            int o = i * d;
            for (int r = 0; r < d; r++)
            {
                float s = b[r];
                for (int k = 0; k < d; k++)
                {
                    s += a[(r * d) + k] * x[o + k];
                }

                g[r] = s;
            }

            float sc = MathF.Sqrt(2f * tau);
            for (int j = 0; 4 * j < d; j++)
            {
                var bits = Philox.Block(seed, i, step, Philox.PurposeNoise, j);
                BoxMuller(bits.X, bits.Y, out float z0, out float z1);
                BoxMuller(bits.Z, bits.W, out float z2, out float z3);
                int k = 4 * j;
                y[k] = x[o + k] - (tau * g[k]) + (sc * z0);
                if (k + 1 < d) { y[k + 1] = x[o + k + 1] - (tau * g[k + 1]) + (sc * z1); }
                if (k + 2 < d) { y[k + 2] = x[o + k + 2] - (tau * g[k + 2]) + (sc * z2); }
                if (k + 3 < d) { y[k + 3] = x[o + k + 3] - (tau * g[k + 3]) + (sc * z3); }
            }

            bool finite = true;
            for (int k = 0; k < d; k++)
            {
                finite &= float.IsFinite(y[k]);
            }

            if (finite)
            {
                Array.Copy(y, 0, x, o, d);
            }

            return buffers;
        }, _ => { });

    /// <summary>Batched conjugate solve y = argmin w(y) - x'y for the quadratic potential by Newton's method per point
    /// (gradient Ay + b - x, Hessian A factorised by Cholesky per iteration, as a generic Newton solver would), from y0 = x,
    /// stopping when |grad| &lt;= atol + rtol |x|. Returns the total number of Newton steps.</summary>
    public static long ConjugateNewton(float[] x, float[] y, float[] a, float[] b, int n, int d, float atol, float rtol)
    {
        long steps = 0;
        Parallel.For(0, n, () => (new float[d], new float[d * d], 0L), (i, _, st) =>
        {
            var (r, l, count) = st;
            int o = i * d;
            float xn = 0;
            for (int k = 0; k < d; k++)
            {
                y[o + k] = x[o + k];
                xn += x[o + k] * x[o + k];
            }

            float tol = atol + (rtol * MathF.Sqrt(xn));
            for (int it = 0; it < 100; it++)
            {
                float rn = 0;
                for (int q = 0; q < d; q++)
                {
                    float s = b[q] - x[o + q];
                    for (int k = 0; k < d; k++)
                    {
                        s += a[(q * d) + k] * y[o + k];
                    }

                    r[q] = s;
                    rn += s * s;
                }

                if (MathF.Sqrt(rn) <= tol)
                {
                    break;
                }

                CholeskySolve(a, l, r, d);
                for (int k = 0; k < d; k++)
                {
                    y[o + k] -= r[k];
                }

                count++;
            }

            return (r, l, count);
        }, st => Interlocked.Add(ref steps, st.Item3));
        return steps;
    }

    /// <summary>Streaming log-sum-exp accumulation (the kernels' DeviceMath form).</summary>
    private static void Accumulate(ref float max, ref float sum, float v)
    {
        if (v > max)
        {
            sum = (sum * MathF.Exp(max - v)) + 1f;
            max = v;
        }
        else
        {
            sum += MathF.Exp(v - max);
        }
    }

    private static void BoxMuller(uint a, uint b, out float z0, out float z1)
    {
        float r = MathF.Sqrt(-2f * MathF.Log(Philox.Uniform(a)));
        float theta = 2f * MathF.PI * Philox.Uniform(b);
        (float sin, float cos) = MathF.SinCos(theta);
        z0 = r * cos;
        z1 = r * sin;
    }

    /// <summary>Solves A z = r in place (A SPD, d x d), factorising A into <paramref name="l"/>.</summary>
    private static void CholeskySolve(float[] a, float[] l, float[] r, int d)
    {
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                float s = a[(i * d) + j];
                for (int k = 0; k < j; k++)
                {
                    s -= l[(i * d) + k] * l[(j * d) + k];
                }

                l[(i * d) + j] = i == j ? MathF.Sqrt(s) : s / l[(j * d) + j];
            }
        }

        for (int i = 0; i < d; i++)
        {
            float s = r[i];
            for (int k = 0; k < i; k++)
            {
                s -= l[(i * d) + k] * r[k];
            }

            r[i] = s / l[(i * d) + i];
        }

        for (int i = d - 1; i >= 0; i--)
        {
            float s = r[i];
            for (int k = i + 1; k < d; k++)
            {
                s -= l[(k * d) + i] * r[k];
            }

            r[i] = s / l[(i * d) + i];
        }
    }
}
