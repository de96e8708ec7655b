using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Tests.Icnn;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Potentials;

/// <summary>w = u* by the conjugate solve, checked against its definition with the independent double ICNN reference.</summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class ConjugatePotentialTests(AcceleratorFixture fixture)
{
    private static (IcnnArchitecture Arch, float[] Theta) Network(int d)
    {
        var arch = new IcnnArchitecture(d)
        {
            HiddenWidths = [6, 5], Rank = d, Alpha = 0.3f, Sharpness = 2f,
            Preconditioner = new IcnnPreconditioner
            {
                Centre = Enumerable.Range(0, d).Select(k => 0.5f * k).ToArray(),
                InputScale = Enumerable.Repeat(1.5f, d).ToArray(),
                OutputScale = 2f,
            },
        };
        return (arch, TestData.Normal((int)new IcnnLayout(arch).ParameterCount, 12, scale: 0.5));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ValueGradientAndHessianAreTheConjugatesByDefinition(int d)
    {
        var (arch, theta) = Network(d);
        var reference = IcnnCases.Reference(arch);
        var th = IcnnCases.ToDouble(theta);
        const int n = 9;
        var x = TestData.Normal(n * d, 5, scale: 2.0);
        var ctx = fixture.Context;
        using var u = IcnnPotential.FromParameters(ctx, arch, theta);
        using var w = new ConjugatePotential(u);
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var z = DevicePoints.Allocate(ctx, n, d);
        using var h = DeviceVector.Allocate(ctx, n * d * d);
        w.ValueAndGradient(dx, values, z);
        w.Hessian(dx, h);
        Assert.Equal(1.0, w.LastSolve!.ConvergedFraction);
        var wv = values.ToArray();
        var zv = z.ToArray();
        var hv = h.ToArray();
        var xs = IcnnCases.Rows(x, d);
        var zs = IcnnCases.Rows(zv, d);
        var rng = new Random(3);
        for (int i = 0; i < n; i++)
        {
            // grad u(z) = x (the solve), w(x) = <x, z> - u(z) (double reference), and the supremum: no other z' does better.
            var gu = reference.Gradient(th, zs[i]);
            double scale = 1 + xs[i].Sum(Math.Abs);
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(xs[i][k], gu[k], 1e-3 * scale, 0, $"grad u(z)[{i},{k}]");
            }

            double legendre = xs[i].Zip(zs[i], (a, b) => a * b).Sum() - reference.Value(th, zs[i]);
            Approx.Equal(legendre, wv[i], 1e-4, 1e-4, $"w(x)[{i}]");
            for (int trial = 0; trial < 20; trial++)
            {
                var zp = zs[i].Select(v => v + (0.5 * ((2 * rng.NextDouble()) - 1))).ToArray();
                Assert.True(xs[i].Zip(zp, (a, b) => a * b).Sum() - reference.Value(th, zp) <= legendre + 1e-6, "w(x) is the supremum");
            }

            // Hess w(x) Hess u(z) = I, with Hess u from the reference.
            var hu = reference.Hessian(th, zs[i]);
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c < d; c++)
                {
                    double s = 0;
                    for (int k = 0; k < d; k++)
                    {
                        s += hv[(i * d * d) + (r * d) + k] * hu[k, c];
                    }

                    Approx.Equal(r == c ? 1 : 0, s, 2e-3, 0, $"(Hess w Hess u)[{i}][{r},{c}]");
                }
            }
        }

        // Value alone gives the same numbers, and the gradient is the value's derivative (central differences on the device).
        using var v2 = DeviceVector.Allocate(ctx, n);
        w.Value(dx, v2);
        Assert.Equal(wv, v2.ToArray());
        const float step = 1e-2f;
        for (int k = 0; k < d; k++)
        {
            var xp = x.ToArray();
            var xm = x.ToArray();
            for (int i = 0; i < n; i++)
            {
                xp[(i * d) + k] += step;
                xm[(i * d) + k] -= step;
            }

            using var dp = DevicePoints.Upload(ctx, xp, d);
            using var dm = DevicePoints.Upload(ctx, xm, d);
            using var vp = DeviceVector.Allocate(ctx, n);
            using var vm = DeviceVector.Allocate(ctx, n);
            w.Value(dp, vp);
            w.Value(dm, vm);
            var fp = vp.ToArray();
            var fm = vm.ToArray();
            for (int i = 0; i < n; i++)
            {
                Approx.Equal((fp[i] - fm[i]) / (2.0 * step), zv[(i * d) + k], 2e-3, 2e-3, $"dw/dx[{i},{k}]");
            }
        }
    }

    [Fact]
    public void TheConjugateOfAQuadraticIsTheInverseQuadratic()
    {
        // u(z) = 1/2 (z - m)'Q(z - m) + c'(z - m) with the network switched off: w(x) = 1/2 (x - c)'Q^-1(x - c) + m'x.
        const int d = 2;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [3], Rank = 2, Alpha = 0.5f };
        var layout = new IcnnLayout(arch);
        var theta = TestData.Normal((int)layout.ParameterCount, 4, scale: 0.6);
        Array.Fill(theta, -1000f, layout.OutputOffset, 3);
        var reference = IcnnCases.Reference(arch);
        var q = reference.QuadraticMatrix(IcnnCases.ToDouble(theta));
        var c = reference.Linear(IcnnCases.ToDouble(theta));
        double det = (q[0, 0] * q[1, 1]) - (q[0, 1] * q[1, 0]);
        double[,] qi = { { q[1, 1] / det, -q[0, 1] / det }, { -q[1, 0] / det, q[0, 0] / det } };
        using var u = IcnnPotential.FromParameters(fixture.Context, arch, theta);
        using var w = new ConjugatePotential(u);
        var x = TestData.Normal(7 * d, 8, scale: 3);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var g = DevicePoints.Allocate(fixture.Context, 7, d);
        using var v = DeviceVector.Allocate(fixture.Context, 7);
        w.ValueAndGradient(dx, v, g);
        var gv = g.ToArray();
        var vv = v.ToArray();
        for (int i = 0; i < 7; i++)
        {
            double e0 = x[2 * i] - c[0], e1 = x[(2 * i) + 1] - c[1];
            double z0 = (qi[0, 0] * e0) + (qi[0, 1] * e1), z1 = (qi[1, 0] * e0) + (qi[1, 1] * e1);
            Approx.Equal(z0, gv[2 * i], 1e-4, 1e-4, "grad w[0]");
            Approx.Equal(z1, gv[(2 * i) + 1], 1e-4, 1e-4, "grad w[1]");
            Approx.Equal(0.5 * ((e0 * z0) + (e1 * z1)), vv[i], 1e-4, 1e-4, "w");
        }

        Assert.Same(u, w.Conjugate);
    }
}
