using CMM.Gpu.Conjugate;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// Plain-C# baseline of the conjugate solve y = argmin_y w(y) - &lt;x, y&gt; of the ICNN: a Parallel.For over points, one
/// scratch set per worker, damped Newton with Armijo backtracking per point, as a C# programmer would write it from the
/// algorithm (docs/conjugate.md), not from the kernel: the Hessian is assembled from the layer Jacobians,
/// Hess w = diag(alpha + D) + R R' + sum over hidden units of (dw/dz) act''(s) (ds/dx)(ds/dx)' (every non-linearity is a
/// scalar activation; s is affine in x and the previous layer), as the kernel has done since 2026-12-05
/// (IcnnKernels.HessianJacobian; before, it took d tangent passes); Cholesky with a pivot test. Same start (y = x), tests, tolerances, cap, line search and statuses as the library's Newton
/// (ConjugateOptions, ConjugatePointStatus), so the solutions must agree to float tolerance.
/// </summary>
internal sealed partial class PlainIcnn
{
    /// <summary>The solve's settings, those of ConjugateOptions.</summary>
    public readonly record struct SolveSettings(float AbsoluteTolerance, float RelativeTolerance, float Armijo, float MinStep, int MaxIterations)
    {
        public static SolveSettings From(ConjugateOptions o) =>
            new((float)o.AbsoluteTolerance, (float)o.RelativeTolerance, (float)o.Armijo, MathF.Pow(2f, -o.MaxLineSearchSteps), o.MaxIterations);
    }

    private const float FloatUlp = 1.1920929e-7f; // 2^-23, float32 machine epsilon

    private sealed class SolveScratch(int hidden, int maxWidth, int d, int r)
    {
        public readonly Scratch Net = new(hidden, maxWidth, d, r, 0);
        public readonly float[] Adj = new float[hidden];       // dw/dz per hidden unit
        public readonly float[] J = new float[hidden * d];     // ds/dx per hidden unit (row-major)
        public readonly float[] H = new float[d * d];          // Hessian, then its Cholesky factor (lower triangle)
        public readonly float[] Yc = new float[d], Dir = new float[d], Trial = new float[d];
    }

    /// <summary>Solves grad w(y_i) = x_i for every point, from y_i = x_i.</summary>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Solutions [n, d] (overwritten).</param>
    /// <param name="n">Number of points.</param>
    /// <param name="s">Tolerances and limits.</param>
    /// <param name="status">Each point's ConjugatePointStatus.</param>
    /// <param name="iterations">Each point's Newton iterations.</param>
    /// <param name="residuals">|grad w(y_i) - x_i| at the returned y_i.</param>
    /// <param name="hessianByColumns">Assemble the Hessian column by column from d Hessian-vector products (a tangent pass
    /// and its reverse per column, the kernel's algorithm until 2026-12-05: about twice the multiply-adds of a forward and reverse pass per
    /// column, and the activation's derivatives recomputed) instead of from the layer Jacobians; a diagnostic that
    /// separates the algorithm's cost from the CPU accelerator's.</param>
    public void ConjugateNewton(float[] x, float[] y, int n, SolveSettings s, int[] status, int[] iterations, float[] residuals, bool hessianByColumns = false) =>
        Parallel.For(0, n, () => new SolveScratch(hidden, maxWidth, d, r), (i, _, t) =>
        {
            SolvePoint(x, y, i * d, s, t, hessianByColumns, out status[i], out iterations[i], out residuals[i]);
            return t;
        }, _ => { });

