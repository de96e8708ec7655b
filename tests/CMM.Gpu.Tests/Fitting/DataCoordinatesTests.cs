using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Metrics;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// A fit is the conjugate moment measure of the data as given (docs/fitting.md): on a Gaussian N(m, S) the potential,
/// encoder, latents and samples match the closed forms of docs/maths.md section 2 in the data's own coordinates, for
/// a mean of norm 5, covariance eigenvalues from 0.01 to 100, and the same data multiplied by 1,000.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class DataCoordinatesTests(AcceleratorFixture fixture)
{
    /// <summary>N(m, S) in d = 3: S = Q diag(eigenvalues) Q' with a random rotation Q (eigenvalues 0.01, 1, 100 unless given), |m| = 5, both times <paramref name="scale"/>.</summary>
    internal static (double[] Mean, double[] Covariance, float[] Points) Target(double scale, int n, int seed, double[]? eigenvalues = null)
    {
        const int d = 3;
        var rng = new Random(17);
        var g = Matrix<double>.Build.Dense(d, d, (_, _) => Normal(rng));
        var q = g.QR().Q;
        var s = q * Matrix<double>.Build.DiagonalOfDiagonalArray(eigenvalues ?? [0.01, 1, 100]) * q.Transpose() * (scale * scale);
        s = (s + s.Transpose()) * 0.5;
        var m = Vector<double>.Build.Dense(d, _ => Normal(rng));
        m = m * (5 * scale / m.L2Norm());
        var mean = m.ToArray();
        var cov = s.ToRowMajorArray();
        return (mean, cov, Affine.SampleNormal(m, s, n, seed));
    }

    private static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    [Theory]
    [InlineData(1.0)]
    [InlineData(1000.0)]
    [InlineData(0.001)]
    public void TheGaussianStartIsTheClosedFormOfTheSampleMoments(double scale)
    {
        var (_, _, data) = Target(scale, 20000, 3);
        var start = GaussianStart.Estimate(data, 3, FitMethod.Cmm, 0.1);
        Assert.Equal(0, start.RegularizedDirections);
        var truth = GaussianClosedForm.Cmm(start.Mean, start.Covariance);
        var arch = CmmFitter.Architecture(new FitOptions { HiddenWidths = [8, 8] }, start);
        var theta = IcnnPotential.InitialParameters(arch, 5);
        start.WriteInto(theta, arch);
        using var w = IcnnPotential.FromParameters(fixture.Context, arch, theta);
        var y = data.AsSpan(0, 64 * 3).ToArray();
        using var p = DevicePoints.Upload(fixture.Context, y, 3);
        using var g = DevicePoints.Allocate(fixture.Context, 64, 3);
        using var h = DeviceVector.Allocate(fixture.Context, 64 * 9);
        w.Gradient(p, g);
        w.Hessian(p, h);
        // The network part is 1e-4 of the start; float32 at |y| ~ 5000 costs about 1e-6 relative.
        Assert.True(SampleMetrics.RelativeL2Error(g.ToArray(), truth.GradW(y)) < 2e-3, $"grad w vs A y + b: {SampleMetrics.RelativeL2Error(g.ToArray(), truth.GradW(y)):G3}");
        Assert.True(SampleMetrics.HessianRelativeErrors(h.ToArray(), SymmetricMatrix.ToRowMajor(truth.A), 3).Max() < 2e-3);
        Approx.AllEqual(truth.LatentMean.ToArray(), start.LatentMean.ToArray(), 1e-9 * scale, 1e-9, "latent mean");
        Approx.AllEqual(truth.LatentCovariance.ToRowMajorArray(), start.LatentCovariance.ToRowMajorArray(), 1e-9, 1e-9, "latent covariance");
        // alpha is the option's fraction of the smallest curvature, in data units.
        Approx.Equal(0.1 * SymmetricMatrix.Power(truth.Covariance, -1.0 / 3).Evd().EigenValues.Select(e => e.Real).Min(), start.Alpha, 0, 1e-9, "alpha");
    }

    [Theory]
    [InlineData(FitMethod.Cmm, 1.0)]
    [InlineData(FitMethod.Cmm, 0.001)]
    [InlineData(FitMethod.MomentMeasure, 1.0)]
    public void AShortFitStaysAtTheClosedFormInDataCoordinates(FitMethod method, double scale)
    {
        // At scale 0.001 the linear term's parameter unit once moved the data's mean by 35 data standard deviations: the first
        // Adam steps threw the latent off and the encoder was 9 % off after one iteration (GaussianStart.LinearStep).
        // The fit starts at the closed form and must stay there. A small network, 250 iterations and a learning rate of
        // 0.03 keep the test to seconds and its noise to about a percent: tolerances 2 % for the encoder (relative L2)
        // and the Hessian (6 % for MM), 0.1 latent standard deviation for the latent mean, 6 % for the latent covariance (4,000 latents:
        // about 2 % Monte Carlo error). docs/experiments.md has the default 1,200-iteration fits against issue 16's
        // 1 % / 2 % / 5 %. The MM baseline gets a milder covariance (eigenvalues 0.5, 1, 2): its latent N(0, S^-1) would have a
        // condition number of 10^4 with 0.01 and 100, which no Langevin chain mixes over in a short fit (docs/experiments.md).
        double[]? eig = method == FitMethod.Cmm ? null : [0.5, 1, 2];
        var (mean, cov, data) = Target(scale, 20000, 5, eig);
        var options = new FitOptions
        {
            Method = method, Iterations = 250, HiddenWidths = [8], Particles = 256, BatchSize = 256, LearningRate = 0.03, Seed = 3,
        };
        using var f = CmmFitter.Create(fixture.Context, data, 3, options);
        var r = f.Run();
        Assert.Equal(FitStatus.Completed, r.Status);
        using var model = new FittedModel(fixture.Context, r.Model);
        var (_, _, heldOut) = Target(scale, 2000, 6, eig);
        using var p = DevicePoints.Upload(fixture.Context, heldOut.AsSpan(0, 256 * 3), 3);
        using var h = DeviceVector.Allocate(fixture.Context, 256 * 9);
        model.Potential.Hessian(p, h);
        var (_, latents, _) = ModelEvaluation.Generate(model, 4000, 9);
        var latentMean = Vector<double>.Build.DenseOfArray(SampleMetrics.Mean(latents, 3));
        var latentCov = SampleMetrics.Covariance(latents, 3);
        double encoderError;
        double[] hessian;
        Vector<double> trueLatentMean;
        Matrix<double> trueLatentCov;
        if (method == FitMethod.Cmm)
        {
            Assert.True(f.Normalization.Mean.All(v => v == 0) && f.Normalization.Scale == 1, "a CMM fit is neither translated nor scaled");
            var truth = GaussianClosedForm.Cmm(mean, cov);
            encoderError = SampleMetrics.RelativeL2Error(model.Encode(heldOut, out _), truth.GradW(heldOut));
            hessian = SymmetricMatrix.ToRowMajor(truth.A);
            trueLatentMean = truth.LatentMean;
            trueLatentCov = truth.LatentCovariance;
        }
        else
        {
            // MM of the centred data: u = 1/2 x'Sx, latent N(0, S^-1), samples m + S x; encode is grad u*(y) = S^-1 (y - m).
            var truth = GaussianClosedForm.Mm(cov);
            var centred = heldOut.Select((v, i) => (float)(v - mean[i % 3])).ToArray();
            encoderError = SampleMetrics.RelativeL2Error(model.Encode(heldOut, out _), Affine.Apply(truth.Covariance.Inverse(), Vector<double>.Build.Dense(3), centred));
            hessian = SymmetricMatrix.ToRowMajor(truth.Hessian);
            trueLatentMean = Vector<double>.Build.Dense(3);
            trueLatentCov = truth.LatentCovariance;
        }

        double hessianError = SampleMetrics.HessianRelativeErrors(h.ToArray(), hessian, 3).Average();
        // The latent mean's error in latent standard deviations, sqrt(e' C^-1 e) (the MM latent mean is 0).
        var e = latentMean - trueLatentMean;
        double meanError = Math.Sqrt(e * trueLatentCov.Solve(e));
        double covError = SampleMetrics.RelativeFrobeniusError(latentCov, trueLatentCov.ToRowMajorArray(), 3);
        string all = $"encoder {encoderError:P2}, Hessian {hessianError:P2}, latent mean {meanError:G3} sd, latent covariance {covError:P2}";
        // The MM baseline drifts more from its start in a short fit (3-5 % measured): 6 % for it.
        double tolerance = method == FitMethod.Cmm ? 0.02 : 0.06;
        // The encoder's relative L2 error divides by |grad w(y)|: at scale 1 that includes the latent's mean (|x0| ~ 2.4 against
        // a spread of 1.4), at scale 0.001 it is the spread alone (|x0| ~ 0.005 against 0.14), so the same error in latent
        // standard deviations reads about twice as large there (2.6 % measured after this short fit, 1,200-iteration fits in
        // docs/experiments.md): 3 %.
        Assert.True(encoderError < (scale < 0.01 ? 0.03 : tolerance), all);
        Assert.True(hessianError < tolerance, all);
        Assert.True(meanError < 0.1, all);
        Assert.True(covError < 0.06, all);
    }

    [Fact]
    public void ConstantDirectionsAreRegularisedNotFatal()
    {
        // Points on a line in 3-D: two directions of zero variance (constant pixels of an image, say).
        var data = new float[300];
        for (int i = 0; i < 100; i++)
        {
            data[3 * i] = i * 0.1f;
            data[(3 * i) + 1] = 2f;
            data[(3 * i) + 2] = -1f;
        }

        var start = GaussianStart.Estimate(data, 3, FitMethod.Cmm, 0.1);
        Assert.Equal(2, start.RegularizedDirections);
        Assert.True(start.Covariance.All(double.IsFinite) && start.Alpha > 0 && double.IsFinite(start.LargestCurvature));
        Assert.Equal(1.0, GaussianStart.Estimate(new float[] { 1, 1, 1, 1 }, 2, FitMethod.Cmm, 0.1).Regularization);
    }

    [Fact]
    public void TheMomentMeasureBaselineStartsAtItsClosedFormOnTheCentredData()
    {
        var (mean, _, data) = Target(1.0, 20000, 4);
        var start = GaussianStart.Estimate(data, 3, FitMethod.MomentMeasure, 0.1);
        Approx.AllEqual(start.Mean.ToArray(), start.Translation.ToArray(), 0, 0, "translation = mean");
        Approx.AllEqual(mean, start.Mean.ToArray(), 0.1, 0, "sample mean");
        Assert.All(start.LatentMean, v => Assert.Equal(0, v));
        var mm = GaussianClosedForm.Mm(start.Covariance);
        Approx.AllEqual(mm.LatentCovariance.ToRowMajorArray(), start.LatentCovariance.ToRowMajorArray(), 1e-9, 1e-9, "latent N(0, S^-1)");
        Approx.AllEqual(start.Covariance.ToArray(), start.Hessian.ToArray(), 1e-12, 1e-12, "Hessian of u = S");
    }
}
