using CMM.Gpu.Density;
using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;
using CMM.Gpu.Tests.Potentials;

namespace CMM.Gpu.Tests.Density;

/// <summary>Naive double-precision Gaussian helpers, written for these tests (Gauss-Jordan inverse, LU log det).</summary>
internal static class NaiveGaussian
{
    public static double[,] Inverse(double[,] a)
    {
        int d = a.GetLength(0);
        var m = new double[d, 2 * d];
        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++)
            {
                m[r, c] = a[r, c];
            }

            m[r, d + r] = 1;
        }

        for (int c = 0; c < d; c++)
        {
            int p = c;
            for (int r = c + 1; r < d; r++)
            {
                if (Math.Abs(m[r, c]) > Math.Abs(m[p, c]))
                {
                    p = r;
                }
            }

            for (int k = 0; k < 2 * d; k++)
            {
                (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
            }

            double pivot = m[c, c];
            for (int k = 0; k < 2 * d; k++)
            {
                m[c, k] /= pivot;
            }

            for (int r = 0; r < d; r++)
            {
                if (r != c)
                {
                    double f = m[r, c];
                    for (int k = 0; k < 2 * d; k++)
                    {
                        m[r, k] -= f * m[c, k];
                    }
                }
            }
        }

        var inv = new double[d, d];
        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++)
            {
                inv[r, c] = m[r, d + c];
            }
        }

        return inv;
    }

    public static double LogDet(double[,] a)
    {
        int d = a.GetLength(0);
        var m = new double[d, d];
        Array.Copy(a, m, a.Length);
        double s = 0;
        for (int c = 0; c < d; c++)
        {
            for (int r = c + 1; r < d; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < d; k++)
                {
                    m[r, k] -= f * m[c, k];
                }
            }

            s += Math.Log(m[c, c]); // positive definite: no pivoting needed, every pivot positive
        }

        return s;
    }

    /// <summary>log N(y; m, S).</summary>
    public static double LogPdf(double[] y, double[] m, double[,] s)
    {
        int d = m.Length;
        var inv = Inverse(s);
        double q = 0;
        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++)
            {
                q += (y[r] - m[r]) * inv[r, c] * (y[c] - m[c]);
            }
        }

        return (-0.5 * d * Math.Log(2 * Math.PI)) - (0.5 * LogDet(s)) - (0.5 * q);
    }

    /// <summary>log Z of w(x) = 1/2 x'Ax + b'x + c: d/2 log 2 pi - 1/2 log det A + 1/2 b'A^-1 b - c.</summary>
    public static double QuadraticLogZ(double[,] a, double[] b, double c)
    {
        int d = b.Length;
        var inv = Inverse(a);
        double q = 0;
        for (int r = 0; r < d; r++)
        {
            for (int k = 0; k < d; k++)
            {
                q += b[r] * inv[r, k] * b[k];
            }
        }

        return (0.5 * d * Math.Log(2 * Math.PI)) - (0.5 * LogDet(a)) + (0.5 * q) - c;
    }
}

