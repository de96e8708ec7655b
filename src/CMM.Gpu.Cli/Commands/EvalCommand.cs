using System.CommandLine;
using System.Text.Json;
using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Metrics;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm eval</c>: metrics of a model against held-out data, each with its noise floor.</summary>
internal static class EvalCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var data = new Option<string?>("--data") { Description = "Held-out data (.csv or .npy)." };
        var dataset = new Option<string?>("--dataset") { Description = "Draw fresh held-out data from a built-in dataset." };
        var dim = new Option<int?>("--dim") { Description = "Dimension of --dataset gaussian (default: the model's)." };
        var n = new Option<int>("--n") { Description = "Held-out points to draw with --dataset.", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed") { Description = "Seed for sampling and splits.", DefaultValueFactory = _ => 12345 };
        var splits = new Option<int>("--splits") { Description = "Held-out splits each metric and its noise floor are averaged over (one split's floor is too noisy to judge a 2x ratio by).", DefaultValueFactory = _ => MetricsOptions.Default.Splits };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("eval", "Evaluate a model against held-out data: Sinkhorn divergence, energy distance, W1 (1-D), k-NN precision and recall, off-support share, moments, mode coverage (built-in datasets with modes), closed-form errors (Gaussian).")
        {
            model, data, dataset, dim, n, seed, splits, json, acc,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(splits) < 1)
            {
                throw new CliException($"--splits must be at least 1 (got {parse.GetValue(splits)})");
            }

            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!);
            // A gaussian held-out set takes the model's dimension unless --dim says otherwise (then the check below reports the mismatch).
            int? dimension = parse.GetValue(dim) ?? (parse.GetValue(dataset) == "gaussian" ? fitted.Dimension : null);
            var (heldOut, d, name, truth) = LoadHeldOut(parse.GetValue(data), parse.GetValue(dataset), parse.GetValue(n), parse.GetValue(seed), dimension);
            if (d != fitted.Dimension)
            {
                throw ModelCommands.DimensionMismatch(parse.GetValue(model)!, d, fitted.Dimension);
            }

            // Built-in datasets with known modes get the mode coverage; files have no known modes.
            var modes = parse.GetValue(dataset) is { } ds ? DatasetModes.For(ds) : null;
            var (report, _, _) = ModelEvaluation.Evaluate(fitted, heldOut, name, truth, parse.GetValue(seed), parse.GetValue(splits), modes);
            // CliIO.Json, not report.ToJson(): that one writes a NaN as the string "NaN" (for its round trip); --json writes null.
            stdout.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(report, CliIO.Json) : report.ToTable());
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Held-out data from a file or freshly drawn from a built-in dataset (a seed distinct from training).</summary>
    public static (float[] Data, int Dimension, string Name, DatasetTruth? Truth) LoadHeldOut(string? file, string? dataset, int n, int seed, int? dimension = null)
    {
        if ((file is null) == (dataset is null))
        {
            throw new CliException("give exactly one of --data FILE or --dataset NAME");
        }

        if (file is not null)
        {
            CliIO.RefuseDimensionForFile(dimension);

            var c = CliIO.ReadPoints(file, "--data");
            if (c.Count < 4)
            {
                throw new CliException($"--data {c.Source}: at least 4 held-out points are needed (got {c.Count})");
            }

            return (c.ToArray(), c.Dimension, c.Source, null);
        }

        CliIO.RequireDataset(dataset!, "--dataset");

        if (n < 4)
        {
            throw new CliException($"--n must be at least 4 (got {n})");
        }

        var options = CliIO.DatasetOptionsFor(dataset!, dimension);
        var ds = Datasets.Create(dataset!, n, unchecked(seed + 1_000_003), options);
        return (ds.Points, ds.Dimension, dataset!, Datasets.Truth(dataset!, options));
    }
}
