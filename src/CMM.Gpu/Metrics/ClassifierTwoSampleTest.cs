using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Metrics;

/// <summary>
/// The classifier two-sample test (docs/metrics.md): a classifier is trained to tell sample P from sample Q on half of each,
/// and its accuracy on the other halves is the statistic. It is 0.5 when the two are indistinguishable to the classifier and
/// 1 when they are fully separated. The classifier is L2-regularised logistic regression on the standardised features
/// [x_k, x_k^2] (2d + 1 weights, fitted by Newton's method in double precision): it sees differences of mean, variance and
/// the linear-plus-diagonal-quadratic shape, not every difference.
/// </summary>
public static class ClassifierTwoSampleTest
{
    /// <summary>The ridge penalty lambda |beta|^2 / 2 per training point (the intercept is not penalised).</summary>
    public const double Ridge = 1e-3;

    /// <summary>The held-out accuracy of the classifier between <paramref name="p"/> and <paramref name="q"/>.</summary>
    /// <param name="p">Row-major [np, d].</param>
    /// <param name="q">Row-major [nq, d].</param>
    /// <param name="dimension">d.</param>
    /// <param name="seed">Seed of the shuffles that make the train and test halves.</param>
    /// <returns>Accuracy in [0, 1] on min(np, nq) - min(np, nq) / 2 test points of each sample.</returns>
    /// <exception cref="ArgumentException">Fewer than 4 points in either sample.</exception>
    public static double Accuracy(float[] p, float[] q, int dimension, int seed)
    {
        int d = dimension;
        int n = Math.Min(SampleMetrics.Rows(p, d, nameof(p)), SampleMetrics.Rows(q, d, nameof(q)));
        if (n < 4)
        {
            throw new ArgumentException($"the classifier two-sample test needs at least 4 points in each sample (got {n})");
        }

        var pp = NoiseFloor.Gather(p, d, NoiseFloor.Permutation(p.Length / d, seed), 0, n);
        var qq = NoiseFloor.Gather(q, d, NoiseFloor.Permutation(q.Length / d, unchecked(seed + 1)), 0, n);
        int train = n / 2, test = n - train;
        int f = (2 * d) + 1;

        // Standardise the features on the training halves (a constant feature keeps scale 1).
        var mean = new double[f - 1];
        var scale = new double[f - 1];
        double Raw(float[] x, int i, int k) => k < d ? x[(i * d) + k] : (double)x[(i * d) + k - d] * x[(i * d) + k - d];
        for (int k = 0; k < f - 1; k++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < train; i++)
            {
                double a = Raw(pp, i, k), b = Raw(qq, i, k);
                s += a + b;
                s2 += (a * a) + (b * b);
            }

            mean[k] = s / (2 * train);
            double v = (s2 / (2 * train)) - (mean[k] * mean[k]);
            scale[k] = v > 1e-24 ? Math.Sqrt(v) : 1;
        }

        Matrix<double> Features(float[] x, int from, int count)
        {
            var m = Matrix<double>.Build.Dense(count, f);
            for (int i = 0; i < count; i++)
            {
                m[i, 0] = 1;
                for (int k = 0; k < f - 1; k++)
                {
                    m[i, k + 1] = (Raw(x, from + i, k) - mean[k]) / scale[k];
                }
            }

            return m;
        }

        var xTrain = Features(pp, 0, train).Stack(Features(qq, 0, train));
        var yTrain = Vector<double>.Build.Dense(2 * train, i => i < train ? 1 : 0);
        var beta = Fit(xTrain, yTrain);
        var xTest = Features(pp, train, test).Stack(Features(qq, train, test));
        var scores = xTest * beta;
        int correct = 0;
        for (int i = 0; i < 2 * test; i++)
        {
            bool saysP = scores[i] > 0;
            correct += saysP == (i < test) ? 1 : 0;
        }

        return correct / (2.0 * test);
    }

    /// <summary>Ridge logistic regression by Newton's method (at most 50 steps; the penalty keeps the Hessian definite).</summary>
    private static Vector<double> Fit(Matrix<double> x, Vector<double> y)
    {
        int n = x.RowCount, f = x.ColumnCount;
        var beta = Vector<double>.Build.Dense(f);
        var penalty = Vector<double>.Build.Dense(f, k => k == 0 ? 0 : Ridge * n);
        for (int step = 0; step < 50; step++)
        {
            var prob = (x * beta).Map(s => 1 / (1 + Math.Exp(-s)));
            var gradient = (x.TransposeThisAndMultiply(prob - y)) + penalty.PointwiseMultiply(beta);
            var weights = prob.Map(v => Math.Max(v * (1 - v), 1e-12));
            var hessian = x.TransposeThisAndMultiply(x.ScaleRows(weights)) + Matrix<double>.Build.DiagonalOfDiagonalVector(penalty + 1e-9);
            var delta = hessian.Cholesky().Solve(gradient);
            beta -= delta;
            if (delta.L2Norm() < 1e-8 * (1 + beta.L2Norm()))
            {
                break;
            }
        }

        return beta;
    }
}

file static class MatrixExtensions
{
    /// <summary>diag(w) X: every row i of X times w_i.</summary>
    public static Matrix<double> ScaleRows(this Matrix<double> x, Vector<double> w)
    {
        var r = x.Clone();
        for (int i = 0; i < r.RowCount; i++)
        {
            for (int k = 0; k < r.ColumnCount; k++)
            {
                r[i, k] *= w[i];
            }
        }

        return r;
    }
}
