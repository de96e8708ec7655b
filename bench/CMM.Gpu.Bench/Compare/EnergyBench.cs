using System.Globalization;
using CMM.Gpu.Compute;
using CMM.Gpu.Data;
using CMM.Gpu.Energies;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// The built-in CMFMA energies of issue 17 (<c>energy_value_grad</c>): V and grad V of n points through the public
/// <see cref="IEnergy.Evaluate(DevicePoints, Span{double}, Span{double})"/> on device buffers, then a synchronise, against the
/// plain scalar C# of <see cref="PlainEnergy"/> (Parallel.For over points). The Gaussian, mixture and logistic-regression
/// energies run as kernels (<c>cmm-kernel</c>); banana, funnel and many-well go through the interface's default, which copies
/// the points to the host and evaluates them there (<c>cmm-host</c>).
/// Targets (bench/scripts/cmfma_targets.py where it has them): Gaussian d = 10, eigenvalues log-spaced over [0.1, 10]
/// (condition number 100), a random rotation, mean (-1)^k / 2; 8 equal modes of sd 0.5 on a circle of radius 4 (d = 2);
/// banana d = 10 (curvature 0.1, scale 10); funnel d = 10 (scale 3); many-well d = 32 (Midgley et al.'s size; the library has
/// no default); the breast-cancer posterior (569 rows, 30 standardised features and an intercept, prior N(0, I), d = 31).
/// Points: exact samples of each target; for the posterior N(0, 0.5^2 I).
/// Keys: "energy_value_grad type=T n=N d=D"; the row's M is the components (mixture) or data rows (posterior), else 0.
/// Sizes: quick n = 10^3, 10^4; full adds 10^5 and 10^6. Calls estimated above 10 s (quick) / 30 s (full) are skipped
/// (printed), above 1 s get one timed repetition; the estimate assumes 1 GFLOP/s and 100 M exp/s in double precision for
/// either side (kernels on a GPU are not estimated).
/// </summary>
internal static class EnergyBench
{
    private const string Workload = "energy_value_grad";
    private const double FlopsPerSecond = 1e9;
    private const double ExpsPerSecond = 1e8;

    public static string Key(string type, int n, int d) => string.Create(CultureInfo.InvariantCulture, $"{Workload} type={type} n={n} d={d}");

