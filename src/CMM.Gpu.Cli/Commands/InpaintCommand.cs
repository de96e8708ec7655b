using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm inpaint</c>: completions of partly observed points from the model's conditional (docs/sampling.md).</summary>
internal static class InpaintCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file (a CMM with --network conjugate, the default, or an MM model).", Required = true };
        var data = new Option<string>("--data") { Description = "Partly observed points (.csv or .npy); values at free coordinates are ignored.", Required = true };
        var mask = new Option<string>("--mask") { Description = "0/1 values, 1 = observed (.csv or .npy): one row of d values for every point, or one row per point.", Required = true };
        var outOpt = new Option<string>("--out") { Description = "Completions (.csv or .npy): COMPLETIONS rows per input row, grouped by row.", Required = true };
        var defaults = new InpaintOptions();
        var completions = new Option<int>("--completions") { Description = "Completions per row.", DefaultValueFactory = _ => defaults.Completions };
        var noise = new Option<double?>("--noise") { Description = "Observation noise s in data units (default: 0.05 times the rows' RMS spread)." };
        var steps = new Option<int>("--steps") { Description = "MALA steps per chain (the step adapts during them).", DefaultValueFactory = _ => defaults.Steps };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the chains.", DefaultValueFactory = _ => 0UL };
        var figure = new Option<string?>("--figure") { Description = "Also draw a PNG: per row (up to 6) the masked input, completions and the row as given (needs images: --image-shape or a file with its own shape)." };
        var imageShape = new Option<string?>("--image-shape") { Description = "HxW of the images for --figure (default: the data file's own shape)." };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("inpaint", "Complete partly observed points: draws from the model given the observed coordinates (MALA on the latent; needs an explicit generator).")
        {
            model, data, mask, outOpt, completions, noise, steps, seed, figure, imageShape, json, acc,
        };
        cmd.SetAction(parse =>
        {
            string outPath = parse.GetValue(outOpt)!;
            CliIO.CheckWritable(outPath, "--out");
            var options = new InpaintOptions
            {
                Completions = parse.GetValue(completions),
                Noise = parse.GetValue(noise),
                Steps = parse.GetValue(steps),
                Seed = parse.GetValue(seed),
            };
            CliIO.RequireValid(options.Validate());

            var input = CliIO.ReadPoints(parse.GetValue(data), "--data");
            var maskCloud = CliIO.ReadPoints(parse.GetValue(mask), "--mask");
            if (maskCloud.Dimension != input.Dimension || (maskCloud.Count != 1 && maskCloud.Count != input.Count))
            {
                throw new CliException($"--mask {maskCloud.Source}: {maskCloud.Count} x {maskCloud.Dimension} values, but the data are {input.Count} x {input.Dimension}: give one row of {input.Dimension} values, or one per data row");
            }

            string? figurePath = parse.GetValue(figure);
            IO.ImageShape? shape = null;
            if (figurePath is not null)
            {
                if (!figurePath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                {
                    throw new CliException($"--figure '{figurePath}': the figure is written as PNG; use a .png file name");
                }

                CliIO.CheckOutputPath(figurePath, "--figure");
                shape = CliIO.ParseImageShape(parse.GetValue(imageShape), input.Dimension) ?? input.ImageShape
                    ?? throw new CliException("--figure needs the image shape: give --image-shape HxW (the data file has none)");
            }

            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, input.Dimension);
            InpaintResult result;
            try
            {
                result = Inpainting.Run(fitted, input.Data.Span, maskCloud.Data.Span, options);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw new CliException(e.Message.Split(" (Parameter")[0]);
            }

            if (result.Status == SamplingStatus.Diverged)
            {
                throw new CliException("the conditional chains diverged (non-finite even after step-size back-off); nothing written. Try a larger --noise.", ExitCodes.Failed);
            }

            CliIO.WritePoints(outPath, result.Samples, result.Dimension);
            if (figurePath is not null)
            {
                ImageFigures.WriteInpaintFigure(figurePath, input.ToArray(), maskCloud.ToArray(), input.Dimension, result.Samples, result.PerRow, shape!.Value);
            }
            if (result.ObservedMismatch > 3)
            {
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"cmm inpaint: warning: the completions miss the observed values by {result.ObservedMismatch:F1} noise sd (about 1 expected): the chains may not have converged; try more --steps or a larger --noise"));
            }

            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    rows = result.Rows,
                    completions_per_row = result.PerRow,
                    d = result.Dimension,
                    noise = result.Noise,
                    status = result.Status.ToString(),
                    step_size = result.StepSize,
                    acceptance_rate = result.AcceptanceRate,
                    observed_mismatch = result.ObservedMismatch,
                    @out = outPath,
                }, CliIO.Json));
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{result.Rows * result.PerRow} completions ({result.PerRow} per row) written to {outPath} (noise {result.Noise:G3}, acceptance {result.AcceptanceRate:P0}, observed mismatch {result.ObservedMismatch:F2} sd)"));
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
}
