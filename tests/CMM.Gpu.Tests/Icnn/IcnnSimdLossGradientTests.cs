using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Icnn;

/// <summary>
/// The SIMD form of the loss parameter gradient on the CPU accelerator (<see cref="IcnnSimdSolver.TryLossParameterGradient{TAct}"/>)
/// against the scalar pointer kernel (<see cref="IcnnCpuKernels.LossParameterGradient{TAct}"/>), through the gradient-matching
/// loss L = mean_i |grad w(y_i) - t_i|^2 and dL/dtheta. Sums run in another order and exp and log are polynomials, so they agree
/// to float rounding: the gradient within 1e-4 of its norm, the loss within float tolerance. The point counts (1, 37, 512) are
/// not multiples of the lanes, so every case has a tail group with lanes of weight 0.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class IcnnSimdLossGradientTests(AcceleratorFixture fixture)
{
    [Theory]
    [MemberData(nameof(IcnnSimdGradientTests.Cases), MemberType = typeof(IcnnSimdGradientTests))]
    public void SimdLossGradientMatchesTheScalarKernel(int d, int[] widths, int rank, bool elu, bool preconditioned, IcnnKernelVariant variant)
    {
        if (IcnnSimdGradientTests.Case(d, widths, rank, elu, preconditioned, 61 + d) is not (var arch, var theta))
        {
            return;
        }

        var ctx = fixture.Context;
        foreach (int n in new[] { 37, 1, 512 })
        {
            var y = TestData.Normal(n * d, 62 + d, scale: 2);
            var t = TestData.Normal(n * d, 63 + d, scale: 1.5, shift: 0.5);

            (float[] G, float L) Run(bool simd)
            {
                using var pot = IcnnPotential.FromParameters(ctx, arch, theta, IcnnCases.Options(variant) with { SimdLossGradientOnCpu = simd });
                using var dy = DevicePoints.Upload(ctx, y, d);
                using var dt = DevicePoints.Upload(ctx, t, d);
                using var grad = DeviceVector.Allocate(ctx, pot.ParameterCount);
                float loss = pot.LossParameterGradient(dy, dt, grad);
                return (grad.ToArray(), loss);
            }

            var a = Run(simd: true);
            var b = Run(simd: false);
            string at = $"d = {d}, n = {n}";
            IcnnSimdGradientTests.AssertClose(a.G, b.G, 1e-4, $"{at}: loss gradient");
            Assert.True(Math.Abs(a.L - b.L) <= 1e-5 * (1 + Math.Abs(b.L)), $"{at}: loss {a.L} (SIMD) vs {b.L} (scalar)");
        }
    }
}
