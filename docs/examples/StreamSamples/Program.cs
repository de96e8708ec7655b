using System.Globalization;
using CMM.Gpu;

// Streams samples of a fitted model to a .npy (or .csv) file in constant memory, chunk by chunk:
//   dotnet run -- MODEL.cmm SAMPLES.npy [COUNT, default 10,000,000] [SEED]
// Ten million samples are a job for a GPU; the CPU accelerator draws thousands per second at best (docs/performance.md).
if (args.Length is < 2 or > 4)
{
    Console.Error.WriteLine("usage: StreamSamples MODEL.cmm SAMPLES.npy [COUNT] [SEED]");
    return 2;
}

long count = args.Length > 2 ? long.Parse(args[2], CultureInfo.InvariantCulture) : 10_000_000;
ulong seed = args.Length > 3 ? ulong.Parse(args[3], CultureInfo.InvariantCulture) : 0;
using var model = CmmModel.Load(args[0]);
var result = model.SampleToFile(args[1], CmmModel.DefaultSampling(count, seed), progress: new Percent());
if (result.Status == SamplingStatus.Diverged)
{
    Console.Error.WriteLine("sampling diverged: nothing written");
    return 1;
}

Console.WriteLine(FormattableString.Invariant(
    $"{result.Generated} samples written to {args[1]} in {result.Elapsed.TotalSeconds:0.0} s (MALA acceptance {result.AcceptanceRate:P0}, conjugate solves converged {result.ConjugateConvergedFraction:P1})"));
return 0;

/// <summary>Prints progress once per chunk.</summary>
internal sealed class Percent : IProgress<GenerationProgress>
{
    public void Report(GenerationProgress value) =>
        Console.WriteLine(FormattableString.Invariant($"{value.Done:N0} / {value.Total:N0} samples ({100.0 * value.Done / value.Total:0}%)"));
}
