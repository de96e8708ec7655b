namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// Plain scalar C# forms of the built-in CMFMA energies V and grad V (the baseline of the <c>energy_value_grad</c> rows),
/// written from the formulas of docs/cmfma.md and not from the library: a Gaussian is factored here by its own Cholesky, the
/// many-well's normaliser comes from its own Simpson quadrature, the logistic-regression design is standardised here from the
/// raw data. One point per <c>Parallel.For</c> iteration, double precision from float points, as the library's energies.
/// </summary>
internal abstract class PlainEnergy
{
    protected static readonly double HalfLog2Pi = 0.5 * Math.Log(2 * Math.PI);

    protected PlainEnergy(int dimension) => Dimension = dimension;

    public int Dimension { get; }

    /// <summary>V (and grad V) at each of the n points [n, d] row-major.</summary>
    public void Evaluate(float[] points, double[] energies, double[] gradients, int n)
    {
        int d = Dimension;
        Parallel.For(0, n, i => energies[i] = One(points.AsSpan(i * d, d), gradients.AsSpan(i * d, d)));
    }

    /// <summary>V at one point; writes grad V.</summary>
    protected abstract double One(ReadOnlySpan<float> y, Span<double> gradient);

    /// <summary>-log N(y; m, S) = |L^-1 (y - m)|^2 / 2 + sum log L_kk + (d/2) log 2 pi with S = L L', and its gradient S^-1 (y - m) = L^-T L^-1 (y - m).</summary>
    internal sealed class Normal
    {
        private readonly double[] mean;
        private readonly double[] lower;
        private readonly double constant;

        public Normal(double[] mean, double[,] covariance)
        {
            int d = mean.Length;
            this.mean = mean;
            lower = new double[d * d];
            double logDet = 0;
            for (int j = 0; j < d; j++)
            {
                double s = covariance[j, j];
                for (int k = 0; k < j; k++)
                {
                    s -= lower[(j * d) + k] * lower[(j * d) + k];
                }

                lower[(j * d) + j] = Math.Sqrt(s);
                logDet += Math.Log(lower[(j * d) + j]);
                for (int i = j + 1; i < d; i++)
                {
                    double t = covariance[i, j];
                    for (int k = 0; k < j; k++)
                    {
                        t -= lower[(i * d) + k] * lower[(j * d) + k];
                    }

                    lower[(i * d) + j] = t / lower[(j * d) + j];
                }
            }

            constant = logDet + (d * HalfLog2Pi);
        }

        /// <summary>-log N at y; grad (S^-1 (y - m)) into <paramref name="gradient"/>; <paramref name="z"/> is d scratch values.</summary>
        public double NegativeLogDensity(ReadOnlySpan<float> y, Span<double> gradient, Span<double> z)
        {
            int d = mean.Length;
            double q = 0;
            for (int i = 0; i < d; i++)
            {
                double s = y[i] - mean[i];
                for (int k = 0; k < i; k++)
                {
                    s -= lower[(i * d) + k] * z[k];
                }

                z[i] = s / lower[(i * d) + i];
                q += z[i] * z[i];
            }

            for (int i = d - 1; i >= 0; i--)
            {
                double s = z[i];
                for (int k = i + 1; k < d; k++)
                {
                    s -= lower[(k * d) + i] * gradient[k];
                }

                gradient[i] = s / lower[(i * d) + i];
            }

            return (0.5 * q) + constant;
        }
    }

    internal sealed class Gaussian(double[] mean, double[,] covariance) : PlainEnergy(mean.Length)
    {
        private readonly Normal normal = new(mean, covariance);

        protected override double One(ReadOnlySpan<float> y, Span<double> gradient)
        {
            Span<double> z = stackalloc double[Dimension];
            return normal.NegativeLogDensity(y, gradient, z);
        }
    }

    /// <summary>V = -log sum_j w_j N(y; m_j, S_j) by log-sum-exp; grad V = sum_j resp_j S_j^-1 (y - m_j).</summary>
    internal sealed class Mixture(double[] weights, double[][] means, double[][,] covariances) : PlainEnergy(means[0].Length)
    {
        private readonly Normal[] components = means.Select((m, j) => new Normal(m, covariances[j])).ToArray();

        protected override double One(ReadOnlySpan<float> y, Span<double> gradient)
        {
            int d = Dimension, k = components.Length;
            Span<double> z = stackalloc double[d];
            Span<double> g = stackalloc double[k * d];
            Span<double> logp = stackalloc double[k];
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++)
            {
                logp[j] = Math.Log(weights[j]) - components[j].NegativeLogDensity(y, g.Slice(j * d, d), z);
                max = Math.Max(max, logp[j]);
            }

            double sum = 0;
            for (int j = 0; j < k; j++)
            {
                sum += Math.Exp(logp[j] - max);
            }

            gradient.Clear();
            for (int j = 0; j < k; j++)
            {
                double resp = Math.Exp(logp[j] - max) / sum;
                for (int a = 0; a < d; a++)
                {
                    gradient[a] += resp * g[(j * d) + a];
                }
            }

