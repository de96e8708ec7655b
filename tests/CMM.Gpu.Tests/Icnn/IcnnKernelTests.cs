using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>Shared set-up of the ICNN tests: small architectures with random (not initial) parameters.</summary>
public static class IcnnCases
{
    public static IcnnArchitecture Arch(int d, int[] widths, int rank, IcnnActivation act, bool preconditioned = false) =>
        new(d)
        {
            HiddenWidths = widths, Rank = rank, Activation = act, Alpha = 0.1f, Preconditioner = preconditioned ? Preconditioner(d) : null,
            Sharpness = preconditioned ? 2.5f : 1f,
        };

    /// <summary>An uneven preconditioner: centre far from 0, scales from 0.5 to 2.3, output scale 3.7.</summary>
    public static IcnnPreconditioner Preconditioner(int d) => new()
    {
        Centre = Enumerable.Range(0, d).Select(k => 1.5f - (1.75f * k)).ToArray(),
        InputScale = Enumerable.Range(0, d).Select(k => 0.5f + (0.6f * k)).ToArray(),
        OutputScale = 3.7f,
    };

    public static IcnnReference Reference(IcnnArchitecture a)
    {
        var pre = a.EffectivePreconditioner;
        return new(a.Dimension, a.HiddenWidths.ToArray(), a.Rank, a.Alpha, a.Activation == IcnnActivation.Elu,
            pre.Centre.Select(v => (double)v).ToArray(), pre.InputScale.Select(v => (double)v).ToArray(), pre.OutputScale, a.Sharpness);
    }

    /// <summary>Random free parameters of order one, so the network part matters.</summary>
    public static float[] RandomTheta(int count, int seed) => TestData.Normal(count, seed, scale: 0.7);

    public static double[] ToDouble(float[] a) => a.Select(v => (double)v).ToArray();

    public static double[][] Rows(float[] flat, int d) =>
        Enumerable.Range(0, flat.Length / d).Select(i => flat.Skip(i * d).Take(d).Select(v => (double)v).ToArray()).ToArray();

    public static IcnnPotentialOptions Options(IcnnKernelVariant variant, int maxThreads = 0) =>
        new() { Variant = variant, MaxThreads = maxThreads };

    /// <summary>
    /// A conjugate-solve case: the architecture, random parameters (seed + d), n targets of scale 2 (seed + 1 + d) with a NaN
    /// at point 3 and an infinity at point n - 2 (those points stop at once, their lanes' other points do not), and warm
    /// starts of scale 1.5 (seed + 2 + d).
    /// </summary>
    public static (IcnnArchitecture Arch, float[] Theta, float[] X, float[] Start) SolveCase(int d, int[] widths, int rank, bool elu, bool preconditioned, int n, int seed)
    {
        var arch = Arch(d, widths, rank, elu ? IcnnActivation.Elu : IcnnActivation.Softplus, preconditioned);
        var theta = RandomTheta((int)new IcnnLayout(arch).ParameterCount, seed + d);
        var x = TestData.Normal(n * d, seed + 1 + d, scale: 2);
        x[3 * d] = float.NaN;
        x[(n - 2) * d] = float.PositiveInfinity;
        return (arch, theta, x, TestData.Normal(n * d, seed + 2 + d, scale: 1.5));
    }

    /// <summary>|a_i - b_i| for points i of dimension d stored row after row.</summary>
    public static double Distance(float[] a, float[] b, int i, int d)
    {
        double dist = 0;
        for (int k = 0; k < d; k++)
        {
            double e = a[(i * d) + k] - b[(i * d) + k];
            dist += e * e;
        }

        return Math.Sqrt(dist);
    }
}

