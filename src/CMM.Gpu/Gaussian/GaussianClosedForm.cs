using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Gaussian;

/// <summary>
/// The conjugate moment measure of a Gaussian target rho = N(m, S) (docs/maths.md section 2):
/// w(x) = 1/2 x'Ax + b'x with A = S^(-1/3), b = -(I + A)^(-1) A^2 m; latent N((I + S^(1/3))^(-1) m, S^(1/3));
/// decode map grad w*(z) = S^(1/3) z + (I + S^(1/3))^(-1) m, encode map grad w(y) = A y + b.
/// </summary>
public sealed class CmmGaussian
{
    internal CmmGaussian(Vector<double> mean, Matrix<double> covariance)
    {
        Mean = mean;
        Covariance = covariance;
        int d = mean.Count;
        var eye = Matrix<double>.Build.DenseIdentity(d);
        A = SymmetricMatrix.Power(covariance, -1.0 / 3.0);
        CubeRoot = SymmetricMatrix.Power(covariance, 1.0 / 3.0);
        B = -((eye + A).Inverse() * (A * A) * mean);
        LatentMean = (eye + CubeRoot).Inverse() * mean;
    }

    /// <summary>d.</summary>
    public int Dimension => Mean.Count;

    /// <summary>m.</summary>
    public Vector<double> Mean { get; }

    /// <summary>S.</summary>
    public Matrix<double> Covariance { get; }

    /// <summary>A = S^(-1/3): the Hessian of w everywhere.</summary>
    public Matrix<double> A { get; }

    /// <summary>b = -(I + A)^(-1) A^2 m.</summary>
    public Vector<double> B { get; }

    /// <summary>S^(1/3): the latent covariance and the linear part of grad w*.</summary>
    public Matrix<double> CubeRoot { get; }

    /// <summary>Latent mean (I + S^(1/3))^(-1) m (equals the offset of grad w*).</summary>
    public Vector<double> LatentMean { get; }

    /// <summary>Latent covariance S^(1/3).</summary>
    public Matrix<double> LatentCovariance => CubeRoot;

    /// <summary>w(x) = 1/2 x'Ax + b'x (the additive constant is taken as 0).</summary>
    /// <param name="x">A point of length d.</param>
    /// <returns>w(x).</returns>
    public double Potential(Vector<double> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return (0.5 * x.DotProduct(A * x)) + B.DotProduct(x);
    }

    /// <summary>Encode: grad w(y) = A y + b for every row of <paramref name="points"/>.</summary>
    /// <param name="points">Row-major [n, d].</param>
    /// <returns>Row-major [n, d].</returns>
    public float[] GradW(float[] points) => Affine.Apply(A, B, points);

    /// <summary>Decode: grad w*(z) = S^(1/3) z + (I + S^(1/3))^(-1) m for every row of <paramref name="latent"/>.</summary>
    /// <param name="latent">Row-major [n, d].</param>
    /// <returns>Row-major [n, d].</returns>
    public float[] GradWStar(float[] latent) => Affine.Apply(CubeRoot, LatentMean, latent);

    /// <summary>Exact latent samples N(LatentMean, S^(1/3)).</summary>
    /// <param name="n">Number of samples.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>Row-major [n, d].</returns>
    public float[] SampleLatent(int n, int seed) => Affine.SampleNormal(LatentMean, CubeRoot, n, seed);
}

/// <summary>
/// The moment measure (MM baseline) of a centred Gaussian rho = N(0, S): u(x) = 1/2 x'Sx, latent
/// N(0, S^(-1)), map grad u(x) = S x (docs/maths.md section 2).
/// </summary>
public sealed class MmGaussian
{
    internal MmGaussian(Matrix<double> covariance)
    {
        Covariance = covariance;
        LatentCovariance = SymmetricMatrix.Power(covariance, -1.0);
    }

    /// <summary>d.</summary>
    public int Dimension => Covariance.RowCount;

    /// <summary>S, which is also the Hessian of u.</summary>
    public Matrix<double> Covariance { get; }

    /// <summary>Hessian of u: S.</summary>
    public Matrix<double> Hessian => Covariance;

