using BenchmarkDotNet.Running;
using CMM.Gpu.Bench.Compare;
using CMM.Gpu.Compute;

namespace CMM.Gpu.Bench;

/// <summary>
/// Entry point. <c>compare [--quick] [--out FILE.json] [--accelerator A]</c>: side-by-side runner (see <see cref="CompareRunner"/>).
/// <c>gpucheck [--out DIR] [--scale]</c>: accelerator-vs-CPU-accelerator correctness check and at-scale timings (see <see cref="GpuCheck"/>).
/// Anything else goes to BenchmarkDotNet: <c>dotnet run -c Release --project bench/CMM.Gpu.Bench -- --filter '*'</c>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            if (args.Length > 0 && args[0] == "compare")
            {
                return CompareRunner.Run(args[1..]);
            }

            if (args.Length > 0 && args[0] == "gpucheck")
            {
                return GpuCheck.Run(args[1..]);
            }
        }
        catch (AcceleratorUnavailableException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return 3;
        }

        using (var ctx = CmmContext.Create(AcceleratorChoice.Resolve(null)))
        {
            Console.WriteLine("CMM.Gpu benchmarks on " + ctx.Description +
                              (ctx.IsGpu ? "" : " -- CPU-accelerator timings are simulator timings, not GPU timings"));
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
