using CMM.Gpu.Compute;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Tests.Compute;

public sealed class AcceleratorTests
{
    [Theory]
    [InlineData("auto", AcceleratorKind.Auto)]
    [InlineData("CUDA", AcceleratorKind.Cuda)]
    [InlineData("opencl", AcceleratorKind.OpenCL)]
    [InlineData(" cpu ", AcceleratorKind.Cpu)]
    public void NamesParse(string text, AcceleratorKind expected)
    {
        Assert.True(AcceleratorChoice.TryParse(text, out var k));
        Assert.Equal(expected, k);
        Assert.Equal(expected, AcceleratorChoice.Resolve(text));
    }

    [Fact]
    public void UnknownNameIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => AcceleratorChoice.Resolve("gpu"));
        Assert.Contains("auto|cuda|opencl|cpu", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CpuAcceleratorUsesEveryCore()
    {
        using var ctx = CmmContext.Create(AcceleratorKind.Cpu);
        Assert.Equal(AcceleratorKind.Cpu, ctx.Kind);
        Assert.False(ctx.IsGpu);
        Assert.Equal(Environment.ProcessorCount, ctx.Accelerator.NumMultiprocessors);
        Assert.Contains("cpu", ctx.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void ExplicitCudaWithoutDriverSaysWhy()
    {
        var report = DeviceReport.Probe();
        if (report.Devices.Any(d => d.Backend == "cuda"))
        {
            using var ctx = CmmContext.Create(AcceleratorKind.Cuda);
            Assert.Equal(AcceleratorKind.Cuda, ctx.Kind);
            return;
        }

        var e = Assert.Throws<AcceleratorUnavailableException>(() => CmmContext.Create(AcceleratorKind.Cuda));
        Assert.Equal(AcceleratorKind.Cuda, e.Kind);
        Assert.Contains("CUDA", e.Message, StringComparison.Ordinal);
        Assert.Contains(report.Problems, p => p.Backend == "cuda" && p.Reason == e.Reason);
    }

    [Fact]
    public void ExplicitOpenCLWithoutUsableDeviceSaysWhy()
    {
        var report = DeviceReport.Probe();
        if (report.Devices.Any(d => d.Backend == "opencl" && d.Usable))
        {
            using var ctx = CmmContext.Create(AcceleratorKind.OpenCL);
            Assert.Equal(AcceleratorKind.OpenCL, ctx.Kind);
            return;
        }

        var e = Assert.Throws<AcceleratorUnavailableException>(() => CmmContext.Create(AcceleratorKind.OpenCL));
        Assert.Contains("opencl", e.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
    }

    [Fact]
    public void ReportAlwaysHasTheCpuAndAnAutoChoice()
    {
        var report = DeviceReport.Probe();
        Assert.Contains(report.Devices, d => d.Backend == "cpu" && d.Usable);
        Assert.True(report.AutoChoice.Usable);
        var expectedAuto = report.Devices.FirstOrDefault(d => d.Backend == "cuda" && d.Usable)
                           ?? report.Devices.FirstOrDefault(d => d.Backend == "opencl" && d.Usable)
                           ?? report.Devices.First(d => d.Backend == "cpu");
        Assert.Equal(expectedAuto, report.AutoChoice);
    }

    [Fact]
    public void BuffersOfADisposedContextCannotBeAllocated()
    {
        var ctx = CmmContext.Create(AcceleratorKind.Cpu);
        ctx.Dispose();
        ctx.Dispose();
        Assert.Throws<ObjectDisposedException>(() => DeviceVector.Allocate(ctx, 3));
    }

    [Fact]
    public void BuffersFromAnotherContextAreRejected()
    {
        using var a = CmmContext.Create(AcceleratorKind.Cpu);
        using var b = CmmContext.Create(AcceleratorKind.Cpu);
        using var x = DevicePoints.Upload(a, new float[] { 1, 2 }, 1);
        using var y = DevicePoints.Upload(b, new float[] { 1, 2 }, 1);
        using var c = DeviceVector.Allocate(a, 4);
        var e = Assert.Throws<ArgumentException>(() => CMM.Gpu.Costs.PairwiseCost.For(a).Compute(x, y, c));
        Assert.Contains("another accelerator context", e.Message, StringComparison.Ordinal);
    }
}
