namespace CMM.Gpu.Sampling;

/// <summary>Split R-hat and Stein checks in double precision on the host.</summary>
internal static class LangevinDiagnosticsCalculator
{
    /// <summary>
    /// Stein identities for x ~ exp(-w): E[grad w(x)] = 0 and E[&lt;x, grad w(x)&gt;] = d (integration by parts),
    /// estimated over independent chains with standard errors sd / sqrt(P). Split R-hat (Gelman et al.) over
    /// the 2P half-chains of <paramref name="half"/> draws each, from per-half Welford (mean, M2).
    /// </summary>
    public static LangevinDiagnostics Compute(float[] x, float[] g, float[]? stats, int chains, int d, int half)
    {
        var gMean = new double[d];
        var gSe = new double[d];
        var inner = new double[chains];
        for (int k = 0; k < d; k++)
        {
            double s = 0, s2 = 0;
            for (int i = 0; i < chains; i++)
            {
                double v = g[(long)i * d + k];
                s += v;
                s2 += v * v;
            }

            double mean = s / chains;
            gMean[k] = mean;
            gSe[k] = chains > 1 ? Math.Sqrt(Math.Max(0, (s2 - (chains * mean * mean)) / (chains - 1)) / chains) : double.NaN;
        }

        for (int i = 0; i < chains; i++)
        {
            double t = 0;
            for (int k = 0; k < d; k++)
            {
                t += (double)x[(long)i * d + k] * g[(long)i * d + k];
            }

            inner[i] = t;
        }

        double innerMean = inner.Average();
        double innerSe = chains > 1
            ? Math.Sqrt(inner.Sum(v => (v - innerMean) * (v - innerMean)) / (chains - 1) / chains)
            : double.NaN;

        var rhat = new double[d];
        for (int k = 0; k < d; k++)
        {
            rhat[k] = stats is null || half < 2 ? double.NaN : SplitRHat(stats, chains, d, k, half);
        }

        double maxRhat = rhat.Any(double.IsNaN) ? double.NaN : rhat.DefaultIfEmpty(double.NaN).Max();
        return new LangevinDiagnostics(chains, rhat, maxRhat, gMean, gSe, innerMean, innerSe);
    }

    private static double SplitRHat(float[] stats, int chains, int d, int k, int n)
    {
        int m = 2 * chains;
        var means = new double[m];
        var vars = new double[m];
        for (int i = 0; i < chains; i++)
        {
            for (int h = 0; h < 2; h++)
            {
                long s = ((((long)i * d) + k) * 2 + h) * 2;
                means[(2 * i) + h] = stats[s];
                vars[(2 * i) + h] = stats[s + 1] / (n - 1);
            }
        }

        double grand = means.Average();
        double b = n / (double)(m - 1) * means.Sum(v => (v - grand) * (v - grand));
        double w = vars.Average();
        if (!(w > 0))
        {
            return double.NaN;
        }

        double varPlus = ((n - 1) / (double)n * w) + (b / n);
        return Math.Sqrt(varPlus / w);
    }
}