[Collection(AcceleratorTestGroup.Name)]
public sealed class ModelDensityTests(AcceleratorFixture fixture)
{
    /// <summary>
    /// The CMM potential of N(m, S) in closed form (A = S^(-1/3), b = -(I + A)^(-1) A^2 m) has log q_w = log N(m, S) exactly,
    /// with the closed-form log Z_w; with a normalisation y = mean + s z of a target N(m_z, S_z) in z, log q(y) = log N(y; mean
    /// + s m_z, s^2 S_z): the normalisation's log |Jacobian| is accounted for.
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    public void GaussianCmmDensityIsTheTargetDensity(int d, bool normalised)
    {
        var ctx = fixture.Context;
        var (sz, mz, _, a, b) = ClosedFormCmm(d, 40 + d);
        const double c = 0.7;
        using var w = new QuadraticPotential(ctx, a, b, c);
        var norm = normalised ? new Normalization(TestData.Normal(d, 42, shift: 1).ToArray(), 1.7f) : null;
        using var density = new ModelDensity(w, SampleMapping.ConjugateGradient, norm);
        var logZ = LogNormalizerEstimate.Exact(NaiveGaussian.QuadraticLogZ(a, b, c));
        const int n = 23;
        var y = TestData.Normal(n * d, 43 + d, scale: 2.5);
        var got = density.LogDensity(y, logZ);
        Assert.Equal(0, got.Undefined);
        // The target in data coordinates.
        double s = norm?.Scale ?? 1;
        var mean = Enumerable.Range(0, d).Select(k => (norm?.Mean[k] ?? 0) + (s * mz[k])).ToArray();
        var cov = new double[d, d];
        for (int r = 0; r < d; r++)
        {
            for (int k = 0; k < d; k++)
            {
                cov[r, k] = s * s * sz[r, k];
            }
        }

        for (int i = 0; i < n; i++)
        {
            double expected = NaiveGaussian.LogPdf(y.Skip(i * d).Take(d).Select(v => (double)v).ToArray(), mean, cov);
            Approx.Equal(expected, got.Values[i], 2e-4, 2e-5, $"log q(y[{i}])");
        }
    }

    /// <summary>The moment-measure density of N(0, S): u = 1/2 x'Sx, y = grad u(x) = S x, x ~ N(0, S^-1): log q = log N(0, S),
    /// through one conjugate solve per point.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void GaussianMomentMeasureDensityIsTheTargetDensity(int d)
    {
        var ctx = fixture.Context;
        var s = ClosedFormPotentialTests.SpdMatrix(d, 50 + d);
        using var u = new QuadraticPotential(ctx, s);
        using var density = new ModelDensity(u, SampleMapping.Gradient);
        const int n = 17;
        var y = TestData.Normal(n * d, 51 + d, scale: 1.5);
        var got = density.LogDensity(y, LogNormalizerEstimate.Exact(NaiveGaussian.QuadraticLogZ(s, new double[d], 0)));
        Assert.Equal(0, got.Undefined);
        for (int i = 0; i < n; i++)
        {
            double expected = NaiveGaussian.LogPdf(y.Skip(i * d).Take(d).Select(v => (double)v).ToArray(), new double[d], s);
            Approx.Equal(expected, got.Values[i], 1e-3, 1e-4, $"log q(y[{i}])");
        }
    }

    /// <summary>Importance sampling recovers the closed-form log Z of a quadratic within a few of its own standard errors,
    /// with both proposals.</summary>
    [Theory]
    [InlineData(1, ProposalKind.StudentT)]
    [InlineData(3, ProposalKind.StudentT)]
    [InlineData(3, ProposalKind.Gaussian)]
    public void LogNormalizerOfAQuadraticMatchesTheClosedForm(int d, ProposalKind proposal)
    {
        var ctx = fixture.Context;
        var (_, _, cf, a, b) = ClosedFormCmm(d, 60 + d);
        using var w = new QuadraticPotential(ctx, a, b, -1.3);
        var latents = cf.SampleLatent(1000, 62);
        var options = new LogNormalizerOptions { Samples = 20000, Proposal = proposal, ScaleInflation = proposal == ProposalKind.Gaussian ? 1.5 : 1, Seed = 7 };
        var est = LogNormalizer.Estimate(w, latents, options);
        double exact = NaiveGaussian.QuadraticLogZ(a, b, -1.3);
        Assert.Equal(0, est.NonFinite);
        Assert.Equal(20000, est.Samples);
        Assert.InRange(est.EffectiveSampleFraction, 0.3, 1.0);
        Assert.InRange(est.StandardError, 1e-4, 0.02);
        Assert.True(Math.Abs(est.LogZ - exact) <= (4 * est.StandardError) + 1e-3,
            $"log Z estimate {est.LogZ} +- {est.StandardError} vs closed form {exact}");
        // Deterministic in the seed.
        Assert.Equal(est, LogNormalizer.Estimate(w, latents, options));
    }

