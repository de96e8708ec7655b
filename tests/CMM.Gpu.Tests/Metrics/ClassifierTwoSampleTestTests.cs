using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;
using MathNet.Numerics.Distributions;

namespace CMM.Gpu.Tests.Metrics;

/// <summary>
/// The classifier two-sample test against closed forms: two samples of one law give 0.5 up to sampling noise; N(0, I) against
/// N(delta e_1, I) gives the Bayes accuracy Phi(delta / 2) (a linear rule is optimal there); N(0, 1) against N(0, 4) in
/// every coordinate is invisible to a linear rule but not to the quadratic features (Bayes accuracy 0.5 + a computable margin).
/// </summary>
public sealed class ClassifierTwoSampleTestTests
{
    private static float[] Gaussian(int n, int d, int seed, double shift0 = 0, double scale = 1)
    {
        var x = TestData.Normal(n * d, seed, scale);
        for (int i = 0; i < n; i++)
        {
            x[i * d] += (float)shift0;
        }

        return x;
    }

    [Fact]
    public void SameLawGivesAboutOneHalf()
    {
        // 1,000 test points per sample: the accuracy's sd is about 0.5 / sqrt(2000) = 0.011.
        double acc = ClassifierTwoSampleTest.Accuracy(Gaussian(2000, 5, 1), Gaussian(2000, 5, 2), 5, 3);
        Assert.InRange(acc, 0.45, 0.55);
    }

    [Fact]
    public void MeanShiftReachesTheBayesAccuracy()
    {
        const double delta = 2.0;
        double bayes = Normal.CDF(0, 1, delta / 2); // 0.841
        double acc = ClassifierTwoSampleTest.Accuracy(Gaussian(2000, 3, 4, delta), Gaussian(2000, 3, 5), 3, 6);
        Assert.InRange(acc, bayes - 0.035, bayes + 0.02);
    }

    [Fact]
    public void VarianceChangeIsSeenThroughTheQuadraticFeatures()
    {
        // N(0, 1) vs N(0, 4) per coordinate, d = 2: the Bayes rule thresholds |x|^2 at t = 8 ln 4 / 3; with |x|^2 / s^2 ~ chi2(2)
        // (P(chi2_2 > c) = exp(-c / 2)) its accuracy is (P(|x|^2 < t | s = 1) + P(|x|^2 > t | s = 2)) / 2.
        double t = 8 * Math.Log(4) / 3;
        double bayes = ((1 - Math.Exp(-t / 2)) + Math.Exp(-t / 8)) / 2; // 0.736
        double acc = ClassifierTwoSampleTest.Accuracy(Gaussian(3000, 2, 7), Gaussian(3000, 2, 8, scale: 2), 2, 9);
        Assert.InRange(acc, bayes - 0.04, bayes + 0.02);
    }

    [Fact]
    public void TooFewPointsAreRefused() =>
        Assert.Throws<ArgumentException>(() => ClassifierTwoSampleTest.Accuracy(Gaussian(3, 2, 1), Gaussian(10, 2, 2), 2, 0));
}