[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnKernelTests(AcceleratorFixture fixture)
{
    public static TheoryData<int, int[], int, IcnnActivation, IcnnKernelVariant, int, bool> Cases()
    {
        var data = new TheoryData<int, int[], int, IcnnActivation, IcnnKernelVariant, int, bool>();
        foreach (var variant in new[] { IcnnKernelVariant.SlotRows, IcnnKernelVariant.Interleaved, IcnnKernelVariant.Staged })
        {
            data.Add(1, [3], 0, IcnnActivation.Softplus, variant, 0, false);
            data.Add(3, [5, 4], 2, IcnnActivation.Softplus, variant, 0, false);
            data.Add(2, [7, 6, 5], 1, IcnnActivation.Elu, variant, 0, false);
            // Fewer threads than points: each thread walks several points.
            data.Add(4, [6, 3], 3, IcnnActivation.Softplus, variant, 5, false);
            // A preconditioner (centre, uneven input scales, output scale) and sharpness 2.5: the reference applies their definitions.
            data.Add(3, [5, 4], 2, IcnnActivation.Softplus, variant, 0, true);
            data.Add(2, [6, 5], 1, IcnnActivation.Elu, variant, 0, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValueGradientHessianHvpMatchReference(int d, int[] widths, int rank, IcnnActivation act, IcnnKernelVariant variant, int maxThreads, bool preconditioned)
    {
        var arch = IcnnCases.Arch(d, widths, rank, act, preconditioned);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 10 + d);
        var th = IcnnCases.ToDouble(theta);
        const int n = 17;
        var x = TestData.Normal(n * d, seed: 3 + d, scale: 1.5);
        var v = TestData.Normal(n * d, seed: 4 + d);
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, maxThreads));
        Assert.Equal(reference.ParameterCount, pot.ParameterCount);
        Assert.Equal(variant, pot.Variant);
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var dv = DevicePoints.Upload(ctx, v, d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var values2 = DeviceVector.Allocate(ctx, n);
        using var grads = DevicePoints.Allocate(ctx, n, d);
        using var grads2 = DevicePoints.Allocate(ctx, n, d);
        using var hess = DeviceVector.Allocate(ctx, n * d * d);
        using var hv = DevicePoints.Allocate(ctx, n, d);
        pot.Value(dx, values);
        pot.Gradient(dx, grads);
        pot.ValueAndGradient(dx, values2, grads2);
        pot.Hessian(dx, hess);
        pot.HessianVectorProduct(dx, dv, hv);
        var w = values.ToArray();
        var g = grads.ToArray();
        var hs = hess.ToArray();
        var hvs = hv.ToArray();
        Assert.Equal(w, values2.ToArray());
        Assert.Equal(g, grads2.ToArray());
        var xs = IcnnCases.Rows(x, d);
        var vs = IcnnCases.Rows(v, d);
        for (int i = 0; i < n; i++)
        {
            Approx.Equal(reference.Value(th, xs[i]), w[i], 2e-5, 2e-5, $"w[{i}]");
            var gr = reference.Gradient(th, xs[i]);
            var hr = reference.Hessian(th, xs[i]);
            for (int k = 0; k < d; k++)
            {
                Approx.Equal(gr[k], g[i * d + k], 2e-5, 2e-5, $"grad[{i},{k}]");
                double hvr = 0;
                for (int c = 0; c < d; c++)
                {
                    Approx.Equal(hr[k, c], hs[i * d * d + k * d + c], 1e-4, 1e-4, $"hess[{i},{k},{c}]");
                    hvr += hr[k, c] * vs[i][c];
                }

                Approx.Equal(hvr, hvs[i * d + k], 1e-4, 1e-4, $"hvp[{i},{k}]");
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReferenceGradientMatchesCentralDifferences(bool elu)
    {
        var r = new IcnnReference(3, [5, 4], 2, 0.1, elu);
        var th = IcnnCases.ToDouble(IcnnCases.RandomTheta(r.ParameterCount, 5));
        var x = new[] { 0.3, -1.2, 0.7 };
        var g = r.Gradient(th, x);
        for (int k = 0; k < 3; k++)
        {
            var xp = (double[])x.Clone();
            var xm = (double[])x.Clone();
            xp[k] += 1e-6;
            xm[k] -= 1e-6;
            Approx.Equal((r.Value(th, xp) - r.Value(th, xm)) / 2e-6, g[k], 1e-8, 1e-7, $"dw/dx{k}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReferenceAnalyticHessianMatchesDifferencesOfItsGradient(bool elu)
    {
        var a = IcnnCases.Arch(3, [5, 4, 3], 2, elu ? IcnnActivation.Elu : IcnnActivation.Softplus, preconditioned: true);
        var r = IcnnCases.Reference(a);
        var th = IcnnCases.ToDouble(IcnnCases.RandomTheta(r.ParameterCount, 6));
        foreach (var y in new[] { new[] { 0.3, -1.2, 0.7 }, new[] { 1.1, 0.4, -2.5 } })
        {
            var analytic = r.AnalyticHessian(th, y);
            var differences = r.Hessian(th, y);
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    Approx.Equal(differences[i, j], analytic[i, j], 1e-6, 1e-6, $"Hess[{i},{j}]");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, new[] { 3 }, 0, IcnnActivation.Softplus, IcnnKernelVariant.SlotRows, 0)]
    [InlineData(2, new[] { 7, 4, 5 }, 1, IcnnActivation.Elu, IcnnKernelVariant.Interleaved, 3)]
    [InlineData(5, new[] { 9, 6, 8 }, 3, IcnnActivation.Softplus, IcnnKernelVariant.Interleaved, 0)]
    [InlineData(5, new[] { 4 }, 2, IcnnActivation.Elu, IcnnKernelVariant.SlotRows, 2)]
    [InlineData(17, new[] { 11, 13, 6 }, 4, IcnnActivation.Elu, IcnnKernelVariant.Interleaved, 0)]
    [InlineData(17, new[] { 23 }, 5, IcnnActivation.Softplus, IcnnKernelVariant.SlotRows, 4)]
    public void JacobianFormHessianMatchesDoubleReferences(int d, int[] widths, int rank, IcnnActivation act, IcnnKernelVariant variant, int maxThreads)
    {
        // The Hessian kernel builds Hess w from the layer Jacobians (IcnnKernels.HessianJacobian): checked against the
        // reference's analytic Hessian (forward propagation of second derivatives, double), against central differences of
        // its gradient, and against the Hessian-vector kernel (tangent passes, float). Uneven widths, rank < d, a
        // preconditioner and sharpness 2.5.
        var arch = IcnnCases.Arch(d, widths, rank, act, preconditioned: true);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 40 + d);
        var th = IcnnCases.ToDouble(theta);
        const int n = 7;
        var pre = arch.EffectivePreconditioner;
        var x = TestData.Normal(n * d, seed: 41 + d);
        for (int i = 0; i < x.Length; i++)
        {
            // Points around the centre on the scale of the inputs, so every unit is neither far on nor far off.
            x[i] = pre.Centre[i % d] + (pre.InputScale[i % d] * x[i]);
        }

        var v = TestData.Normal(n * d, seed: 42 + d);
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, maxThreads));
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var dv = DevicePoints.Upload(ctx, v, d);
        using var hess = DeviceVector.Allocate(ctx, n * d * d);
        using var hv = DevicePoints.Allocate(ctx, n, d);
        pot.Hessian(dx, hess);
        pot.HessianVectorProduct(dx, dv, hv);
        var hs = hess.ToArray();
        var hvs = hv.ToArray();
        var xs = IcnnCases.Rows(x, d);
        var vs = IcnnCases.Rows(v, d);
        for (int i = 0; i < n; i++)
        {
            var analytic = reference.AnalyticHessian(th, xs[i]);
            var differences = reference.Hessian(th, xs[i]);
            double scale = 0;
            foreach (var e in analytic)
            {
                scale = Math.Max(scale, Math.Abs(e));
            }

            // Float32 sums of H d terms: absolute error relative to the largest entry.
            double atol = 1e-5 * (1 + scale);
            for (int r = 0; r < d; r++)
            {
                double hvr = 0;
                for (int c = 0; c < d; c++)
                {
                    float h = hs[(i * d * d) + (r * d) + c];
                    Assert.Equal(hs[(i * d * d) + (c * d) + r], h); // symmetric by construction
                    Approx.Equal(analytic[r, c], h, atol, 1e-4, $"Hess[{i},{r},{c}] vs analytic");
                    Approx.Equal(differences[r, c], h, 10 * atol, 1e-4, $"Hess[{i},{r},{c}] vs central differences");
                    hvr += h * vs[i][c];
                }

                Approx.Equal(hvr, hvs[(i * d) + r], 4 * atol, 1e-4, $"(Hess v)[{i},{r}] vs the Hessian-vector kernel");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ParameterGradientsMatchCentralDifferences(int d, int[] widths, int rank, IcnnActivation act, IcnnKernelVariant variant, int maxThreads, bool preconditioned)
    {
        var arch = IcnnCases.Arch(d, widths, rank, act, preconditioned);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 20 + d);
        var th = IcnnCases.ToDouble(theta);
        const int n = 9;
        var y = TestData.Normal(n * d, seed: 30 + d);
        var t = TestData.Normal(n * d, seed: 31 + d, scale: 2.0);
        var ys = IcnnCases.Rows(y, d);
        var ts = IcnnCases.Rows(t, d);
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, maxThreads));
        using var dy = DevicePoints.Upload(ctx, y, d);
        using var dt = DevicePoints.Upload(ctx, t, d);
        using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
        using var scalar = DeviceVector.Allocate(ctx, 1);

        float mean = pot.MeanValueParameterGradient(dy, grad);
        Approx.Equal(reference.MeanValue(th, ys), mean, 2e-5, 2e-5, "mean w");
        var expected = IcnnReference.ParameterGradient(th, p => reference.MeanValue(p, ys));
        Approx.AllEqual(expected, grad.ToArray(), 1e-4, 1e-4, "d mean w / d theta");

        pot.MeanValueParameterGradient(dy, grad, scalar);
        Approx.Equal(reference.MeanValue(th, ys), scalar.ToArray()[0], 2e-5, 2e-5, "mean w (async)");

        float loss = pot.LossParameterGradient(dy, dt, grad);
        Approx.Equal(reference.Loss(th, ys, ts), loss, 1e-4, 1e-4, "loss");
        var expectedLoss = IcnnReference.ParameterGradient(th, p => reference.Loss(p, ys, ts));
        Approx.AllEqual(expectedLoss, grad.ToArray(), 5e-4, 5e-4, "dL/dtheta");

        pot.LossParameterGradient(dy, dt, grad, scalar);
        Approx.Equal(reference.Loss(th, ys, ts), scalar.ToArray()[0], 1e-4, 1e-4, "loss (async)");
    }

    [Theory]
    [InlineData(IcnnKernelVariant.SlotRows)]
    [InlineData(IcnnKernelVariant.Interleaved)]
    [InlineData(IcnnKernelVariant.Staged)]
    public void SemiDualGradientMatchesCentralDifferences(IcnnKernelVariant variant)
    {
        const int d = 3, n = 8, m = 13;
        var arch = IcnnCases.Arch(d, [6, 5], 2, IcnnActivation.Softplus);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 41);
        var th = IcnnCases.ToDouble(theta);
        var data = TestData.Normal(n * d, 42);
        var model = TestData.Normal(m * d, 43, scale: 1.5, shift: 0.5);
        var ds = IcnnCases.Rows(data, d);
        var ms = IcnnCases.Rows(model, d);
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, 3));
        using var dd = DevicePoints.Upload(ctx, data, d);
        using var dm = DevicePoints.Upload(ctx, model, d);
        using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
        using var objective = DeviceVector.Allocate(ctx, 1);
        pot.SemiDualParameterGradient(dd, dm, grad, objective);
        double J(double[] p) => reference.MeanValue(p, ds) - reference.MeanValue(p, ms);
        Approx.Equal(J(th), objective.ToArray()[0], 1e-4, 1e-4, "semi-dual objective");
        Approx.AllEqual(IcnnReference.ParameterGradient(th, J), grad.ToArray(), 1e-4, 1e-4, "dJ/dtheta");
    }

    public static TheoryData<int, int[], int, IcnnActivation, IcnnKernelVariant, int, bool> LikelihoodCases() => new()
    {
        { 1, [3], 1, IcnnActivation.Softplus, IcnnKernelVariant.SlotRows, 0, false },
        { 2, [5, 4], 1, IcnnActivation.Elu, IcnnKernelVariant.Interleaved, 0, false },
        // A preconditioner and sharpness 2.5, fewer threads than points.
        { 3, [5, 4], 2, IcnnActivation.Softplus, IcnnKernelVariant.SlotRows, 3, true },
        // Staged runs the likelihood kernel in its interleaved form, and the latents' value gradient staged.
        { 3, [4, 3], 3, IcnnActivation.Elu, IcnnKernelVariant.Staged, 0, true },
        { 2, [6, 5, 4], 2, IcnnActivation.Softplus, IcnnKernelVariant.Interleaved, 4, false },
    };

    [Theory]
    [MemberData(nameof(LikelihoodCases))]
    public void LikelihoodGradientMatchesCentralDifferences(int d, int[] widths, int rank, IcnnActivation act, IcnnKernelVariant variant, int maxThreads, bool preconditioned)
    {
        // J = mean_i [w(grad w(y_i)) - log det Hess w(y_i)] - mean_j w(x_j), differentiated by the kernels (a jet pass for the
        // log determinant, the mixed derivative for the path through grad w) and by central differences of the double
        // reference with its analytic Hessian.
        var arch = IcnnCases.Arch(d, widths, rank, act, preconditioned);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 60 + d);
        var th = IcnnCases.ToDouble(theta);
        const int n = 7, m = 5;
        // Points around the preconditioner's centre (its data's location), where w and its derivatives have their fit's sizes.
        var centre = arch.EffectivePreconditioner.Centre;
        var y = TestData.Normal(n * d, seed: 61 + d, scale: 1.2).Select((v, i) => v + centre[i % d]).ToArray();
        var x = TestData.Normal(m * d, seed: 62 + d);
        var ys = IcnnCases.Rows(y, d);
        var xs = IcnnCases.Rows(x, d);
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, maxThreads));
        using var dy = DevicePoints.Upload(ctx, y, d);
        using var dx = DevicePoints.Upload(ctx, x, d);
        using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
        using var objective = DeviceVector.Allocate(ctx, 1);
        pot.LikelihoodParameterGradient(dy, dx, grad, objective);
        double J(double[] p) => ys.Average(v => reference.NegativeLogDensityTerm(p, v)) - reference.MeanValue(p, xs);
        Approx.Equal(J(th), objective.ToArray()[0], 1e-4, 1e-5, "J");

        // Tolerances: the reference is exact to ~1e-10 here (double, analytic Hessian; central differences with h = 1e-5 err by
        // h^2 f''' / 6), so the difference is the kernels' float32 rounding. Each component is a sum over points and units of
        // terms up to about the largest component, hence 1e-6 of max |g| (~17 float32 epsilons) plus 1e-5 of the component.
        // Measured (2026-12): worst error 0.01-0.025 of that tolerance in these five cases; without the activation's third
        // derivative in the jet's reverse pass it is 3.3-2,500 times the tolerance, so the test sees a missing third-order term.
        var expected = IcnnReference.ParameterGradient(th, J, h: 1e-5);
        Approx.AllEqual(expected, grad.ToArray(), 1e-6 * expected.Max(Math.Abs), 1e-5, "dJ/dtheta");
    }

    [Theory]
    [MemberData(nameof(LikelihoodCases))]
    public void ResidualVarianceGradientMatchesCentralDifferences(int d, int[] widths, int rank, IcnnActivation act, IcnnKernelVariant variant, int maxThreads, bool preconditioned)
    {
        // CMFMA's J = Var_i r_i, r_i = w(grad w(y_i)) - log det Hess w(y_i) - V_i with the points and V_i held fixed: the kernels
        // (one point per slot, then a weighted reduction) against central differences of the double reference.
        var arch = IcnnCases.Arch(d, widths, rank, act, preconditioned);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 70 + d);
        var th = IcnnCases.ToDouble(theta);
        const int n = 7;
        var centre = arch.EffectivePreconditioner.Centre;
        var y = TestData.Normal(n * d, seed: 71 + d, scale: 1.2).Select((v, i) => v + centre[i % d]).ToArray();
        var ys = IcnnCases.Rows(y, d);
        var energies = Enumerable.Range(0, n).Select(i => (0.37 * i) - 1.1).ToArray();
        var ctx = fixture.Context;
        using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, maxThreads));
        using var dy = DevicePoints.Upload(ctx, y, d);
        using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
        using var objective = DeviceVector.Allocate(ctx, 1);
        var residuals = pot.ResidualParameterGradient(dy, energies, grad, objective);
        double[] R(double[] p) => ys.Select((v, i) => reference.NegativeLogDensityTerm(p, v) - energies[i]).ToArray();
        double J(double[] p)
        {
            var r = R(p);
            double m = r.Average();
            return r.Average(v => (v - m) * (v - m));
        }

        Approx.AllEqual(R(th), residuals, 1e-4, 1e-5, "r");
        Approx.Equal(J(th), objective.ToArray()[0], 1e-4, 1e-4, "J");
        var expected = IcnnReference.ParameterGradient(th, J, h: 1e-5);
        Approx.AllEqual(expected, grad.ToArray(), 1e-5 * expected.Max(Math.Abs), 1e-4, "dJ/dtheta");

        // Weighted by fixed pi_i (the importance weighting of ResidualObjective): sum_i pi_i (r_i - sum_j pi_j r_j)^2.
        var pi = Enumerable.Range(0, n).Select(i => (i + 1.0) / (n * (n + 1) / 2.0)).ToArray();
        pot.ResidualParameterGradient(dy, energies, grad, objective, _ => pi);
        double Jw(double[] p)
        {
            var r = R(p);
            double m = r.Select((v, i) => pi[i] * v).Sum();
            return r.Select((v, i) => pi[i] * (v - m) * (v - m)).Sum();
        }

        Approx.Equal(Jw(th), objective.ToArray()[0], 1e-4, 1e-4, "J weighted");
        var expectedWeighted = IcnnReference.ParameterGradient(th, Jw, h: 1e-5);
        Approx.AllEqual(expectedWeighted, grad.ToArray(), 1e-5 * expectedWeighted.Max(Math.Abs), 1e-4, "dJw/dtheta");
    }

    [Fact]
    public void WiderNetworkMatchesReference()
    {
        // A wider, deeper case (P = 1,140) for the gradient, Hessian and loss gradient, both variants, few points.
        const int d = 5, n = 3;
        var arch = IcnnCases.Arch(d, [16, 24, 16], 2, IcnnActivation.Softplus);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 51);
        for (int i = 0; i < theta.Length; i++)
        {
            theta[i] *= 0.5f;
        }

        var th = IcnnCases.ToDouble(theta);
        var y = TestData.Normal(n * d, 52);
        var t = TestData.Normal(n * d, 53);
        var ys = IcnnCases.Rows(y, d);
        var ts = IcnnCases.Rows(t, d);
        var ctx = fixture.Context;
        foreach (var variant in new[] { IcnnKernelVariant.SlotRows, IcnnKernelVariant.Interleaved, IcnnKernelVariant.Staged })
        {
            using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant));
            using var dy = DevicePoints.Upload(ctx, y, d);
            using var dt = DevicePoints.Upload(ctx, t, d);
            using var g = DevicePoints.Allocate(ctx, n, d);
            using var h = DeviceVector.Allocate(ctx, n * d * d);
            using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
            pot.Gradient(dy, g);
            pot.Hessian(dy, h);
            var gv = g.ToArray();
            var hv = h.ToArray();
            for (int i = 0; i < n; i++)
            {
                var gr = reference.Gradient(th, ys[i]);
                var hr = reference.Hessian(th, ys[i]);
                for (int k = 0; k < d; k++)
                {
                    Approx.Equal(gr[k], gv[i * d + k], 5e-5, 5e-5, $"grad[{i},{k}]");
                    for (int c = 0; c < d; c++)
                    {
                        Approx.Equal(hr[k, c], hv[i * d * d + k * d + c], 2e-4, 2e-4, $"hess[{i},{k},{c}]");
                    }
                }
            }

            float loss = pot.LossParameterGradient(dy, dt, grad);
            Approx.Equal(reference.Loss(th, ys, ts), loss, 1e-4, 1e-4, "loss");
            Approx.AllEqual(IcnnReference.ParameterGradient(th, p => reference.Loss(p, ys, ts)), grad.ToArray(), 1e-3, 1e-3, "dL/dtheta");
        }
    }

    [Fact]
    public void StagedFallsBackToInterleavedWhenParametersDoNotFitInSharedMemory()
    {
        var ctx = fixture.Context;
        var arch = new IcnnArchitecture(1) { HiddenWidths = [120, 120], Rank = 0 };
        using var pot = IcnnPotential.Create(ctx, arch, options: new IcnnPotentialOptions { Variant = IcnnKernelVariant.Staged });
        Assert.True(pot.ParameterCount > IcnnPotential.MaxStagedParameters);
        Assert.Equal(IcnnKernelVariant.Interleaved, pot.Variant);
    }

    [Fact]
    public void UsableThroughIPotentialAndIndependentOfCallerWidths()
    {
        int[] widths = [4, 3];
        var arch = IcnnCases.Arch(2, widths, 1, IcnnActivation.Softplus);
        using var pot = IcnnPotential.Create(fixture.Context, arch, seed: 2);
        widths[0] = 99;
        Assert.Equal([4, 3], pot.Architecture.HiddenWidths);
        var gv = GradientThroughInterface(pot, fixture.Context);
        Assert.All(gv, v => Assert.True(float.IsFinite(v)));
        var reference = new IcnnReference(2, [4, 3], 1, 0.1, false);
        var gr = reference.Gradient(IcnnCases.ToDouble(pot.GetParameters()), [0.5, -0.25]);
        Approx.Equal(gr[0], gv[0], 1e-5, 1e-5, "grad 0");
        Approx.Equal(gr[1], gv[1], 1e-5, 1e-5, "grad 1");
    }

    // CA1859 suggests the concrete type; the point of this helper is to call through the interface.
