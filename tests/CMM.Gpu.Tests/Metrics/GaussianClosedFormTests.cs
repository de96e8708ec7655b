using CMM.Gpu.Data;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Tests.Metrics;

public sealed class GaussianClosedFormTests
{
    public static TheoryData<int> Dims() => new() { 1, 2, 5 };

    private static (double[] M, double[] S) Target(int d) => Datasets.DefaultGaussian(d);

    [Theory]
    [MemberData(nameof(Dims))]
    public void MatrixPowersComposeAsPowers(int d)
    {
        var s = SymmetricMatrix.FromRowMajor(Target(d).S, d);
        var c = SymmetricMatrix.Power(s, 1.0 / 3.0);
        Assert.True((c * c * c - s).FrobeniusNorm() < 1e-10 * s.FrobeniusNorm());
        var ci = SymmetricMatrix.Power(s, -1.0 / 3.0);
        Assert.True((c * ci - Matrix<double>.Build.DenseIdentity(d)).FrobeniusNorm() < 1e-10);
        Assert.True((SymmetricMatrix.Power(s, -1) * s - Matrix<double>.Build.DenseIdentity(d)).FrobeniusNorm() < 1e-10);
        Assert.Throws<ArgumentException>(() => SymmetricMatrix.Power(-s, 0.5));
    }

    [Theory]
    [MemberData(nameof(Dims))]
    public void LatentIsTheGibbsDensityOfW(int d)
    {
        // exp(-w) with w = 1/2 x'Ax + b'x is N(-A^-1 b, A^-1): it must be the stated latent N(LatentMean, S^(1/3)).
        var (m, s) = Target(d);
        var cf = GaussianClosedForm.Cmm(m, s);
        var ainv = cf.A.Inverse();
        Assert.True((ainv - cf.LatentCovariance).FrobeniusNorm() < 1e-10);
        Assert.True((-(ainv * cf.B) - cf.LatentMean).L2Norm() < 1e-10);

        // grad w* of the latent: mean S^(1/3) l + l = (I + S^(1/3)) l = m, covariance S^(1/3) S^(1/3) S^(1/3) = S.
        var pushedMean = (cf.CubeRoot * cf.LatentMean) + cf.LatentMean;
        Assert.True((pushedMean - Vector<double>.Build.DenseOfArray(m)).L2Norm() < 1e-10);
        var pushedCov = cf.CubeRoot * cf.LatentCovariance * cf.CubeRoot.Transpose();
        Assert.True((pushedCov - cf.Covariance).FrobeniusNorm() < 1e-10 * cf.Covariance.FrobeniusNorm());
    }

    [Theory]
    [MemberData(nameof(Dims))]
    public void PushingLatentSamplesThroughTheMapGivesTheTarget(int d)
    {
        var (m, s) = Target(d);
        var cf = GaussianClosedForm.Cmm(m, s);
        const int N = 40000;
        var y = cf.GradWStar(cf.SampleLatent(N, seed: 3));
        var mu = SampleMetrics.Mean(y, d);
        for (int k = 0; k < d; k++)
        {
            Approx.Equal(m[k], mu[k], 5 * Math.Sqrt(s[(k * d) + k] / N), 0, $"mean[{k}]");
        }

        Assert.True(SampleMetrics.CovarianceError(y, d, s) < 0.03);

        // and the latent samples themselves have covariance S^(1/3)
        var latent = cf.SampleLatent(N, seed: 4);
        Assert.True(SampleMetrics.CovarianceError(latent, d, cf.LatentCovariance.ToRowMajorArray()) < 0.03);
    }

    [Theory]
    [MemberData(nameof(Dims))]
    public void GradWInvertsGradWStar(int d)
    {
        var (m, s) = Target(d);
        var cf = GaussianClosedForm.Cmm(m, s);
        var z = TestData.Normal(17 * d, 9);
        var back = cf.GradW(cf.GradWStar(z));
        Approx.AllEqual(z.Select(v => (double)v).ToArray(), back, 1e-5, 1e-5);
    }

    [Fact]
    public void GradWMatchesFiniteDifferencesOfThePotential()
    {
        var (m, s) = Target(3);
        var cf = GaussianClosedForm.Cmm(m, s);
        var y = new[] { 0.3, -1.2, 0.7 };
        var g = cf.GradW(y.Select(v => (float)v).ToArray());
        const double H = 1e-5;
        for (int k = 0; k < 3; k++)
        {
            var p = (double[])y.Clone();
            var q = (double[])y.Clone();
            p[k] += H;
            q[k] -= H;
            double fd = (cf.Potential(Vector<double>.Build.DenseOfArray(p)) - cf.Potential(Vector<double>.Build.DenseOfArray(q))) / (2 * H);
            Approx.Equal(fd, g[k], 1e-5, 1e-5, $"dw/dy{k}");
        }
    }

    [Fact]
    public void OneDimensionalSpecialCases()
    {
        // rho = N(mu, s^2): CMM latent variance s^(2/3), Hessian s^(-2/3); MM latent variance 1/s^2.
        double mu = 1.5, s2 = 4.0;
        var cf = GaussianClosedForm.Cmm([mu], [s2]);
        Approx.Equal(Math.Pow(s2, 1.0 / 3.0), cf.LatentCovariance[0, 0], 1e-12, 1e-12);
        Approx.Equal(Math.Pow(s2, -1.0 / 3.0), cf.A[0, 0], 1e-12, 1e-12);
        Approx.Equal(mu / (1 + Math.Pow(s2, 1.0 / 3.0)), cf.LatentMean[0], 1e-12, 1e-12);
        double a = Math.Pow(s2, -1.0 / 3.0);
        Approx.Equal(-a * a * mu / (1 + a), cf.B[0], 1e-12, 1e-12);

        var mm = GaussianClosedForm.Mm([s2]);
        Approx.Equal(1 / s2, mm.LatentCovariance[0, 0], 1e-12, 1e-12);
        Approx.Equal(s2, mm.Hessian[0, 0], 1e-12, 1e-12);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void MomentMeasureMapsItsLatentOntoTheCentredTarget(int d)
    {
        var s = Target(d).S;
        var mm = GaussianClosedForm.Mm(s);
        var y = mm.GradU(mm.SampleLatent(40000, 5));
        Assert.True(SampleMetrics.CovarianceError(y, d, s) < 0.03);
        Assert.True(SampleMetrics.MeanError(y, d, new double[d]) < 0.05);
        Approx.Equal(0.5 * s[0], mm.Potential(Vector<double>.Build.Dense(d, k => k == 0 ? 1 : 0)), 1e-12, 1e-12);
    }

    [Fact]
    public void InvalidCovariancesAreRejected()
    {
        Assert.Throws<ArgumentException>(() => GaussianClosedForm.Cmm([0.0, 0.0], [1.0, 2.0, 2.0, 1.0]));
        Assert.Throws<ArgumentException>(() => GaussianClosedForm.Cmm([0.0, 0.0], [1.0, 0.0, 1.0]));
        Assert.Throws<ArgumentException>(() => GaussianClosedForm.Cmm([0.0], [1.0, 0.0, 0.0, 1.0]));
        Assert.Throws<ArgumentException>(() => GaussianClosedForm.Mm([1.0, 0.5, 0.4, 1.0]));
    }
}