    /// <summary>
    /// A non-Gaussian 2-D ICNN model with a normalisation: the grid integral of q(y) over data coordinates is 1. That checks
    /// the change of variables, the normalisation's Jacobian and the log Z estimate together. The tolerance is justified in
    /// the test: a latent-grid quadrature of Z_w checks the change of variables on its own to quadrature accuracy, and the
    /// importance-sampling log Z is checked against that quadrature within 4 of its standard errors (plus the quadrature
    /// error, bounded by comparing grid spacings h and 2h).
    /// </summary>
    [Fact]
    public void GridIntegralOfTheDensityOfANonGaussianIcnnIsOne()
    {
        var ctx = fixture.Context;
        using var fitted = NonGaussianModel(ctx, normalised: true);
        using var density = ModelDensity.For(fitted);
        Assert.Equal(-2 * Math.Log(1.7), fitted.Normalization.LogAbsJacobian, 6);

        // The Hessian varies where the mass is: the model is not Gaussian, so this is not the Gaussian check again.
        var (samples, latents, _) = ModelEvaluation.Generate(fitted, 2000, 11);
        fitted.Normalization.Forward(samples);
        using (var zs = DevicePoints.Upload(ctx, samples, 2))
        using (var hs = DeviceVector.Allocate(ctx, zs.Count * 4L))
        {
            fitted.Potential.Hessian(zs, hs);
            var h = hs.ToArray();
            var traces = Enumerable.Range(0, zs.Count).Select(i => h[4 * i] + h[(4 * i) + 3]).ToArray();
            Assert.True(traces.Max() > 1.3 * traces.Min(), $"Hessian trace {traces.Min()} to {traces.Max()}: too close to a Gaussian");
        }

        // Z_w by quadrature over the latent plane, at spacings h and 2h.
        const double lx = 9;
        double zFine = LatentGridZ(fitted.Network, lx, 180);
        double zCoarse = LatentGridZ(fitted.Network, lx, 90);
        double quadrature = Math.Abs(zFine - zCoarse) / zFine;
        Assert.True(quadrature < 2e-3, $"latent quadrature not converged: {zFine} vs {zCoarse}");

        // The change of variables alone: integral of the unnormalised q over data coordinates = Z_w.
        var (integral, edgeMass, fineVsCoarse) = DataGridIntegral(density, LogNormalizerEstimate.Exact(Math.Log(zFine)), fitted.Normalization, 9, 180);
        Assert.True(edgeMass < 1e-4, $"the grid does not hold the density: {edgeMass} of the mass on its border");
        Assert.True(fineVsCoarse < 2e-3, $"data-grid quadrature not converged: relative change {fineVsCoarse}");
        Approx.Equal(1.0, integral, (2 * quadrature) + (2 * fineVsCoarse) + 1e-3, 0, "integral of exp(-w(grad w(z))) det Hess w(z) dz / Z_w(grid)");

        var est = density.EstimateLogNormalizer(latents, new LogNormalizerOptions { Seed = 3 });
        Assert.InRange(est.EffectiveSampleFraction, 0.2, 1);
        double tolerance = (4 * est.StandardError) + (2 * quadrature) + 1e-3;
        Approx.Equal(Math.Log(zFine), est.LogZ, tolerance, 0, $"IS log Z (+- {est.StandardError}) vs latent quadrature");
        var (normalised, _, _) = DataGridIntegral(density, est, fitted.Normalization, 9, 180);
        Approx.Equal(1.0, normalised, tolerance + (2 * fineVsCoarse), 0, "integral of q(y) dy with the IS log Z");
    }

