using System.Security.Cryptography;
using CMM.Gpu.Data;
using CMM.Gpu.Energies;
using CMM.Gpu.Tests.Docs;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// The Bayesian logistic-regression energy and its data: the embedded breast-cancer file byte for byte, V against a naive
/// double-precision formula written independently (its own standardisation, sums of log-probabilities), and the JSON form's
/// errors (labels other than 0/1, a constant column, a bad prior) as one-line messages.
/// </summary>
public sealed class LogisticRegressionTests
{
    [Fact]
    public void TheEmbeddedBreastCancerFileIsScikitLearnsCopy()
    {
        var bytes = BreastCancerData.ResourceBytes();
        Assert.Equal(BreastCancerData.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var resources = Repository.PathOf("src", "CMM.Gpu", "Data", "Resources");
        Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(resources, "breast_cancer.csv")));
        var note = File.ReadAllText(Path.Combine(resources, "BREAST-CANCER-LICENSE.md"));
        Assert.Contains(BreastCancerData.Sha256, note, StringComparison.Ordinal);
        Assert.Contains("CC BY 4.0", note, StringComparison.Ordinal);
        var data = BreastCancerData.Load();
        Assert.Equal(BreastCancerData.Count * BreastCancerData.Features, data.X.Length);
        Assert.Equal(212, data.Labels.Count(t => t == 0)); // malignant
        Assert.Equal(357, data.Labels.Count(t => t == 1)); // benign
        Assert.Equal(17.99, data.X[0]); // the first value of the file
        Assert.Equal(0.07039, data.X[^1]); // the last feature of the last row
    }

    [Fact]
    public void EnergyMatchesANaiveNegativeLogPosterior()
    {
        var data = BreastCancerData.Load();
        var energy = Assert.IsType<LogisticRegressionEnergy>(EnergyFile.Parse("""{"type": "logistic-regression", "data": "breast-cancer", "prior_variance": 2}"""));
        Assert.Equal(31, energy.Dimension);
        int n = BreastCancerData.Count, p = BreastCancerData.Features, d = p + 1;
        var beta = TestData.Normal(3 * d, 21).Select(v => v * 0.3f).ToArray();
        var values = new double[3];
        energy.Evaluate(beta, values, default);
        for (int j = 0; j < 3; j++)
        {
            // Naive: standardise each column with its own mean and population sd, then -sum log p(t | x) - log prior.
            double expected = 0;
            for (int k = 0; k < d; k++)
            {
                expected += (double)beta[(j * d) + k] * beta[(j * d) + k] / (2 * 2.0);
            }

            var mean = new double[p];
            var sd = new double[p];
            for (int k = 0; k < p; k++)
            {
                mean[k] = Enumerable.Range(0, n).Average(i => data.X[(i * p) + k]);
                sd[k] = Math.Sqrt(Enumerable.Range(0, n).Average(i => Math.Pow(data.X[(i * p) + k] - mean[k], 2)));
            }

            for (int i = 0; i < n; i++)
            {
                double eta = beta[j * d];
                for (int k = 0; k < p; k++)
                {
                    eta += beta[(j * d) + 1 + k] * (data.X[(i * p) + k] - mean[k]) / sd[k];
                }

                double prob = 1 / (1 + Math.Exp(-eta));
                expected -= data.Labels[i] == 1 ? Math.Log(prob) : Math.Log(1 - prob);
            }

            Approx.Equal(expected, values[j], 1e-9, 1e-9, $"V(beta_{j})");
        }
    }

    [Fact]
    public void ExtremeLogitsStayFinite()
    {
        var energy = new LogisticRegressionEnergy([1.0, -1.0, 2.0], [1, 0, 1], standardize: false, intercept: false);
        var v = new double[2];
        var g = new double[2];
        energy.Evaluate([800f, -800f], v, g);
        Assert.All(v, x => Assert.True(double.IsFinite(x)));
        Assert.All(g, x => Assert.True(double.IsFinite(x)));
    }

    [Fact]
    public void TheJsonFormRefusesBadDataWithOneLine()
    {
        var dir = Directory.CreateTempSubdirectory("cmm-logistic-");
        File.WriteAllText(Path.Combine(dir.FullName, "labels.csv"), "1.0,2.0,0\n0.5,1.5,2\n0.1,0.2,1\n");
        File.WriteAllText(Path.Combine(dir.FullName, "constant.csv"), "1.0,2.0,0\n1.0,1.5,1\n1.0,0.2,1\n");
        File.WriteAllText(Path.Combine(dir.FullName, "good.csv"), "1.0,2.0,0\n0.5,1.5,1\n0.1,0.2,1\n");
        File.WriteAllText(Path.Combine(dir.FullName, "good.json"), """{"type": "logistic-regression", "data": "good.csv", "intercept": false}""");
        var fromFile = Assert.IsType<LogisticRegressionEnergy>(EnergyFile.Load(Path.Combine(dir.FullName, "good.json")));
        Assert.Equal(2, fromFile.Dimension);
        Assert.Equal(3, fromFile.Rows);
        var cases = new (string Json, string Expected)[]
        {
            ("""{"type": "logistic-regression", "data": "labels.csv"}""", "row 2 has label 2"),
            ("""{"type": "logistic-regression", "data": "constant.csv"}""", "feature 1 is constant"),
            ("""{"type": "logistic-regression", "data": "missing.csv"}""", "not found"),
            ("""{"type": "logistic-regression", "data": "breast-cancer", "prior_variance": 0}""", "prior_variance must be positive"),
            ("""{"type": "logistic-regression", "data": "breast-cancer", "standardize": "yes"}""", "'standardize' must be true or false"),
            ("""{"type": "logistic-regression", "data": 3}""", "'data' must be"),
            ("""{"type": "logistic-regression", "data": "breast-cancer", "prior": 1}""", "unknown parameter 'prior'"),
        };
        try
        {
            foreach (var (json, expected) in cases)
            {
                var e = Assert.ThrowsAny<ArgumentException>(() => EnergyFile.Parse(json, dir.FullName));
                Assert.Contains(expected, e.Message, StringComparison.Ordinal);
                Assert.DoesNotContain('\n', e.Message);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
