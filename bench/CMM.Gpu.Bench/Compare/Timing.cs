using System.Diagnostics;

namespace CMM.Gpu.Bench.Compare;

/// <summary>Median-of-repetitions wall-clock timing (warm-up calls first; every call must synchronise itself).</summary>
internal static class Timing
{
    /// <summary>Times <paramref name="call"/>: at least <paramref name="warmup"/> untimed calls (more for short calls, see below), then up to <paramref name="reps"/> timed
    /// calls, stopping early (but after at least 3) when the timed calls together exceed <paramref name="budgetSeconds"/>.</summary>
    public static double[] Measure(Action call, int warmup, int reps, double budgetSeconds)
    {
        // At least `warmup` calls, then more (up to 30 calls or 0.3 s) so that short calls reach tier-1 JIT code
        // before they are timed (a run measured a 3.5 ms scalar baseline that became 0.6 ms after tiering).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 30 && (i < warmup || warm.Elapsed.TotalSeconds < 0.3); i++)
        {
            call();
        }

        var times = new List<double>();
        double total = 0;
        var sw = new Stopwatch();
        for (int r = 0; r < reps; r++)
        {
            sw.Restart();
            call();
            sw.Stop();
            double s = sw.Elapsed.TotalSeconds;
            times.Add(s);
            total += s;
            if (times.Count >= 3 && total > budgetSeconds)
            {
                break;
            }
        }

        return times.ToArray();
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        int h = s.Length / 2;
        return s.Length % 2 == 1 ? s[h] : 0.5 * (s[h - 1] + s[h]);
    }
}
