using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Metrics;

/// <summary>
/// A K-class classifier for judging generated samples of labelled data (docs/metrics.md, "Class balance"): multinomial
/// logistic regression on the standardised coordinates (for images, the pixels), with a ridge penalty, fitted by Newton's
/// method in double precision. Trained on real labelled points, it labels generated ones: the share of each label tells
/// whether every class is generated as often as it occurs, and the mean confidence whether the samples look like any class.
/// It is deliberately simple (linear in the pixels): a reader can trust that it does not reward artefacts of the generator.
/// </summary>
public sealed class LabelClassifier
{
    /// <summary>The ridge penalty lambda |W|^2 / 2 per training point on the weights (the intercepts get 10^-6 of it, which only
    /// fixes their common shift, since the K-class softmax is unchanged when a constant is added to every class's score).</summary>
    public const double Ridge = 1e-3;

    private readonly double[] mean;
    private readonly double[] scale;
    private readonly Matrix<double> weights; // (d + 1) x K: row 0 the intercepts

    private LabelClassifier(int dimension, int[] classes, double[] mean, double[] scale, Matrix<double> weights, int newtonSteps)
    {
        Dimension = dimension;
        Classes = classes;
        this.mean = mean;
        this.scale = scale;
        this.weights = weights;
        NewtonSteps = newtonSteps;
    }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>The distinct training labels, ascending; class k of <see cref="Probabilities"/> is <c>Classes[k]</c>.</summary>
    public IReadOnlyList<int> Classes { get; }

    /// <summary>Newton steps the fit took.</summary>
    public int NewtonSteps { get; }

    /// <summary>Trains the classifier on labelled points.</summary>
    /// <param name="points">Row-major [n, d].</param>
    /// <param name="dimension">d.</param>
    /// <param name="labels">n labels; at least two distinct values, each class at least once.</param>
    /// <returns>The fitted classifier.</returns>
    /// <exception cref="ArgumentException">Misshapen input, a label count other than n, non-finite values, or a single class.</exception>
    public static LabelClassifier Train(float[] points, int dimension, IReadOnlyList<int> labels)
    {
        int n = SampleMetrics.Rows(points, dimension, nameof(points));
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count != n)
        {
            throw new ArgumentException($"{labels.Count} labels for {n} points: give one label per point", nameof(labels));
        }

        if (points.Any(v => !float.IsFinite(v)))
        {
            throw new ArgumentException("the training points hold a value that is not finite", nameof(points));
        }

        var classes = labels.Distinct().Order().ToArray();
        if (classes.Length < 2)
        {
            throw new ArgumentException($"a classifier needs at least two classes (all {n} labels are {classes[0]})", nameof(labels));
        }

        int d = dimension, k = classes.Length;
        var mean = new double[d];
        var scale = new double[d];
        for (int c = 0; c < d; c++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++)
            {
                double v = points[(i * d) + c];
                s += v;
                s2 += v * v;
            }

