using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Tests.Metrics;

/// <summary>
/// The class-balance classifier: its objective's gradient against central finite differences, its accuracy against the Bayes
/// rule of three Gaussian classes (equal covariances: the Bayes rule is linear, so the classifier can reach it), and the
/// class-balance and near-copy metrics against naive reimplementations.
/// </summary>
public sealed class LabelClassifierTests
{
    private static readonly double[][] Means = [[0, 0], [2.5, 0], [1.25, 2.2]];

    /// <summary>n points per class of N(Means[c], I) in 2-D, in class order, with their labels (10 + c).</summary>
    private static (float[] Points, int[] Labels) ThreeClasses(int perClass, int seed)
    {
        var noise = TestData.Normal(3 * perClass * 2, seed);
        var labels = new int[3 * perClass];
        for (int i = 0; i < labels.Length; i++)
        {
            int c = i / perClass;
            labels[i] = 10 + c;
            noise[2 * i] += (float)Means[c][0];
            noise[(2 * i) + 1] += (float)Means[c][1];
        }

        return (noise, labels);
    }

    [Fact]
    public void ObjectiveGradientMatchesFiniteDifferences()
    {
        var rng = new Random(3);
        int n = 30, f = 4, k = 3;
        var x = Matrix<double>.Build.Dense(n, f, (i, a) => a == 0 ? 1 : rng.NextDouble() * 4 - 2);
        var y = Matrix<double>.Build.Dense(n, k, (i, j) => j == i % k ? 1 : 0);
        var w = Matrix<double>.Build.Dense(f, k, (_, _) => rng.NextDouble() - 0.5);
        var (_, gradient) = LabelClassifier.Objective(x, y, w);
        const double h = 1e-5;
        for (int a = 0; a < f; a++)
        {
            for (int j = 0; j < k; j++)
            {
                var plus = w.Clone();
                var minus = w.Clone();
                plus[a, j] += h;
                minus[a, j] -= h;
                double fd = (LabelClassifier.Objective(x, y, plus).Value - LabelClassifier.Objective(x, y, minus).Value) / (2 * h);
                Approx.Equal(fd, gradient[a, j], 1e-6, 1e-6, $"dL/dW[{a},{j}]");
            }
        }
    }

    [Fact]
    public void ThreeGaussianClassesReachTheBayesAccuracy()
    {
        var (train, trainLabels) = ThreeClasses(400, 1);
        var (test, testLabels) = ThreeClasses(1000, 2);
        var classifier = LabelClassifier.Train(train, 2, trainLabels);
        Assert.Equal([10, 11, 12], classifier.Classes);

        // The Bayes rule of equal priors and covariances: the nearest mean.
        int n = testLabels.Length, bayesCorrect = 0;
        for (int i = 0; i < n; i++)
        {
            int best = Enumerable.Range(0, 3).MinBy(c => Math.Pow(test[2 * i] - Means[c][0], 2) + Math.Pow(test[(2 * i) + 1] - Means[c][1], 2));
            bayesCorrect += 10 + best == testLabels[i] ? 1 : 0;
        }

        var (predicted, confidence) = classifier.Predict(test);
        double accuracy = predicted.Zip(testLabels, (p, t) => p == t ? 1.0 : 0.0).Average();
        double bayes = bayesCorrect / (double)n;
        Assert.InRange(bayes, 0.79, 0.85); // the test set is what the design says: means about 2.5 sd apart, Bayes accuracy about 0.82
        Assert.InRange(accuracy, bayes - 0.015, bayes + 0.005);

        // Probabilities are a distribution per row, and the confidence is the largest of them.
        var p = classifier.Probabilities(test);
        for (int i = 0; i < n; i++)
        {
            var row = p.AsSpan(3 * i, 3).ToArray();
            Approx.Equal(1, row.Sum(), 1e-12, 0, $"row {i} sum");
            Assert.Equal(row.Max(), confidence[i]);
        }
    }

