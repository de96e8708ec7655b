using CMM.Gpu.Density;
using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Icnn;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;
using CMM.Gpu.Tests.Potentials;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Tests.Density;

[Collection(AcceleratorTestGroup.Name)]
public sealed class HeldOutLikelihoodTests(AcceleratorFixture fixture)
{
    /// <summary>
    /// An ICNN model that is exactly the CMM of N(m, S) (network switched off: p = softplus(-1000) = 0; alpha I + D + R R' = S^(-1/3);
    /// c = b) scores held-out draws of N(m, S) at their true mean log-density, up to the log Z estimate's error; the
    /// cross-fitted Gaussian baseline lands there too, slightly lower (it is fitted on half the points).
    /// </summary>
    [Fact]
    public void ExactGaussianModelScoresTheTrueLogLikelihood()
    {
        const int d = 2, n = 600;
        var s = ClosedFormPotentialTests.SpdMatrix(d, 71);
        var m = new[] { 0.4, -0.8 };
        var cf = GaussianClosedForm.Cmm(m, s.Cast<double>().ToArray());
        using var fitted = new FittedModel(fixture.Context, ExactModel(cf));
        var heldOut = Affine.SampleNormal(Vector<double>.Build.DenseOfArray(m), Matrix<double>.Build.DenseOfArray(s), n, 72);
        var (_, latents, _) = ModelEvaluation.Generate(fitted, 1000, 73);
        var r = HeldOutLikelihood.Evaluate(fitted, heldOut, latents, seed: 5);
        Assert.NotNull(r);
        Assert.Equal(0, r.Undefined);
        double truth = Enumerable.Range(0, n).Average(i => NaiveGaussian.LogPdf([heldOut[i * d], heldOut[(i * d) + 1]], m, s));
        Approx.Equal(truth, r.Mean, (4 * r.LogNormalizer.StandardError) + 2e-3, 0, "model mean log-likelihood vs the true density's");
        Assert.InRange(r.StandardError, r.LogNormalizer.StandardError, 0.2);
        Assert.NotNull(r.GaussianMean);
        Assert.InRange(r.GaussianMean.Value, truth - 0.1, truth + 0.01);
        Assert.InRange(r.GaussianStandardError!.Value, 0.01, 0.2);

        // In the report: both rows in the table and in the JSON.
        var report = HeldOutLikelihood.AddTo(new MetricsReport { Dimension = d }, fitted, heldOut, latents, 5);
        Assert.Equal(r.Mean, report.LogLikelihood);
        Assert.Equal(r.GaussianMean, report.GaussianLogLikelihood);
        Assert.Contains("held-out mean log-likelihood", report.ToTable(), StringComparison.Ordinal);
        Assert.Equal(report, MetricsReport.FromJson(report.ToJson()));
    }

    [Fact]
    public void TooFewPointsLeaveItUncomputed()
    {
        const int d = 2;
        var cf = GaussianClosedForm.Cmm([0.0, 0.0], [1.0, 0.0, 0.0, 1.0]);
        using var fitted = new FittedModel(fixture.Context, ExactModel(cf));
        float[] heldOut = [0, 0, 1, 1, -1, 0.5f, 0.2f, -0.3f];
        // Two latents cannot fit a covariance in d = 2: not computed.
        Assert.Null(HeldOutLikelihood.Evaluate(fitted, heldOut, [0, 0, 1, 1], 1));
        // Four held-out points: the model is scored, the baseline (halves of 2 < d + 1 points) is not.
        var r = HeldOutLikelihood.Evaluate(fitted, heldOut, TestData.Normal(40 * d, 3), 1);
        Assert.NotNull(r);
        Assert.Null(r.GaussianMean);
        var table = HeldOutLikelihood.AddTo(new MetricsReport { Dimension = d }, fitted, heldOut, TestData.Normal(40 * d, 3), 1).ToTable();
        Assert.Contains("Gaussian  (not computed", table, StringComparison.Ordinal);
    }

    /// <summary>The ICNN model whose potential is exactly the closed-form CMM potential of <paramref name="cf"/> (d = 2).</summary>
    private static IcnnModel ExactModel(CmmGaussian cf)
    {
        int d = cf.Dimension;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [2], Rank = d, Alpha = 0.1f };
        var layout = new IcnnLayout(arch);
        var theta = new float[layout.ParameterCount];
        Array.Fill(theta, -1000f, layout.OutputOffset, 2); // p = 0: the network drops out
        const double diag = 0.05;
        Array.Fill(theta, (float)IcnnPotential.InverseSoftplus(diag), layout.DiagonalOffset, d);
        var rest = cf.A - Matrix<double>.Build.DenseIdentity(d) * (0.1 + diag);
        var r = rest.Cholesky().Factor; // R R' = A - alpha I - D
        for (int k = 0; k < d; k++)
        {
            for (int j = 0; j < d; j++)
            {
                theta[layout.LowRankOffset + (k * d) + j] = (float)r[k, j];
            }

            theta[layout.LinearOffset + k] = (float)cf.B[k];
        }

        return new IcnnModel(arch, theta, new IcnnModelMetadata { DataDimension = d });
    }
}
