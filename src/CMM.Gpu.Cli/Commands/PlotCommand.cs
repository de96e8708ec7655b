using System.CommandLine;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm plot</c>: the figure of a fitted model (1-D histograms with the potential; 2-D scatters with level sets of w).</summary>
internal static class PlotCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var data = new Option<string?>("--data") { Description = "Data to show beside the generated samples (.csv or .npy)." };
        var outOpt = new Option<string>("--out") { Description = "PNG file to write.", Required = true };
        var n = new Option<int>("--n") { Description = "Generated samples to draw.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the chains.", DefaultValueFactory = _ => 0 };
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("plot", "Draw data, generated samples, latents and the fitted potential to a PNG file.") { model, data, outOpt, n, seed, acc };
        cmd.SetAction(parse =>
        {
            string outPath = parse.GetValue(outOpt)!;
            if (!outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            {
                throw new CliException($"--out '{outPath}': the figure is written as PNG; use a .png file name");
            }

            CliIO.CheckOutputPath(outPath, "--out");

            int count = parse.GetValue(n);
            if (count < 2)
            {
                throw new CliException($"--n must be at least 2 (got {count})");
            }

            var cloud = parse.GetValue(data) is { } file ? CliIO.ReadPoints(file, "--data") : null;
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, cloud?.Dimension);
            var (samples, latents, _) = ModelEvaluation.Generate(fitted, count, (ulong)parse.GetValue(seed));
            FigureMaker.Write(outPath, fitted, cloud?.ToArray() ?? samples, samples, latents,
                $"{(fitted.Method == FitMethod.Cmm ? "CMM" : "MM")} model ({fitted.Model.Metadata.Iterations} iterations)");
            stdout.WriteLine("figure written to " + outPath);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
