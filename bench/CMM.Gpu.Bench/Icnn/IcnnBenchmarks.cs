using BenchmarkDotNet.Attributes;
using CMM.Gpu.Compute;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Bench.Icnn;

/// <summary>
/// ICNN kernels on the present accelerator: forward (w), input gradient, and the gradient-matching loss
/// with its parameter gradient, for both kernel forms. Allocation, upload, kernel compilation and the
/// workspace are set up outside the measured calls; each call synchronises. On the CPU accelerator these
/// are simulator timings, not GPU timings.
/// </summary>
[MemoryDiagnoser(false)]
public class IcnnBenchmarks
{
    private CmmContext context = null!;
    private IcnnPotential rows = null!;
    private IcnnPotential interleaved = null!;
    private IcnnPotential staged = null!;
    private DevicePoints x = null!;
    private DevicePoints targets = null!;
    private DevicePoints grads = null!;
    private DeviceVector values = null!;
    private DeviceVector paramGrad = null!;
    private DeviceVector loss = null!;

    /// <summary>Batch size (an odd one included).</summary>
    [Params(1000, 4097)]
    public int N { get; set; }

    /// <summary>Dimension.</summary>
    [Params(2, 16)]
    public int D { get; set; }

    /// <summary>Hidden width (three layers).</summary>
    [Params(64)]
    public int Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        context = CmmContext.Create(AcceleratorChoice.Resolve(null));
        var arch = new IcnnArchitecture(D) { HiddenWidths = [Width, Width, Width] };
        rows = IcnnPotential.Create(context, arch, seed: 1, new IcnnPotentialOptions { Variant = IcnnKernelVariant.SlotRows });
        interleaved = IcnnPotential.Create(context, arch, seed: 1, new IcnnPotentialOptions { Variant = IcnnKernelVariant.Interleaved });
        staged = IcnnPotential.Create(context, arch, seed: 1, new IcnnPotentialOptions { Variant = IcnnKernelVariant.Staged });
        var rng = new Random(1);
        var hx = Enumerable.Range(0, N * D).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        x = DevicePoints.Upload(context, hx, D);
        targets = DevicePoints.Upload(context, hx.Select(v => 1.5f * v).ToArray(), D);
        grads = DevicePoints.Allocate(context, N, D);
        values = DeviceVector.Allocate(context, N);
        paramGrad = DeviceVector.Allocate(context, rows.ParameterCount);
        loss = DeviceVector.Allocate(context, 1);
        foreach (var p in new[] { rows, interleaved, staged })
        {
            p.Value(x, values);
            p.Gradient(x, grads);
            p.LossParameterGradient(x, targets, paramGrad, loss);
        }

        context.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        loss.Dispose();
        paramGrad.Dispose();
        values.Dispose();
        grads.Dispose();
        targets.Dispose();
        x.Dispose();
        staged.Dispose();
        interleaved.Dispose();
        rows.Dispose();
        context.Dispose();
    }

    [Benchmark(Description = "w(x), slot rows")]
    public void ForwardRows()
    {
        rows.Value(x, values);
        context.Synchronize();
    }

    [Benchmark(Description = "w(x), interleaved")]
    public void ForwardInterleaved()
    {
        interleaved.Value(x, values);
        context.Synchronize();
    }

    [Benchmark(Description = "w(x), staged (or its fallback)")]
    public void ForwardStaged()
    {
        staged.Value(x, values);
        context.Synchronize();
    }

    [Benchmark(Description = "grad w(x), staged (or its fallback)")]
    public void GradientStaged()
    {
        staged.Gradient(x, grads);
        context.Synchronize();
    }

    [Benchmark(Description = "loss + dL/dtheta, staged (or its fallback)")]
    public void LossGradientStaged()
    {
        staged.LossParameterGradient(x, targets, paramGrad, loss);
        context.Synchronize();
    }

    [Benchmark(Description = "grad w(x), slot rows")]
    public void GradientRows()
    {
        rows.Gradient(x, grads);
        context.Synchronize();
    }

    [Benchmark(Description = "grad w(x), interleaved")]
    public void GradientInterleaved()
    {
        interleaved.Gradient(x, grads);
        context.Synchronize();
    }

    [Benchmark(Description = "loss + dL/dtheta, slot rows")]
    public void LossGradientRows()
    {
        rows.LossParameterGradient(x, targets, paramGrad, loss);
        context.Synchronize();
    }

    [Benchmark(Description = "loss + dL/dtheta, interleaved")]
    public void LossGradientInterleaved()
    {
        interleaved.LossParameterGradient(x, targets, paramGrad, loss);
        context.Synchronize();
    }
}