    private void SolvePoint(float[] x, float[] y, int o, SolveSettings s, SolveScratch t, bool hessianByColumns,
        out int status, out int iterations, out float residual)
    {
        float xNorm = 0;
        for (int k = 0; k < d; k++)
        {
            y[o + k] = x[o + k];
            xNorm += x[o + k] * x[o + k];
        }

        float tol = s.AbsoluteTolerance + (s.RelativeTolerance * MathF.Sqrt(xNorm));
        var g = t.Net.G;
        status = (int)ConjugatePointStatus.MaxIterations;
        int it = 0;
        for (; ; it++)
        {
            for (int k = 0; k < d; k++)
            {
                t.Yc[k] = y[o + k] - centre[k];
            }

            float w = Forward(t.Yc, 0, t.Net, true);
            ReverseWithAdjoints(t.Yc, t);
            float rr = 0;
            for (int k = 0; k < d; k++)
            {
                float rk = g[k] - x[o + k];
                rr += rk * rk;
            }

            residual = MathF.Sqrt(rr);
            if (!float.IsFinite(residual))
            {
                status = (int)ConjugatePointStatus.NonFinite;
                break;
            }

            if (residual <= tol)
            {
                status = (int)ConjugatePointStatus.Converged;
                break;
            }

            if (it == s.MaxIterations)
            {
                break;
            }

            // Newton direction: H dir = x - grad w(y); steepest descent when H is not numerically positive definite
            // or the direction is not a descent direction.
            if (hessianByColumns)
            {
                HessianByColumns(t);
            }
            else
            {
                Hessian(t);
            }

            float slope = 0;
            bool newton = CholeskyFactor(t.H, d);
            if (newton)
            {
                for (int k = 0; k < d; k++)
                {
                    t.Dir[k] = x[o + k] - g[k];
                }

                CholeskySolve(t.H, t.Dir, d);
                for (int k = 0; k < d; k++)
                {
                    slope += (g[k] - x[o + k]) * t.Dir[k];
                }

                newton = slope < 0 && float.IsFinite(slope);
            }

            if (!newton)
            {
                slope = 0;
                for (int k = 0; k < d; k++)
                {
                    t.Dir[k] = x[o + k] - g[k];
                    slope -= t.Dir[k] * t.Dir[k];
                }
            }

            // Armijo backtracking on phi(y) = w(y) - <x, y>, with a few float ulps of slack (the library's test).
            float xy = 0, absXy = 0;
            for (int k = 0; k < d; k++)
            {
                xy += x[o + k] * y[o + k];
                absXy += MathF.Abs(x[o + k] * y[o + k]);
            }

            float phi = w - xy;
            float slack = 8 * FloatUlp * (MathF.Abs(w) + absXy + MathF.Abs(phi));
            bool accepted = false;
            for (float step = 1; step >= s.MinStep; step *= 0.5f)
            {
                float xTrial = 0;
                for (int k = 0; k < d; k++)
                {
                    t.Trial[k] = y[o + k] + (step * t.Dir[k]);
                    xTrial += x[o + k] * t.Trial[k];
                    t.Yc[k] = t.Trial[k] - centre[k];
                }

                float phiTrial = Forward(t.Yc, 0, t.Net, true) - xTrial;
                if (float.IsFinite(phiTrial) && phiTrial <= phi + (s.Armijo * step * slope) + slack)
                {
                    Array.Copy(t.Trial, 0, y, o, d);
                    accepted = true;
                    break;
                }
            }

            if (!accepted)
            {
                status = (int)ConjugatePointStatus.Stalled;
                break;
            }
        }

        iterations = it;
    }

