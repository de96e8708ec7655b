using BenchmarkDotNet.Attributes;
using CMM.Gpu.Compute;
using CMM.Gpu.Costs;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Bench.Costs;

/// <summary>
/// Pairwise half-squared-Euclidean cost matrix: both kernel forms on the present accelerator, against
/// a scalar Parallel.For and a Vector&lt;float&gt; implementation of the same computation.
/// Allocation, upload and kernel compilation happen in setup; each call synchronises.
/// </summary>
[MemoryDiagnoser(false)]
public class PairwiseCostBenchmarks
{
    private CmmContext context = null!;
    private DevicePoints x = null!;
    private DevicePoints y = null!;
    private DeviceVector c = null!;
    private float[] hx = null!;
    private float[] hy = null!;
    private float[] hc = null!;

    [Params(1000, 2047)]
    public int N { get; set; }

    [Params(2, 16)]
    public int D { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        context = CmmContext.Create(AcceleratorChoice.Resolve(null));
        var rng = new Random(1);
        hx = Enumerable.Range(0, N * D).Select(_ => (float)rng.NextDouble()).ToArray();
        hy = Enumerable.Range(0, N * D).Select(_ => (float)rng.NextDouble()).ToArray();
        hc = new float[N * N];
        x = DevicePoints.Upload(context, hx, D);
        y = DevicePoints.Upload(context, hy, D);
        c = DeviceVector.Allocate(context, (long)N * N);
        var pc = PairwiseCost.For(context);
        pc.Compute(x, y, c, variant: KernelVariant.RowPerThread);
        pc.Compute(x, y, c, variant: KernelVariant.Tiled);
        context.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        c.Dispose();
        y.Dispose();
        x.Dispose();
        context.Dispose();
    }

    [Benchmark(Description = "kernel, row per thread")]
    public void RowPerThread()
    {
        PairwiseCost.For(context).Compute(x, y, c, variant: KernelVariant.RowPerThread);
        context.Synchronize();
    }

    [Benchmark(Description = "kernel, tiled")]
    public void Tiled()
    {
        PairwiseCost.For(context).Compute(x, y, c, variant: KernelVariant.Tiled);
        context.Synchronize();
    }

    [Benchmark(Baseline = true, Description = "C# scalar Parallel.For")]
    public void ScalarParallel()
    {
        int n = N, d = D;
        Parallel.For(0, n, i =>
        {
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int k = 0; k < d; k++)
                {
                    float diff = hx[i * d + k] - hy[j * d + k];
                    s += diff * diff;
                }

                hc[i * n + j] = 0.5f * s;
            }
        });
    }
}