    /// <summary>The moment-measure density of a non-Gaussian ICNN u also integrates to Z_u (conjugate solve per grid point).</summary>
    [Fact]
    public void GridIntegralOfAMomentMeasureDensityIsOne()
    {
        var ctx = fixture.Context;
        using var fitted = NonGaussianModel(ctx, normalised: false);
        using var density = new ModelDensity(fitted.Potential, SampleMapping.Gradient);
        double z = LatentGridZ(fitted.Network, 7, 140);
        var (integral, edgeMass, fineVsCoarse) = DataGridIntegral(density, LogNormalizerEstimate.Exact(Math.Log(z)), Normalization.Identity(2), 9, 90);
        Assert.True(edgeMass < 1e-3, $"the grid does not hold the density: {edgeMass} of the mass on its border");
        Approx.Equal(1.0, integral, (2 * fineVsCoarse) + 3e-3, 0, "integral of exp(-u(x)) / det Hess u(x) dy / Z_u");
    }

    [Fact]
    public void UndefinedPointsAreNaNAndCounted()
    {
        var ctx = fixture.Context;
        using var w = new QuadraticPotential(ctx, new double[,] { { 2, 0.5 }, { 0.5, 1 } });
        using var density = new ModelDensity(w);
        var got = density.UnnormalizedLogDensity([0.5f, 1f, float.NaN, 0f, -1f, 2f]);
        Assert.Equal(1, got.Undefined);
        Assert.Equal(1, got.FirstUndefined);
        Assert.True(double.IsNaN(got.Values[1]));
        Assert.True(double.IsFinite(got.Values[0]) && double.IsFinite(got.Values[2]));
        Assert.Throws<ArgumentException>(() => density.UnnormalizedLogDensity([1f, 2f, 3f]));
    }

    [Fact]
    public void MisuseIsAnArgumentError()
    {
        var ctx = fixture.Context;
        var big = new SeparableQuarticPotential(ctx, ModelDensity.MaxDimension + 1, 1, 1);
        Assert.Contains("MaxDimension", Assert.Throws<ArgumentException>(() => new ModelDensity(big)).Message, StringComparison.Ordinal);
        using var w = new QuadraticPotential(ctx, new double[,] { { 1 } });
        Assert.Contains("dimension mismatch", Assert.Throws<ArgumentException>(() => new ModelDensity(w, SampleMapping.ConjugateGradient, Normalization.Identity(2))).Message, StringComparison.Ordinal);
        Assert.Contains("at least d + 1", Assert.Throws<ArgumentException>(() => LogNormalizer.Estimate(w, [1f])).Message, StringComparison.Ordinal);
        Assert.Contains("must be finite", Assert.Throws<ArgumentException>(() => LogNormalizer.Estimate(w, [1f, float.NaN, 2f])).Message, StringComparison.Ordinal);
        var problems = new LogNormalizerOptions { Samples = 3, DegreesOfFreedom = 0, ScaleInflation = -1 }.Problems();
        Assert.Equal(3, problems.Count);
        Assert.Throws<ArgumentException>(() => LogNormalizer.Estimate(w, [1f, 2f, 3f], new LogNormalizerOptions { Samples = 3 }));
    }

    /// <summary>A random target N(m, S) (seeded) and its closed-form CMM potential w = 1/2 x'Ax + b'x (docs/maths.md section 2).</summary>
    private static (double[,] S, double[] M, CmmGaussian Cmm, double[,] A, double[] B) ClosedFormCmm(int d, int seed)
    {
        var s = ClosedFormPotentialTests.SpdMatrix(d, seed);
        var m = TestData.Normal(d, seed + 1).Select(v => (double)v).ToArray();
        var cf = GaussianClosedForm.Cmm(m, s.Cast<double>().ToArray());
        return (s, m, cf, cf.A.ToArray(), cf.B.ToArray());
    }

