using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// The SIMD form of w and grad w on the CPU accelerator (<see cref="IcnnSimdSolver.TryEvaluate{TAct}"/>) against the scalar
/// pointer kernel (<see cref="IcnnCpuKernels.Evaluate{TAct}"/>, itself tested against the double reference in
/// <see cref="IcnnKernelTests"/>, whose reference tests now run through the SIMD form by default). Only exp and log differ, so
/// they agree to float rounding, at every d (the SIMD form has no upper dimension), for point counts that do and do not fill
/// the 8 lanes, for one point, and for each output mode.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnSimdEvaluateTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(1, new[] { 7 }, 0, false, false)]
    [InlineData(2, new[] { 6, 5, 4 }, 1, true, true)]
    [InlineData(5, new[] { 9 }, 2, false, true)]
    [InlineData(16, new[] { 12, 10, 9 }, 3, true, false)]
    [InlineData(20, new[] { 11, 7 }, 2, false, true)]
    [InlineData(64, new[] { 16, 16 }, 4, false, false)]
    public void SimdEvaluationMatchesTheScalarKernel(int d, int[] widths, int rank, bool elu, bool preconditioned)
    {
        if (!IcnnSimdSolver.IsEvaluateSupported(d))
        {
            return; // no AVX2 here: the library runs the scalar form
        }

        var arch = IcnnCases.Arch(d, widths, rank, elu ? IcnnActivation.Elu : IcnnActivation.Softplus, preconditioned);
        var theta = IcnnCases.RandomTheta((int)new IcnnLayout(arch).ParameterCount, 61 + d);
        var ctx = fixture.Context;
        foreach (int n in new[] { 517, 13, 8, 1 })
        {
            var points = TestData.Normal(n * d, 62 + d + n, scale: 2);

            (float[] V, float[] G, float[] V1, float[] G2) Run(bool simd)
            {
                using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(IcnnKernelVariant.SlotRows) with { SimdEvaluateOnCpu = simd });
                using var x = DevicePoints.Upload(ctx, points, d);
                using var values = DeviceVector.Allocate(ctx, n);
                using var grads = DevicePoints.Allocate(ctx, n, d);
                pot.ValueAndGradient(x, values, grads);
                var v = values.ToArray();
                var g = grads.ToArray();
                using var values1 = DeviceVector.Allocate(ctx, n);
                using var grads2 = DevicePoints.Allocate(ctx, n, d);
                pot.Value(x, values1);
                pot.Gradient(x, grads2);
                return (v, g, values1.ToArray(), grads2.ToArray());
            }

            var a = Run(simd: true);
            var b = Run(simd: false);
            string at = $"d = {d}, n = {n}";
            AssertClose(a.V, b.V, $"{at}: values (both)");
            AssertClose(a.G, b.G, $"{at}: gradients (both)");
            AssertClose(a.V1, b.V, $"{at}: values alone");
            AssertClose(a.G2, b.G, $"{at}: gradients alone");
        }
    }

    private static void AssertClose(float[] a, float[] b, string what)
    {
        Assert.Equal(b.Length, a.Length);
        for (int j = 0; j < a.Length; j++)
        {
            Assert.True(float.IsFinite(a[j]), $"{what}: entry {j} is {a[j]}");
            Assert.True(Math.Abs(a[j] - b[j]) <= 2e-5 * (1 + Math.Abs(b[j])), $"{what}: entry {j}: {a[j]} (SIMD) vs {b[j]} (scalar)");
        }
    }
}
