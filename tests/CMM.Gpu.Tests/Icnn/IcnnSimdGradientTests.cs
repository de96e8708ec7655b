using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// The SIMD form of the value parameter gradient on the CPU accelerator (<see cref="IcnnSimdSolver.TryValueParameterGradient{TAct}"/>)
/// against the scalar pointer kernel (<see cref="IcnnCpuKernels.ValueParameterGradient{TAct}"/>), through the semi-dual objective
/// (data minus model: contributions of both signs) and the mean value gradient. Sums run in another order and exp and log are
/// polynomials, so they agree to float rounding: the gradients within 1e-4 of their norm, the objectives within float tolerance.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnSimdGradientTests(AcceleratorFixture fixture)
{
    /// <summary>The cases of the SIMD parameter gradients (also <see cref="IcnnSimdLossGradientTests"/>): d = 1, 2, 5, 16, 20 and
    /// 64 (the SIMD gradients have no upper dimension), one to three hidden layers, ranks 0-4, both activations, with and without
    /// a preconditioner, both variants the SIMD form serves.</summary>
    /// <returns>d, widths, rank, ELU, preconditioned, variant.</returns>
    public static TheoryData<int, int[], int, bool, bool, IcnnKernelVariant> Cases() => new()
    {
        { 1, [7], 0, false, false, IcnnKernelVariant.SlotRows },
        { 1, [6, 5, 4], 1, true, true, IcnnKernelVariant.SlotRows },
        { 2, [6, 5, 4], 1, true, true, IcnnKernelVariant.SlotRows },
        { 2, [9], 1, false, true, IcnnKernelVariant.Interleaved },
        { 5, [9], 2, true, false, IcnnKernelVariant.SlotRows },
        { 5, [8, 7, 6], 3, false, true, IcnnKernelVariant.SlotRows },
        { 16, [12, 10, 9], 3, false, true, IcnnKernelVariant.SlotRows },
        { 16, [11], 1, true, true, IcnnKernelVariant.Interleaved },
        { 20, [10, 8], 2, false, true, IcnnKernelVariant.SlotRows },
        { 64, [16, 16], 4, true, false, IcnnKernelVariant.SlotRows },
    };

    /// <summary>A case's architecture and random free parameters (seed <paramref name="seed"/>); null where the SIMD form does
    /// not run (no AVX2 here: the library runs the scalar form).</summary>
    /// <returns>The architecture and parameters, or null.</returns>
    internal static (IcnnArchitecture Arch, float[] Theta)? Case(int d, int[] widths, int rank, bool elu, bool preconditioned, int seed)
    {
        if (!IcnnSimdSolver.IsGradientSupported(d))
        {
            return null;
        }

        var arch = IcnnCases.Arch(d, widths, rank, elu ? IcnnActivation.Elu : IcnnActivation.Softplus, preconditioned);
        return (arch, IcnnCases.RandomTheta((int)new IcnnLayout(arch).ParameterCount, seed));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SimdGradientMatchesTheScalarKernel(int d, int[] widths, int rank, bool elu, bool preconditioned, IcnnKernelVariant variant)
    {
        if (Case(d, widths, rank, elu, preconditioned, 51 + d) is not (var arch, var theta))
        {
            return;
        }

        var ctx = fixture.Context;
        foreach (var (n, m) in new[] { (37, 53), (1, 7), (512, 509) })
        {
            var data = TestData.Normal(n * d, 52 + d, scale: 2);
            var model = TestData.Normal(m * d, 53 + d, scale: 1.5, shift: 0.5);

            (float[] G, float J, float[] Gm, float Mean) Run(bool simd)
            {
                using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant) with { SimdGradientOnCpu = simd });
                using var dd = DevicePoints.Upload(ctx, data, d);
                using var dmod = DevicePoints.Upload(ctx, model, d);
                using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
                using var objective = DeviceVector.Allocate(ctx, 1);
                pot.SemiDualParameterGradient(dd, dmod, grad, objective);
                var g = grad.ToArray();
                float j = objective.ToArray()[0];
                float mean = pot.MeanValueParameterGradient(dmod, grad);
                return (g, j, grad.ToArray(), mean);
            }

            var a = Run(simd: true);
            var b = Run(simd: false);
            string at = $"d = {d}, n = {n}, m = {m}";
            AssertClose(a.G, b.G, 1e-4, $"{at}: semi-dual gradient");
            AssertClose(a.Gm, b.Gm, 1e-4, $"{at}: mean value gradient");
            Assert.True(Math.Abs(a.J - b.J) <= 1e-4 * (1 + Math.Abs(b.J)), $"{at}: objective {a.J} (SIMD) vs {b.J} (scalar)");
            Assert.True(Math.Abs(a.Mean - b.Mean) <= 1e-5 * (1 + Math.Abs(b.Mean)), $"{at}: mean w {a.Mean} (SIMD) vs {b.Mean} (scalar)");
        }
    }

    /// <summary>Asserts a gradient <paramref name="a"/> is finite and within <paramref name="tolerance"/> times the norm of
    /// <paramref name="b"/> (non-zero) of it, entry by entry (also used by <see cref="IcnnSimdLossGradientTests"/>).</summary>
    internal static void AssertClose(float[] a, float[] b, double tolerance, string what)
    {
        Assert.Equal(b.Length, a.Length);
        double diff = 0, norm = 0;
        for (int j = 0; j < a.Length; j++)
        {
            Assert.True(float.IsFinite(a[j]), $"{what}: entry {j} is {a[j]}");
            double e = a[j] - b[j];
            diff = Math.Max(diff, Math.Abs(e));
            norm += (double)b[j] * b[j];
        }

        norm = Math.Sqrt(norm);
        Assert.True(norm > 0, $"{what}: zero gradient");
        Assert.True(diff <= tolerance * norm, $"{what}: max |g_simd - g_scalar| = {diff} > {tolerance} |g| = {tolerance * norm}");
    }
}