    /// <summary>
    /// A 2-D ICNN (two softplus layers of 8, rank 1, alpha = 0.1) from the seeded initialisation (w close to 1/2 |x|^2) with
    /// the network's output weights raised from 0.01 / 8 to 0.5 each and a low-rank term R of order 0.6 and c = (0.3, -0.2):
    /// valid parameters whose network part bends w by order one (the Hessian varies by more than 30 % where the mass is).
    /// As a fitted CMM model, optionally with a normalisation y = (0.5, -1) + 1.7 z.
    /// </summary>
    internal static FittedModel NonGaussianModel(CmmContext ctx, bool normalised)
    {
        var arch = new IcnnArchitecture(2) { HiddenWidths = [8, 8], Rank = 1, Alpha = 0.1f };
        var layout = new IcnnLayout(arch);
        var theta = IcnnPotential.InitialParameters(arch, 2024);
        Array.Fill(theta, (float)IcnnPotential.InverseSoftplus(1.0), layout.OutputOffset, 8);
        Array.Fill(theta, (float)IcnnPotential.InverseSoftplus(0.3), layout.DiagonalOffset, 2);
        theta[layout.LowRankOffset] = 0.6f;
        theta[layout.LowRankOffset + 1] = -0.4f;
        theta[layout.LinearOffset] = 0.3f;
        theta[layout.LinearOffset + 1] = -0.2f;
        var md = new IcnnModelMetadata
        {
            DataDimension = 2,
            NormalizationMean = normalised ? [0.5f, -1f] : [],
            NormalizationScale = normalised ? [1.7f, 1.7f] : [],
        };
        return new FittedModel(ctx, new IcnnModel(arch, theta, md));
    }

    /// <summary>Midpoint rule for the integral of exp(-w) over [-l, l]^2 with m x m cells.</summary>
    private static double LatentGridZ(IcnnPotential w, double l, int m)
    {
        var pts = GridPoints(l, m, [0, 0], 1);
        using var p = DevicePoints.Upload(w.Context, pts, 2);
        using var v = DeviceVector.Allocate(w.Context, p.Count);
        w.Value(p, v);
        double h = 2 * l / m;
        return v.ToArray().Sum(x => Math.Exp(-(double)x)) * h * h;
    }

    /// <summary>
    /// Midpoint rule for the integral of q over the data-coordinate box mean + scale [-l, l]^2 with m x m cells; also the share of
    /// it in the outermost ring of cells and the relative change against m / 2 cells (the quadrature error is about a third of it).
    /// </summary>
    private static (double Integral, double EdgeMass, double FineVsCoarse) DataGridIntegral(ModelDensity density, LogNormalizerEstimate logZ,
        Normalization norm, double l, int m)
    {
        double Integrate(int cells, out double edge)
        {
            var pts = GridPoints(l, cells, norm.Mean, norm.Scale);
            var q = density.LogDensity(pts, logZ);
            Assert.Equal(0, q.Undefined);
            double h = 2 * l * norm.Scale / cells;
            double sum = 0, border = 0;
            for (int i = 0; i < cells; i++)
            {
                for (int j = 0; j < cells; j++)
                {
                    double v = Math.Exp(q.Values[(i * cells) + j]) * h * h;
                    sum += v;
                    if (i == 0 || j == 0 || i == cells - 1 || j == cells - 1)
                    {
                        border += v;
                    }
                }
            }

            edge = border / sum;
            return sum;
        }

        double fine = Integrate(m, out double edgeMass);
        double coarse = Integrate(m / 2, out _);
        return (fine, edgeMass, Math.Abs(fine - coarse) / fine);
    }

    private static float[] GridPoints(double l, int m, IReadOnlyList<float> centre, double scale)
    {
        double h = 2 * l / m;
        var pts = new float[m * m * 2];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < m; j++)
            {
                pts[((i * m) + j) * 2] = (float)(centre[0] + (scale * (-l + ((i + 0.5) * h))));
                pts[(((i * m) + j) * 2) + 1] = (float)(centre[1] + (scale * (-l + ((j + 0.5) * h))));
            }
        }

        return pts;
    }
}
