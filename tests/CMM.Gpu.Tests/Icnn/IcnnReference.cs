namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// Independent double-precision ICNN, written from docs/icnn.md (own layout parsing, own softplus),
/// sharing no code with the kernels. The input gradient and the Hessian (<see cref="AnalyticHessian"/>) are analytic, other
/// derivatives are by central differences.
/// A preconditioner enters by its definition, w(y) = kappa v((y - m) / s) + sqrt(kappa) c'((y - m) / s) + alpha/2 |y - m|^2
/// with v the network without its linear term (and alpha 0) on the free parameters, not by the per-parameter scales the
/// library derives from it.
/// </summary>
public sealed class IcnnReference
{
    private readonly int d;
    private readonly int[] widths;
    private readonly int rank;
    private readonly double alpha;
    private readonly bool elu;
    private readonly double[] centre;
    private readonly double[] scale;
    private readonly double kappa;
    private readonly double beta;

    public IcnnReference(int d, int[] widths, int rank, double alpha, bool elu, double[]? centre = null, double[]? scale = null, double kappa = 1,
        double sharpness = 1)
    {
        this.beta = sharpness;
        this.d = d;
        this.widths = widths;
        this.rank = rank;
        this.alpha = alpha;
        this.elu = elu;
        this.centre = centre ?? new double[d];
        this.scale = scale ?? Enumerable.Repeat(1.0, d).ToArray();
        this.kappa = kappa;
        int count = 0;
        for (int l = 0; l < widths.Length; l++)
        {
            count += widths[l] * d + widths[l] + (l > 0 ? widths[l] * widths[l - 1] : 0);
        }

        ParameterCount = count + widths[^1] + d + d * rank + d;
    }

    public int ParameterCount { get; }

    public static double Softplus(double s) => s > 0 ? s + Math.Log(1 + Math.Exp(-s)) : Math.Log(1 + Math.Exp(s));

    public static double Sigmoid(double s) => 1 / (1 + Math.Exp(-s));

    /// <summary>act(beta s) / beta: the architecture's sharpness, by its definition.</summary>
    private double Act(double s) => (elu ? (beta * s > 0 ? beta * s : Math.Exp(beta * s) - 1) : Softplus(beta * s)) / beta;

    private double Act1(double s) => elu ? (s > 0 ? 1 : Math.Exp(beta * s)) : Sigmoid(beta * s);

    /// <summary>d^2/ds^2 of act(beta s) / beta (ELU: the one-sided value, 0 for s &gt; 0).</summary>
    private double Act2(double s)
    {
        if (elu)
        {
            return s > 0 ? 0 : beta * Math.Exp(beta * s);
        }

        double g = Sigmoid(beta * s);
        return beta * g * (1 - g);
    }

    /// <summary>The blocks of theta, read in the documented order; positive blocks through softplus.</summary>
    private sealed class Blocks
    {
        public double[][,] W = [];
        public double[][] B = [];
        public double[][,] P = [];
        public double[] Out = [];
        public double[] Diag = [];
        public double[,] R = new double[0, 0];
        public double[] C = [];
    }

    private Blocks Read(double[] theta)
    {
        Assert.Equal(ParameterCount, theta.Length);
        int o = 0;
        int L = widths.Length;
        var b = new Blocks { W = new double[L][,], B = new double[L][], P = new double[L][,] };
        for (int l = 0; l < L; l++)
        {
            int h = widths[l];
            b.W[l] = new double[h, d];
            for (int j = 0; j < h; j++)
            {
                for (int k = 0; k < d; k++)
                {
                    b.W[l][j, k] = theta[o++];
                }
            }

            b.B[l] = new double[h];
            for (int j = 0; j < h; j++)
            {
                b.B[l][j] = theta[o++];
            }

            if (l > 0)
            {
                int hp = widths[l - 1];
                b.P[l] = new double[h, hp];
                for (int j = 0; j < h; j++)
                {
                    for (int k = 0; k < hp; k++)
                    {
                        b.P[l][j, k] = Softplus(theta[o++]);
                    }
                }
            }
        }

        b.Out = new double[widths[^1]];
        for (int j = 0; j < b.Out.Length; j++)
        {
            b.Out[j] = Softplus(theta[o++]);
        }

        b.Diag = new double[d];
        for (int k = 0; k < d; k++)
        {
            b.Diag[k] = Softplus(theta[o++]);
        }

        b.R = new double[d, rank];
        for (int k = 0; k < d; k++)
        {
            for (int m = 0; m < rank; m++)
            {
                b.R[k, m] = theta[o++];
            }
        }

        b.C = new double[d];
        for (int k = 0; k < d; k++)
        {
            b.C[k] = theta[o++];
        }

        return b;
    }

