using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Gaussian;

/// <summary>Functions of symmetric positive definite matrices through the symmetric eigendecomposition.</summary>
public static class SymmetricMatrix
{
    /// <summary>S^p = V diag(lambda^p) V' for symmetric positive definite S (any real p).</summary>
    /// <param name="s">A symmetric positive definite matrix (it is symmetrised as (S + S')/2 first).</param>
    /// <param name="p">The power, e.g. 1/3, -1/3, -1.</param>
    /// <returns>The symmetric matrix S^p.</returns>
    /// <exception cref="ArgumentException">S is not square, not finite or not positive definite.</exception>
    public static Matrix<double> Power(Matrix<double> s, double p)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.RowCount != s.ColumnCount)
        {
            throw new ArgumentException($"matrix must be square, got {s.RowCount} x {s.ColumnCount}", nameof(s));
        }

        var sym = (s + s.Transpose()) * 0.5;
        var evd = sym.Evd(Symmetricity.Symmetric);
        var lambda = evd.EigenValues.Map(c => c.Real);
        double max = lambda.AbsoluteMaximum();
        if (!double.IsFinite(max) || lambda.Minimum() <= 1e-14 * Math.Max(max, double.Epsilon))
        {
            throw new ArgumentException($"matrix must be symmetric positive definite (eigenvalues {lambda.Minimum():G4} .. {lambda.Maximum():G4})", nameof(s));
        }

        var v = evd.EigenVectors;
        var dp = Matrix<double>.Build.DiagonalOfDiagonalVector(lambda.Map(l => Math.Pow(l, p)));
        var r = v * dp * v.Transpose();
        return (r + r.Transpose()) * 0.5;
    }

    /// <summary>Whether a row-major d x d matrix is symmetric (relative 1e-10) and positive definite.</summary>
    /// <param name="rowMajor">The d*d entries.</param>
    /// <param name="d">The dimension.</param>
    /// <returns>True when symmetric positive definite.</returns>
    public static bool IsSymmetricPositiveDefinite(IReadOnlyList<double> rowMajor, int d)
    {
        ArgumentNullException.ThrowIfNull(rowMajor);
        if (d < 1 || rowMajor.Count != d * d || rowMajor.Any(v => !double.IsFinite(v)))
        {
            return false;
        }

        double scale = rowMajor.Max(Math.Abs);
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < i; j++)
            {
                if (Math.Abs(rowMajor[(i * d) + j] - rowMajor[(j * d) + i]) > 1e-10 * scale)
                {
                    return false;
                }
            }
        }

        var m = Matrix<double>.Build.DenseOfRowMajor(d, d, rowMajor.ToArray());
        var lambda = m.Evd(Symmetricity.Symmetric).EigenValues.Map(c => c.Real);
        return lambda.Minimum() > 1e-14 * Math.Max(scale, double.Epsilon);
    }

    /// <summary>Builds a dense matrix from row-major values.</summary>
    /// <param name="rowMajor">The d*d entries.</param>
    /// <param name="d">The dimension.</param>
    /// <returns>The matrix.</returns>
    public static Matrix<double> FromRowMajor(IReadOnlyList<double> rowMajor, int d)
    {
        ArgumentNullException.ThrowIfNull(rowMajor);
        if (rowMajor.Count != d * d)
        {
            throw new ArgumentException($"a {d} x {d} matrix needs {d * d} values, got {rowMajor.Count}", nameof(rowMajor));
        }

        return Matrix<double>.Build.DenseOfRowMajor(d, d, rowMajor.ToArray());
    }

    /// <summary>The row-major entries of a matrix.</summary>
    /// <param name="m">The matrix.</param>
    /// <returns>A new array of RowCount*ColumnCount values.</returns>
    public static double[] ToRowMajor(Matrix<double> m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return m.ToRowMajorArray();
    }
}
