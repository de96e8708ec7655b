using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Costs;
using CMM.Gpu.IO;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// <c>compare [--quick] [--out FILE.json] [--accelerator auto|cuda|cpu] [--only WORKLOAD,...] [--tiled-on-cpu] [--icnn-n N,...] [--point-form auto|one|stride|blocks] [--point-threads N]</c>: the same workloads side by
/// side in one process, CMM.Gpu kernels on the present accelerator and plain C# (scalar Parallel.For, Vector&lt;float&gt;),
/// median of several synchronised repetitions after warm-up; prints times, ratios and achieved throughput, and writes JSON
/// with the keys bench/scripts/baselines.py uses (bench/scripts/compare.py prints both side by side). CPU-accelerator figures are simulator figures.
/// --point-form forces how the per-point kernels (potential gradient, Langevin, conjugate solve) spread points over threads
/// (default auto: one thread per point on GPUs, blocks of points on the CPU accelerator).
/// </summary>
internal static class CompareRunner
{
    private static string[]? only;

    private static bool TiledOnCpu { get; set; }

    /// <summary>The per-point launch form of this run, for the notes of the per-point rows.</summary>
    private static string PointForm { get; set; } = "";

    /// <summary>--only a,b: run only the workloads whose name starts with one of the prefixes.</summary>
    private static bool Wants(string workload) => only is null || only.Any(o => workload.StartsWith(o, StringComparison.Ordinal));

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        TiledOnCpu = args.Contains("--tiled-on-cpu");
        only = Option(args, "--only")?.Split(',');
        string? outPath = Option(args, "--out");
        string? accel = Option(args, "--accelerator");
        int warmup = 1, reps = quick ? 3 : 7;
        double budget = quick ? 3 : 10;

        using var ctx = CmmContext.Create(accel);
        var pointLaunch = PointLaunch.For(ctx);
        pointLaunch.Form = Option(args, "--point-form") switch
        {
            null or "auto" => PointLaunchForm.Auto,
            "one" => PointLaunchForm.OnePerPoint,
            "stride" => PointLaunchForm.GridStride,
            "blocks" => PointLaunchForm.Blocks,
            var other => throw new ArgumentException($"--point-form must be auto, one, stride or blocks, got '{other}'"),
        };
        if (Option(args, "--point-threads") is { } pt)
        {
            pointLaunch.LoopThreads = int.Parse(pt, CultureInfo.InvariantCulture);
        }

