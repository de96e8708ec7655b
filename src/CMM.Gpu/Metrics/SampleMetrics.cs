namespace CMM.Gpu.Metrics;

/// <summary>
/// A discrepancy between two samples in R^d (row-major float arrays of the same dimension).
/// The debiased Sinkhorn divergence of the Sinkhorn solver plugs in here.
/// </summary>
/// <param name="x">Row-major [n, d].</param>
/// <param name="y">Row-major [m, d].</param>
/// <param name="dimension">d.</param>
/// <returns>The discrepancy (0 for equal laws, up to sampling noise).</returns>
public delegate double SampleDivergence(float[] x, float[] y, int dimension);

/// <summary>Which estimator <see cref="SampleMetrics.EnergyDistance"/> uses.</summary>
public enum EnergyEstimator
{
    /// <summary>V-statistic: every mean over all pairs, the zero diagonal included. Always &gt;= 0 and exactly 0 for identical sets.</summary>
    VStatistic,

    /// <summary>U-statistic: within-sample means over distinct pairs only. Unbiased, may be slightly negative.</summary>
    Unbiased,
}

/// <summary>
/// Host-side sample metrics in double precision (docs/metrics.md). Pairwise metrics cost O((n + m)^2 d)
/// time and O(n + m) memory; they are meant for n up to a few thousand.
/// </summary>
public static class SampleMetrics
{
    /// <summary>
    /// Energy distance E = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (Euclidean norm; Szekely and Rizzo), which is
    /// the squared MMD of the distance kernel: 0 if and only if the laws agree.
    /// </summary>
    /// <param name="x">Row-major [n, d], n &gt;= 1 (n &gt;= 2 for <see cref="EnergyEstimator.Unbiased"/>).</param>
    /// <param name="y">Row-major [m, d].</param>
    /// <param name="dimension">d.</param>
    /// <param name="estimator">V-statistic (default) or unbiased U-statistic.</param>
    /// <returns>The estimate.</returns>
    public static double EnergyDistance(float[] x, float[] y, int dimension, EnergyEstimator estimator = EnergyEstimator.VStatistic)
    {
        int n = Rows(x, dimension, nameof(x)), m = Rows(y, dimension, nameof(y));
        if (estimator == EnergyEstimator.Unbiased && (n < 2 || m < 2))
        {
            throw new ArgumentException("the unbiased energy distance needs at least 2 points in each sample");
        }

        double sxy = SumDistances(x, y, dimension, symmetric: false);
        double sxx = SumDistances(x, x, dimension, symmetric: true);
        double syy = SumDistances(y, y, dimension, symmetric: true);
        double nx = estimator == EnergyEstimator.VStatistic ? (double)n * n : (double)n * (n - 1);
        double ny = estimator == EnergyEstimator.VStatistic ? (double)m * m : (double)m * (m - 1);
        return (2 * sxy / ((double)n * m)) - (sxx / nx) - (syy / ny);
    }

    /// <summary>
    /// Exact 1-D Wasserstein-1 distance between the empirical laws of <paramref name="x"/> and
    /// <paramref name="y"/>: the integral over u in (0, 1) of |F^-1(u) - G^-1(u)| with the empirical quantile
    /// functions, so sizes may differ. O((n + m) log(n + m)).
    /// </summary>
    /// <param name="x">Values, n &gt;= 1.</param>
    /// <param name="y">Values, m &gt;= 1.</param>
    /// <returns>W1.</returns>
    public static double Wasserstein1(IReadOnlyList<float> x, IReadOnlyList<float> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count == 0 || y.Count == 0)
        {
            throw new ArgumentException("Wasserstein-1 needs at least one value in each sample");
        }

        var a = x.Select(v => (double)v).ToArray();
        var b = y.Select(v => (double)v).ToArray();
        Array.Sort(a);
        Array.Sort(b);
        long n = a.Length, m = b.Length;

