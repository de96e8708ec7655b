namespace CMM.Gpu.Potentials;

/// <summary>Small dense double-precision linear algebra on the host (closed forms and diagnostics).</summary>
internal static class DenseMath
{
    /// <summary>Solves A z = v by Gaussian elimination with partial pivoting.</summary>
    public static double[] Solve(double[,] a, double[] v)
    {
        int d = v.Length;
        var m = (double[,])a.Clone();
        var z = (double[])v.Clone();
        for (int c = 0; c < d; c++)
        {
            int p = c;
            for (int r = c + 1; r < d; r++)
            {
                if (Math.Abs(m[r, c]) > Math.Abs(m[p, c]))
                {
                    p = r;
                }
            }

            for (int k = 0; k < d; k++)
            {
                (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
            }

            (z[c], z[p]) = (z[p], z[c]);
            for (int r = c + 1; r < d; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < d; k++)
                {
                    m[r, k] -= f * m[c, k];
                }

                z[r] -= f * z[c];
            }
        }

        for (int r = d - 1; r >= 0; r--)
        {
            double t = z[r];
            for (int k = r + 1; k < d; k++)
            {
                t -= m[r, k] * z[k];
            }

            z[r] = t / m[r, r];
        }

        return z;
    }

    /// <summary>The inverse of A, column by column.</summary>
    public static double[,] Inverse(double[,] a)
    {
        int d = a.GetLength(0);
        var inv = new double[d, d];
        for (int c = 0; c < d; c++)
        {
            var e = new double[d];
            e[c] = 1;
            var col = Solve(a, e);
            for (int r = 0; r < d; r++)
            {
                inv[r, c] = col[r];
            }
        }

        return inv;
    }
}