    /// <summary>The quadratic matrix in the input's units: alpha I + kappa S^-1 (D + R R') S^-1, S = diag(s).</summary>
    public double[,] QuadraticMatrix(double[] theta)
    {
        var a = NetworkQuadratic(theta);
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                a[i, j] = (i == j ? alpha : 0) + (kappa * a[i, j] / (scale[i] * scale[j]));
            }
        }

        return a;
    }

    /// <summary>The linear coefficient of w in (y - m): sqrt(kappa) c_k / s_k.</summary>
    public double[] Linear(double[] theta) => Read(theta).C.Select((c, k) => Math.Sqrt(kappa) * c / scale[k]).ToArray();

    /// <summary>w(y) by the preconditioner's definition.</summary>
    public double Value(double[] theta, double[] y)
    {
        var z = Normalised(y);
        double r2 = 0;
        for (int k = 0; k < d; k++)
        {
            r2 += (y[k] - centre[k]) * (y[k] - centre[k]);
        }

        var c = Read(theta).C;
        double lin = 0;
        for (int k = 0; k < d; k++)
        {
            lin += c[k] * z[k];
        }

        return (kappa * NetworkValue(theta, z)) + (Math.Sqrt(kappa) * lin) + (0.5 * alpha * r2);
    }

    /// <summary>grad w(y) by the chain rule through the preconditioner's definition.</summary>
    public double[] Gradient(double[] theta, double[] y)
    {
        var gz = NetworkGradient(theta, Normalised(y));
        var c = Read(theta).C;
        return gz.Select((g, k) => ((kappa * g + Math.Sqrt(kappa) * c[k]) / scale[k]) + (alpha * (y[k] - centre[k]))).ToArray();
    }

    private double[] Normalised(double[] y) => y.Select((v, k) => (v - centre[k]) / scale[k]).ToArray();

    /// <summary>D + R R' of the network v (no alpha).</summary>
    private double[,] NetworkQuadratic(double[] theta)
    {
        var b = Read(theta);
        var a = new double[d, d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double s = i == j ? b.Diag[i] : 0;
                for (int m = 0; m < rank; m++)
                {
                    s += b.R[i, m] * b.R[j, m];
                }

                a[i, j] = s;
            }
        }

        return a;
    }

    private double NetworkValue(double[] theta, double[] x)
    {
        var b = Read(theta);
        var s = Pre(b, x);
        double w = 0;
        var zTop = s[^1].Select(Act).ToArray();
        for (int j = 0; j < zTop.Length; j++)
        {
            w += b.Out[j] * zTop[j];
        }

        var a = NetworkQuadratic(theta);
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                w += 0.5 * x[i] * a[i, j] * x[j];
            }
        }

        return w;
    }

    /// <summary>Analytic input gradient of the network v (reverse mode, double).</summary>
    private double[] NetworkGradient(double[] theta, double[] x)
    {
        var b = Read(theta);
        var s = Pre(b, x);
        int L = widths.Length;
        var g = new double[d];
        var a = NetworkQuadratic(theta);
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                g[i] += a[i, j] * x[j];
            }
        }

        var u = (double[])b.Out.Clone();
        for (int l = L - 1; l >= 0; l--)
        {
            var delta = new double[widths[l]];
            for (int j = 0; j < widths[l]; j++)
            {
                delta[j] = u[j] * Act1(s[l][j]);
                for (int k = 0; k < d; k++)
                {
                    g[k] += b.W[l][j, k] * delta[j];
                }
            }

            if (l > 0)
            {
                u = new double[widths[l - 1]];
                for (int j = 0; j < widths[l]; j++)
                {
                    for (int k = 0; k < widths[l - 1]; k++)
                    {
                        u[k] += b.P[l][j, k] * delta[j];
                    }
                }
            }
        }

        return g;
    }

    /// <summary>Hessian by central differences of the analytic gradient.</summary>
    public double[,] Hessian(double[] theta, double[] x, double h = 1e-5)
    {
        var hess = new double[d, d];
        for (int c = 0; c < d; c++)
        {
            var xp = (double[])x.Clone();
            var xm = (double[])x.Clone();
            xp[c] += h;
            xm[c] -= h;
            var gp = Gradient(theta, xp);
            var gm = Gradient(theta, xm);
            for (int k = 0; k < d; k++)
            {
                hess[c, k] = (gp[k] - gm[k]) / (2 * h);
            }
        }

        return hess;
    }

    /// <summary>
    /// Analytic Hessian of w at y (forward propagation of the Jacobian J_l and second derivatives T_l of every pre-activation:
    /// J_l = W_l + P_l diag(act'(s_(l-1))) J_(l-1), T_l = sum_k P_l[., k] (act''(s_(l-1),k) J_k J_k' + act'(s_(l-1),k) T_k)),
    /// through the preconditioner's definition: kappa diag(1/s) Hess v diag(1/s) + alpha I.
    /// </summary>
    public double[,] AnalyticHessian(double[] theta, double[] y)
    {
        var x = Normalised(y);
        var b = Read(theta);
        var s = Pre(b, x);
        int L = widths.Length;
        var jac = new double[widths[0]][];
        var sec = new double[widths[0]][,];
        for (int j = 0; j < widths[0]; j++)
        {
            jac[j] = Enumerable.Range(0, d).Select(k => b.W[0][j, k]).ToArray();
            sec[j] = new double[d, d];
        }

        for (int l = 1; l < L; l++)
        {
            var nj = new double[widths[l]][];
            var ns = new double[widths[l]][,];
            for (int j = 0; j < widths[l]; j++)
            {
                nj[j] = Enumerable.Range(0, d).Select(k => b.W[l][j, k]).ToArray();
                ns[j] = new double[d, d];
                for (int k = 0; k < widths[l - 1]; k++)
                {
                    double a1 = Act1(s[l - 1][k]), a2 = Act2(s[l - 1][k]), pjk = b.P[l][j, k];
                    for (int r = 0; r < d; r++)
                    {
                        nj[j][r] += pjk * a1 * jac[k][r];
                        for (int c = 0; c < d; c++)
                        {
                            ns[j][r, c] += pjk * ((a2 * jac[k][r] * jac[k][c]) + (a1 * sec[k][r, c]));
                        }
                    }
                }
            }

            jac = nj;
            sec = ns;
        }

        var h = NetworkQuadratic(theta);
        for (int j = 0; j < widths[^1]; j++)
        {
            double a1 = Act1(s[^1][j]), a2 = Act2(s[^1][j]);
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c < d; c++)
                {
                    h[r, c] += b.Out[j] * ((a2 * jac[j][r] * jac[j][c]) + (a1 * sec[j][r, c]));
                }
            }
        }

        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++)
            {
                h[r, c] = (kappa * h[r, c] / (scale[r] * scale[c])) + (r == c ? alpha : 0);
            }
        }

        return h;
    }

    /// <summary>log det of a symmetric positive-definite matrix by a double Cholesky factorisation (NaN when not positive definite).</summary>
    public static double LogDeterminant(double[,] a)
    {
        int n = a.GetLength(0);
        var l = new double[n, n];
        double logDet = 0;
        for (int c = 0; c < n; c++)
        {
            double diag = a[c, c];
            for (int k = 0; k < c; k++)
            {
                diag -= l[c, k] * l[c, k];
            }

            if (!(diag > 0))
            {
                return double.NaN;
            }

            l[c, c] = Math.Sqrt(diag);
            logDet += 2 * Math.Log(l[c, c]);
            for (int r = c + 1; r < n; r++)
            {
                double t = a[r, c];
                for (int k = 0; k < c; k++)
                {
                    t -= l[r, k] * l[c, k];
                }

                l[r, c] = t / l[c, c];
            }
        }

        return logDet;
    }

    /// <summary>w(grad w(y)) - log det Hess w(y): minus the model's log-density at y, up to log Z_w (docs/maths.md section 7).</summary>
    public double NegativeLogDensityTerm(double[] theta, double[] y) =>
        Value(theta, Gradient(theta, y)) - LogDeterminant(AnalyticHessian(theta, y));

    public double MeanValue(double[] theta, double[][] xs) => xs.Average(x => Value(theta, x));

    public double Loss(double[] theta, double[][] ys, double[][] ts)
    {
        double s = 0;
        for (int i = 0; i < ys.Length; i++)
        {
            var g = Gradient(theta, ys[i]);
            for (int k = 0; k < d; k++)
            {
                s += (g[k] - ts[i][k]) * (g[k] - ts[i][k]);
            }
        }

        return s / ys.Length;
    }

    /// <summary>Central-difference gradient of f over theta.</summary>
    public static double[] ParameterGradient(double[] theta, Func<double[], double> f, double h = 1e-6)
    {
        var g = new double[theta.Length];
        var t = (double[])theta.Clone();
        for (int j = 0; j < theta.Length; j++)
        {
            double keep = t[j];
            t[j] = keep + h;
            double fp = f(t);
            t[j] = keep - h;
            double fm = f(t);
            t[j] = keep;
            g[j] = (fp - fm) / (2 * h);
        }

        return g;
    }

    private double[][] Pre(Blocks b, double[] x)
    {
        int L = widths.Length;
        var s = new double[L][];
        for (int l = 0; l < L; l++)
        {
            s[l] = new double[widths[l]];
            for (int j = 0; j < widths[l]; j++)
            {
                double v = b.B[l][j];
                for (int k = 0; k < d; k++)
                {
                    v += b.W[l][j, k] * x[k];
                }

                if (l > 0)
                {
                    for (int k = 0; k < widths[l - 1]; k++)
                    {
                        v += b.P[l][j, k] * Act(s[l - 1][k]);
                    }
                }

                s[l][j] = v;
            }
        }

        return s;
    }
}