    [Fact]
    public void BadTrainingInputIsRefused()
    {
        var (x, labels) = ThreeClasses(5, 4);
        Assert.Contains("15 labels for 14 points", Assert.Throws<ArgumentException>(() => LabelClassifier.Train(x[..28], 2, labels)).Message, StringComparison.Ordinal);
        Assert.Contains("at least two classes", Assert.Throws<ArgumentException>(() => LabelClassifier.Train(x, 2, new int[15])).Message, StringComparison.Ordinal);
        x[3] = float.NaN;
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => LabelClassifier.Train(x, 2, labels)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClassBalanceCountsTheClassifiersLabels()
    {
        var (train, trainLabels) = ThreeClasses(300, 5);
        var (held, heldLabels) = ThreeClasses(200, 6);
        var classifier = LabelClassifier.Train(train, 2, trainLabels);

        // Generated = held-out: the same shares; generated all from class 12: shares (about) 0, 0, 1.
        var same = ClassBalanceReport.Evaluate(classifier, held, held, heldLabels);
        Assert.Equal(same.HeldOutShare, same.GeneratedShare);
        Assert.Equal(0, same.LargestShareDifference);
        var (heldPredicted, _) = classifier.Predict(held);
        Assert.Equal(heldPredicted.Zip(heldLabels, (a, b) => a == b ? 1.0 : 0.0).Average(), same.HeldOutAccuracy);

        var onlyLast = held[(2 * 200 * 2)..];
        var skewed = ClassBalanceReport.Evaluate(classifier, onlyLast, held);
        Assert.Null(skewed.HeldOutAccuracy);
        Assert.True(skewed.MinGeneratedShare < 0.15, $"min share {skewed.MinGeneratedShare}"); // Bayes accuracy about 0.82
        Assert.True(skewed.GeneratedShare[2] > 0.8, $"share of class 12 {skewed.GeneratedShare[2]}");
        Assert.Equal(skewed.GeneratedShare[2] - skewed.HeldOutShare[2], skewed.LargestShareDifference, 12);
        Assert.Contains("class balance", skewed.ToTable(), StringComparison.Ordinal);
    }

    [Fact]
    public void NearCopyShareMatchesANaiveCount()
    {
        int d = 3;
        var training = TestData.Normal(200 * d, 7);
        var heldOut = TestData.Normal(101 * d, 8);
        var generated = TestData.Normal(80 * d, 9);
        // Half of the generated points copy a training point, up to a tiny perturbation.
        for (int i = 0; i < 40; i++)
        {
            for (int c = 0; c < d; c++)
            {
                generated[(i * d) + c] = training[(i * 3 * d) + c] + 1e-3f;
            }
        }

        double Nearest(float[] q, int i) => Enumerable.Range(0, 200).Min(j => Math.Sqrt(Enumerable.Range(0, d).Sum(c => Math.Pow(q[(i * d) + c] - (double)training[(j * d) + c], 2))));
        var heldDistances = Enumerable.Range(0, 101).Select(i => Nearest(heldOut, i)).Order().ToArray();
        double threshold = 0.25 * heldDistances[50]; // 101 points: the median is the 51st
        double expectedShare = Enumerable.Range(0, 80).Count(i => Nearest(generated, i) < threshold) / 80.0;
        double expectedHeld = heldDistances.Count(v => v < threshold) / 101.0;

        var (share, heldShare, t) = SampleMetrics.NearCopyShare(generated, training, heldOut, d);
        Approx.Equal(threshold, t, 1e-9, 1e-9, "threshold");
        Assert.Equal(expectedShare, share);
        Assert.Equal(expectedHeld, heldShare);
        Assert.InRange(share, 0.5, 0.6); // the 40 copies, and few of the fresh points
        Assert.Throws<ArgumentException>(() => SampleMetrics.NearCopyShare(generated, training, heldOut, d, fraction: 0));
    }
}
