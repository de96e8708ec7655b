using CMM.Gpu.Linalg;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Linalg;

/// <summary>The batched log-determinant kernel (device Cholesky) against a naive double-precision LU reference.</summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class BatchedCholeskyTests(AcceleratorFixture fixture)
{
    /// <summary>log |det A| by Gaussian elimination with partial pivoting in double (no Cholesky), and the sign of det A.</summary>
    internal static (double LogAbsDet, int Sign) ReferenceLogDet(float[] flat, long offset, int d)
    {
        var m = new double[d, d];
        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++)
            {
                m[r, c] = flat[offset + (r * d) + c];
            }
        }

        double logAbs = 0;
        int sign = 1;
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

            if (p != c)
            {
                sign = -sign;
                for (int k = 0; k < d; k++)
                {
                    (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
                }
            }

            if (m[c, c] == 0)
            {
                return (double.NegativeInfinity, 0);
            }

            sign *= Math.Sign(m[c, c]);
            logAbs += Math.Log(Math.Abs(m[c, c]));
            for (int r = c + 1; r < d; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int k = c; k < d; k++)
                {
                    m[r, k] -= f * m[c, k];
                }
            }
        }

        return (logAbs, sign);
    }

    /// <summary>n random symmetric positive-definite matrices B B' / d + eps I, scaled by 10^s with s in [-3, 3] (condition up to ~100).</summary>
    internal static float[] RandomSpd(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var flat = new float[n * d * d];
        for (int i = 0; i < n; i++)
        {
            var b = TestData.Normal(d * d, seed + (7 * i) + 1);
            double scale = Math.Pow(10, (rng.NextDouble() * 6) - 3);
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c <= r; c++)
                {
                    double s = 0;
                    for (int k = 0; k < d; k++)
                    {
                        s += b[(r * d) + k] * b[(c * d) + k];
                    }

                    float v = (float)(scale * ((s / d) + (r == c ? 0.1 : 0)));
                    flat[(i * d * d) + (r * d) + c] = v;
                    flat[(i * d * d) + (c * d) + r] = v;
                }
            }
        }

        return flat;
    }

    internal static (float[] LogDet, int Failures, float[] Factors) Run(CmmContext ctx, float[] matrices, int d)
    {
        using var m = DeviceVector.Upload(ctx, matrices);
        using var ld = DeviceVector.Allocate(ctx, matrices.Length / (d * d));
        int failures = BatchedCholesky.LogDeterminants(m, d, ld);
        return (ld.ToArray(), failures, m.ToArray());
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 1)]
    [InlineData(1, 2)]
    [InlineData(17, 2)]
    [InlineData(29, 5)]
    [InlineData(3, 17)]
    public void LogDeterminantMatchesTheDoubleReference(int n, int d)
    {
        var a = RandomSpd(n, d, 100 + (10 * d) + n);
        var (ld, failures, factors) = Run(fixture.Context, a, d);
        Assert.Equal(0, failures);
        for (int i = 0; i < n; i++)
        {
            var (expected, sign) = ReferenceLogDet(a, (long)i * d * d, d);
            Assert.Equal(1, sign);
            // float32 Cholesky: relative error of each pivot ~ d eps cond; the log det error is a sum of d of them.
            Approx.Equal(expected, ld[i], 2e-4 * d, 1e-5, $"log det A[{i}] (d = {d})");
        }

        // The lower triangle now holds L with L L' = A; the strict upper triangle is untouched.
        for (int i = 0; i < n; i++)
        {
            long o = (long)i * d * d;
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c < d; c++)
                {
                    if (c > r)
                    {
                        Assert.Equal(a[o + (r * d) + c], factors[o + (r * d) + c]);
                        continue;
                    }

                    double s = 0;
                    for (int k = 0; k <= c; k++)
                    {
                        s += (double)factors[o + (r * d) + k] * factors[o + (c * d) + k];
                    }

                    double scale = Math.Sqrt(Math.Abs(a[o + (r * d) + r] * a[o + (c * d) + c]));
                    Approx.Equal(a[o + (r * d) + c], s, 1e-5 * scale, 1e-5, $"(L L')[{r},{c}] of matrix {i}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 2)]
    [InlineData(29, 5)]
    [InlineData(3, 17)]
    public void InverseTimesTheMatrixIsTheIdentityInDouble(int n, int d)
    {
        var a = RandomSpd(n, d, 40 + d);
        using var m = DeviceVector.Upload(fixture.Context, a);
        using var inv = DeviceVector.Allocate(fixture.Context, a.Length);
        Assert.Equal(0, BatchedCholesky.Inverses(m, d, inv));
        var x = inv.ToArray();
        for (int i = 0; i < n; i++)
        {
            long o = (long)i * d * d;
            for (int r = 0; r < d; r++)
            {
                for (int c = 0; c < d; c++)
                {
                    double s = 0, mag = 0;
                    for (int k = 0; k < d; k++)
                    {
                        s += (double)a[o + (r * d) + k] * x[o + (k * d) + c];
                        mag += Math.Abs((double)a[o + (r * d) + k] * x[o + (k * d) + c]);
                    }

                    // A A^-1 = I in double, to float32 rounding of the terms (scaled by their magnitude).
                    Approx.Equal(r == c ? 1 : 0, s, 1e-5 * mag, 0, $"(A A^-1)[{i}][{r},{c}]");
                }
            }
        }

        // A matrix that is not positive definite gets NaN and is counted.
        var bad = RandomSpd(2, d, 3);
        bad[0] = -1f;
        using var mb = DeviceVector.Upload(fixture.Context, bad);
        using var ib = DeviceVector.Allocate(fixture.Context, bad.Length);
        Assert.Equal(1, BatchedCholesky.Inverses(mb, d, ib));
        var xb = ib.ToArray();
        Assert.All(xb.AsSpan(0, d * d).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.All(xb.AsSpan(d * d, d * d).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void MatricesThatAreNotPositiveDefiniteGetNaNAndAreCounted(int d)
    {
        const int n = 9;
        var a = RandomSpd(n, d, 300 + d);
        int dd = d * d;
        // 1: negative definite; 4: indefinite (one negative eigenvalue: diag(-1, 1, ...)); 5: zero; 7: NaN on the diagonal; 8: +infinity.
        for (int k = 0; k < dd; k++)
        {
            a[(1 * dd) + k] = -a[(1 * dd) + k];
            a[(4 * dd) + k] = 0;
            a[(5 * dd) + k] = 0;
        }

        for (int k = 0; k < d; k++)
        {
            a[(4 * dd) + (k * d) + k] = k == d - 1 ? -1 : 1;
        }

        a[(7 * dd) + dd - 1] = float.NaN;
        a[8 * dd] = float.PositiveInfinity;
        var bad = new[] { 1, 4, 5, 7, 8 };
        var (ld, failures, _) = Run(fixture.Context, a, d);
        Assert.Equal(bad.Length, failures);
        for (int i = 0; i < n; i++)
        {
            if (bad.Contains(i))
            {
                Assert.True(float.IsNaN(ld[i]), $"matrix {i} is not positive definite but got log det {ld[i]}");
            }
            else
            {
                Approx.Equal(ReferenceLogDet(a, (long)i * dd, d).LogAbsDet, ld[i], 2e-4 * d, 1e-5, $"log det A[{i}]");
            }
        }
    }

    [Fact]
    public void LengthsThatDoNotFitAreArgumentErrors()
    {
        var ctx = fixture.Context;
        using var m = DeviceVector.Allocate(ctx, 10);
        using var ld = DeviceVector.Allocate(ctx, 2);
        Assert.Contains("multiple of d^2", Assert.Throws<ArgumentException>(() => BatchedCholesky.LogDeterminants(m, 3, ld)).Message, StringComparison.Ordinal);
        using var m2 = DeviceVector.Allocate(ctx, 12);
        Assert.Contains("3 matrices", Assert.Throws<ArgumentException>(() => BatchedCholesky.LogDeterminants(m2, 2, ld)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => BatchedCholesky.LogDeterminants(m2, 0, ld));
    }
}
