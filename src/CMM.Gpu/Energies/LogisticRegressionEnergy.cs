using System.Globalization;
using System.Numerics;
using CMM.Gpu.Data;
using CMM.Gpu.IO;

namespace CMM.Gpu.Energies;

/// <summary>
/// The posterior of Bayesian logistic regression (docs/cmfma.md): labels t_i in {0, 1} with P(t_i = 1) = sigmoid(x_i . beta),
/// prior beta ~ N(0, sigma^2 I). The design rows x_i are the features, standardised column by column (mean 0, population
/// standard deviation 1) unless told otherwise, with a leading 1 for the intercept. V(beta) = sum_i [log(1 + e^(x_i . beta))
/// - t_i x_i . beta] + |beta|^2 / (2 sigma^2), the negative log posterior up to its unknown normaliser (so
/// <see cref="LogNormalizer"/> is null), and grad V = sum_i (sigmoid(x_i . beta) - t_i) x_i + beta / sigma^2.
/// </summary>
public sealed class LogisticRegressionEnergy : IEnergy
{
    private readonly double[] design;
    private readonly double[] targets;
    private readonly int rows;
    private readonly string description;

    /// <summary>Creates the posterior.</summary>
    /// <param name="features">Row-major [n, p], finite.</param>
    /// <param name="labels">n labels, each 0 or 1.</param>
    /// <param name="priorVariance">sigma^2 &gt; 0.</param>
    /// <param name="standardize">Standardise each feature column (a constant column is then an error).</param>
    /// <param name="intercept">Prepend an intercept (a column of ones).</param>
    /// <param name="source">Where the data came from (for <see cref="Describe"/> and errors).</param>
    /// <exception cref="ArgumentException">Labels other than 0 and 1, non-finite or ragged features, no rows, a constant
    /// column to standardise, or a prior variance that is not positive.</exception>
    public LogisticRegressionEnergy(IReadOnlyList<double> features, IReadOnlyList<int> labels, double priorVariance = 1,
        bool standardize = true, bool intercept = true, string source = "data")
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        rows = labels.Count;
        if (rows == 0 || features.Count == 0 || features.Count % rows != 0)
        {
            throw new ArgumentException($"{source}: {features.Count} feature values do not make {rows} rows");
        }

