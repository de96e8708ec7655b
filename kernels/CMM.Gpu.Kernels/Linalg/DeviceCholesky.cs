using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Linalg;

/// <summary>
/// Cholesky factorisation A = L L' of one small symmetric positive-definite d x d matrix held row-major at an offset of a
/// float buffer, and what it gives: solves with A and log det A. Device code for one thread (no barriers, no scratch
/// beyond the matrix itself), generic over the buffer accessor (<see cref="IFloats"/>), so per-point kernels of any form
/// (ArrayView or the CPU accelerator's pointers) share one copy. Costs d^3 / 6 multiply-adds; meant for small d (tens).
/// Used by the Newton step of the conjugate solve (<see cref="Conjugate.ConjugateKernels.NewtonDirection"/>), the
/// batched log-determinant kernel (<see cref="CholeskyKernels.LogDeterminant"/>) and the likelihood gradient of the ICNN
/// (<see cref="Icnn.IcnnKernels.LikelihoodParameterGradient{TAct}"/>, on a scratch region).
/// </summary>
internal static class DeviceCholesky
{
    /// <summary>
    /// Factors A in place: reads the lower triangle (diagonal included) of the d x d block at <paramref name="offset"/> and
    /// overwrites it with L (the strict upper triangle is neither read nor written). Returns false, leaving the block
    /// partly overwritten, when a pivot is not positive and finite: A is not numerically positive definite, or holds NaN
    /// or infinity in its lower triangle.
    /// </summary>
    /// <typeparam name="TF">The buffer accessor.</typeparam>
    /// <param name="a">The buffer.</param>
    /// <param name="offset">Index of A[0, 0].</param>
    /// <param name="d">Dimension.</param>
    /// <returns>Whether the factorisation succeeded.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Factor<TF>(TF a, long offset, int d)
        where TF : struct, IFloats
    {
        for (int c = 0; c < d; c++)
        {
            float s = a[offset + (c * d) + c];
            for (int k = 0; k < c; k++)
            {
                float l = a[offset + (c * d) + k];
                s -= l * l;
            }

            if (!(s > 0f) || !XMath.IsFinite(s))
            {
                return false;
            }

            float diag = XMath.Sqrt(s);
            a[offset + (c * d) + c] = diag;
            for (int r = c + 1; r < d; r++)
            {
                float t = a[offset + (r * d) + c];
                for (int k = 0; k < c; k++)
                {
                    t -= a[offset + (r * d) + k] * a[offset + (c * d) + k];
                }

                a[offset + (r * d) + c] = t / diag;
            }
        }

        return true;
    }

    /// <summary>
    /// Solves A z = b in place (b is overwritten by z) with the factor L from <see cref="Factor{TF}"/>: forward L u = b,
    /// then backward L' z = u.
    /// </summary>
    /// <typeparam name="TF">The buffer accessor.</typeparam>
    /// <param name="l">The buffer holding L (lower triangle).</param>
    /// <param name="offset">Index of L[0, 0].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="b">The buffer holding b.</param>
    /// <param name="bOffset">Index of b[0].</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Solve<TF>(TF l, long offset, int d, TF b, long bOffset)
        where TF : struct, IFloats
    {
        for (int r = 0; r < d; r++)
        {
            float t = b[bOffset + r];
            for (int k = 0; k < r; k++)
            {
                t -= l[offset + (r * d) + k] * b[bOffset + k];
            }

            b[bOffset + r] = t / l[offset + (r * d) + r];
        }

        SolveTransposed(l, offset, d, b, bOffset);
    }

    /// <summary>
    /// Solves L' z = b in place (back substitution; b is overwritten by z) with the factor L from <see cref="Factor{TF}"/>.
    /// With b = e_c, z is column c of L^-T, and sum_c z_c z_c' = A^-1.
    /// </summary>
    /// <typeparam name="TL">The accessor of the buffer holding L.</typeparam>
    /// <typeparam name="TB">The accessor of the buffer holding b.</typeparam>
    /// <param name="l">The buffer holding L (lower triangle).</param>
    /// <param name="offset">Index of L[0, 0].</param>
    /// <param name="d">Dimension.</param>
    /// <param name="b">The buffer holding b.</param>
    /// <param name="bOffset">Index of b[0].</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SolveTransposed<TL, TB>(TL l, long offset, int d, TB b, long bOffset)
        where TL : struct, IFloats
        where TB : struct, IFloats
    {
        for (int r = d - 1; r >= 0; r--)
        {
            float t = b[bOffset + r];
            for (int k = r + 1; k < d; k++)
            {
                t -= l[offset + (k * d) + r] * b[bOffset + k];
            }

            b[bOffset + r] = t / l[offset + (r * d) + r];
        }
    }

    /// <summary>log det A = 2 sum_c log L[c, c] from the factor L (a sum of logarithms: no overflow of the product).</summary>
    /// <typeparam name="TF">The buffer accessor.</typeparam>
    /// <param name="l">The buffer holding L.</param>
    /// <param name="offset">Index of L[0, 0].</param>
    /// <param name="d">Dimension.</param>
    /// <returns>log det A.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LogDeterminant<TF>(TF l, long offset, int d)
        where TF : struct, IFloats
    {
        float s = 0f;
        for (int c = 0; c < d; c++)
        {
            s += XMath.Log(l[offset + (c * d) + c]);
        }

        return 2f * s;
    }
}