#pragma warning disable CA1859
    private static float[] GradientThroughInterface(CMM.Gpu.Potentials.IPotential p, CmmContext ctx)
#pragma warning restore CA1859
    {
        Assert.Equal(2, p.Dimension);
        Assert.Same(ctx, p.Context);
        using var x = DevicePoints.Upload(ctx, [0.5f, -0.25f], 2);
        using var g = DevicePoints.Allocate(ctx, 1, 2);
        p.Gradient(x, g);
        return g.ToArray();
    }

    [Fact]
    public void DefaultArchitectureParameterCountMatchesDocs()
    {
        var layout = new IcnnLayout(new IcnnArchitecture(2));
        Assert.Equal(8840, layout.ParameterCount);
        Assert.Equal(new IcnnReference(2, [64, 64, 64], 2, 0.1, false).ParameterCount, layout.ParameterCount);
    }

    [Theory]
    [InlineData(IcnnActivation.Softplus)]
    [InlineData(IcnnActivation.Elu)]
    public void ConvexAlongRandomLines(IcnnActivation act)
    {
        const int d = 3, lines = 6, steps = 21;
        var arch = IcnnCases.Arch(d, [8, 8], 1, act);
        var theta = IcnnCases.RandomTheta(IcnnCases.Reference(arch).ParameterCount, seed: 77);
        using var pot = IcnnPotential.FromParameters(fixture.Context, arch, theta);
        var x0 = TestData.Normal(lines * d, 1, scale: 2);
        var u = TestData.Normal(lines * d, 2);
        var pts = new float[lines * steps * d];
        for (int l = 0; l < lines; l++)
        {
            for (int s = 0; s < steps; s++)
            {
                float tt = -3f + 6f * s / (steps - 1);
                for (int k = 0; k < d; k++)
                {
                    pts[(l * steps + s) * d + k] = x0[l * d + k] + tt * u[l * d + k];
                }
            }
        }

        using var dp = DevicePoints.Upload(fixture.Context, pts, d);
        using var w = DeviceVector.Allocate(fixture.Context, lines * steps);
        using var h = DeviceVector.Allocate(fixture.Context, lines * steps * d * d);
        pot.Value(dp, w);
        pot.Hessian(dp, h);
        var wv = w.ToArray();
        var hv = h.ToArray();
        for (int l = 0; l < lines; l++)
        {
            double uu = 0;
            for (int k = 0; k < d; k++)
            {
                uu += u[l * d + k] * u[l * d + k];
            }

            double dt2 = Math.Pow(6.0 / (steps - 1), 2);
            for (int s = 1; s < steps - 1; s++)
            {
                int i = l * steps + s;
                // Second difference of w along the line is at least alpha |u|^2 dt^2 (strong convexity), up to rounding.
                double second = wv[i - 1] - 2.0 * wv[i] + wv[i + 1];
                Assert.True(second >= 0.1 * uu * dt2 * 0.9 - 1e-4 * Math.Abs(wv[i]), $"line {l} step {s}: second difference {second}");

                // u' H u >= alpha |u|^2 at every point.
                double q = 0;
                for (int a = 0; a < d; a++)
                {
                    for (int b = 0; b < d; b++)
                    {
                        q += u[l * d + a] * hv[i * d * d + a * d + b] * u[l * d + b];
                    }
                }

                Assert.True(q >= 0.1 * uu * (1 - 1e-4), $"line {l} step {s}: u'Hu = {q} < alpha |u|^2 = {0.1 * uu}");
            }
        }
    }

    [Theory]
    [InlineData(IcnnKernelVariant.SlotRows)]
    [InlineData(IcnnKernelVariant.Interleaved)]
    [InlineData(IcnnKernelVariant.Staged)]
    public void QuadraticOnlyModelIsExactQuadratic(IcnnKernelVariant variant)
    {
        const int d = 3, n = 11;
        var arch = IcnnCases.Arch(d, [4, 5], 2, IcnnActivation.Softplus);
        var reference = IcnnCases.Reference(arch);
        var theta = IcnnCases.RandomTheta(reference.ParameterCount, seed: 91);
        var layout = new IcnnLayout(arch);
        // p = softplus(-1000) = 0 exactly in float: the network drops out.
        Array.Fill(theta, -1000f, layout.OutputOffset, 5);
        var th = IcnnCases.ToDouble(theta);
        var a = reference.QuadraticMatrix(th);
        var b = reference.Linear(th);
        using var pot = IcnnPotential.FromParameters(fixture.Context, arch, theta, IcnnCases.Options(variant));
        Assert.All(pot.GetEffectiveParameters().Skip(layout.OutputOffset).Take(5), p => Assert.Equal(0f, p));
        var x = TestData.Normal(n * d, 8, scale: 3);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var w = DeviceVector.Allocate(fixture.Context, n);
        using var g = DevicePoints.Allocate(fixture.Context, n, d);
        using var h = DeviceVector.Allocate(fixture.Context, n * d * d);
        pot.ValueAndGradient(dx, w, g);
        pot.Hessian(dx, h);
        var wv = w.ToArray();
        var gv = g.ToArray();
        var hv = h.ToArray();
        for (int i = 0; i < n; i++)
        {
            double expected = 0;
            for (int r = 0; r < d; r++)
            {
                double ax = 0;
                for (int c = 0; c < d; c++)
                {
                    ax += a[r, c] * x[i * d + c];
                    Approx.Equal(a[r, c], hv[i * d * d + r * d + c], 1e-6, 1e-6, "Hessian = A");
                }

                expected += 0.5 * x[i * d + r] * ax + b[r] * x[i * d + r];
                Approx.Equal(ax + b[r], gv[i * d + r], 1e-5, 1e-6, "gradient = Ax + b");
            }

            Approx.Equal(expected, wv[i], 1e-5, 1e-6, "w = 1/2 x'Ax + b'x");
        }
    }

    [Fact]
    public void InitialPotentialIsCloseToHalfSquaredNorm()
    {
        const int d = 4, n = 7;
        var arch = new IcnnArchitecture(d) { HiddenWidths = [16, 16, 16] };
        using var pot = IcnnPotential.Create(fixture.Context, arch, seed: 3);
        var x = TestData.Normal(n * d, 12);
        using var dx = DevicePoints.Upload(fixture.Context, x, d);
        using var g = DevicePoints.Allocate(fixture.Context, n, d);
        using var h = DeviceVector.Allocate(fixture.Context, n * d * d);
        pot.Gradient(dx, g);
        pot.Hessian(dx, h);
        var gv = g.ToArray();
        var hv = h.ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int r = 0; r < d; r++)
            {
                // grad w(x) ~ x (up to the small network part and the constant gradient it adds), Hess ~ I.
                Approx.Equal(x[i * d + r], gv[i * d + r], 0.05, 0.02, "grad w ~ x");
                for (int c = 0; c < d; c++)
                {
                    Approx.Equal(r == c ? 1.0 : 0.0, hv[i * d * d + r * d + c], 0.02, 0, "Hess w ~ I");
                }
            }
        }

        Assert.Equal(IcnnPotential.InitialParameters(arch, 3), pot.GetParameters());
    }

    [Theory]
    [InlineData(IcnnKernelVariant.SlotRows, 0, false)]
    [InlineData(IcnnKernelVariant.SlotRows, 4, true)]
    [InlineData(IcnnKernelVariant.Interleaved, 0, false)]
    [InlineData(IcnnKernelVariant.Interleaved, 7, true)]
    public void PointerAndArrayViewFormsGiveIdenticalResults(IcnnKernelVariant variant, int maxThreads, bool elu)
    {
        // On the CPU accelerator the point kernels run in the pointer form (IcnnCpuKernels); the ArrayView form is
        // the one GPUs run. Same slot loops and arithmetic, so every output must agree bit for bit.
        const int d = 3, n = 23;
        var arch = IcnnCases.Arch(d, [6, 5], 2, elu ? IcnnActivation.Elu : IcnnActivation.Softplus);
        var theta = IcnnCases.RandomTheta((int)new IcnnLayout(arch).ParameterCount, 21);
        var ctx = fixture.Context;
        using var dx = DevicePoints.Upload(ctx, TestData.Normal(n * d, 22, scale: 1.5), d);
        using var dv = DevicePoints.Upload(ctx, TestData.Normal(n * d, 23), d);
        using var dt = DevicePoints.Upload(ctx, TestData.Normal(n * d, 24), d);
        float[][] Run(bool arrayView)
        {
            // The SIMD forms (IcnnSimdSolver) are not bit-identical to the scalar forms: compared in the IcnnSimd*Tests.
            var options = IcnnCases.Options(variant, maxThreads) with { ArrayViewKernelsOnCpu = arrayView, SimdNewtonOnCpu = false, SimdLbfgsOnCpu = false, SimdGradientOnCpu = false, SimdLossGradientOnCpu = false, SimdEvaluateOnCpu = false };
            using var pot = IcnnPotential.FromParameters(ctx, arch, theta, options);
            using var w = DeviceVector.Allocate(ctx, n);
            using var g = DevicePoints.Allocate(ctx, n, d);
            using var h = DeviceVector.Allocate(ctx, n * d * d);
            using var hv = DevicePoints.Allocate(ctx, n, d);
            using var mg = DeviceVector.Allocate(ctx, pot.ParameterCount);
            using var lg = DeviceVector.Allocate(ctx, pot.ParameterCount);
            pot.ValueAndGradient(dx, w, g);
            pot.Hessian(dx, h);
            pot.HessianVectorProduct(dx, dv, hv);
            float mean = pot.MeanValueParameterGradient(dx, mg);
            float loss = pot.LossParameterGradient(dx, dt, lg);
            using var llg = DeviceVector.Allocate(ctx, pot.ParameterCount);
            using var ll = DeviceVector.Allocate(ctx, 1);
            pot.LikelihoodParameterGradient(dx, dv, llg, ll);

            // The fused Newton conjugate solve (IcnnSolveKernels.SolveNewton / IcnnCpuKernels.SolveNewton).
            using var solver = new CMM.Gpu.Conjugate.ConjugateSolver(ctx);
            var ys = solver.Decode(pot, TestData.Normal(n * d, 25, scale: 2), new CMM.Gpu.Conjugate.ConjugateOptions { Method = CMM.Gpu.Conjugate.ConjugateMethod.Newton }, out var sr);
            float[] solveInfo = [.. sr.Residuals, .. sr.PointIterations.Select(v => (float)v), .. sr.PointStatus.Select(v => (float)v)];

            // The fused L-BFGS conjugate solve (IcnnLbfgsKernels.SolveLbfgs / IcnnLbfgsCpuKernels.SolveLbfgs), with a cap some points hit.
            var yl = solver.Decode(pot, TestData.Normal(n * d, 26, scale: 2), new CMM.Gpu.Conjugate.ConjugateOptions { Method = CMM.Gpu.Conjugate.ConjugateMethod.Lbfgs, History = 3, MaxIterations = 7 }, out var lr);
            float[] lbfgsInfo = [.. lr.Residuals, .. lr.PointIterations.Select(v => (float)v), .. lr.PointStatus.Select(v => (float)v)];
            return [w.ToArray(), g.ToArray(), h.ToArray(), hv.ToArray(), mg.ToArray(), lg.ToArray(), [mean, loss], llg.ToArray(), ll.ToArray(), ys, solveInfo, yl, lbfgsInfo];
        }

        var pointer = Run(arrayView: false);
        var view = Run(arrayView: true);
        string[] names = ["w", "grad w", "Hessian", "Hessian-vector product", "mean-w parameter gradient", "loss parameter gradient", "mean w and loss",
            "likelihood parameter gradient", "likelihood objective", "conjugate solve", "conjugate solve residuals, iterations and statuses",
            "L-BFGS conjugate solve", "L-BFGS conjugate solve residuals, iterations and statuses"];
        for (int k = 0; k < names.Length; k++)
        {
            Assert.True(pointer[k].AsSpan().SequenceEqual(view[k]), $"{names[k]} differs between the pointer and ArrayView forms");
        }

        Assert.Contains(pointer[0], v => v != 0f);
        Assert.Contains(pointer[10].Skip(n).Take(n), v => v > 0f); // the solve iterated
        Assert.Contains(pointer[12].Skip(n).Take(n), v => v > 2f); // so did the L-BFGS solve, past its first pairs
    }

    [Fact]
    public void ManyPointsFewThreadsAgreeWithOneThreadPerPoint()
    {
        const int d = 2, n = 301;
        var arch = IcnnCases.Arch(d, [6, 5], 1, IcnnActivation.Softplus);
        var theta = IcnnCases.RandomTheta(new IcnnLayout(arch).ParameterCount > 0 ? (int)new IcnnLayout(arch).ParameterCount : 1, 5);
        var y = TestData.Normal(n * d, 6);
        var t = TestData.Normal(n * d, 7);
        var ctx = fixture.Context;
        using var dy = DevicePoints.Upload(ctx, y, d);
        using var dt = DevicePoints.Upload(ctx, t, d);
        float[] Run(IcnnKernelVariant variant, int threads, out float loss)
        {
            using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant, threads));
            using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
            loss = pot.LossParameterGradient(dy, dt, grad);
            return grad.ToArray();
        }

        var a = Run(IcnnKernelVariant.SlotRows, 3, out float la);
        var b = Run(IcnnKernelVariant.Interleaved, 301, out float lb);
        // 70 slots: two groups on the CPU accelerator, the second partly idle after staging.
        var c = Run(IcnnKernelVariant.Staged, 70, out float lc);
        Approx.Equal(la, lb, 1e-5, 1e-5, "loss");
        Approx.Equal(la, lc, 1e-5, 1e-5, "loss (staged)");
        for (int j = 0; j < a.Length; j++)
        {
            Approx.Equal(a[j], b[j], 1e-5, 1e-4, $"grad[{j}]");
            Approx.Equal(a[j], c[j], 1e-5, 1e-4, $"grad[{j}] (staged)");
        }
    }

    [Fact]
    public void ShapeAndArchitectureErrorsAreNamed()
    {
        var bad = new IcnnArchitecture(0) { HiddenWidths = [], Rank = -1, Alpha = 0 };
        var problems = bad.Problems();
        Assert.Equal(4, problems.Count);
        var e = Assert.Throws<ArgumentException>(bad.Validate);
        Assert.Contains("Alpha", e.Message, StringComparison.Ordinal);
        Assert.Contains("HiddenWidths", e.Message, StringComparison.Ordinal);

        var arch = IcnnCases.Arch(3, [4], 1, IcnnActivation.Softplus);
        using var pot = IcnnPotential.Create(fixture.Context, arch);
        using var x2 = DevicePoints.Allocate(fixture.Context, 5, 2);
        using var w = DeviceVector.Allocate(fixture.Context, 5);
        var e2 = Assert.Throws<ArgumentException>(() => pot.Value(x2, w));
        Assert.Contains("dimension mismatch", e2.Message, StringComparison.Ordinal);
        using var x3 = DevicePoints.Allocate(fixture.Context, 5, 3);
        using var grad = DeviceVector.Allocate(fixture.Context, 7);
        Assert.Throws<ArgumentException>(() => pot.MeanValueParameterGradient(x3, grad));
    }
}
