using System.Globalization;
using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Potentials;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Potentials;

/// <summary>
/// The closed-form quadratic potential w(x) = 1/2 x'Ax + b'x + c with A symmetric positive definite:
/// grad w(x) = Ax + b, Hessian A, latent exp(-w) = N(-A^-1 b, A^-1), and grad w*(x) = A^-1 (x - b).
/// It owns its parameter buffers (dispose it before the context).
/// </summary>
public sealed class QuadraticPotential : IPotential, IDisposable
{
    private readonly DeviceVector a;
    private readonly DeviceVector b;
    private readonly Kernels kernels;
    private readonly double[,] matrixA;

    /// <summary>Creates the potential, uploading A and b.</summary>
    /// <param name="context">The device.</param>
    /// <param name="a">A, d x d, symmetric positive definite (checked by a Cholesky factorisation in double).</param>
    /// <param name="b">b, length d (null for zero).</param>
    /// <param name="c">The constant c.</param>
    /// <exception cref="ArgumentException">A is not square, not symmetric, not positive definite, or b has the wrong length.</exception>
    public QuadraticPotential(CmmContext context, double[,] a, double[]? b = null, double c = 0)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(a);
        int d = a.GetLength(0);
        if (d == 0 || a.GetLength(1) != d)
        {
            throw new ArgumentException($"A must be a non-empty square matrix, got {a.GetLength(0)} x {a.GetLength(1)}", nameof(a));
        }

        b ??= new double[d];
        Shape.RequireLength(b.Length, d, nameof(b), $"a quadratic potential of dimension {d}");
        for (int r = 0; r < d; r++)
        {
            for (int k = 0; k < r; k++)
            {
                if (Math.Abs(a[r, k] - a[k, r]) > 1e-9 * (1 + Math.Abs(a[r, k])))
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"A must be symmetric: A[{r},{k}] = {a[r, k]} but A[{k},{r}] = {a[k, r]}"), nameof(a));
                }
            }
        }

        if (!IsPositiveDefinite(a))
        {
            throw new ArgumentException("A must be positive definite (its Cholesky factorisation failed)", nameof(a));
        }

        Context = context;
        Dimension = d;
        matrixA = (double[,])a.Clone();
        VectorB = (double[])b.Clone();
        Constant = c;
        var flat = new float[d * d];
        for (int r = 0; r < d; r++)
        {
            for (int k = 0; k < d; k++)
            {
                flat[r * d + k] = (float)a[r, k];
            }
        }

        this.a = DeviceVector.Upload(context, flat);
        this.b = DeviceVector.Upload(context, b.Select(v => (float)v).ToArray());
        kernels = context.GetComponent(ctx => new Kernels(ctx));
    }

    /// <inheritdoc />
    public CmmContext Context { get; }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <summary>A copy of A (a new array on every call).</summary>
    public double[,] MatrixA => (double[,])matrixA.Clone();

    /// <summary>A copy of b.</summary>
    public IReadOnlyList<double> VectorB { get; }

    /// <summary>The constant c.</summary>
    public double Constant { get; }

    /// <inheritdoc />
    public void Value(DevicePoints points, DeviceVector values)
    {
        PotentialChecks.Values(this, points, values);
        kernels.Value(points.Count, points.View, a.View, b.View, values.View, Dimension, (float)Constant);
    }

    /// <inheritdoc />
    public void Gradient(DevicePoints points, DevicePoints gradients)
    {
        PotentialChecks.Gradients(this, points, gradients);
        kernels.Gradient(points.Count, points.View, a.View, b.View, gradients.View, Dimension);
    }

    /// <inheritdoc />
    public void Hessian(DevicePoints points, DeviceVector hessians)
    {
        PotentialChecks.Hessians(this, points, hessians);
        kernels.Hessian(points.Count, a.View, hessians.View, Dimension);
    }

    /// <summary>The latent mean -A^-1 b (double, on the host).</summary>
    /// <returns>The mean.</returns>
    public double[] LatentMean() => DenseMath.Solve(matrixA, VectorB.Select(v => -v).ToArray());

    /// <summary>The latent covariance A^-1 (double, on the host).</summary>
    /// <returns>The covariance.</returns>
    public double[,] LatentCovariance() => DenseMath.Inverse(matrixA);

    /// <inheritdoc />
    public void Dispose()
    {
        a.Dispose();
        b.Dispose();
    }

    internal static bool IsPositiveDefinite(double[,] a)
    {
        int d = a.GetLength(0);
        var l = new double[d, d];
        for (int c = 0; c < d; c++)
        {
            double s = a[c, c];
            for (int k = 0; k < c; k++)
            {
                s -= l[c, k] * l[c, k];
            }

            if (!(s > 0))
            {
                return false;
            }

            l[c, c] = Math.Sqrt(s);
            for (int r = c + 1; r < d; r++)
            {
                double t = a[r, c];
                for (int k = 0; k < c; k++)
                {
                    t -= l[r, k] * l[c, k];
                }

                l[r, c] = t / l[c, c];
            }
        }

        return true;
    }

    private sealed class Kernels(CmmContext context)
    {
        private readonly PointLaunch launch = PointLaunch.For(context);

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> value =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(
                ClosedFormPotentialKernels.QuadraticValue));

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> gradient =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
                ClosedFormPotentialKernels.QuadraticGradient));

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int> hessian =
            context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, int>(
                ClosedFormPotentialKernels.QuadraticHessian));

        public void Value(int n, ArrayView<float> x, ArrayView<float> a, ArrayView<float> b, ArrayView<float> values, int d, float c)
        {
            var range = launch.Plan(n, out int threads);
            value(threads, range, x, a, b, values, d, c);
        }

        public void Gradient(int n, ArrayView<float> x, ArrayView<float> a, ArrayView<float> b, ArrayView<float> gradients, int d)
        {
            var range = launch.Plan(n, out int threads);
            gradient(threads, range, x, a, b, gradients, d);
        }

        public void Hessian(int n, ArrayView<float> a, ArrayView<float> hessians, int d)
        {
            var range = launch.Plan(n, out int threads);
            hessian(threads, range, a, hessians, d);
        }
    }
}