    /// <summary>After Forward at the centred point xc: t.Adj = dw/dz for every hidden unit, t.Net.G = grad w.</summary>
    private void ReverseWithAdjoints(float[] xc, SolveScratch t)
    {
        var n = t.Net;
        var g = n.G;
        Array.Clear(g);
        int last = layers - 1;
        for (int j = 0; j < width[last]; j++)
        {
            t.Adj[hOff[last] + j] = e[lay.OutputOffset + j];
        }

        for (int l = last; l >= 0; l--)
        {
            int h = width[l], ho = hOff[l];
            int hp = l > 0 ? width[l - 1] : 0, po = l > 0 ? hOff[l - 1] : 0;
            Array.Clear(t.Adj, po, hp);
            for (int j = 0; j < h; j++)
            {
                float delta = t.Adj[ho + j] * n.Sig[ho + j]; // dw/ds
                int wr = wOff[l] + (j * d);
                for (int k = 0; k < d; k++)
                {
                    g[k] += e[wr + k] * delta;
                }

                int pr = l > 0 ? pOff[l] + (j * hp) : 0;
                for (int k = 0; k < hp; k++)
                {
                    t.Adj[po + k] += e[pr + k] * delta;
                }
            }
        }

        // Quadratic and linear part: (alpha + D) xc + R (R' xc) + c.
        for (int a = 0; a < r; a++)
        {
            float q = 0;
            for (int k = 0; k < d; k++)
            {
                q += e[lay.LowRankOffset + (k * r) + a] * xc[k];
            }

            n.Ry[a] = q;
        }

        for (int k = 0; k < d; k++)
        {
            float v = ((alpha + e[lay.DiagonalOffset + k]) * xc[k]) + e[lay.LinearOffset + k];
            for (int a = 0; a < r; a++)
            {
                v += e[lay.LowRankOffset + (k * r) + a] * n.Ry[a];
            }

            g[k] += v;
        }
    }

    /// <summary>Lower triangle of Hess w into t.H, after Forward and ReverseWithAdjoints at the same point.</summary>
    private void Hessian(SolveScratch t)
    {
        var n = t.Net;
        var jac = t.J;
        var hs = t.H;

        // Layer Jacobians: ds_l/dx = W_l + P_l diag(act'(s_(l-1))) ds_(l-1)/dx.
        for (int l = 0; l < layers; l++)
        {
            int h = width[l], ho = hOff[l];
            int hp = l > 0 ? width[l - 1] : 0, po = l > 0 ? hOff[l - 1] : 0;
            for (int j = 0; j < h; j++)
            {
                int row = (ho + j) * d, wr = wOff[l] + (j * d);
                Array.Copy(e, wr, jac, row, d);
                int pr = l > 0 ? pOff[l] + (j * hp) : 0;
                for (int k = 0; k < hp; k++)
                {
                    float c = e[pr + k] * n.Sig[po + k];
                    int prev = (po + k) * d;
                    for (int q = 0; q < d; q++)
                    {
                        jac[row + q] += c * jac[prev + q];
                    }
                }
            }
        }

        // Quadratic part: diag(alpha + D) + R R'.
        for (int a = 0; a < d; a++)
        {
            for (int b = 0; b <= a; b++)
            {
                float v = a == b ? alpha + e[lay.DiagonalOffset + a] : 0;
                for (int m = 0; m < r; m++)
                {
                    v += e[lay.LowRankOffset + (a * r) + m] * e[lay.LowRankOffset + (b * r) + m];
                }

                hs[(a * d) + b] = v;
            }
        }

        // Network part: sum over units of (dw/dz) act''(s) J J'; act'' = sig (1 - sig) for softplus.
        for (int u = 0; u < hidden; u++)
        {
            float sig = n.Sig[u];
            float c = t.Adj[u] * sig * (1 - sig);
            if (c == 0)
            {
                continue;
            }

            int row = u * d;
            for (int a = 0; a < d; a++)
            {
                float ca = c * jac[row + a];
                for (int b = 0; b <= a; b++)
                {
                    hs[(a * d) + b] += ca * jac[row + b];
                }
            }
        }
    }