        PointForm = pointLaunch.Resolved == PointLaunchForm.OnePerPoint ? "point launch: one thread per point"
            : $"point launch: {pointLaunch.Resolved} over {pointLaunch.LoopThreads} threads";
        string label = ctx.IsGpu ? ctx.Description : ctx.Description + " [CPU accelerator: SIMULATOR figures, not GPU figures]";
        Console.WriteLine("CMM.Gpu compare on " + label + "; " + PointForm);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"host: {RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores, Vector<float>.Count = {Vector<float>.Count}, {RuntimeInformation.FrameworkDescription}; date {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {(quick ? "quick" : "full")} mode"));

        var exp = ExpThroughput.Measure(quick);
        Console.WriteLine();
        Console.WriteLine("CPU exp reference (float32, Gexp/s): " + string.Join(", ", exp.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value / 1e9:0.###}"))));

        string loadBefore = LoadAverage();
        Console.WriteLine("load average before: " + loadBefore + " (other processes on these cores distort every figure: check it)");
        var results = new List<Measurement>();
        void Add(Measurement m)
        {
            results.Add(m);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {m.Key,-32} {m.Impl,-22} {m.Seconds * 1e3,10:0.###} ms"));
        }

        if (Wants("launch_sync"))
        {
            LaunchOverhead(ctx, warmup, budget, Add);
        }

        int[] pairSizes = quick ? [1000, 2047] : [1000, 2047, 4001];
        foreach (int n in Wants("pairwise") ? pairSizes : [])
        {
            foreach (int d in new[] { 2, 16, 64 })
            {
                Pairwise(ctx, n, n, d, warmup, reps, budget, Add);
            }
        }

        var sinkSizes = quick
            ? new (int N, int D)[] { (1000, 2), (1000, 16), (1000, 64), (2047, 2), (2047, 16), (2047, 64), (4001, 2) }
            : [(1000, 2), (1000, 16), (1000, 64), (2047, 2), (2047, 16), (2047, 64), (4001, 2), (4001, 16), (4001, 64), (10007, 2), (10007, 16), (20011, 2)];
        if (ctx.IsGpu && !quick)
        {
            // Issue 3 asks for online iterations up to 100,000 points: on a GPU only (plain-C# baselines skipped above 20,011 points).
            sinkSizes = [.. sinkSizes, (10007, 64), (20011, 16), (20011, 64), (50021, 2), (100_003, 2), (100_003, 16), (100_003, 64)];
        }
        foreach (var (n, d) in Wants("sinkhorn_iter") ? sinkSizes : [])
        {
            Sinkhorn(ctx, n, n, d, warmup, reps, budget, Add);
        }

        foreach (var (n, d) in Wants("potential_gradient") ? [(4_097, 2), (65_537, 2), (65_537, 16)] : Array.Empty<(int, int)>())
        {
            Gradient(ctx, n, d, warmup, reps, budget, Add);
        }

        int[] chainSizes = quick ? [65_537] : [65_537, 1_000_003];
        foreach (int n in chainSizes)
        {
            foreach (int d in new[] { 2, 16 })
            {
                if (Wants("langevin_step"))
                {
                    Langevin(ctx, n, d, warmup, reps, budget, Add);
                }

                if (Wants("conjugate_solve"))
                {
                    Conjugate(ctx, n, d, warmup, reps, budget, Add);
                }
            }
        }

        foreach (var (n, d) in Wants("icnn_conjugate_solve") ? [(4_097, 2), (4_097, 16)] : Array.Empty<(int, int)>())
        {
            IcnnConjugate(ctx, n, d, warmup, reps, budget, Add);
        }

        foreach (var (n, d) in Wants("icnn_conjugate_lbfgs") ? [(2_000, 64)] : Array.Empty<(int, int)>())
        {
            IcnnConjugateLbfgs(ctx, n, d, warmup, reps, budget, Add);
        }

        if (Wants("icnn"))
        {
            IcnnBench.Run(ctx, quick, Option(args, "--icnn-n"), warmup, reps, budget, Add);
        }

        if (Wants("energy_value_grad"))
        {
            EnergyBench.Run(ctx, quick, warmup, reps, budget, Add);
        }

        string loadAfter = LoadAverage();
        Console.WriteLine();
        Console.WriteLine("load average after: " + loadAfter);
        Console.WriteLine(Table(results, ctx.IsGpu));
        if (outPath is not null)
        {
            var doc = new
            {
                Tool = "cmm-compare",
                DateUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                Accelerator = ctx.Description,
                Simulator = !ctx.IsGpu,
                Quick = quick,
                LoadAverageBefore = loadBefore,
                LoadAverageAfter = loadAfter,
                Host = new { Cores = Environment.ProcessorCount, VectorFloatCount = Vector<float>.Count, Framework = RuntimeInformation.FrameworkDescription },
                ExpPerSecond = exp,
                Results = results,
            };
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(doc, Json));
            Console.WriteLine("wrote " + outPath);
        }

        return 0;
    }

    internal static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>Launch + synchronise of a one-thread kernel (1 x 1 pairwise cost): the fixed cost every kernel call pays.</summary>
    private static void LaunchOverhead(CmmContext ctx, int warmup, double budget, Action<Measurement> add)
    {
        using var x = DevicePoints.Upload(ctx, [0.5f], 1);
        using var c = DeviceVector.Allocate(ctx, 1);
        var pc = PairwiseCost.For(ctx);
        var s = Timing.Measure(() => { pc.Compute(x, x, c, variant: KernelVariant.RowPerThread); ctx.Synchronize(); }, warmup + 2, 21, budget);
        add(M("launch_sync", 1, 1, 1, "cmm-row", "cmm-row", s, new Work(0, 4, 12), "one-thread kernel launch + synchronise"));
    }

    internal static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal static float[] Uniform(int count, int seed)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)rng.NextDouble();
        }

        return a;
    }

    internal static float[] Transpose(float[] p, int n, int d)
    {
        var t = new float[p.Length];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                t[(k * n) + i] = p[(i * d) + k];
            }
        }

        return t;
    }

    /// <summary>The quadratic test potential: A = 1.5 I + (0.2 / d) 11', b_k = 0.1 k / d (SPD, condition number below 2).</summary>
    internal static (double[,] A, double[] B) QuadraticParameters(int d)
    {
        var a = new double[d, d];
        var b = new double[d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                a[i, j] = (i == j ? 1.5 : 0) + (0.2 / d);
            }

            b[i] = 0.1 * i / d;
        }

        return (a, b);
    }

    private static Measurement M(string workload, int n, int m, int d, string impl, string baseline, double[] samples, Work work, string note = "") =>
        new(Measurement.MakeKey(workload, n, m, d), workload, n, m, d, impl, baseline, Timing.Median(samples), samples, work, note);

    private static void Pairwise(CmmContext ctx, int n, int m, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var hx = Uniform(n * d, 1);
        var hy = Uniform(m * d, 2);
        var yT = Transpose(hy, m, d);
        var hc = new float[(long)n * m];
        var work = Work.Pairwise(n, m, d);
        using (var x = DevicePoints.Upload(ctx, hx, d))
        using (var y = DevicePoints.Upload(ctx, hy, d))
        using (var c = DeviceVector.Allocate(ctx, (long)n * m))
        {
            var pc = PairwiseCost.For(ctx);
            // The tiled (GPU) form synchronises groups with barriers, which the CPU simulator runs 10-100x slower (and minutes
            // under load): timed on GPUs only (--tiled-on-cpu forces it).
            var variants = ctx.IsGpu || TiledOnCpu ? new[] { KernelVariant.RowPerThread, KernelVariant.Tiled } : [KernelVariant.RowPerThread];
            foreach (var v in variants)
            {
                var s = Timing.Measure(() => { pc.Compute(x, y, c, variant: v); ctx.Synchronize(); }, warmup, reps, budget);
                string auto = pc.Resolve(KernelVariant.Auto) == v ? " (auto)" : "";
                add(M("pairwise", n, m, d, "cmm-" + (v == KernelVariant.Tiled ? "tiled" : "row") + auto, "csharp-scalar", s, work));
            }
        }

        add(M("pairwise", n, m, d, "csharp-scalar", "csharp-scalar", Timing.Measure(() => PlainCSharp.PairwiseScalar(hx, hy, hc, n, m, d), warmup, reps, budget), work));
        add(M("pairwise", n, m, d, "csharp-simd", "csharp-scalar", Timing.Measure(() => PlainCSharp.PairwiseSimd(hx, yT, hc, n, m, d), warmup, reps, budget), work));
    }

    private static void Sinkhorn(CmmContext ctx, int n, int m, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var hx = Uniform(n * d, 3);
        var hy = Uniform(m * d, 4);
        float eps = 0.05f * d / 12f; // 5 % of the mean cost of uniform [0, 1]^d clouds
        var logA = Enumerable.Repeat(-MathF.Log(n), n).ToArray();
        var logB = Enumerable.Repeat(-MathF.Log(m), m).ToArray();
        var f = new float[n];
        var g = new float[m];
        var online = Work.SinkhornOnline(n, m, d);
        var storedWork = Work.SinkhornStored(n, m);
        bool canStore = (long)n * m * 4 <= Math.Min(1L << 30, ctx.MemoryBytes / 4);
        var launcher = SinkhornLauncher.For(ctx);
        using (var x = DevicePoints.Upload(ctx, hx, d))
        using (var y = DevicePoints.Upload(ctx, hy, d))
        using (var df = DeviceVector.Allocate(ctx, n))
        using (var dg = DeviceVector.Allocate(ctx, m))
        using (var la = DeviceVector.Upload(ctx, logA))
        using (var lb = DeviceVector.Upload(ctx, logB))
        using (var en = DeviceVector.Allocate(ctx, n))
        using (var em = DeviceVector.Allocate(ctx, m))
        {
            df.Clear();
            dg.Clear();
            void Iteration(ILGPU.ArrayView<float> cost, bool stored)
            {
                launcher.Update(KernelVariant.Auto, x.View, y.View, cost, stored, false, m, dg.View, lb.View, la.View, df.View, df.View, en.View, n, m, d, eps, 1f);
                launcher.Update(KernelVariant.Auto, y.View, x.View, cost, stored, true, m, df.View, la.View, lb.View, dg.View, dg.View, em.View, m, n, d, eps, 1f);
                ctx.Synchronize();
            }

            string form = launcher.Resolve(KernelVariant.Auto) == KernelVariant.Tiled ? "tiled" : "row";
            add(M("sinkhorn_iter", n, m, d, "cmm-online-" + form, "csharp-scalar-online",
                Timing.Measure(() => Iteration(en.View, false), warmup, reps, budget), online));
            if (canStore)
            {
                using var c = DeviceVector.Allocate(ctx, (long)n * m);
                PairwiseCost.For(ctx).Compute(x, y, c);
                add(M("sinkhorn_iter", n, m, d, "cmm-stored-" + form, "csharp-scalar-stored",
                    Timing.Measure(() => Iteration(c.View, true), warmup, reps, budget), storedWork));
            }
        }

        if ((long)n * m > 20011L * 20011)
        {
            return; // plain-C# baselines would take minutes per call at this size
        }

        add(M("sinkhorn_iter", n, m, d, "csharp-scalar-online", "csharp-scalar-online", Timing.Measure(() =>
        {
            PlainCSharp.SinkhornHalfScalar(hx, hy, g, logB, logA, f, n, m, d, eps);
            PlainCSharp.SinkhornHalfScalar(hy, hx, f, logA, logB, g, m, n, d, eps);
        }, warmup, reps, budget), online));

        var xT = Transpose(hx, n, d);
        var yT = Transpose(hy, m, d);
        add(M("sinkhorn_iter", n, m, d, "csharp-simd-online", "csharp-scalar-online", Timing.Measure(() =>
        {
            PlainCSharp.SinkhornHalfSimd(hx, yT, g, logB, logA, f, n, m, d, eps);
            PlainCSharp.SinkhornHalfSimd(hy, xT, f, logA, logB, g, m, n, d, eps);
        }, warmup, reps, budget), online));

        if (canStore)
        {
            var hc = new float[(long)n * m];
            PlainCSharp.PairwiseScalar(hx, hy, hc, n, m, d);
            add(M("sinkhorn_iter", n, m, d, "csharp-scalar-stored", "csharp-scalar-stored", Timing.Measure(() =>
            {
                PlainCSharp.SinkhornHalfStoredScalar(hc, false, m, g, logB, logA, f, n, m, eps);
                PlainCSharp.SinkhornHalfStoredScalar(hc, true, m, f, logA, logB, g, m, n, eps);
            }, warmup, reps, budget), storedWork, "g update reads columns (strided), as the CPU-form kernel does"));
        }
    }

    private static void Langevin(CmmContext ctx, int n, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        const int Steps = 5;
        const float Tau = 0.05f;
        var (a, b) = QuadraticParameters(d);
        var work = Work.LangevinStep(n, d);
        using (var potential = new QuadraticPotential(ctx, a, b))
        using (var chains = new LangevinChains(ctx, n, d, seed: 7))
        {
            var options = new LangevinOptions { StepSize = Tau, BurnIn = Steps, Samples = 0, DiagnosticChains = 0, CheckEvery = Steps };
            var s = Timing.Measure(() => { chains.Run(potential, options); ctx.Synchronize(); }, warmup, reps, budget);
            add(M("langevin_step", n, 0, d, "cmm-ula", "csharp-scalar", s.Select(v => v / Steps).ToArray(), work,
                "per step, from 5-step runs (includes the run's counter resets, one divergence check and the acceptance download); " + PointForm));
        }

        var fa = new float[d * d];
        var fb = new float[d];
        for (int i = 0; i < d; i++)
        {
            fb[i] = (float)b[i];
            for (int j = 0; j < d; j++)
            {
                fa[(i * d) + j] = (float)a[i, j];
            }
        }

        var hx = Uniform(n * d, 5);
        int step = 0;
        var sc = Timing.Measure(() =>
        {
            for (int k = 0; k < Steps; k++)
            {
                PlainCSharp.LangevinUlaStep(hx, fa, fb, n, d, Tau, 7, step++);
            }
        }, warmup, reps, budget);
        add(M("langevin_step", n, 0, d, "csharp-scalar", "csharp-scalar", sc.Select(v => v / Steps).ToArray(), work, "per step"));
    }

    /// <summary>One gradient kernel of the quadratic potential (one point per thread, 2d^2 FLOPs each): isolates the per-launch,
    /// per-group cost of cheap one-point-per-thread kernels from the Langevin and conjugate-solver bookkeeping.</summary>
    private static void Gradient(CmmContext ctx, int n, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var (a, b) = QuadraticParameters(d);
        var hx = Uniform(n * d, 8);
        var work = new Work(0, 2.0 * n * d * d, 4.0 * 2 * n * d);
        using (var potential = new QuadraticPotential(ctx, a, b))
        using (var x = DevicePoints.Upload(ctx, hx, d))
        using (var g = DevicePoints.Allocate(ctx, n, d))
        {
            add(M("potential_gradient", n, 0, d, "cmm-row", "csharp-scalar",
                Timing.Measure(() => { potential.Gradient(x, g); ctx.Synchronize(); }, warmup, reps, budget), work, "quadratic; " + PointForm));
        }

        var fa = a.Cast<double>().Select(v => (float)v).ToArray();
        var fb = b.Select(v => (float)v).ToArray();
        var hg = new float[n * d];
        add(M("potential_gradient", n, 0, d, "csharp-scalar", "csharp-scalar", Timing.Measure(() => Parallel.For(0, n, i =>
        {
            int o = i * d;
            for (int r = 0; r < d; r++)
            {
                float s = fb[r];
                for (int k = 0; k < d; k++)
                {
                    s += fa[(r * d) + k] * hx[o + k];
                }

                hg[o + r] = s;
            }
        }), warmup, reps, budget), work));
    }

    private static void Conjugate(CmmContext ctx, int n, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var (a, b) = QuadraticParameters(d);
        var hx = Uniform(n * d, 6).Select(v => (4 * v) - 2).ToArray();
        var options = new ConjugateOptions();
        using (var potential = new QuadraticPotential(ctx, a, b))
        using (var solver = new ConjugateSolver(ctx))
        using (var x = DevicePoints.Upload(ctx, hx, d))
        using (var y = DevicePoints.Allocate(ctx, n, d))
        {
            var s = Timing.Measure(() => { solver.Solve(potential, x, y, options); ctx.Synchronize(); }, warmup, reps, budget);
            add(M("conjugate_solve", n, 0, d, "cmm-" + options.Resolve(d).ToString().ToLowerInvariant(), "csharp-scalar", s, Work.PerPoint, "cold solve from y0 = x; " + PointForm));
        }

        var fa = new float[d * d];
        var fb = new float[d];
        for (int i = 0; i < d; i++)
        {
            fb[i] = (float)b[i];
            for (int j = 0; j < d; j++)
            {
                fa[(i * d) + j] = (float)a[i, j];
            }
        }

        var hy = new float[n * d];
        long steps = 0;
        var sc = Timing.Measure(() => steps = PlainCSharp.ConjugateNewton(hx, hy, fa, fb, n, d, (float)options.AbsoluteTolerance, (float)options.RelativeTolerance), warmup, reps, budget);
        add(M("conjugate_solve", n, 0, d, "csharp-scalar", "csharp-scalar", sc, Work.PerPoint,
            string.Create(CultureInfo.InvariantCulture, $"Newton + Cholesky per point, {steps / (double)n:0.##} steps per point")));
    }

    /// <summary>
    /// The conjugate solve of an ICNN (32,32 softplus, sharpness 8, random parameters of order one: a curved, non-quadratic
    /// w), cold from y0 = x: the fused one-launch Newton (the default), the host-driven Newton iteration and the plain-C#
    /// Newton (<see cref="PlainIcnn.ConjugateNewton"/>, the baseline), same run. The baseline must find the same solutions:
    /// the note gives max |y_fused - y_csharp|, the bound on it that the residuals give (w is alpha-strongly convex, so
    /// |y - y*| &lt;= |grad w(y) - x| / alpha for each), and both converged counts; a mismatch is printed as such.
    /// </summary>
    private static void IcnnConjugate(CmmContext ctx, int n, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var arch = new IcnnArchitecture(d) { HiddenWidths = [32, 32], Rank = Math.Min(d, 16), Alpha = 0.2f, Sharpness = 8f };
        var theta = IcnnPotential.InitialParameters(arch, 3);
        var layout = new IcnnLayout(arch);
        // Output weights of order one (not the initial 1e-2 / h): the network part matters, as after a fit.
        Array.Fill(theta, (float)IcnnPotential.InverseSoftplus(1.0 / arch.HiddenWidths[^1]), layout.OutputOffset, arch.HiddenWidths[^1]);
        var hx = Uniform(n * d, 8).Select(v => (4 * v) - 2).ToArray();
        var options = new ConjugateOptions { Method = ConjugateMethod.Newton };
        using var potential = IcnnPotential.FromParameters(ctx, arch, theta);
        using var x = DevicePoints.Upload(ctx, hx, d);
        using var y = DevicePoints.Allocate(ctx, n, d);
        using var fused = new ConjugateSolver(ctx);
        using var host = new ConjugateSolver(ctx) { BatchedOnly = true };
        ConjugateResult? rh = null, rf = null;
        var sh = Timing.Measure(() => { rh = host.Solve(potential, x, y, options); ctx.Synchronize(); }, warmup, reps, budget);
        var sf = Timing.Measure(() => { rf = fused.Solve(potential, x, y, options); ctx.Synchronize(); }, warmup, reps, budget);
        var yf = y.ToArray();
        add(M("icnn_conjugate_solve", n, 0, d, "cmm-host-driven", "csharp-scalar", sh, Work.PerPoint,
            string.Create(CultureInfo.InvariantCulture, $"Newton driven from the host; {rh!.Iterations} iterations, {rh.PointIterations.Average():0.##} per point")));
        add(M("icnn_conjugate_solve", n, 0, d, "cmm-fused", "csharp-scalar", sf, Work.PerPoint,
            string.Create(CultureInfo.InvariantCulture, $"one launch; {rf!.Iterations} iterations, {rf.PointIterations.Average():0.##} per point; {PointForm}{(ctx.IsGpu ? "" : IcnnSimdSolver.IsSupported(d) ? "; SIMD form, 8 points per vector" : "; scalar pointer form")}")));
        if (!ctx.IsGpu && IcnnSimdSolver.IsSupported(d))
        {
            // The CPU accelerator's scalar pointer form of the same fused solve (the SIMD form's fallback), same run.
            using var scalarPotential = IcnnPotential.FromParameters(ctx, arch, theta, new IcnnPotentialOptions { SimdNewtonOnCpu = false });
            using var ys = DevicePoints.Allocate(ctx, n, d);
            ConjugateResult? rs = null;
            var ss = Timing.Measure(() => { rs = fused.Solve(scalarPotential, x, ys, options); ctx.Synchronize(); }, warmup, reps, budget);
            add(M("icnn_conjugate_solve", n, 0, d, "cmm-fused-scalar", "csharp-scalar", ss, Work.PerPoint,
                string.Create(CultureInfo.InvariantCulture, $"one launch, scalar pointer form; {rs!.Iterations} iterations, {rs.PointIterations.Average():0.##} per point; {PointForm}")));
        }


        var plain = new PlainIcnn(arch, theta, potential.GetEffectiveParameters());
        var settings = PlainIcnn.SolveSettings.From(options);
        foreach (bool byColumns in new[] { false, true })
        {
            var hy = new float[n * d];
            var status = new int[n];
            var iterations = new int[n];
            var residuals = new float[n];
            var sc = Timing.Measure(() => plain.ConjugateNewton(hx, hy, n, settings, status, iterations, residuals, byColumns), warmup, reps, budget);
            string impl = byColumns ? "csharp-scalar-hvp" : "csharp-scalar";
            string agreement = SolveAgreement(yf, rf, hy, status, iterations, residuals, n, d, arch.Alpha);
            Console.Error.WriteLine($"  {Measurement.MakeKey("icnn_conjugate_solve", n, 0, d)}: {impl} {agreement}");
            add(M("icnn_conjugate_solve", n, 0, d, impl, "csharp-scalar", sc, Work.PerPoint, string.Create(CultureInfo.InvariantCulture,
                $"Parallel.For over points, Newton + {(byColumns ? "Hessian by d Hessian-vector products (the kernel's algorithm until 2026-12-05)" : "Hessian from the layer Jacobians")} + Cholesky per point; {iterations.Max()} iterations, {iterations.Average():0.##} per point; ") + agreement));
        }
    }

    /// <summary>
    /// The L-BFGS conjugate solve of an ICNN (the default above d = 16; 32,32 softplus, sharpness 8, random parameters), cold from
    /// y0 = x: the fused one-launch L-BFGS (the default) against the host-driven iteration (the baseline of this row), same run.
    /// The note says whether the two found the same solutions, statuses and iteration counts bit for bit, and how many launches
    /// and host synchronisations each solve made.
    /// </summary>
    private static void IcnnConjugateLbfgs(CmmContext ctx, int n, int d, int warmup, int reps, double budget, Action<Measurement> add)
    {
        var arch = new IcnnArchitecture(d) { HiddenWidths = [32, 32], Rank = Math.Min(d, 16), Alpha = 0.2f, Sharpness = 8f };
        // Random raw parameters uniform on [-0.5, 0.5]: a network far from its quadratic part, where L-BFGS needs 40-70
        // iterations per point (the initial parameters' w is nearly quadratic: 2 iterations).
        var theta = Uniform((int)new IcnnLayout(arch).ParameterCount, 5).Select(v => v - 0.5f).ToArray();
        var hx = Uniform(n * d, 8).Select(v => (4 * v) - 2).ToArray();
        var options = new ConjugateOptions { Method = ConjugateMethod.Lbfgs };
        using var potential = IcnnPotential.FromParameters(ctx, arch, theta);
        using var x = DevicePoints.Upload(ctx, hx, d);
        using var y = DevicePoints.Allocate(ctx, n, d);
        using var fused = new ConjugateSolver(ctx);
        using var host = new ConjugateSolver(ctx) { BatchedOnly = true };
        ConjugateResult? rh = null, rf = null;
        // The first fused solve compiles the kernel (once per context and activation): timed apart, on 2 points.
        using (var x2 = DevicePoints.Upload(ctx, hx.AsSpan(0, 2 * d), d))
        using (var y2 = DevicePoints.Allocate(ctx, 2, d))
        using (var first = new ConjugateSolver(ctx))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            first.Solve(potential, x2, y2, options);
            double compileAndSolve = clock.Elapsed.TotalSeconds;
            clock.Restart();
            first.Solve(potential, x2, y2, options);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  icnn_conjugate_lbfgs d={d}: first fused solve of 2 points (kernel compile included) {compileAndSolve * 1e3:0} ms, second {clock.Elapsed.TotalMilliseconds:0.#} ms"));
        }

        var sh = Timing.Measure(() => { rh = host.Solve(potential, x, y, options); ctx.Synchronize(); }, warmup, reps, budget);
        var yh = y.ToArray();
        var before = ctx.Counters;
        host.Solve(potential, x, y, options);
        var workHost = ctx.Counters - before;
        var sf = Timing.Measure(() => { rf = fused.Solve(potential, x, y, options); ctx.Synchronize(); }, warmup, reps, budget);
        var yf = y.ToArray();
        before = ctx.Counters;
        fused.Solve(potential, x, y, options);
        var workFused = ctx.Counters - before;
        bool same = yh.AsSpan().SequenceEqual(yf) && rh!.PointStatus.SequenceEqual(rf!.PointStatus) && rh.PointIterations.SequenceEqual(rf.PointIterations);
        int converged = rf!.PointStatus.Count(v => v == ConjugatePointStatus.Converged);
        add(M("icnn_conjugate_lbfgs", n, 0, d, "cmm-host-driven", "cmm-host-driven", sh, Work.PerPoint, string.Create(CultureInfo.InvariantCulture,
            $"L-BFGS driven from the host; {rh!.Iterations} iterations, {rh.PointIterations.Average():0.##} per point, {string.Join(",", rh.PointIterations.Order().Where((v, i) => i % (n / 10) == 0))} deciles; {workHost.KernelLaunches} launches, {workHost.HostSynchronizations} host syncs per solve")));
        add(M("icnn_conjugate_lbfgs", n, 0, d, "cmm-fused", "cmm-host-driven", sf, Work.PerPoint, string.Create(CultureInfo.InvariantCulture,
            $"one launch; {rf.Iterations} iterations, {rf.PointIterations.Average():0.##} per point; converged {converged} / {n}; {workFused.KernelLaunches} launches, {workFused.HostSynchronizations} host syncs per solve; {(same ? "bit-identical to" : "DIFFERS from")} the host-driven solve; {PointForm}")));
    }

    /// <summary>
    /// Whether a plain-C# solve found the fused solve's solutions: the same converged count, and per point
    /// |y_fused - y_csharp| within (residual_fused + residual_csharp) / alpha (w is alpha-strongly convex, so each y is within
    /// |grad w(y) - x| / alpha of the one solution); prints the largest difference over all points and over the points
    /// where both took the same number of iterations.
    /// </summary>
    private static string SolveAgreement(float[] yf, ConjugateResult rf, float[] y, int[] status, int[] iterations, float[] residuals, int n, int d, float alpha)
    {
        double maxDiff = 0, maxSame = 0, maxBound = 0, maxY = 0;
        int same = 0, outside = 0;
        for (int i = 0; i < n; i++)
        {
            double diff = 0;
            for (int k = 0; k < d; k++)
            {
                diff = Math.Max(diff, Math.Abs(yf[(i * d) + k] - y[(i * d) + k]));
                maxY = Math.Max(maxY, Math.Abs(y[(i * d) + k]));
            }

            double bound = (rf.Residuals[i] + residuals[i]) / alpha;
            maxBound = Math.Max(maxBound, bound);
            maxDiff = Math.Max(maxDiff, diff);
            if (iterations[i] == rf.PointIterations[i])
            {
                same++;
                maxSame = Math.Max(maxSame, diff);
            }

            if (!(diff <= (bound * 1.01) + 1e-6))
            {
                outside++;
            }
        }

        int convergedFused = rf.PointStatus.Count(v => v == ConjugatePointStatus.Converged);
        int converged = status.Count(v => v == (int)ConjugatePointStatus.Converged);
        bool agree = convergedFused == converged && outside == 0;
        return string.Create(CultureInfo.InvariantCulture,
            $"{(agree ? "agrees with cmm-fused" : "MISMATCH with cmm-fused")}: max |y_fused - y_csharp| = {maxDiff:0.##e0} ({maxSame:0.##e0} over the {same} / {n} points with the same iterations; max |y| {maxY:0.##}; residual bound {maxBound:0.##e0}, exceeded at {outside} points), converged {converged} / {n} (fused {convergedFused})");
    }

    /// <summary>Text table: median time, ratio to the plain-C# baseline of the same key, work and achieved throughput.</summary>
    internal static string Table(IReadOnlyList<Measurement> results, bool gpu)
    {
        var sb = new StringBuilder();
        sb.AppendLine(gpu ? "Results (GPU)" : "Results (CPU accelerator = simulator figures for the cmm-* rows)");
        sb.AppendLine("| workload | impl | median ms | reps | / scalar C# | Gexp/s | GFLOP/s | GB/s (min traffic) | exp, FLOP, byte per call |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            var baseRow = results.FirstOrDefault(o => o.Key == r.Key && o.Impl == r.Baseline);
            string ratio = baseRow is null ? "-" : F(r.Seconds / baseRow.Seconds, "0.00");
            var w = r.Work;
            string per = w.IsEmpty ? (r.Workload == "conjugate_solve" ? F(r.N / r.Seconds / 1e6, "0.##") + " Mpoint/s" : "-")
                : $"{G(w.Exps)}, {G(w.Flops)}, {G(w.Bytes)}";
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Key} | {r.Impl} | {r.Seconds * 1e3:0.###} | {r.Samples.Length} | {ratio} | {Rate(w.Exps, r.Seconds)} | {Rate(w.Flops, r.Seconds)} | {Rate(w.Bytes, r.Seconds)} | {per} |"));
        }

        return sb.ToString();
    }

    private static string Rate(double amount, double seconds) => amount > 0 ? F(amount / seconds / 1e9, "0.###") : "-";

    internal static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    private static string G(double v) => v == 0 ? "0" : v.ToString("0.##e0", CultureInfo.InvariantCulture);
}
