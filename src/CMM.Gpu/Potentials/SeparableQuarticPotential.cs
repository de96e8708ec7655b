using System.Globalization;
using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Potentials;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Potentials;

/// <summary>
/// The separable quartic w(x) = sum_k (a/4 x_k^4 + b/2 x_k^2) with a &gt;= 0, b &gt; 0: strongly convex and
/// non-Gaussian (a log-concave latent), for tests of the sampler and the conjugate solver.
/// grad w(x)_k = a x_k^3 + b x_k; Hessian diag(3 a x_k^2 + b).
/// </summary>
public sealed class SeparableQuarticPotential : IPotential
{
    private readonly Kernels kernels;

    /// <summary>Creates the potential (no device memory: the coefficients are kernel arguments).</summary>
    /// <param name="context">The device.</param>
    /// <param name="dimension">d.</param>
    /// <param name="quartic">a (at least 0).</param>
    /// <param name="quadratic">b (positive).</param>
    public SeparableQuarticPotential(CmmContext context, int dimension, double quartic = 1, double quadratic = 1)
    {
        ArgumentNullException.ThrowIfNull(context);
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        if (!(quartic >= 0) || double.IsInfinity(quartic))
        {
            throw new ArgumentOutOfRangeException(nameof(quartic), quartic, "the quartic coefficient a must be finite and at least 0");
        }

        if (!(quadratic > 0) || double.IsInfinity(quadratic))
        {
            throw new ArgumentOutOfRangeException(nameof(quadratic), quadratic,
                string.Create(CultureInfo.InvariantCulture, $"the quadratic coefficient b must be positive and finite (got {quadratic}) so that w is strongly convex"));
        }

        Context = context;
        Dimension = dimension;
        Quartic = quartic;
        Quadratic = quadratic;
        kernels = context.GetComponent(ctx => new Kernels(ctx));
    }

    /// <inheritdoc />
    public CmmContext Context { get; }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <summary>The quartic coefficient a.</summary>
    public double Quartic { get; }

    /// <summary>The quadratic coefficient b.</summary>
    public double Quadratic { get; }

    /// <inheritdoc />
    public void Value(DevicePoints points, DeviceVector values)
    {
        PotentialChecks.Values(this, points, values);
        kernels.Value(points.Count, points.View, values.View, Dimension, (float)Quartic, (float)Quadratic);
    }

    /// <inheritdoc />
    public void Gradient(DevicePoints points, DevicePoints gradients)
    {
        PotentialChecks.Gradients(this, points, gradients);
        kernels.Gradient(points.Count, points.View, gradients.View, Dimension, (float)Quartic, (float)Quadratic);
    }

    /// <inheritdoc />
    public void Hessian(DevicePoints points, DeviceVector hessians)
    {
        PotentialChecks.Hessians(this, points, hessians);
        kernels.Hessian(points.Count, points.View, hessians.View, Dimension, (float)Quartic, (float)Quadratic);
    }

    private sealed class Kernels(CmmContext context)
    {
        private readonly PointLaunch launch = PointLaunch.For(context);

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float> value =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float>(
                ClosedFormPotentialKernels.QuarticValue));

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float> gradient =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float>(
                ClosedFormPotentialKernels.QuarticGradient));

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float> hessian =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int, float, float>(
                ClosedFormPotentialKernels.QuarticHessian));

        public void Value(int n, ArrayView<float> x, ArrayView<float> values, int d, float qa, float qb)
        {
            var range = launch.Plan(n, out int threads);
            value(threads, range, x, values, d, qa, qb);
        }

        public void Gradient(int n, ArrayView<float> x, ArrayView<float> gradients, int d, float qa, float qb)
        {
            var range = launch.Plan(n, out int threads);
            gradient(threads, range, x, gradients, d, qa, qb);
        }

        public void Hessian(int n, ArrayView<float> x, ArrayView<float> hessians, int d, float qa, float qb)
        {
            var range = launch.Plan(n, out int threads);
            hessian(threads, range, x, hessians, d, qa, qb);
        }
    }
}