    /// <summary>Hess w into t.H column by column (H e_c by a tangent pass along e_c and its reverse), after Forward and
    /// ReverseWithAdjoints at the same point.</summary>
    private void HessianByColumns(SolveScratch t)
    {
        var n = t.Net;
        var v = n.V;
        for (int c = 0; c < d; c++)
        {
            Array.Clear(v);
            v[c] = 1;

            // Tangent forward: sdot_l = W_l v + P_l zdot_(l-1), zdot_l = act'(s_l) sdot_l.
            for (int l = 0; l < layers; l++)
            {
                int h = width[l], ho = hOff[l];
                int hp = l > 0 ? width[l - 1] : 0, po = l > 0 ? hOff[l - 1] : 0;
                for (int j = 0; j < h; j++)
                {
                    float sd = 0;
                    int wr = wOff[l] + (j * d);
                    for (int k = 0; k < d; k++)
                    {
                        sd += e[wr + k] * v[k];
                    }

                    int pr = l > 0 ? pOff[l] + (j * hp) : 0;
                    for (int k = 0; k < hp; k++)
                    {
                        sd += e[pr + k] * n.Zdot[po + k];
                    }

                    n.Sdot[ho + j] = sd;
                    n.Zdot[ho + j] = n.Sig[ho + j] * sd;
                }
            }

            // Quadratic part: (alpha + D) v + R (R' v).
            for (int a = 0; a < r; a++)
            {
                float q = 0;
                for (int k = 0; k < d; k++)
                {
                    q += e[lay.LowRankOffset + (k * r) + a] * v[k];
                }

                n.Rv[a] = q;
            }

            int col = c * d;
            for (int k = 0; k < d; k++)
            {
                float hv = (alpha + e[lay.DiagonalOffset + k]) * v[k];
                for (int a = 0; a < r; a++)
                {
                    hv += e[lay.LowRankOffset + (k * r) + a] * n.Rv[a];
                }

                t.H[col + k] = hv;
            }

            // Reverse of the tangent: the adjoints' tangents udot (0 at the top), d(dw/ds)dot = udot act' + u act'' sdot.
            int last = layers - 1;
            Array.Clear(n.U, 0, width[last]);
            for (int l = last; l >= 0; l--)
            {
                int h = width[l], ho = hOff[l];
                int hp = l > 0 ? width[l - 1] : 0;
                Array.Clear(n.Un, 0, hp);
                for (int j = 0; j < h; j++)
                {
                    float sig = n.Sig[ho + j];
                    float dd = (n.U[j] * sig) + (t.Adj[ho + j] * sig * (1 - sig) * n.Sdot[ho + j]);
                    int wr = wOff[l] + (j * d);
                    for (int k = 0; k < d; k++)
                    {
                        t.H[col + k] += e[wr + k] * dd;
                    }

                    int pr = l > 0 ? pOff[l] + (j * hp) : 0;
                    for (int k = 0; k < hp; k++)
                    {
                        n.Un[k] += e[pr + k] * dd;
                    }
                }

                Array.Copy(n.Un, n.U, hp);
            }
        }
    }

    /// <summary>Cholesky in place on the lower triangle of the d x d matrix a; false when a pivot is not positive and finite.</summary>
    private static bool CholeskyFactor(float[] a, int d)
    {
        for (int j = 0; j < d; j++)
        {
            float p = a[(j * d) + j];
            for (int k = 0; k < j; k++)
            {
                p -= a[(j * d) + k] * a[(j * d) + k];
            }

            if (!(p > 0) || !float.IsFinite(p))
            {
                return false;
            }

            float lj = MathF.Sqrt(p);
            a[(j * d) + j] = lj;
            for (int i = j + 1; i < d; i++)
            {
                float v = a[(i * d) + j];
                for (int k = 0; k < j; k++)
                {
                    v -= a[(i * d) + k] * a[(j * d) + k];
                }

                a[(i * d) + j] = v / lj;
            }
        }

        return true;
    }

    /// <summary>Solves L L' z = b in place with the factor from <see cref="CholeskyFactor"/>.</summary>
    private static void CholeskySolve(float[] l, float[] b, int d)
    {
        for (int i = 0; i < d; i++)
        {
            float v = b[i];
            for (int k = 0; k < i; k++)
            {
                v -= l[(i * d) + k] * b[k];
            }

            b[i] = v / l[(i * d) + i];
        }

        for (int i = d - 1; i >= 0; i--)
        {
            float v = b[i];
            for (int k = i + 1; k < d; k++)
            {
                v -= l[(k * d) + i] * b[k];
            }

            b[i] = v / l[(i * d) + i];
        }
    }
}
