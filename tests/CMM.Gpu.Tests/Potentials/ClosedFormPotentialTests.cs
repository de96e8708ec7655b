using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Potentials;

[Collection(AcceleratorTestGroup.Name)]
public sealed class ClosedFormPotentialTests(AcceleratorFixture fixture)
{
    internal static double[,] SpdMatrix(int d, int seed)
    {
        var r = TestData.Normal(d * d, seed);
        var a = new double[d, d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++)
                {
                    s += r[i * d + k] * r[j * d + k];
                }

                a[i, j] = s / d + (i == j ? 0.5 : 0);
            }
        }

        return a;
    }

    private static double QuadValue(double[,] a, double[] b, double c, float[] x, int o, int d)
    {
        double s = c;
        for (int i = 0; i < d; i++)
        {
            s += b[i] * x[o + i];
            for (int j = 0; j < d; j++)
            {
                s += 0.5 * x[o + i] * a[i, j] * x[o + j];
            }
        }

        return s;
    }

    private static double QuarticValue(double qa, double qb, double[] x) => x.Sum(v => (qa / 4 * v * v * v * v) + (qb / 2 * v * v));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 3)]
    [InlineData(5, 7)]
    public void QuadraticMatchesDoubleReferenceAndFiniteDifferences(int n, int d)
    {
        var ctx = fixture.Context;
        var a = SpdMatrix(d, 10 + d);
        var b = TestData.Normal(d, 20 + d).Select(v => (double)v).ToArray();
        using var w = new QuadraticPotential(ctx, a, b, 0.75);
        var x = TestData.Normal(n * d, 30 + n);
        using var px = DevicePoints.Upload(ctx, x, d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var grads = DevicePoints.Allocate(ctx, n, d);
        using var hess = DeviceVector.Allocate(ctx, (long)n * d * d);
        w.Value(px, values);
        w.Gradient(px, grads);
        w.Hessian(px, hess);
        var v = values.ToArray();
        var g = grads.ToArray();
        var h = hess.ToArray();
        for (int i = 0; i < n; i++)
        {
            Approx.Equal(QuadValue(a, b, 0.75, x, i * d, d), v[i], 1e-5, 1e-5, "w");
            for (int r = 0; r < d; r++)
            {
                // Central finite differences of the double reference value, and the closed-form Hessian.
                const double step = 1e-4;
                double fp = QuadValueShift(a, b, x, i * d, d, r, step);
                double fm = QuadValueShift(a, b, x, i * d, d, r, -step);
                Approx.Equal((fp - fm) / (2 * step), g[i * d + r], 1e-4, 1e-4, "grad w");
                for (int k = 0; k < d; k++)
                {
                    Approx.Equal(a[r, k], h[(i * d * d) + (r * d) + k], 1e-6, 1e-6, "Hessian");
                }
            }
        }
    }

    [Fact]
    public void DefaultValueAndGradientEqualsTheSeparateCalls()
    {
        // IPotential.ValueAndGradient's default (closed-form potentials) must give exactly Value then Gradient.
        var ctx = fixture.Context;
        const int n = 9, d = 3;
        using var w = new QuadraticPotential(ctx, SpdMatrix(d, 4), [0.5, -1, 2], 0.25);
        using var px = DevicePoints.Upload(ctx, TestData.Normal(n * d, 5), d);
        using var v1 = DeviceVector.Allocate(ctx, n);
        using var v2 = DeviceVector.Allocate(ctx, n);
        using var g1 = DevicePoints.Allocate(ctx, n, d);
        using var g2 = DevicePoints.Allocate(ctx, n, d);
        w.Value(px, v1);
        w.Gradient(px, g1);
        ((IPotential)w).ValueAndGradient(px, v2, g2);
        Assert.Equal(v1.ToArray(), v2.ToArray());
        Assert.Equal(g1.ToArray(), g2.ToArray());
    }

    private static double QuadValueShift(double[,] a, double[] b, float[] x, int o, int d, int r, double h)
    {
        var p = new double[d];
        for (int k = 0; k < d; k++)
        {
            p[k] = x[o + k] + (k == r ? h : 0);
        }

        double s = 0;
        for (int i = 0; i < d; i++)
        {
            s += b[i] * p[i];
            for (int j = 0; j < d; j++)
            {
                s += 0.5 * p[i] * a[i, j] * p[j];
            }
        }

        return s;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(13, 4)]
    public void QuarticMatchesDoubleReferenceAndFiniteDifferences(int n, int d)
    {
        var ctx = fixture.Context;
        const double qa = 0.7, qb = 1.3;
        var w = new SeparableQuarticPotential(ctx, d, qa, qb);
        var x = TestData.Normal(n * d, 40 + n, scale: 1.5);
        using var px = DevicePoints.Upload(ctx, x, d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var grads = DevicePoints.Allocate(ctx, n, d);
        using var hess = DeviceVector.Allocate(ctx, (long)n * d * d);
        w.Value(px, values);
        w.Gradient(px, grads);
        w.Hessian(px, hess);
        var v = values.ToArray();
        var g = grads.ToArray();
        var h = hess.ToArray();
        const double eps = 1e-4;
        for (int i = 0; i < n; i++)
        {
            var xi = Enumerable.Range(0, d).Select(k => (double)x[i * d + k]).ToArray();
            Approx.Equal(QuarticValue(qa, qb, xi), v[i], 1e-5, 1e-5, "w");
            for (int r = 0; r < d; r++)
            {
                var xp = (double[])xi.Clone();
                var xm = (double[])xi.Clone();
                xp[r] += eps;
                xm[r] -= eps;
                Approx.Equal((QuarticValue(qa, qb, xp) - QuarticValue(qa, qb, xm)) / (2 * eps), g[i * d + r], 1e-4, 1e-4, "grad w");
                for (int k = 0; k < d; k++)
                {
                    double gp = (qa * xp[r] * xp[r] * xp[r]) + (qb * xp[r]);
                    double gm = (qa * xm[r] * xm[r] * xm[r]) + (qb * xm[r]);
                    double expected = r == k ? (gp - gm) / (2 * eps) : 0;
                    Approx.Equal(expected, h[(i * d * d) + (r * d) + k], 1e-3, 1e-4, "Hessian");
                }
            }
        }
    }

    [Fact]
    public void RejectsBadParameters()
    {
        var ctx = fixture.Context;
        Assert.Throws<ArgumentException>(() => new QuadraticPotential(ctx, new double[,] { { 1, 2 }, { 0, 1 } }));
        Assert.Throws<ArgumentException>(() => new QuadraticPotential(ctx, new double[,] { { 1, 2 }, { 2, 1 } }));
        Assert.Throws<ArgumentException>(() => new QuadraticPotential(ctx, new double[,] { { 1 } }, new double[] { 1, 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeparableQuarticPotential(ctx, 2, 1, 0));
        using var w = new QuadraticPotential(ctx, new double[,] { { 2 } });
        using var px = DevicePoints.Allocate(ctx, 3, 2);
        using var v = DeviceVector.Allocate(ctx, 3);
        Assert.Contains("dimension mismatch", Assert.Throws<ArgumentException>(() => w.Value(px, v)).Message, StringComparison.Ordinal);
    }
}