    public static void Run(CmmContext ctx, bool quick, int warmup, int reps, double budget, Action<Measurement> add)
    {
        int[] sizes = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000];
        double maxSeconds = quick ? 10 : 30;
        foreach (var (energy, plain, m) in Targets())
        {
            foreach (int n in sizes)
            {
                One(ctx, energy, plain, m, n, warmup, reps, budget, maxSeconds, add);
            }
        }
    }

    /// <summary>The six targets, each with its plain-C# twin built from the same parameters, and M (components or rows).</summary>
    private static IEnumerable<(IEnergy Energy, PlainEnergy Plain, int M)> Targets()
    {
        const int GaussDim = 10;
        var cov = RotatedCovariance(GaussDim, seed: GaussDim);
        var mean = Enumerable.Range(0, GaussDim).Select(k => k % 2 == 0 ? 0.5 : -0.5).ToArray();
        yield return (new GaussianEnergy(mean, cov), new PlainEnergy.Gaussian(mean, cov), 1);

        const int Modes = 8;
        var weights = Enumerable.Repeat(1.0 / Modes, Modes).ToArray();
        var means = Enumerable.Range(0, Modes).Select(j => new[] { 4 * Math.Cos(2 * Math.PI * j / Modes), 4 * Math.Sin(2 * Math.PI * j / Modes) }).ToArray();
        var covs = Enumerable.Range(0, Modes).Select(_ => new double[,] { { 0.25, 0 }, { 0, 0.25 } }).ToArray();
        yield return (new GaussianMixtureEnergy(weights, means, covs), new PlainEnergy.Mixture(weights, means, covs), Modes);

        yield return (new BananaEnergy(10, 0.1, 10), new PlainEnergy.Banana(10, 0.1, 10), 0);
        yield return (new FunnelEnergy(10, 3), new PlainEnergy.Funnel(10, 3), 0);
        yield return (new ManyWellEnergy(32), new PlainEnergy.ManyWell(32), 0);

        var data = BreastCancerData.Load();
        yield return (LogisticRegressionEnergy.BreastCancer(priorVariance: 1), new PlainEnergy.Logistic(data.X, data.Labels, 1), BreastCancerData.Count);
    }

    private static void One(CmmContext ctx, IEnergy energy, PlainEnergy plain, int m, int n, int warmup, int reps, double budget, double maxSeconds, Action<Measurement> add)
    {
        int d = energy.Dimension;
        string key = Key(energy.Name, n, d);
        var work = Energy(energy.Name, n, d, m);
        var hx = energy.ExactSamples(n, seed: 21) ?? Normals(n * d, 0.5, seed: 21);
        using var x = DevicePoints.Upload(ctx, hx, d);
        var ce = new double[n];
        var cg = new double[(long)n * d];
        var pe = new double[n];
        var pg = new double[(long)n * d];
        bool kernel = energy is GaussianEnergy or GaussianMixtureEnergy or LogisticRegressionEnergy;
        double estimate = (work.Flops / FlopsPerSecond) + (work.Exps / ExpsPerSecond);
        string impl = kernel ? "cmm-kernel" : "cmm-host";
        void Cmm()
        {
            energy.Evaluate(x, ce, cg);
            ctx.Synchronize();
        }

        void Plain() => plain.Evaluate(hx, pe, pg, n);

        bool runCmm = Fits(key, impl, ctx.IsGpu && kernel ? 0 : estimate, maxSeconds);
        bool runPlain = Fits(key, "csharp-scalar", estimate, maxSeconds);
        string agreement = "";
        if (runCmm && runPlain)
        {
            // Checked before timing: largest difference relative to the largest magnitude, for V and for grad V.
            Cmm();
            Plain();
            double dv = RelativeDifference(ce, pe), dg = RelativeDifference(cg, pg);
            bool agree = dv <= 1e-5 && dg <= 1e-5;
            agreement = string.Create(CultureInfo.InvariantCulture,
                $"; {(agree ? "" : "DISAGREE: ")}max |V_cmm - V_csharp| / max |V_csharp| = {dv:0.#e0}, max |grad_cmm - grad_csharp| / max |grad_csharp| = {dg:0.#e0}");
            Console.Error.WriteLine($"  {key,-32} agreement{agreement}");
        }

        string where = kernel ? "kernel on the points' device" : "interface default: points copied to the host, evaluated there";
        var notes = ctx.IsGpu ? where : where + "; CPU accelerator (simulator)";
        var mc = runCmm ? Measure(key, n, m, d, impl, Cmm, estimate, work, warmup, reps, budget, notes) : null;
        var ms = runPlain ? Measure(key, n, m, d, "csharp-scalar", Plain, estimate, work, warmup, reps, budget, "Parallel.For over points" + agreement) : null;
        foreach (var row in new[] { mc, ms })
        {
            if (row is not null)
            {
                add(row);
            }
        }
    }

    /// <summary>Counted per point (exp and log each count as one exp): Gaussian family k (4 d^2 + 4 d) FLOPs (the quadratic form
    /// and the gradient's S^-1 (y - m)) and k + 1 exps; banana 3 d + 12; funnel 5 d + 6 and one exp; many-well 8 d; the posterior
    /// rows (4 d + 8) FLOPs and 3 exps per row (softplus's exp and log, the sigmoid's exp) and 3 d for the prior. Bytes: points
    /// in (float), V and grad V out (double).</summary>
    private static Work Energy(string type, long n, int d, int m)
    {
        (double exps, double flops) = type switch
        {
            "gaussian" or "gaussian-mixture" => (m + 1.0, m * ((4.0 * d * d) + (4.0 * d))),
            "banana" => (0, (3.0 * d) + 12),
            "funnel" => (1, (5.0 * d) + 6),
            "many-well" => (0, 8.0 * d),
            _ => (3.0 * m, (m * ((4.0 * d) + 8)) + (3.0 * d)),
        };
        return new Work(n * exps, n * flops, n * ((4.0 * d) + 8 + (8.0 * d)));
    }

    private static bool Fits(string key, string impl, double estimate, double maxSeconds)
    {
        if (estimate <= maxSeconds)
        {
            return true;
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {key,-32} {impl,-22} skipped: estimated {estimate:0} s per call > {maxSeconds:0} s"));
        return false;
    }

    private static Measurement Measure(string key, int n, int m, int d, string impl, Action call, double estimate, Work work,
        int warmup, int reps, double budget, string note)
    {
        // Long calls: one timed repetition after the warm-up call.
        var s = Timing.Measure(call, warmup, estimate > 1 ? 1 : reps, budget);
        return new Measurement(key, Workload, n, m, d, impl, "csharp-scalar", Timing.Median(s), s, work, note);
    }

    private static double RelativeDifference(double[] a, double[] b)
    {
        double diff = 0, scale = 0;
        for (long i = 0; i < a.LongLength; i++)
        {
            diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(b[i]));
        }

        return diff / scale;
    }

    /// <summary>Q diag(eigenvalues log-spaced over [0.1, 10]) Q', Q orthonormalised (Gram-Schmidt) from a seeded normal matrix.</summary>
    private static double[,] RotatedCovariance(int d, int seed)
    {
        var g = Normals(d * d, 1, seed);
        var q = new double[d, d];
        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < d; i++)
            {
                q[i, j] = g[(i * d) + j];
            }

            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < d; i++)
                {
                    dot += q[i, j] * q[i, k];
                }

                for (int i = 0; i < d; i++)
                {
                    q[i, j] -= dot * q[i, k];
                }
            }

            double norm = Math.Sqrt(Enumerable.Range(0, d).Sum(i => q[i, j] * q[i, j]));
            for (int i = 0; i < d; i++)
            {
                q[i, j] /= norm;
            }
        }

        var cov = new double[d, d];
        for (int a = 0; a < d; a++)
        {
            for (int b = 0; b <= a; b++)
            {
                double s = 0;
                for (int k = 0; k < d; k++)
                {
                    s += q[a, k] * q[b, k] * 0.1 * Math.Pow(100, k / (d - 1.0));
                }

                cov[a, b] = cov[b, a] = s;
            }
        }

        return cov;
    }

    private static float[] Normals(int count, double sd, int seed)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            // Box-Muller, one normal per pair of uniforms.
            v[i] = (float)(sd * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        return v;
    }
}