        if (!(priorVariance > 0) || !double.IsFinite(priorVariance))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"prior_variance must be positive (got {priorVariance})"));
        }

        int p = features.Count / rows;
        for (int i = 0; i < rows; i++)
        {
            if (labels[i] is not (0 or 1))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{source}: row {i + 1} has label {labels[i]}; logistic regression needs labels 0 or 1"));
            }
        }

        int bad = Enumerable.Range(0, features.Count).FirstOrDefault(k => !double.IsFinite(features[k]), -1);
        if (bad >= 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{source}: row {(bad / p) + 1}, feature {(bad % p) + 1} is {features[bad]}"));
        }

        int offset = intercept ? 1 : 0;
        Features = p;
        Dimension = p + offset;
        PriorVariance = priorVariance;
        Standardized = standardize;
        Intercept = intercept;
        design = new double[rows * Dimension];
        targets = labels.Select(t => (double)t).ToArray();
        for (int k = 0; k < p; k++)
        {
            double mean = 0, sd = 1;
            if (standardize)
            {
                for (int i = 0; i < rows; i++)
                {
                    mean += features[(i * p) + k];
                }

                mean /= rows;
                double ss = 0;
                for (int i = 0; i < rows; i++)
                {
                    double c = features[(i * p) + k] - mean;
                    ss += c * c;
                }

                sd = Math.Sqrt(ss / rows);
                if (!(sd > 0))
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{source}: feature {k + 1} is constant, so it cannot be standardised (remove it or set \"standardize\": false)"));
                }
            }

            for (int i = 0; i < rows; i++)
            {
                design[(i * Dimension) + offset + k] = (features[(i * p) + k] - mean) / sd;
            }
        }

        if (intercept)
        {
            for (int i = 0; i < rows; i++)
            {
                design[i * Dimension] = 1;
            }
        }

        description = string.Create(CultureInfo.InvariantCulture,
            $"logistic-regression data={source} rows={rows} features={p} prior_variance={priorVariance:R} standardize={standardize} intercept={intercept}");
    }

    /// <summary>The posterior on the embedded Wisconsin breast-cancer data (<see cref="BreastCancerData"/>): 569 rows, 30
    /// standardised features and an intercept, so d = 31.</summary>
    /// <param name="priorVariance">sigma^2 (prior N(0, I): 1).</param>
    /// <param name="standardize">Standardise the feature columns.</param>
    /// <param name="intercept">Prepend an intercept.</param>
    /// <returns>The energy.</returns>
    public static LogisticRegressionEnergy BreastCancer(double priorVariance = 1, bool standardize = true, bool intercept = true)
    {
        var data = BreastCancerData.Load();
        return new LogisticRegressionEnergy(data.X, data.Labels, priorVariance, standardize, intercept, BreastCancerData.BuiltInName);
    }

    /// <summary>The posterior on a data file (.csv or .npy): one row per observation, its features, then its label (0 or 1) last.</summary>
    /// <param name="path">The file.</param>
    /// <param name="priorVariance">sigma^2.</param>
    /// <param name="standardize">Standardise the feature columns.</param>
    /// <param name="intercept">Prepend an intercept.</param>
    /// <returns>The energy.</returns>
    /// <exception cref="ArgumentException">An unreadable file, fewer than two columns, or bad labels or features.</exception>
    public static LogisticRegressionEnergy FromFile(string path, double priorVariance = 1, bool standardize = true, bool intercept = true)
    {
        PointCloud cloud;
        try
        {
            cloud = PointFile.Read(path);
        }
        catch (PointFileException e)
        {
            throw new ArgumentException($"data: {e.Message}");
        }

        int width = cloud.Dimension, n = cloud.Count;
        if (width < 2)
        {
            throw new ArgumentException($"data '{path}': each row needs at least one feature and a label (got {width} column)");
        }

        var span = cloud.Data.Span;
        var x = new double[n * (width - 1)];
        var t = new int[n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < width - 1; k++)
            {
                x[(i * (width - 1)) + k] = span[(i * width) + k];
            }

            float label = span[(i * width) + width - 1];
            t[i] = label is 0f or 1f ? (int)label : throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"data '{path}': row {i + 1} has label {label} in its last column; logistic regression needs labels 0 or 1"));
        }

        return new LogisticRegressionEnergy(x, t, priorVariance, standardize, intercept, path);
    }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <summary>p, the features per row (d = p + 1 with the intercept).</summary>
    public int Features { get; }

    /// <summary>Observations.</summary>
    public int Rows => rows;

    /// <summary>sigma^2.</summary>
    public double PriorVariance { get; }

    /// <summary>Whether the features were standardised.</summary>
    public bool Standardized { get; }

    /// <summary>Whether beta_1 is an intercept.</summary>
    public bool Intercept { get; }

    /// <inheritdoc />
    public string Name => "logistic-regression";

    /// <inheritdoc />
    public double? LogNormalizer => null;

    /// <summary>The design matrix row-major [n, d] (standardised features behind the intercept's ones), a copy.</summary>
    public double[] Design => (double[])design.Clone();

    /// <summary>The labels as 0.0 / 1.0, a copy.</summary>
    public double[] Targets => (double[])targets.Clone();

    /// <inheritdoc />
    public string Describe() => description;

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        int d = Dimension, count = energies.Length;
        if (points.Length != count * d || (!gradients.IsEmpty && gradients.Length != count * d))
        {
            throw new ArgumentException($"expected {count} points of dimension {d}");
        }

        var beta = new double[count * d];
        for (int i = 0; i < beta.Length; i++)
        {
            beta[i] = points[i];
        }

        var values = new double[count];
        var grads = gradients.IsEmpty ? null : new double[count * d];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = count >= 16 ? -1 : 1 }, i => EvaluateOne(beta.AsSpan(i * d, d), out values[i], grads is null ? default : grads.AsSpan(i * d, d)));
        values.CopyTo(energies);
        grads?.CopyTo(gradients);
    }

    /// <inheritdoc />
    public void Evaluate(Memory.DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        ArgumentNullException.ThrowIfNull(points);
        EnergyKernelSet.For(points.Context).LogisticRegression(this, () => [design, targets], rows, PriorVariance, points, energies, gradients);
    }

    /// <inheritdoc />
    public float[]? ExactSamples(int count, int seed) => null;

    private void EvaluateOne(ReadOnlySpan<double> beta, out double energy, Span<double> gradient)
    {
        int d = Dimension;
        double v = 0;
        for (int k = 0; k < d; k++)
        {
            v += beta[k] * beta[k];
        }

        v /= 2 * PriorVariance;
        if (!gradient.IsEmpty)
        {
            for (int k = 0; k < d; k++)
            {
                gradient[k] = beta[k] / PriorVariance;
            }
        }

        for (int i = 0; i < rows; i++)
        {
            var x = design.AsSpan(i * d, d);
            double eta = Dot(x, beta);
            // log(1 + e^eta), stable for large |eta|.
            v += (eta > 0 ? eta + Math.Log(1 + Math.Exp(-eta)) : Math.Log(1 + Math.Exp(eta))) - (targets[i] * eta);
            if (!gradient.IsEmpty)
            {
                double residual = (eta >= 0 ? 1 / (1 + Math.Exp(-eta)) : Math.Exp(eta) / (1 + Math.Exp(eta))) - targets[i];
                for (int k = 0; k < d; k++)
                {
                    gradient[k] += residual * x[k];
                }
            }
        }

        energy = v;
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int k = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var acc = Vector<double>.Zero;
            for (; k <= a.Length - Vector<double>.Count; k += Vector<double>.Count)
            {
                acc += new Vector<double>(a.Slice(k)) * new Vector<double>(b.Slice(k));
            }

            sum = Vector.Dot(acc, Vector<double>.One);
        }

        for (; k < a.Length; k++)
        {
            sum += a[k] * b[k];
        }

        return sum;
    }
}