        // Quantile steps sit at (i+1)/n and (j+1)/m; compare them as integers (i+1) m vs (j+1) n.
        int i = 0, j = 0;
        long prev = 0;
        double w = 0;
        while (i < n && j < m)
        {
            long ni = (i + 1) * m, nj = (j + 1) * n;
            long next = Math.Min(ni, nj);
            w += (next - prev) * Math.Abs(a[i] - b[j]);
            prev = next;
            if (ni == next)
            {
                i++;
            }

            if (nj == next)
            {
                j++;
            }
        }

        return w / ((double)n * m);
    }

    /// <summary>The sample mean of each coordinate.</summary>
    /// <param name="x">Row-major [n, d], n &gt;= 1.</param>
    /// <param name="dimension">d.</param>
    /// <returns>Length d.</returns>
    public static double[] Mean(float[] x, int dimension)
    {
        int n = Rows(x, dimension, nameof(x));
        var mu = new double[dimension];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < dimension; k++)
            {
                mu[k] += x[(i * dimension) + k];
            }
        }

        for (int k = 0; k < dimension; k++)
        {
            mu[k] /= n;
        }

        return mu;
    }

    /// <summary>The sample covariance (denominator n - 1), row-major d x d.</summary>
    /// <param name="x">Row-major [n, d], n &gt;= 2.</param>
    /// <param name="dimension">d.</param>
    /// <returns>Length d*d.</returns>
    public static double[] Covariance(float[] x, int dimension)
    {
        int n = Rows(x, dimension, nameof(x));
        if (n < 2)
        {
            throw new ArgumentException("a sample covariance needs at least 2 points", nameof(x));
        }

        var mu = Mean(x, dimension);
        int d = dimension;
        var c = new double[d * d];
        for (int i = 0; i < n; i++)
        {
            for (int a = 0; a < d; a++)
            {
                double da = x[(i * d) + a] - mu[a];
                for (int b = a; b < d; b++)
                {
                    c[(a * d) + b] += da * (x[(i * d) + b] - mu[b]);
                }
            }
        }

        for (int a = 0; a < d; a++)
        {
            for (int b = a; b < d; b++)
            {
                c[(a * d) + b] /= n - 1;
                c[(b * d) + a] = c[(a * d) + b];
            }
        }

        return c;
    }

    /// <summary>Mean error ||mean(x) - m||_2 (absolute Euclidean norm, in data units).</summary>
    /// <param name="x">Row-major [n, d].</param>
    /// <param name="dimension">d.</param>
    /// <param name="mean">The reference mean, length d.</param>
    /// <returns>The error.</returns>
    public static double MeanError(float[] x, int dimension, IReadOnlyList<double> mean)
    {
        ArgumentNullException.ThrowIfNull(mean);
        Require(mean.Count == dimension, $"mean has {mean.Count} values but d = {dimension}");
        var mu = Mean(x, dimension);
        double s = 0;
        for (int k = 0; k < dimension; k++)
        {
            s += (mu[k] - mean[k]) * (mu[k] - mean[k]);
        }

        return Math.Sqrt(s);
    }

    /// <summary>Covariance error ||Cov(x) - S||_F / ||S||_F (relative Frobenius).</summary>
    /// <param name="x">Row-major [n, d], n &gt;= 2.</param>
    /// <param name="dimension">d.</param>
    /// <param name="covariance">The reference S, row-major d x d.</param>
    /// <returns>The relative error.</returns>
    public static double CovarianceError(float[] x, int dimension, IReadOnlyList<double> covariance) =>
        RelativeFrobeniusError(Covariance(x, dimension), covariance, dimension);

    /// <summary>||H - H*||_F / ||H*||_F for one d x d matrix against a reference.</summary>
    /// <param name="estimated">H, row-major d x d.</param>
    /// <param name="reference">H*, row-major d x d, nonzero.</param>
    /// <param name="dimension">d.</param>
    /// <returns>The relative error.</returns>
    public static double RelativeFrobeniusError(IReadOnlyList<double> estimated, IReadOnlyList<double> reference, int dimension)
    {
        ArgumentNullException.ThrowIfNull(estimated);
        ArgumentNullException.ThrowIfNull(reference);
        int dd = dimension * dimension;
        Require(estimated.Count == dd && reference.Count == dd, $"both matrices need d*d = {dd} values (got {estimated.Count} and {reference.Count})");
        double num = 0, den = 0;
        for (int k = 0; k < dd; k++)
        {
            num += (estimated[k] - reference[k]) * (estimated[k] - reference[k]);
            den += reference[k] * reference[k];
        }

        Require(den > 0, "the reference matrix is zero");
        return Math.Sqrt(num / den);
    }

    /// <summary>
    /// Per-point Hessian relative errors ||H_i - H*||_F / ||H*||_F for a batch of Hessians laid out as
    /// <c>IPotential.Hessian</c> writes them (point i at <c>[i*d*d, (i+1)*d*d)</c>, row-major).
    /// </summary>
    /// <param name="hessians">Length n*d*d.</param>
    /// <param name="reference">H*, row-major d x d (e.g. S^(-1/3) for a Gaussian target).</param>
    /// <param name="dimension">d.</param>
    /// <returns>n errors.</returns>
    public static double[] HessianRelativeErrors(float[] hessians, IReadOnlyList<double> reference, int dimension)
    {
        ArgumentNullException.ThrowIfNull(hessians);
        int dd = dimension * dimension;
        Require(dimension >= 1 && hessians.Length % dd == 0 && hessians.Length > 0, $"hessians has {hessians.Length} values, not a positive multiple of d*d = {dd}");
        var e = new double[hessians.Length / dd];
        var h = new double[dd];
        for (int i = 0; i < e.Length; i++)
        {
            for (int k = 0; k < dd; k++)
            {
                h[k] = hessians[(i * dd) + k];
            }

            e[i] = RelativeFrobeniusError(h, reference, dimension);
        }

        return e;
    }

    /// <summary>sqrt(sum |a_k - b_k|^2 / sum |b_k|^2): e.g. fitted grad w against the closed-form A y + b.</summary>
    /// <param name="actual">Values (any shape, flattened).</param>
    /// <param name="expected">Reference values, same length, not all zero.</param>
    /// <returns>The relative L2 error.</returns>
    public static double RelativeL2Error(IReadOnlyList<float> actual, IReadOnlyList<float> expected)
    {
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(expected);
        Require(actual.Count == expected.Count, $"lengths differ: {actual.Count} vs {expected.Count}");
        double num = 0, den = 0;
        for (int k = 0; k < actual.Count; k++)
        {
            double diff = (double)actual[k] - expected[k];
            num += diff * diff;
            den += (double)expected[k] * expected[k];
        }

        Require(den > 0, "the reference values are all zero");
        return Math.Sqrt(num / den);
    }

    /// <summary>
    /// The share of <paramref name="query"/> points that lie in the k-nearest-neighbour "manifold" of <paramref name="reference"/>:
    /// the union of the balls B(r, rho_k(r)) around each reference point r, rho_k(r) the distance from r to its k-th nearest
    /// other reference point (Kynkaenniemi et al. 2019, "Improved precision and recall"). Precision of generated samples is
    /// ManifoldCoverage(generated, data); recall is ManifoldCoverage(data, generated). Unlike a divergence at a fixed length
    /// scale, it tells whether generated mass falls where the data have none (the gap between modes) and whether regions
    /// of the data get no samples. Exact, O(n m d) in double precision.
    /// </summary>
    /// <param name="query">Row-major [n, d], n &gt;= 1.</param>
    /// <param name="reference">Row-major [m, d], m &gt; k.</param>
    /// <param name="dimension">d.</param>
    /// <param name="k">Neighbour rank (default 3, as in the paper).</param>
    /// <returns>A value in [0, 1].</returns>
    public static double ManifoldCoverage(float[] query, float[] reference, int dimension, int k = 3)
    {
        int n = Rows(query, dimension, nameof(query)), m = Rows(reference, dimension, nameof(reference));
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        Require(m > k, $"the reference sample needs more than k = {k} points (got {m})");
        var radius2 = NeighbourSquaredDistances(reference, dimension, k);
        return CoveredCount(query, n, reference, dimension, radius2) / (double)n;
    }

    /// <summary>
    /// The off-support share: the share of <paramref name="query"/> points whose nearest neighbour in
    /// <paramref name="reference"/> is farther than q, the <paramref name="quantile"/> quantile of the reference points'
    /// own nearest-neighbour distances (each to its nearest OTHER reference point). q is the nearest-rank quantile, the
    /// ceil(quantile m)-th smallest of the m distances, so at most a share 1 - quantile of the reference's own
    /// distances exceed it, and a fresh sample of the reference's law scores about 1 - quantile (1 % at the default 0.99).
    /// Unlike the mode shares it needs no model of the data: generated points far from every data point score above that.
    /// Exact, O((n + m) m d) in double precision.
    /// </summary>
    /// <param name="query">Row-major [n, d], n &gt;= 1.</param>
    /// <param name="reference">Row-major [m, d], m &gt;= 2.</param>
    /// <param name="dimension">d.</param>
    /// <param name="quantile">The quantile of the reference's nearest-neighbour distances, in (0, 1); default 0.99.</param>
    /// <returns>A share in [0, 1].</returns>
    /// <exception cref="ArgumentException">Empty or misshapen inputs, fewer than 2 reference points, or a quantile outside (0, 1).</exception>
    public static double OffSupportShare(float[] query, float[] reference, int dimension, double quantile = 0.99)
    {
        int n = Rows(query, dimension, nameof(query)), m = Rows(reference, dimension, nameof(reference));
        Require(m >= 2, $"the off-support share needs at least 2 reference points (got {m})");
        Require(quantile is > 0 and < 1, $"the off-support quantile must lie in (0, 1) (got {quantile})");
        var nn2 = NeighbourSquaredDistances(reference, dimension, 1);
        Array.Sort(nn2);
        var q2 = new double[m];
        Array.Fill(q2, nn2[(int)Math.Ceiling((quantile * m) - 1e-9) - 1]); // 1e-9: 0.99 * 1000 must give rank 990, not 991
        return (n - CoveredCount(query, n, reference, dimension, q2)) / (double)n;
    }

    /// <summary>
    /// Near-copies of training points (memorisation): the share of <paramref name="generated"/> points closer to their nearest
    /// training point than a threshold t, and the same share for <paramref name="heldOut"/> points (what fresh data of the same
    /// law score). t is <paramref name="fraction"/> times the median distance from a held-out point to its nearest training
    /// point, so a model that reproduces training points scores far above the held-out share, and one that generalises about
    /// as high. Exact, O((n + m) n_train d) in double precision.
    /// </summary>
    /// <param name="generated">Row-major [n, d], n &gt;= 1.</param>
    /// <param name="training">The model's training points, row-major [n_train, d], n_train &gt;= 1.</param>
    /// <param name="heldOut">Points of the data's law not trained on, row-major [m, d], m &gt;= 1.</param>
    /// <param name="dimension">d.</param>
    /// <param name="fraction">The threshold as a fraction of the median held-out distance, in (0, 1]; default 0.25.</param>
    /// <returns>The generated share, the held-out share and the threshold t.</returns>
    /// <exception cref="ArgumentException">Empty or misshapen inputs, or a fraction outside (0, 1].</exception>
    public static (double Share, double HeldOutShare, double Threshold) NearCopyShare(float[] generated, float[] training, float[] heldOut, int dimension, double fraction = 0.25)
    {
        Rows(generated, dimension, nameof(generated));
        Rows(training, dimension, nameof(training));
        Rows(heldOut, dimension, nameof(heldOut));
        Require(fraction is > 0 and <= 1, $"the near-copy fraction must lie in (0, 1] (got {fraction})");
        var held = NearestSquaredDistances(heldOut, training, dimension);
        var sorted = held.Order().ToArray();
        int m = sorted.Length;
        double median = Math.Sqrt(m % 2 == 1 ? sorted[m / 2] : (sorted[(m / 2) - 1] + sorted[m / 2]) / 2);
        double t = fraction * median, t2 = t * t;
        var gen = NearestSquaredDistances(generated, training, dimension);
        return (gen.Count(q => q < t2) / (double)gen.Length, held.Count(q => q < t2) / (double)m, t);
    }

    /// <summary>For each query point, the squared distance to its nearest reference point.</summary>
    private static double[] NearestSquaredDistances(float[] query, float[] reference, int d)
    {
        int n = query.Length / d, m = reference.Length / d;
        var nearest = new double[n];
        Parallel.For(0, n, i =>
        {
            double best = double.PositiveInfinity;
            for (int j = 0; j < m; j++)
            {
                best = Math.Min(best, SquaredDistance(query, i, reference, j, d));
            }

            nearest[i] = best;
        });
        return nearest;
    }

    /// <summary>For each reference point, the squared distance to its k-th nearest other reference point (m &gt; k).</summary>
    private static double[] NeighbourSquaredDistances(float[] reference, int d, int k)
    {
        int m = reference.Length / d;
        var radius2 = new double[m];
        Parallel.For(0, m, j =>
        {
            // k smallest squared distances to the other reference points, kept sorted (k is small).
            var best = new double[k];
            Array.Fill(best, double.PositiveInfinity);
            for (int i = 0; i < m; i++)
            {
                if (i == j)
                {
                    continue;
                }

                double q = SquaredDistance(reference, j, reference, i, d);
                if (q < best[k - 1])
                {
                    int t = k - 1;
                    for (; t > 0 && best[t - 1] > q; t--)
                    {
                        best[t] = best[t - 1];
                    }

                    best[t] = q;
                }
            }

            radius2[j] = best[k - 1];
        });
        return radius2;
    }

    /// <summary>The number of query points inside some ball B(reference j, sqrt(radius2[j])).</summary>
    private static int CoveredCount(float[] query, int n, float[] reference, int d, double[] radius2)
    {
        int m = reference.Length / d;
        var inside = new bool[n];
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j < m; j++)
            {
                if (SquaredDistance(query, i, reference, j, d) <= radius2[j])
                {
                    inside[i] = true;
                    return;
                }
            }
        });
        return inside.Count(v => v);
    }

    private static double SquaredDistance(float[] a, int i, float[] b, int j, int d)
    {
        double q = 0;
        for (int c = 0; c < d; c++)
        {
            double diff = (double)a[(i * d) + c] - b[(j * d) + c];
            q += diff * diff;
        }

        return q;
    }

    internal static int Rows(float[] x, int dimension, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (x.Length == 0 || x.Length % dimension != 0)
        {
            throw new ArgumentException($"{name} has {x.Length} values, not a positive multiple of d = {dimension}", name);
        }

        return x.Length / dimension;
    }

    private static void Require(bool ok, string message)
    {
        if (!ok)
        {
            throw new ArgumentException(message);
        }
    }

    /// <summary>Sum over all (i, j) of |x_i - y_j|; row sums in parallel, added in row order (deterministic).</summary>
    private static double SumDistances(float[] x, float[] y, int d, bool symmetric)
    {
        int n = x.Length / d, m = y.Length / d;
        var rows = new double[n];
        Parallel.For(0, n, i =>
        {
            double s = 0;
            int start = symmetric ? i + 1 : 0;
            for (int j = start; j < m; j++)
            {
                s += Math.Sqrt(SquaredDistance(x, i, y, j, d));
            }

            rows[i] = s;
        });
        double total = 0;
        foreach (var r in rows)
        {
            total += r;
        }

        return symmetric ? 2 * total : total;
    }
}