            mean[c] = s / n;
            double variance = (s2 / n) - (mean[c] * mean[c]);
            scale[c] = variance > 1e-24 ? Math.Sqrt(variance) : 1; // a constant coordinate keeps scale 1
        }

        var x = Features(points, d, mean, scale);
        var index = classes.Select((label, j) => (label, j)).ToDictionary(p => p.label, p => p.j);
        var y = Matrix<double>.Build.Dense(n, k);
        for (int i = 0; i < n; i++)
        {
            y[i, index[labels[i]]] = 1;
        }

        var (w, steps) = Fit(x, y);
        return new LabelClassifier(d, classes, mean, scale, w, steps);
    }

    /// <summary>Class probabilities of each point.</summary>
    /// <param name="points">Row-major [m, d].</param>
    /// <returns>Row-major [m, K] probabilities, K = <see cref="Classes"/>.Count.</returns>
    public double[] Probabilities(float[] points)
    {
        int m = SampleMetrics.Rows(points, Dimension, nameof(points));
        var p = Softmax(Features(points, Dimension, mean, scale) * weights);
        var result = new double[m * Classes.Count];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < Classes.Count; j++)
            {
                result[(i * Classes.Count) + j] = p[i, j];
            }
        }

        return result;
    }

    /// <summary>The most probable label of each point and its probability (the classifier's confidence).</summary>
    /// <param name="points">Row-major [m, d].</param>
    /// <returns>Labels (values of <see cref="Classes"/>) and confidences in [1/K, 1].</returns>
    public (int[] Labels, double[] Confidence) Predict(float[] points)
    {
        var p = Probabilities(points);
        int k = Classes.Count, m = p.Length / k;
        var labels = new int[m];
        var confidence = new double[m];
        for (int i = 0; i < m; i++)
        {
            int best = 0;
            for (int j = 1; j < k; j++)
            {
                best = p[(i * k) + j] > p[(i * k) + best] ? j : best;
            }

            labels[i] = Classes[best];
            confidence[i] = p[(i * k) + best];
        }

        return (labels, confidence);
    }

    /// <summary>
    /// The penalised negative log-likelihood, sum_i -log p(y_i | x_i) + (lambda n / 2) sum of squared weights (intercepts at
    /// 10^-6 lambda), and its gradient X^T (P - Y) + lambda n W, for the standardised features <paramref name="x"/> (column 0
    /// all ones) and one-hot labels <paramref name="y"/>. Internal for the finite-difference test.
    /// </summary>
    internal static (double Value, Matrix<double> Gradient) Objective(Matrix<double> x, Matrix<double> y, Matrix<double> w)
    {
        int n = x.RowCount;
        var scores = x * w;
        double value = 0;
        for (int i = 0; i < n; i++)
        {
            double max = scores.Row(i).Maximum();
            double sum = 0;
            for (int j = 0; j < w.ColumnCount; j++)
            {
                sum += Math.Exp(scores[i, j] - max);
            }

            double logSum = max + Math.Log(sum);
            for (int j = 0; j < w.ColumnCount; j++)
            {
                value -= y[i, j] * (scores[i, j] - logSum);
            }
        }

        var penalty = Penalty(x.ColumnCount, w.ColumnCount, n);
        value += 0.5 * penalty.PointwiseMultiply(w).PointwiseMultiply(w).Enumerate().Sum();
        var gradient = x.TransposeThisAndMultiply(Softmax(scores) - y) + penalty.PointwiseMultiply(w);
        return (value, gradient);
    }

    /// <summary>Newton's method with step halving on the penalised likelihood (at most 50 steps).</summary>
    private static (Matrix<double> Weights, int Steps) Fit(Matrix<double> x, Matrix<double> y)
    {
        int n = x.RowCount, f = x.ColumnCount, k = y.ColumnCount;
        var w = Matrix<double>.Build.Dense(f, k);
        var penalty = Penalty(f, k, n);
        var (value, gradient) = Objective(x, y, w);
        int step = 0;
        for (; step < 50; step++)
        {
            // Hessian of the likelihood: block (j, l) = X^T diag(p_j (delta_jl - p_l)) X; parameters ordered class-major.
            var p = Softmax(x * w);
            var hessian = Matrix<double>.Build.Dense(f * k, f * k);
            for (int j = 0; j < k; j++)
            {
                for (int l = 0; l <= j; l++)
                {
                    var scaled = x.Clone();
                    for (int i = 0; i < n; i++)
                    {
                        double c = p[i, j] * ((j == l ? 1 : 0) - p[i, l]);
                        for (int a = 0; a < f; a++)
                        {
                            scaled[i, a] *= c;
                        }
                    }

                    var block = x.TransposeThisAndMultiply(scaled);
                    hessian.SetSubMatrix(j * f, l * f, block);
                    if (l != j)
                    {
                        hessian.SetSubMatrix(l * f, j * f, block);
                    }
                }
            }

            for (int j = 0; j < k; j++)
            {
                for (int a = 0; a < f; a++)
                {
                    hessian[(j * f) + a, (j * f) + a] += penalty[a, j];
                }
            }

            var g = Vector<double>.Build.Dense(f * k, q => gradient[q % f, q / f]);
            var delta = hessian.Cholesky().Solve(g);
            var direction = Matrix<double>.Build.Dense(f, k, (a, j) => delta[(j * f) + a]);
            double t = 1;
            Matrix<double> candidate;
            double candidateValue;
            Matrix<double> candidateGradient;
            do
            {
                candidate = w - (t * direction);
                (candidateValue, candidateGradient) = Objective(x, y, candidate);
                t /= 2;
            }
            while (candidateValue > value && t > 1e-6);

            bool done = Math.Abs(value - candidateValue) <= 1e-10 * (1 + Math.Abs(value));
            (w, value, gradient) = (candidate, candidateValue, candidateGradient);
            if (done)
            {
                step++;
                break;
            }
        }

        return (w, step);
    }

    private static Matrix<double> Penalty(int f, int k, int n) =>
        Matrix<double>.Build.Dense(f, k, (a, _) => a == 0 ? 1e-6 * Ridge * n : Ridge * n);

    /// <summary>[1, (x - mean) / scale] per row.</summary>
    private static Matrix<double> Features(float[] points, int d, double[] mean, double[] scale)
    {
        int n = points.Length / d;
        return Matrix<double>.Build.Dense(n, d + 1, (i, a) => a == 0 ? 1 : (points[(i * d) + a - 1] - mean[a - 1]) / scale[a - 1]);
    }

    /// <summary>Row-wise softmax, shifted by each row's maximum.</summary>
    private static Matrix<double> Softmax(Matrix<double> scores)
    {
        var p = scores.Clone();
        for (int i = 0; i < p.RowCount; i++)
        {
            double max = p.Row(i).Maximum(), sum = 0;
            for (int j = 0; j < p.ColumnCount; j++)
            {
                p[i, j] = Math.Exp(p[i, j] - max);
                sum += p[i, j];
            }

            for (int j = 0; j < p.ColumnCount; j++)
            {
                p[i, j] /= sum;
            }
        }

        return p;
    }
}
