using BenchmarkDotNet.Running;
using CMM.Gpu.Compute;

namespace CMM.Gpu.Bench;

/// <summary>BenchmarkDotNet entry point: <c>dotnet run -c Release --project bench/CMM.Gpu.Bench -- --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args)
    {
        using (var ctx = CmmContext.Create(AcceleratorChoice.Resolve(null)))
        {
            Console.WriteLine("CMM.Gpu benchmarks on " + ctx.Description +
                              (ctx.IsGpu ? "" : " -- CPU-accelerator timings are simulator timings, not GPU timings"));
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
