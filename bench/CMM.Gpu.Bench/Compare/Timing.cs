using System.Diagnostics;

namespace CMM.Gpu.Bench.Compare;

/// <summary>Median-of-repetitions wall-clock timing (warm-up calls first; every call must synchronise itself).</summary>
internal static class Timing
{
    /// <summary>Times <paramref name="call"/>: <paramref name="warmup"/> untimed calls, then up to <paramref name="reps"/> timed
    /// calls, stopping early (but after at least 3) when the timed calls together exceed <paramref name="budgetSeconds"/>.</summary>
    public static double[] Measure(Action call, int warmup, int reps, double budgetSeconds)
    {
        for (int i = 0; i < warmup; i++)
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
