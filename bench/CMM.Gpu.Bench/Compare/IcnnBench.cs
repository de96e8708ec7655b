using System.Globalization;
using CMM.Gpu.Compute;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// ICNN workloads of issue 4 for the compare runner: w(x) (<c>icnn_value</c>), grad_x w (<c>icnn_grad</c>) and the
/// gradient-matching loss with its parameter gradient (<c>icnn_lossgrad</c>), three hidden layers of the given width,
/// softplus, rank-2 quadratic term; CMM.Gpu (<see cref="IcnnPotential"/>) vs the plain-C# <see cref="PlainIcnn"/>.
/// Keys: "icnn_value n=N w=WIDTH d=D" (the same in bench/scripts/baselines.py).
/// Sizes (<c>--icnn-n 1000,10000</c> overrides the batch sizes): quick n = 10^3, 10^4, width 64, 256, d = 2, 16; full adds n = 10^5, 10^6 and d = 64 (meant for GPUs).
/// Calls whose estimated time is too long are skipped (printed): on the CPU accelerator (4 GFLOP/s assumed: its SIMD forms of
/// these three measured about 10-20 GFLOP/s on the 2-core development machine, the scalar kernels before them 0.1-1.2) above
/// 10 s (quick) / 30 s (full) per call, for plain C# (4 GFLOP/s
/// assumed, 0.8-5.7 measured there) above 10 s / 30 s per call; calls estimated above 1 s get one timed repetition.
/// </summary>
internal static class IcnnBench
{
    private const double SimulatorFlopsPerSecond = 4e9;
    private const double PlainFlopsPerSecond = 4e9;

    public static string Key(string workload, int n, int width, int d) =>
        string.Create(CultureInfo.InvariantCulture, $"{workload} n={n} w={width} d={d}");

    public static void Run(CmmContext ctx, bool quick, string? sizeOption, int warmup, int reps, double budget, Action<Measurement> add)
    {
        int[] sizes = sizeOption is not null ? sizeOption.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()
            : quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000];
        int[] dims = quick ? [2, 16] : [2, 16, 64];
        double maxSeconds = quick ? 10 : 30;
        foreach (int n in sizes)
        {
            foreach (int width in new[] { 64, 256 })
            {
                foreach (int d in dims)
                {
                    One(ctx, n, width, d, warmup, reps, budget, maxSeconds, add);
                }
            }
        }
    }

    private static void One(CmmContext ctx, int n, int width, int d, int warmup, int reps, double budget, double maxSeconds, Action<Measurement> add)
    {
        var arch = new IcnnArchitecture(d) { HiddenWidths = [width, width, width] };
        var layout = new IcnnLayout(arch);
        var theta = IcnnPotential.InitialParameters(arch, seed: 1);
        var hx = CompareRunner.Uniform(n * d, 11).Select(v => (4 * v) - 2).ToArray();
        var ht = CompareRunner.Uniform(n * d, 12).Select(v => (4 * v) - 2).ToArray();
        string[] kinds = ["icnn_value", "icnn_grad", "icnn_lossgrad"];
        using var w = IcnnPotential.FromParameters(ctx, arch, theta);
        var plain = new PlainIcnn(arch, theta, w.GetEffectiveParameters());
        using var x = DevicePoints.Upload(ctx, hx, d);
        using var t = DevicePoints.Upload(ctx, ht, d);
        using var values = DeviceVector.Allocate(ctx, n);
        using var grads = DevicePoints.Allocate(ctx, n, d);
        using var pgrad = DeviceVector.Allocate(ctx, w.ParameterCount);
        using var loss = DeviceVector.Allocate(ctx, 1);
        var hv = new float[n];
        var hg = new float[n * d];
        var hp = new float[w.ParameterCount];
        foreach (string kind in kinds)
        {
            var work = Work.Icnn(kind, n, arch.HiddenWidths, d, arch.Rank, layout.ParameterCount);
            string key = Key(kind, n, width, d);
            Action cmm = kind switch
            {
                "icnn_value" => () => { w.Value(x, values); ctx.Synchronize(); },
                "icnn_grad" => () => { w.Gradient(x, grads); ctx.Synchronize(); },
                _ => () => { w.LossParameterGradient(x, t, pgrad, loss); ctx.Synchronize(); },
            };
            Action cs = kind switch
            {
                "icnn_value" => () => plain.Value(hx, hv, n),
                "icnn_grad" => () => plain.Gradient(hx, hg, n),
                _ => () => plain.LossGradient(hx, ht, hp, n),
            };
            double cmmEstimate = ctx.IsGpu ? 0 : work.Flops / SimulatorFlopsPerSecond;
            var mc = Measure(key, kind, n, width, d, "cmm-" + w.Variant.ToString().ToLowerInvariant(), cmm, cmmEstimate, work, warmup, reps, budget, maxSeconds,
                ctx.IsGpu ? "" : "CPU accelerator (simulator)");
            var ms = Measure(key, kind, n, width, d, "csharp-scalar", cs, work.Flops / PlainFlopsPerSecond, work, warmup, reps, budget, maxSeconds,
                "Parallel.For over points");
            if (mc is not null && ms is not null)
            {
                // The baseline computes the same thing: largest difference relative to the largest magnitude.
                (float[] a, float[] b) = kind switch
                {
                    "icnn_value" => (values.ToArray(), hv),
                    "icnn_grad" => (grads.ToArray(), hg),
                    _ => (pgrad.ToArray(), hp),
                };
                double diff = a.Zip(b, (u, v) => Math.Abs(u - v)).Max(), scale = b.Max(Math.Abs);
                ms = ms with { Note = ms.Note + string.Create(CultureInfo.InvariantCulture, $"; max |cmm - csharp| / max |csharp| = {diff / scale:0.#e0}") };
            }

            foreach (var m in new[] { mc, ms })
            {
                if (m is not null)
                {
                    add(m);
                }
            }
        }
    }

    private static Measurement? Measure(string key, string kind, int n, int width, int d, string impl, Action call, double estimate, Work work,
        int warmup, int reps, double budget, double maxSeconds, string note)
    {
        if (estimate > maxSeconds)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {key,-32} {impl,-22} skipped: estimated {estimate:0} s per call > {maxSeconds:0} s"));
            return null;
        }

        // Long calls: one timed repetition after the warm-up call (the machine budget of a quick run is minutes).
        var s = Timing.Measure(call, warmup, estimate > 1 ? 1 : reps, budget);
        return new Measurement(key, kind, n, width, d, impl, "csharp-scalar", Timing.Median(s), s, work, note);
    }
}
