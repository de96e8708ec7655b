using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Costs;
using CMM.Gpu.Icnn;
using CMM.Gpu.IO;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// <c>gpucheck [--out DIR] [--scale] [--accelerator A] [--sinkhorn-n N] [--chains N] [--icnn-batch N] [--stream-count N]</c>.
/// 1) Correctness: runs small problems (pairwise cost, Sinkhorn stored and online, ULA Langevin, conjugate solve, ICNN) with the same
/// inputs and seeds on the present accelerator and on the CPU accelerator and compares the results with a tolerance
/// (float32, different summation orders and math libraries; Philox streams are identical by construction). Without a GPU it
/// compares the CPU accelerator with itself, which only exercises the code.
/// 2) With <c>--scale</c>: times one online Sinkhorn iteration at n = m = 10^6 (d = 2 and 64) and a ULA step of 10^7 chains
/// (quadratic potential) and the ICNN gradient-matching loss with its parameter gradient at batch 10^6 (widths 64-64-64) on a
/// GPU, and streams 10^8 samples to a temporary .npy file (at most 120 s, then the rate is reported); much smaller
/// defaults on the CPU accelerator.
/// Writes gpucheck-report.json and gpucheck-report.txt into DIR (default: $OUT, else the current directory).
/// Exit code 0 when every check passed, 1 otherwise.
/// </summary>
internal static class GpuCheck
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record Check(string Name, double MaxAbsDiff, double Scale, double Tolerance, bool Passed, string Note);

    private sealed record ScaleTiming(string Name, double Seconds, int Reps, double Exps, double Flops, double Bytes, string Note);

    public static int Run(string[] args)
    {
        string dir = CompareRunner.Option(args, "--out") ?? Environment.GetEnvironmentVariable("OUT") ?? ".";
        bool scale = args.Contains("--scale");
        Directory.CreateDirectory(dir);
        var log = new StringBuilder();
        void Say(string line)
        {
            Console.WriteLine(line);
            log.AppendLine(line);
        }

        var total = Stopwatch.StartNew();
        using var acc = CmmContext.Create(CompareRunner.Option(args, "--accelerator"));
        using var cpu = CmmContext.Create(AcceleratorKind.Cpu);
        bool self = !acc.IsGpu;
        Say("gpucheck " + DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC");
        Say("accelerator under test: " + acc.Description);
        Say("reference:              " + cpu.Description);
        if (self)
        {
            Say("NOTE: no GPU here: the check compares the CPU accelerator with itself (exercises the code only); timings are simulator timings.");
        }

        var checks = new List<Check>();
        void Record(Check c)
        {
            checks.Add(c);
            Say(string.Create(CultureInfo.InvariantCulture,
                $"  {(c.Passed ? "PASS" : "FAIL")} {c.Name,-34} max |diff| {c.MaxAbsDiff:0.###e0} (scale {c.Scale:0.###e0}, tolerance {c.Tolerance:0.###e0}) {c.Note}"));
        }

        Say("correctness (same inputs and seeds on both):");
        foreach (var c in Checks(acc, cpu).Concat(IcnnChecks(acc, cpu)))
        {
            Record(c);
        }

        var timings = new List<ScaleTiming>();
        if (scale)
        {
            int sinkN = int.Parse(CompareRunner.Option(args, "--sinkhorn-n") ?? (acc.IsGpu ? "1000000" : "4000"), CultureInfo.InvariantCulture);
            int chains = int.Parse(CompareRunner.Option(args, "--chains") ?? (acc.IsGpu ? "10000000" : "50000"), CultureInfo.InvariantCulture);
            Say(string.Create(CultureInfo.InvariantCulture, $"timings at scale ({(acc.IsGpu ? "GPU" : "CPU accelerator: SIMULATOR figures")}):"));
            foreach (int d in new[] { 2, 64 })
            {
                var t = SinkhornAtScale(acc, sinkN, d);
                timings.Add(t);
                Say(Describe(t));
            }

            foreach (int d in new[] { 2, 16 })
            {
                var t = LangevinAtScale(acc, chains, d);
                timings.Add(t);
                Say(Describe(t));
            }

            int batch = int.Parse(CompareRunner.Option(args, "--icnn-batch") ?? (acc.IsGpu ? "1000000" : "10000"), CultureInfo.InvariantCulture);
            foreach (int d in new[] { 2, 16 })
            {
                var t = IcnnAtScale(acc, batch, d);
                timings.Add(t);
                Say(Describe(t));
            }

            long streamCount = long.Parse(CompareRunner.Option(args, "--stream-count") ?? (acc.IsGpu ? "100000000" : "50000"), CultureInfo.InvariantCulture);
            var st = StreamAtScale(acc, streamCount, acc.IsGpu ? 120 : 60);
            timings.Add(st);
            Say(Describe(st));
        }

        bool ok = checks.All(c => c.Passed);
        Say(string.Create(CultureInfo.InvariantCulture, $"{(ok ? "ALL CHECKS PASSED" : "SOME CHECKS FAILED")}; total {total.Elapsed.TotalSeconds:0.#} s"));
        var doc = new
        {
            Tool = "cmm-gpucheck",
            DateUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Accelerator = acc.Description,
            Reference = cpu.Description,
            SelfComparison = self,
            Passed = ok,
            Checks = checks,
            Timings = timings.Select(t => new
            {
                t.Name, Seconds = double.IsNaN(t.Seconds) ? (double?)null : t.Seconds, t.Reps, t.Exps, t.Flops, t.Bytes,
                ExpPerSecond = t.Exps > 0 ? t.Exps / t.Seconds : (double?)null,
                FlopPerSecond = t.Flops > 0 ? t.Flops / t.Seconds : (double?)null,
                BytePerSecond = t.Bytes > 0 ? t.Bytes / t.Seconds : (double?)null,
                t.Note,
            }),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "gpucheck-report.json"), JsonSerializer.Serialize(doc, Json));
        AtomicFile.WriteAllText(Path.Combine(dir, "gpucheck-report.txt"), log.ToString());
        Console.WriteLine("wrote " + Path.Combine(dir, "gpucheck-report.{json,txt}"));
        return ok ? 0 : 1;
    }

    private static string Describe(ScaleTiming t) => string.Create(CultureInfo.InvariantCulture,
        $"  {t.Name,-44} {t.Seconds:0.####} s (median of {t.Reps}){(t.Exps > 0 ? $", {t.Exps / t.Seconds / 1e9:0.###} Gexp/s" : "")}{(t.Flops > 0 ? $", {t.Flops / t.Seconds / 1e12:0.####} TFLOP/s" : "")}{(t.Bytes > 0 ? $", {t.Bytes / t.Seconds / 1e9:0.###} GB/s minimum traffic" : "")}; {t.Note}");

    private static IEnumerable<Check> Checks(CmmContext acc, CmmContext cpu)
    {
        // Pairwise cost 17 x 29, d = 3, both kernel forms on the accelerator against the CPU accelerator's row form.
        {
            var x = CompareRunner.Uniform(17 * 3, 11);
            var y = CompareRunner.Uniform(29 * 3, 12);
            var reference = PairwiseCost.For(cpu).Compute(x, y, 3, variant: KernelVariant.RowPerThread);
            foreach (var v in new[] { KernelVariant.RowPerThread, KernelVariant.Tiled })
            {
                var got = PairwiseCost.For(acc).Compute(x, y, 3, variant: v);
                yield return Compare($"pairwise 17x29 d=3 {v}", got, reference, 1e-5);
            }
        }

        // Sinkhorn 257 x 131, d = 5, 50 iterations at a fixed epsilon, stored and online (each accelerator's own kernel form).
        {
            const int N = 257, M = 131, D = 5;
            var hx = CompareRunner.Uniform(N * D, 13);
            var hy = CompareRunner.Uniform(M * D, 14);
            foreach (var storage in new[] { CostStorage.Stored, CostStorage.Online })
            {
                var options = new SinkhornOptions
                {
                    Epsilon = 0.02, Tolerance = 1e-30, MaxIterations = 50, CheckEvery = 50, CostStorage = storage,
                    RetryWithScalingOnDivergence = false,
                };
                var a = SolveSinkhorn(acc, hx, hy, D, options);
                var r = SolveSinkhorn(cpu, hx, hy, D, options);
                yield return Compare($"sinkhorn {N}x{M} d={D} {storage} f", a.F, r.F, 1e-3);
                yield return Compare($"sinkhorn {N}x{M} d={D} {storage} g", a.G, r.G, 1e-3);
            }
        }

        // ULA: 1,000 chains, d = 3, quadratic potential, 20 steps, same seed (same Philox streams).
        {
            var (qa, qb) = CompareRunner.QuadraticParameters(3);
            var options = new LangevinOptions { StepSize = 0.05, BurnIn = 20, Samples = 0, DiagnosticChains = 0 };
            float[] RunChains(CmmContext c)
            {
                using var p = new QuadraticPotential(c, qa, qb);
                using var chains = new LangevinChains(c, 1000, 3, seed: 42);
                chains.Run(p, options);
                return chains.States.ToArray();
            }

            yield return Compare("langevin ULA 1000 chains d=3 20 steps", RunChains(acc), RunChains(cpu), 1e-3);
        }

        // Conjugate solve: 1,000 points, d = 3 (Newton) and d = 17 (L-BFGS).
        foreach (int d in new[] { 3, 17 })
        {
            var (qa, qb) = CompareRunner.QuadraticParameters(d);
            var hx = CompareRunner.Uniform(1000 * d, 15 + d);
            float[] Solve(CmmContext c)
            {
                using var p = new QuadraticPotential(c, qa, qb);
                using var s = new ConjugateSolver(c);
                using var x = DevicePoints.Upload(c, hx, d);
                using var y = DevicePoints.Allocate(c, 1000, d);
                s.Solve(p, x, y, new ConjugateOptions { AbsoluteTolerance = 1e-6, RelativeTolerance = 1e-6 });
                return y.ToArray();
            }

            yield return Compare($"conjugate solve 1000 points d={d}", Solve(acc), Solve(cpu), 1e-3);
        }
    }

    /// <summary>ICNN d = 3, widths 16-16, seed 1, default (accelerator-chosen) kernel form: value, input gradient, and the
    /// gradient-matching loss with its parameter gradient on 257 points.</summary>
    private static IEnumerable<Check> IcnnChecks(CmmContext acc, CmmContext cpu)
    {
        const int N = 257, D = 3;
        var hx = CompareRunner.Uniform(N * D, 31).Select(v => (2 * v) - 1).ToArray();
        var ht = hx.Select(v => 1.5f * v).ToArray();
        (float[] Values, float[] Grads, float[] ParamGrad, float[] Loss) Run(CmmContext c)
        {
            using var p = IcnnPotential.Create(c, new IcnnArchitecture(D) { HiddenWidths = [16, 16] }, seed: 1);
            using var x = DevicePoints.Upload(c, hx, D);
            using var t = DevicePoints.Upload(c, ht, D);
            using var v = DeviceVector.Allocate(c, N);
            using var g = DevicePoints.Allocate(c, N, D);
            using var pg = DeviceVector.Allocate(c, p.ParameterCount);
            using var l = DeviceVector.Allocate(c, 1);
            p.Value(x, v);
            p.Gradient(x, g);
            p.LossParameterGradient(x, t, pg, l);
            return (v.ToArray(), g.ToArray(), pg.ToArray(), l.ToArray());
        }

        var a = Run(acc);
        var r = Run(cpu);
        yield return Compare("icnn 257 points d=3 value", a.Values, r.Values, 1e-4);
        yield return Compare("icnn 257 points d=3 input gradient", a.Grads, r.Grads, 1e-4);
        yield return Compare("icnn 257 points d=3 loss", a.Loss, r.Loss, 1e-4);
        yield return Compare("icnn 257 points d=3 loss parameter grad", a.ParamGrad, r.ParamGrad, 1e-3);
    }

    /// <summary>ICNN gradient-matching loss and parameter gradient at batch n, widths 64-64-64. FLOPs are an ESTIMATE:
    /// 4 x the forward pass's 2 (d w1 + sum_l (w_l-1 w_l + d w_l) + w_L + d) per point (forward, tangent forward, reverse).</summary>
    private static ScaleTiming IcnnAtScale(CmmContext ctx, int n, int d)
    {
        int[] widths = [64, 64, 64];
        using var p = IcnnPotential.Create(ctx, new IcnnArchitecture(d) { HiddenWidths = widths }, seed: 3);
        var hx = CompareRunner.Uniform(n * d, 33).Select(v => (2 * v) - 1).ToArray();
        using var x = DevicePoints.Upload(ctx, hx, d);
        using var t = DevicePoints.Upload(ctx, hx.Select(v => 1.5f * v).ToArray(), d);
        using var pg = DeviceVector.Allocate(ctx, p.ParameterCount);
        using var l = DeviceVector.Allocate(ctx, 1);
        p.LossParameterGradient(x, t, pg, l);
        ctx.Synchronize();
        var times = Timing.Measure(() => { p.LossParameterGradient(x, t, pg, l); ctx.Synchronize(); }, 0, 5, 30);
        double forward = d * widths[0];
        for (int i = 1; i < widths.Length; i++)
        {
            forward += (widths[i - 1] * widths[i]) + (d * widths[i]);
        }

        forward = 2 * (forward + widths[^1] + d);
        bool finite = l.ToArray().All(float.IsFinite) && pg.ToArray().All(float.IsFinite);
        return new ScaleTiming(string.Create(CultureInfo.InvariantCulture, $"icnn loss + parameter gradient, batch {n} d={d} widths 64-64-64"),
            Timing.Median(times), times.Length, 0, 4 * forward * n, 0,
            (finite ? "" : "NON-FINITE loss or gradient; ") + "FLOPs = 4 x forward, an estimate (see GpuCheck.IcnnAtScale); issue target: 30 % of FP32 peak");
    }

    /// <summary>Streams <paramref name="count"/> samples (quadratic potential, d = 2, ULA 100 burn-in steps then 10 draws per
    /// chain, conjugate-gradient mapping) through <see cref="SampleGenerator"/> into a temporary .npy file, which is deleted
    /// afterwards (it would be 0.8 GB at 10^8 samples). Stops after <paramref name="limitSeconds"/> and reports the rate.</summary>
    private static ScaleTiming StreamAtScale(CmmContext ctx, long count, int limitSeconds)
    {
        var (qa, qb) = CompareRunner.QuadraticParameters(2);
        using var p = new QuadraticPotential(ctx, qa, qb);
        string path = Path.Combine(Path.GetTempPath(), $"cmm-gpucheck-stream-{Environment.ProcessId}.npy");
        var options = new GenerationOptions
        {
            Count = count, Seed = 1, ChunkSize = ctx.IsGpu ? 1 << 22 : 1 << 14,
            Langevin = new LangevinOptions { StepSize = 0.05, BurnIn = 100, Samples = 10, DiagnosticChains = 0, CheckEvery = 50 },
        };
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(limitSeconds));
        var sw = Stopwatch.StartNew();
        GenerationResult result;
        long bytes;
        try
        {
            using var writer = PointFileWriter.Create(path, 2);
            result = SampleGenerator.Generate(p, options, chunk => writer.Append(chunk.Samples), null, cancel.Token);
            if (result.Status != SamplingStatus.Cancelled)
            {
                writer.Complete();
            }

            bytes = writer.Count * 2 * sizeof(float);
        }
        finally
        {
            File.Delete(path);
        }

        double seconds = sw.Elapsed.TotalSeconds;
        string done = result.Status == SamplingStatus.Cancelled
            ? string.Create(CultureInfo.InvariantCulture, $"STOPPED after {limitSeconds} s with {result.Generated} of {count} samples")
            : string.Create(CultureInfo.InvariantCulture, $"{result.Generated} samples, status {result.Status}");
        return new ScaleTiming(string.Create(CultureInfo.InvariantCulture, $"stream {count} samples to .npy, d=2 (110 ULA steps/chain + conjugate map)"),
            seconds, 1, 0, 0, bytes, string.Create(CultureInfo.InvariantCulture,
                $"{done}; {result.Generated / seconds / 1e6:0.###} M samples/s end to end (file written to the temp directory, then deleted)"));
    }

    private static SinkhornResult SolveSinkhorn(CmmContext c, float[] hx, float[] hy, int d, SinkhornOptions options)
    {
        using var x = DevicePoints.Upload(c, hx, d);
        using var y = DevicePoints.Upload(c, hy, d);
        using var s = new SinkhornSolver(c, options);
        return s.Solve(x, y);
    }

    /// <summary>Passes when max |got - ref| &lt;= rtol * max(1, max |ref|) and everything is finite.</summary>
    private static Check Compare(string name, float[] got, float[] reference, double rtol)
    {
        if (got.Length != reference.Length)
        {
            return new Check(name, double.NaN, 0, 0, false, $"length {got.Length} vs {reference.Length}");
        }

        double diff = 0, scale = 0;
        bool finite = true;
        for (int i = 0; i < got.Length; i++)
        {
            finite &= float.IsFinite(got[i]) && float.IsFinite(reference[i]);
            diff = Math.Max(diff, Math.Abs((double)got[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs((double)reference[i]));
        }

        double tol = rtol * Math.Max(1, scale);
        return new Check(name, diff, scale, tol, finite && diff <= tol, finite ? "" : "non-finite values");
    }

    private static ScaleTiming SinkhornAtScale(CmmContext ctx, int n, int d)
    {
        var hx = CompareRunner.Uniform(n * d, 21);
        var hy = CompareRunner.Uniform(n * d, 22);
        float eps = 0.05f * d / 12f;
        var logW = Enumerable.Repeat(-MathF.Log(n), n).ToArray();
        var launcher = SinkhornLauncher.For(ctx);
        using var x = DevicePoints.Upload(ctx, hx, d);
        using var y = DevicePoints.Upload(ctx, hy, d);
        using var f = DeviceVector.Allocate(ctx, n);
        using var g = DeviceVector.Allocate(ctx, n);
        using var lw = DeviceVector.Upload(ctx, logW);
        using var en = DeviceVector.Allocate(ctx, n);
        using var em = DeviceVector.Allocate(ctx, n);
        f.Clear();
        g.Clear();
        var times = new List<double>();
        double spent = 0;
        for (int r = 0; r < 3 && spent < 60; r++)
        {
            var sw = Stopwatch.StartNew();
            launcher.Update(KernelVariant.Auto, x.View, y.View, en.View, false, false, n, g.View, lw.View, lw.View, f.View, f.View, en.View, n, n, d, eps, 1f);
            launcher.Update(KernelVariant.Auto, y.View, x.View, en.View, false, true, n, f.View, lw.View, lw.View, g.View, g.View, em.View, n, n, d, eps, 1f);
            ctx.Synchronize();
            times.Add(sw.Elapsed.TotalSeconds);
            spent += times[^1];
        }

        bool finite = f.ToArray().All(float.IsFinite) && g.ToArray().All(float.IsFinite);
        var w = Work.SinkhornOnline(n, n, d);
        return new ScaleTiming(string.Create(CultureInfo.InvariantCulture, $"sinkhorn online iteration n=m={n} d={d}"), Timing.Median(times), times.Count,
            w.Exps, w.Flops, w.Bytes, (finite ? "" : "NON-FINITE potentials; ") + $"form {launcher.Resolve(KernelVariant.Auto)}, no separate warm-up (kernels already compiled by the checks)");
    }

    private static ScaleTiming LangevinAtScale(CmmContext ctx, int n, int d)
    {
        const int Steps = 10;
        var (qa, qb) = CompareRunner.QuadraticParameters(d);
        using var p = new QuadraticPotential(ctx, qa, qb);
        using var chains = new LangevinChains(ctx, n, d, seed: 5);
        var options = new LangevinOptions { StepSize = 0.05, BurnIn = Steps, Samples = 0, DiagnosticChains = 0, CheckEvery = Steps };
        chains.Run(p, options with { BurnIn = 1, CheckEvery = 1 });
        ctx.Synchronize();
        var times = Timing.Measure(() => { chains.Run(p, options); ctx.Synchronize(); }, 0, 3, 30).Select(t => t / Steps).ToArray();
        var w = Work.LangevinStep(n, d);
        return new ScaleTiming(string.Create(CultureInfo.InvariantCulture, $"langevin ULA step, {n} chains d={d}"), Timing.Median(times), times.Length,
            0, w.Flops, w.Bytes, string.Create(CultureInfo.InvariantCulture, $"per step from {Steps}-step runs; {n / Timing.Median(times) / 1e6:0.###} M chain-steps/s"));
    }
}
