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
        var data = new Option<string?>("--data") { Description = "Held-out data (.csv, .npy or IDX)." };
        var dataset = new Option<string?>("--dataset") { Description = "Draw fresh held-out data from a built-in dataset." };
        var dim = new Option<int?>("--dim") { Description = "Dimension of --dataset gaussian (default: the model's)." };
        var n = new Option<int?>("--n")
        {
            Description = $"Held-out points, and as many generated samples: drawn from --dataset (default {DefaultDatasetPoints}), or a random subset "
                + "(by --seed) of the --data file's points (default: all of them).",
        };
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
            var (heldOut, d, name, truth) = LoadHeldOut(parse.GetValue(data), parse.GetValue(dataset), parse.GetValue(n), parse.GetValue(seed), dimension, stderr);
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

    /// <summary>Held-out points drawn from a built-in dataset when <c>--n</c> is not given.</summary>
    public const int DefaultDatasetPoints = 2000;

    /// <summary>
    /// Held-out data from a file or freshly drawn from a built-in dataset (a seed distinct from training). <paramref name="n"/>
    /// is the number of points: drawn from the dataset (default <see cref="DefaultDatasetPoints"/>), or a random subset of
    /// the file's points chosen by <paramref name="seed"/> (default all; more than the file holds is an error).
    /// </summary>
    public static (float[] Data, int Dimension, string Name, DatasetTruth? Truth) LoadHeldOut(string? file, string? dataset, int? n, int seed,
        int? dimension = null, TextWriter? stderr = null)
    {
        if ((file is null) == (dataset is null))
        {
            throw new CliException("give exactly one of --data FILE or --dataset NAME");
        }

        if (n is < 4)
        {
            throw new CliException($"--n must be at least 4 (got {n})");
        }

        if (file is not null)
        {
            CliIO.RefuseDimensionForFile(dimension);

            var c = CliIO.ReadPoints(file, "--data");
            if (c.Count < 4)
            {
                throw new CliException($"--data {c.Source}: at least 4 held-out points are needed (got {c.Count})");
            }

            if (n is not { } wanted || wanted == c.Count)
            {
                return (c.ToArray(), c.Dimension, c.Source, null);
            }

            if (wanted > c.Count)
            {
                throw new CliException($"--n {wanted}: --data {c.Source} holds only {c.Count} points");
            }

            stderr?.WriteLine($"cmm: using {wanted} of the {c.Count} points of {c.Source} (a random subset: --n, --seed)");
            return (Subset(c.Data.Span, c.Dimension, wanted, seed), c.Dimension, c.Source, null);
        }

        CliIO.RequireDataset(dataset!, "--dataset");
        var options = CliIO.DatasetOptionsFor(dataset!, dimension);
        var ds = Datasets.Create(dataset!, n ?? Datasets.AtMostAll(dataset!, DefaultDatasetPoints), unchecked(seed + 1_000_003), options);
        return (ds.Points, ds.Dimension, dataset!, Datasets.Truth(dataset!, options));
    }

    /// <summary><paramref name="count"/> points chosen at random without replacement (a partial Fisher-Yates shuffle), kept in file order.</summary>
    private static float[] Subset(ReadOnlySpan<float> points, int dimension, int count, int seed)
    {
        int total = points.Length / dimension;
        var index = Enumerable.Range(0, total).ToArray();
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int j = rng.Next(i, total);
            (index[i], index[j]) = (index[j], index[i]);
        }

        Array.Sort(index, 0, count);
        var subset = new float[count * dimension];
        for (int i = 0; i < count; i++)
        {
            points.Slice(index[i] * dimension, dimension).CopyTo(subset.AsSpan(i * dimension, dimension));
        }

        return subset;
    }
}