    /// <summary>Latent covariance S^(-1) (latent mean 0).</summary>
    public Matrix<double> LatentCovariance { get; }

    /// <summary>u(x) = 1/2 x'Sx.</summary>
    /// <param name="x">A point of length d.</param>
    /// <returns>u(x).</returns>
    public double Potential(Vector<double> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return 0.5 * x.DotProduct(Covariance * x);
    }

    /// <summary>The MM map grad u(x) = S x for every row.</summary>
    /// <param name="latent">Row-major [n, d].</param>
    /// <returns>Row-major [n, d].</returns>
    public float[] GradU(float[] latent) => Affine.Apply(Covariance, Vector<double>.Build.Dense(Dimension), latent);

    /// <summary>Exact latent samples N(0, S^(-1)).</summary>
    /// <param name="n">Number of samples.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>Row-major [n, d].</returns>
    public float[] SampleLatent(int n, int seed) => Affine.SampleNormal(Vector<double>.Build.Dense(Dimension), LatentCovariance, n, seed);
}

/// <summary>Builds the closed forms of section 2 of docs/maths.md.</summary>
public static class GaussianClosedForm
{
    /// <summary>The CMM solution for N(m, S).</summary>
    /// <param name="mean">m, length d.</param>
    /// <param name="covariance">S, row-major d x d, symmetric positive definite.</param>
    /// <returns>The closed form.</returns>
    /// <exception cref="ArgumentException">Shapes disagree or S is not symmetric positive definite.</exception>
    public static CmmGaussian Cmm(IReadOnlyList<double> mean, IReadOnlyList<double> covariance)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        var s = CheckedCovariance(covariance, mean.Count);
        return new CmmGaussian(Vector<double>.Build.DenseOfEnumerable(mean), s);
    }

    /// <summary>The MM solution for N(0, S) (the moment measure needs a centred target).</summary>
    /// <param name="covariance">S, row-major d x d, symmetric positive definite.</param>
    /// <returns>The closed form.</returns>
    /// <exception cref="ArgumentException">S is not square or not symmetric positive definite.</exception>
    public static MmGaussian Mm(IReadOnlyList<double> covariance)
    {
        ArgumentNullException.ThrowIfNull(covariance);
        int d = (int)Math.Round(Math.Sqrt(covariance.Count));
        return new MmGaussian(CheckedCovariance(covariance, d));
    }

    private static Matrix<double> CheckedCovariance(IReadOnlyList<double> covariance, int d)
    {
        if (d < 1 || covariance.Count != d * d)
        {
            throw new ArgumentException($"covariance has {covariance.Count} values but d = {d} needs {d * d} (row-major d x d)", nameof(covariance));
        }

        if (!SymmetricMatrix.IsSymmetricPositiveDefinite(covariance, d))
        {
            throw new ArgumentException("covariance must be symmetric positive definite", nameof(covariance));
        }

        return SymmetricMatrix.FromRowMajor(covariance, d);
    }
}

/// <summary>Row-wise affine maps and Gaussian sampling on row-major float arrays.</summary>
internal static class Affine
{
    public static float[] Apply(Matrix<double> m, Vector<double> c, float[] points)
    {
        ArgumentNullException.ThrowIfNull(points);
        int d = c.Count;
        if (points.Length % d != 0)
        {
            throw new ArgumentException($"points has {points.Length} values, not a multiple of d = {d}", nameof(points));
        }

        int n = points.Length / d;
        var r = new float[points.Length];
        for (int i = 0; i < n; i++)
        {
            for (int a = 0; a < d; a++)
            {
                double v = c[a];
                for (int k = 0; k < d; k++)
                {
                    v += m[a, k] * points[(i * d) + k];
                }

                r[(i * d) + a] = (float)v;
            }
        }

        return r;
    }

    public static float[] SampleNormal(Vector<double> mean, Matrix<double> covariance, int n, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        int d = mean.Count;
        var rng = new Random(seed);
        var z = new float[n * d];
        for (int i = 0; i < z.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            z[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return Apply(covariance.Cholesky().Factor, mean, z);
    }
}