            return -(max + Math.Log(sum));
        }
    }

    /// <summary>Haario's banana: y_1 ~ N(0, s^2), y_2 + b (y_1^2 - s^2) ~ N(0, 1), the rest N(0, 1), each a normalised normal term.</summary>
    internal sealed class Banana(int dimension, double curvature, double scale) : PlainEnergy(dimension)
    {
        protected override double One(ReadOnlySpan<float> y, Span<double> gradient)
        {
            double y1 = y[0], u = y[1] + (curvature * ((y1 * y1) - (scale * scale)));
            double v = (0.5 * y1 * y1 / (scale * scale)) + Math.Log(scale) + HalfLog2Pi + (0.5 * u * u) + HalfLog2Pi;
            gradient[0] = (y1 / (scale * scale)) + (u * curvature * 2 * y1);
            gradient[1] = u;
            for (int k = 2; k < Dimension; k++)
            {
                v += (0.5 * y[k] * y[k]) + HalfLog2Pi;
                gradient[k] = y[k];
            }

            return v;
        }
    }

    /// <summary>Neal's funnel: v = y_1 ~ N(0, s^2), y_k | v ~ N(0, e^v) for k &gt;= 2, each a normalised normal term.</summary>
    internal sealed class Funnel(int dimension, double scale) : PlainEnergy(dimension)
    {
        protected override double One(ReadOnlySpan<float> y, Span<double> gradient)
        {
            double v = y[0], precision = Math.Exp(-v);
            double e = (0.5 * v * v / (scale * scale)) + Math.Log(scale) + HalfLog2Pi;
            gradient[0] = v / (scale * scale);
            for (int k = 1; k < Dimension; k++)
            {
                double yk = y[k];
                e += (0.5 * yk * yk * precision) + (0.5 * v) + HalfLog2Pi;
                gradient[0] += 0.5 - (0.5 * yk * yk * precision);
                gradient[k] = yk * precision;
            }

            return e;
        }
    }

    /// <summary>Many-well: d/2 pairs (a, b), each exp(-(a^4 - 6 a^2 - a/2 + b^2/2)) normalised; log of a pair's normaliser =
    /// log(integral of exp(-(a^4 - 6 a^2 - a/2)) da, by composite Simpson on [-6, 6]) + (1/2) log 2 pi.</summary>
    internal sealed class ManyWell : PlainEnergy
    {
        private readonly double logPairZ;

        public ManyWell(int dimension)
            : base(dimension)
        {
            const int Intervals = 200_000;
            const double Low = -6, High = 6;
            double h = (High - Low) / Intervals, sum = 0;
            for (int i = 0; i <= Intervals; i++)
            {
                double a = Low + (i * h), f = Math.Exp(-((a * a * a * a) - (6 * a * a) - (0.5 * a)));
                sum += (i == 0 || i == Intervals ? 1 : i % 2 == 1 ? 4 : 2) * f;
            }

            logPairZ = Math.Log(sum * h / 3) + HalfLog2Pi;
        }

        protected override double One(ReadOnlySpan<float> y, Span<double> gradient)
        {
            double v = 0;
            for (int k = 0; k < Dimension; k += 2)
            {
                double a = y[k], b = y[k + 1];
                v += (a * a * a * a) - (6 * a * a) - (0.5 * a) + (0.5 * b * b) + logPairZ;
                gradient[k] = (4 * a * a * a) - (12 * a) - 0.5;
                gradient[k + 1] = b;
            }

            return v;
        }
    }

    /// <summary>Bayesian logistic regression: design rows x_r = (1, standardised features) (population sd), V = sum_r
    /// [log(1 + e^eta_r) - t_r eta_r] + |beta|^2 / (2 sigma^2) with eta_r = x_r . beta; grad V = sum_r (sigmoid(eta_r) - t_r) x_r + beta / sigma^2.</summary>
    internal sealed class Logistic : PlainEnergy
    {
        private readonly double[] design;
        private readonly int[] labels;
        private readonly double priorVariance;

        public Logistic(double[] features, int[] labels, double priorVariance)
            : base((features.Length / labels.Length) + 1)
        {
            int rows = labels.Length, p = Dimension - 1;
            this.labels = labels;
            this.priorVariance = priorVariance;
            design = new double[rows * Dimension];
            for (int k = 0; k < p; k++)
            {
                double mean = 0, ss = 0;
                for (int r = 0; r < rows; r++)
                {
                    mean += features[(r * p) + k] / rows;
                }

                for (int r = 0; r < rows; r++)
                {
                    ss += (features[(r * p) + k] - mean) * (features[(r * p) + k] - mean);
                }

                double sd = Math.Sqrt(ss / rows);
                for (int r = 0; r < rows; r++)
                {
                    design[(r * Dimension) + 1 + k] = (features[(r * p) + k] - mean) / sd;
                }
            }

            for (int r = 0; r < rows; r++)
            {
                design[r * Dimension] = 1;
            }
        }

        protected override double One(ReadOnlySpan<float> beta, Span<double> gradient)
        {
            int d = Dimension;
            double v = 0;
            for (int a = 0; a < d; a++)
            {
                v += beta[a] * (double)beta[a] / (2 * priorVariance);
                gradient[a] = beta[a] / priorVariance;
            }

            for (int r = 0; r < labels.Length; r++)
            {
                double eta = 0;
                for (int a = 0; a < d; a++)
                {
                    eta += design[(r * d) + a] * beta[a];
                }

                // log(1 + e^eta) = max(eta, 0) + log(1 + e^-|eta|); sigmoid(eta) = 1 / (1 + e^-eta), formed without overflow.
                double e = Math.Exp(-Math.Abs(eta));
                v += Math.Max(eta, 0) + Math.Log(1 + e) - (labels[r] * eta);
                double residual = (eta >= 0 ? 1 / (1 + e) : e / (1 + e)) - labels[r];
                for (int a = 0; a < d; a++)
                {
                    gradient[a] += residual * design[(r * d) + a];
                }
            }

            return v;
        }
    }
}
