using CMM.Gpu.Energies;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// The energy kernels (Gaussian, mixture, logistic regression; <c>EnergyKernels</c>) against the host's double-precision
/// implementations of the same energies, which are themselves checked against closed forms, quadrature and a naive formula
/// (EnergyTests, LogisticRegressionTests); and the host fallback of an energy without kernels.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class EnergyKernelTests(AcceleratorFixture fixture)
{
    public static TheoryData<string> Names() => new() { "gaussian", "mixture", "logistic", "banana" };

    private static IEnergy Named(string name) => name switch
    {
        "gaussian" => new GaussianEnergy([1.0, -0.5, 0.2], new double[,] { { 2.0, 0.6, 0.1 }, { 0.6, 0.5, 0.0 }, { 0.1, 0.0, 1.5 } }),
        "mixture" => new GaussianMixtureEnergy([0.2, 0.5, 0.3], [[-2.0, 0.0, 1.0], [2.0, 0.5, 0.0], [0.0, -3.0, 0.5]],
            [new double[,] { { 0.25, 0, 0 }, { 0, 0.25, 0 }, { 0, 0, 1 } }, new double[,] { { 0.5, 0.1, 0 }, { 0.1, 0.25, 0 }, { 0, 0, 0.3 } },
             new double[,] { { 1, 0.2, 0.1 }, { 0.2, 2, 0 }, { 0.1, 0, 0.7 } }]),
        "logistic" => LogisticRegressionEnergy.BreastCancer(priorVariance: 2),
        _ => new BananaEnergy(3, curvature: 0.4, scale: 1.5),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void DeviceEvaluationMatchesTheHost(string name)
    {
        var energy = Named(name);
        int d = energy.Dimension, n = 37; // not a multiple of any launch width
        var points = TestData.Normal(n * d, 17, scale: 1.3);
        var hostV = new double[n];
        var hostG = new double[n * d];
        energy.Evaluate(points, hostV, hostG);
        using var device = DevicePoints.Upload(fixture.Context, points, d);
        var v = new double[n];
        var g = new double[n * d];
        energy.Evaluate(device, v, g);
        Approx.AllEqual(hostV, v, 1e-10, 1e-10, $"{name} V");
        Approx.AllEqual(hostG, g, 1e-10, 1e-9, $"{name} grad V");
        var valuesOnly = new double[n];
        energy.Evaluate(device, valuesOnly, default);
        Assert.Equal(v, valuesOnly);
    }

    [Theory]
    [InlineData("gaussian")]
    [InlineData("mixture")]
    [InlineData("logistic")]
    public void PointerAndArrayViewFormsAreBitIdentical(string name)
    {
        // On the CPU accelerator the kernels run in their pointer form (EnergyCpuKernels); GPUs run the ArrayView form.
        var energy = Named(name);
        int d = energy.Dimension, n = 41;
        var points = TestData.Normal(n * d, 23, scale: 1.1);
        using var device = DevicePoints.Upload(fixture.Context, points, d);
        var set = EnergyKernelSet.For(fixture.Context);
        (double[] V, double[] G) Run(bool arrayView)
        {
            try
            {
                set.ArrayViewKernelsOnCpu = arrayView;
                var v = new double[n];
                var g = new double[n * d];
                energy.Evaluate(device, v, g);
                return (v, g);
            }
            finally
            {
                set.ArrayViewKernelsOnCpu = false;
            }
        }

        var a = Run(arrayView: true);
        var b = Run(arrayView: false);
        Assert.Equal(a.V, b.V);
        Assert.Equal(a.G, b.G);
    }
}
