using System.Globalization;
using CMM.Gpu;

// Fits a conjugate moment measure to your own point file and saves it:
//   dotnet run -- DATA.csv MODEL.cmm [ITERATIONS]
// DATA is a .csv with one point per line (comma-separated, an optional header) or a .npy of shape (n, d).
if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: FitCsv DATA.csv MODEL.cmm [ITERATIONS]");
    return 2;
}

var options = new FitOptions();
if (args.Length == 3)
{
    options = options with { Iterations = int.Parse(args[2], CultureInfo.InvariantCulture) };
}

try
{
    using var model = CmmModel.FitFile(args[0], options, progress: new EveryTenth());
    var fit = model.FitResult!;
    if (!fit.Succeeded)
    {
        // Diverged, or the sampler or conjugate solver stopped working: the model is only the last good state, not a fit.
        Console.Error.WriteLine($"FitCsv: the fit failed ({fit.Status}): {fit.Reason}; no model written");
        return 1;
    }

    model.Save(args[1]);
    Console.WriteLine(FormattableString.Invariant(
        $"{fit.Status}: {fit.Iterations} iterations in {fit.Elapsed.TotalSeconds:0.0} s on {model.Device.Description}; d = {model.Dimension}; model written to {args[1]}"));
    return 0;
}
catch (Exception e) when (e is CMM.Gpu.IO.PointFileException or ArgumentException)
{
    Console.Error.WriteLine($"FitCsv: {e.Message}");
    return 2;
}

/// <summary>Prints the loss every tenth of the fit (IProgress is called on the fitting thread).</summary>
internal sealed class EveryTenth : IProgress<FitProgress>
{
    public void Report(FitProgress value)
    {
        int tenth = Math.Max(1, value.TotalIterations / 10);
        if (value.Iteration % tenth == 0 || value.Iteration == value.TotalIterations)
        {
            Console.WriteLine(FormattableString.Invariant($"iteration {value.Iteration}/{value.TotalIterations}: loss {value.Loss:G4}"));
        }
    }
}
