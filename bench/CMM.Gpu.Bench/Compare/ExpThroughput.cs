using System.Diagnostics;
using System.Numerics;

namespace CMM.Gpu.Bench.Compare;

/// <summary>This machine's float32 exp throughput: scalar MathF.Exp and Vector.Exp (.NET 9+ vectorised exp, in the shared
/// framework; System.Numerics.Tensors is not part of it), on one thread and on all cores. The CPU reference for the roofline.</summary>
internal static class ExpThroughput
{
    public static Dictionary<string, double> Measure(bool quick)
    {
        const int Length = 1 << 16; // 256 KiB: stays in L2, so the figure is compute-bound
        var a = new float[Length];
        var rng = new Random(9);
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(-20 * rng.NextDouble());
        }

        int rounds = quick ? 200 : 1000;
        int cores = Environment.ProcessorCount;
        return new Dictionary<string, double>
        {
            ["scalar_1_thread"] = Rate(() => Scalar(a, rounds), (double)Length * rounds),
            ["simd_1_thread"] = Rate(() => Simd(a, rounds), (double)Length * rounds),
            [$"scalar_{cores}_threads"] = Rate(() => Parallel.For(0, cores, _ => Scalar(a, rounds)), (double)Length * rounds * cores),
            [$"simd_{cores}_threads"] = Rate(() => Parallel.For(0, cores, _ => Simd(a, rounds)), (double)Length * rounds * cores),
        };
    }

    private static double Rate(Action run, double count)
    {
        run(); // warm-up (JIT, tiering)
        double best = double.MaxValue;
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            run();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }

        // Best of 5, not the median: this is the machine's capability, and other processes on the cores only ever slow it down.
        return count / best;
    }

    private static float Scalar(float[] a, int rounds)
    {
        float s = 0;
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < a.Length; i++)
            {
                s += MathF.Exp(a[i]);
            }
        }

        return s;
    }

    private static float Simd(float[] a, int rounds)
    {
        var acc = Vector<float>.Zero;
        int w = Vector<float>.Count;
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i <= a.Length - w; i += w)
            {
                acc += Vector.Exp(new Vector<float>(a, i));
            }
        }

        return Vector.Sum(acc);
    }
}
