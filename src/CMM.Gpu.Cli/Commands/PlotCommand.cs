using System.CommandLine;
using CMM.Gpu.Data;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm plot</c>: the figure of a fitted model (1-D histograms with the potential; 2-D scatters with level sets of w).
/// Without --data or --dataset it draws the generated samples alone: there is no data to show.</summary>
internal static class PlotCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var data = new Option<string?>("--data") { Description = "Data to show beside the generated samples (.csv, .npy or IDX)." };
        var dataset = new Option<string?>("--dataset") { Description = "Show fresh points of a built-in dataset beside the generated samples (as many as --n)." };
        var dim = new Option<int?>("--dim") { Description = "Dimension of --dataset gaussian (default: the model's)." };
        var outOpt = new Option<string>("--out") { Description = "PNG file to write.", Required = true };
        var n = new Option<int>("--n") { Description = "Generated samples to draw.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the chains.", DefaultValueFactory = _ => 0 };
        var imageShape = new Option<string?>("--image-shape") { Description = "HxW: the points are images (default: the dataset's or the file's own shape, e.g. 8x8 for digits); draws real and generated images and latent interpolations." };
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("plot", "Draw data (--data or --dataset; without them, generated samples only), generated samples, latents and the fitted potential to a PNG file.")
        {
            model, data, dataset, dim, outOpt, n, seed, imageShape, acc,
        };
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

            if (parse.GetValue(data) is not null && parse.GetValue(dataset) is not null)
            {
                throw new CliException("give at most one of --data FILE or --dataset NAME");
            }

            if (parse.GetValue(dataset) is null)
            {
                CliIO.RefuseDimensionForFile(parse.GetValue(dim));
            }

            var cloud = parse.GetValue(data) is { } file ? CliIO.ReadPoints(file, "--data") : null;
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, cloud?.Dimension);
            float[]? shown = cloud?.ToArray();
            if (parse.GetValue(dataset) is { } name)
            {
                int? dimension = parse.GetValue(dim) ?? (name == "gaussian" ? fitted.Dimension : null);
                var (points, d, _, _) = EvalCommand.LoadHeldOut(null, name, count, parse.GetValue(seed), dimension);
                if (d != fitted.Dimension)
                {
                    throw ModelCommands.DimensionMismatch(parse.GetValue(model)!, d, fitted.Dimension);
                }

                shown = points;
            }

            var (samples, latents, _) = ModelEvaluation.Generate(fitted, count, (ulong)parse.GetValue(seed));
            var shape = parse.GetValue(imageShape) is { } text
                ? CliIO.ParseImageShape(text, fitted.Dimension)
                : cloud?.ImageShape ?? (parse.GetValue(dataset) is { } ds ? Datasets.ImageShapeOf(ds) : null);
            if (shape is { } image)
            {
                ImageFigures.WriteModelFigure(outPath, fitted, shown, samples, latents, image);
                stdout.WriteLine("figure written to " + outPath);
                return ExitCodes.Ok;
            }

            FigureMaker.Write(outPath, fitted, shown, samples, latents,
                $"{(fitted.Method == FitMethod.Cmm ? "CMM" : "MM")} model ({fitted.Model.Metadata.Iterations} iterations)");
            stdout.WriteLine("figure written to " + outPath);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
