using BenchmarkDotNet.Attributes;
using CMM.Gpu.Compute;
using CMM.Gpu.Memory;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Bench.Sinkhorn;

/// <summary>
/// Log-domain Sinkhorn, 10 iterations per call (one marginal check, potentials downloaded at the end), so
/// seconds per iteration = mean / 10. Stored mode includes computing the cost matrix once per call. Against a scalar
/// C# Parallel.For implementation of the same 10 iterations (online cost). Setup allocates, uploads and compiles.
/// Run: <c>dotnet run -c Release --project bench/CMM.Gpu.Bench -- --filter '*Sinkhorn*' --job short</c>.
/// CPU-accelerator timings are simulator timings, not GPU timings.
/// </summary>
[MemoryDiagnoser(false)]
public class SinkhornBenchmarks
{
    private const int Iterations = 10;
    private CmmContext context = null!;
    private DevicePoints x = null!;
    private DevicePoints y = null!;
    private SinkhornSolver stored = null!;
    private SinkhornSolver online = null!;
    private float[] hx = null!;
    private float[] hy = null!;
    private float[] f = null!;
    private float[] g = null!;

    /// <summary>Points per cloud (an odd size included).</summary>
    [Params(1000, 2047)]
    public int N { get; set; }

    /// <summary>Dimension.</summary>
    [Params(2, 16)]
    public int D { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        context = CmmContext.Create(AcceleratorChoice.Resolve(null));
        var rng = new Random(1);
        hx = Enumerable.Range(0, N * D).Select(_ => (float)rng.NextDouble()).ToArray();
        hy = Enumerable.Range(0, N * D).Select(_ => (float)rng.NextDouble()).ToArray();
        f = new float[N];
        g = new float[N];
        x = DevicePoints.Upload(context, hx, D);
        y = DevicePoints.Upload(context, hy, D);
        var options = new SinkhornOptions
        {
            Epsilon = 0.01, Tolerance = 1e-30, MaxIterations = Iterations, CheckEvery = Iterations, ComputeTransportCost = false,
        };
        stored = new SinkhornSolver(context, options with { CostStorage = CostStorage.Stored });
        online = new SinkhornSolver(context, options with { CostStorage = CostStorage.Online });
        stored.Solve(x, y);
        online.Solve(x, y);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        stored.Dispose();
        online.Dispose();
        y.Dispose();
        x.Dispose();
        context.Dispose();
    }

    [Benchmark(Description = "10 iterations, stored cost")]
    public SinkhornResult Stored() => stored.Solve(x, y);

    [Benchmark(Description = "10 iterations, online cost")]
    public SinkhornResult Online() => online.Solve(x, y);

    [Benchmark(Baseline = true, Description = "10 iterations, C# scalar Parallel.For, online")]
    public float ScalarParallel()
    {
        const float eps = 0.01f;
        float logW = -MathF.Log(N);
        Array.Clear(f);
        Array.Clear(g);
        for (int it = 0; it < Iterations; it++)
        {
            Transform(hx, hy, g, f, eps, logW);
            Transform(hy, hx, f, g, eps, logW);
        }

        return f[0];
    }

    private void Transform(float[] own, float[] other, float[] otherPotential, float[] result, float eps, float logW)
    {
        int n = N, d = D;
        Parallel.For(0, n, i =>
        {
            float max = float.NegativeInfinity, sum = 0;
            for (int j = 0; j < n; j++)
            {
                float sq = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = own[i * d + k] - other[j * d + k];
                    sq += diff * diff;
                }

                float v = (otherPotential[j] - 0.5f * sq) / eps + logW;
                if (v > max)
                {
                    sum = sum * MathF.Exp(max - v) + 1;
                    max = v;
                }
                else
                {
                    sum += MathF.Exp(v - max);
                }
            }

            result[i] = -eps * (max + MathF.Log(sum));
        });
    }
}
