using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using CMM.Gpu.IO;

namespace CMM.Gpu.Cli.Commands;

/// <summary>
/// <c>cmm demo</c>: fits a built-in dataset (moons by default) on whatever accelerator is present, then writes
/// the model, samples, latents, a figure and a metrics table into one directory, and prints where they are.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var outDir = new Option<string>("--out") { Description = "Output directory (created if missing).", DefaultValueFactory = _ => "cmm-demo" };
        var dataset = new Option<string>("--dataset") { Description = "Built-in dataset: " + string.Join(", ", Datasets.Names) + ".", DefaultValueFactory = _ => "moons" };
        var iterations = new Option<int>("--iterations") { Description = "Outer iterations.", DefaultValueFactory = _ => new FitOptions().Iterations };
        var n = new Option<int>("--n") { Description = "Training points.", DefaultValueFactory = _ => Datasets.DefaultTrainingCount };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("demo", "Fit a built-in dataset on the present accelerator and write the model, samples, a figure and a metrics table.")
        {
            outDir, dataset, iterations, n, seed, acc,
        };
        cmd.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string dir = parse.GetValue(outDir)!;
            string name = parse.GetValue(dataset)!;
            CliIO.RequireDataset(name, "--dataset");

            int count = parse.GetValue(n);
            if (count < 16)
            {
                throw new CliException($"--n must be at least 16 (got {count})");
            }

            if (File.Exists(dir))
            {
                throw new CliException($"--out '{dir}' is a file, not a directory");
            }

            var options = new FitOptions { Iterations = parse.GetValue(iterations), Seed = parse.GetValue(seed) };
            CliIO.RequireValid(options.Validate());

            Directory.CreateDirectory(dir);
            count = Datasets.AtMostAll(name, count); // a finite data set (digits): at most all of it
            var train = Datasets.Create(name, count, options.Seed);
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            string modelPath = Path.Combine(dir, "model.cmm");
            using var model = FitCommand.Fit(ctx, train.Points, train.Dimension, name, options, modelPath + ".ckpt", resume: false, stderr);
            var result = model.FitResult!;
            if (result.Status is not (FitStatus.Completed or FitStatus.EarlyStopped))
            {
                // No model, samples or figure from a fit that did not finish: the checkpoint keeps its state.
                string why = result.Reason is null ? "" : ": " + result.Reason;
                throw new CliException($"the fit ended with status {result.Status} after {result.Iterations} iterations{why}; no model written, the fit's state is in {modelPath}.ckpt", ExitCodes.Failed);
            }

            model.Save(modelPath);
            stderr.WriteLine("cmm demo: evaluating against fresh held-out data...");
            var heldOut = Datasets.Create(name, Math.Min(count, 1000), unchecked(options.Seed + 1_000_003));
            var fitted = model.Fitted;
            var (report, samples, latents) = ModelEvaluation.Evaluate(fitted, heldOut.Points, name, Datasets.Truth(name), options.Seed, modes: DatasetModes.For(name));
            string samplesPath = Path.Combine(dir, "samples.csv");
            string latentsPath = Path.Combine(dir, "latents.csv");
            string figurePath = Path.Combine(dir, "figure.png");
            string metricsPath = Path.Combine(dir, "metrics.md");
            string metricsJson = Path.Combine(dir, "metrics.json");
            PointFile.Write(samplesPath, samples, train.Dimension);
            PointFile.Write(latentsPath, latents, train.Dimension);
            // The figure shows held-out data, as many points as generated samples, so the two panels compare like with like.
            FigureMaker.Write(figurePath, fitted, heldOut.Points, samples, latents, $"CMM fit of {name} ({result.Iterations} iterations)");
            var table = report.ToTable();
            AtomicFile.WriteAllText(metricsPath, $"# cmm demo: {name}\n\naccelerator: {ctx.Description}\n\n```\n{table}\n```\n");
            AtomicFile.WriteAllText(metricsJson, report.ToJson());
            stdout.WriteLine(table);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cmm demo finished in {clock.Elapsed.TotalSeconds:0} s on {ctx.Kind.ToString().ToLowerInvariant()}; wrote:"));
            foreach (var p in new[] { modelPath, samplesPath, latentsPath, figurePath, metricsPath, metricsJson })
            {
                stdout.WriteLine("  " + p);
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
}
