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
        var model = new Option<string?>("--model") { Description = "Model file." };
        var samplesOpt = new Option<string?>("--samples") { Description = "Evaluate these samples (.csv, .npy or IDX; another model's, a baseline's) instead of a model's." };
        var train = new Option<string?>("--train") { Description = "The model's training data: adds the near-copy share (generated points closer to a training point than a quarter of the median held-out distance)." };
        var trainLabels = new Option<string?>("--train-labels") { Description = "Class labels of --train, one per row: adds the class balance (a linear classifier trained on --train labels generated and held-out points)." };
        var labels = new Option<string?>("--labels") { Description = "Class labels of the held-out --data, one per row: adds the classifier's held-out accuracy to the class balance." };
        var data = new Option<string?>("--data") { Description = "Held-out data (.csv, .npy or IDX)." };
        var dataset = new Option<string?>("--dataset") { Description = "Draw fresh held-out data from a built-in dataset." };
        var energyOpt = new Option<string?>("--energy") { Description = "The energy file a model was fitted to (cmm fit --energy): held-out data are its exact samples (or --data, for example a long cmm mala run), with its closed form and modes; a model also gets the energy diagnostics and its moments, as drawn and reweighted, against the held-out draws." };
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
        var cmd = new Command("eval", "Evaluate a model (or a sample file) against held-out data: Sinkhorn divergence, energy distance, W1 (1-D), k-NN precision and recall, off-support share, classifier two-sample test, moments, mode coverage (built-in datasets with modes), closed-form errors (Gaussian); with the training data the near-copy share, with its labels the class balance.")
        {
            model, samplesOpt, data, dataset, energyOpt, dim, n, seed, splits, train, trainLabels, labels, json, acc,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(splits) < 1)
            {
                throw new CliException($"--splits must be at least 1 (got {parse.GetValue(splits)})");
            }

            string? modelPath = parse.GetValue(model), samplesPath = parse.GetValue(samplesOpt);
            if ((modelPath is null) == (samplesPath is null))
            {
                throw new CliException("give exactly one of --model FILE or --samples FILE");
            }

            if (parse.GetValue(trainLabels) is not null && parse.GetValue(train) is null)
            {
                throw new CliException("--train-labels needs --train: the labels are those of the training rows");
            }

            if (parse.GetValue(labels) is { } && (parse.GetValue(trainLabels) is null || parse.GetValue(data) is null || parse.GetValue(n) is not null))
            {
                throw new CliException("--labels needs --data (all of its rows: no --n) and --train-labels: they score the classifier trained on the training labels");
            }

            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = modelPath is null ? null : ModelCommands.LoadModel(ctx, modelPath);
            var generated = samplesPath is null ? null : CliIO.ReadPoints(samplesPath, "--samples");
            int expected = fitted?.Dimension ?? generated!.Dimension;
            string source = modelPath is not null ? $"the model '{modelPath}' was fitted with" : $"the --samples {generated!.Source} have";

            var energy = parse.GetValue(energyOpt) is { } energyPath ? DensityCommand.LoadEnergy(energyPath, "--energy") : null;
            if (energy is not null && energy.Dimension != expected)
            {
                throw new CliException($"dimension mismatch: --energy has d = {energy.Dimension} but {source} d = {expected}");
            }

            // A gaussian held-out set takes the model's dimension unless --dim says otherwise (then the check below reports the mismatch).
            int? dimension = parse.GetValue(dim) ?? (parse.GetValue(dataset) == "gaussian" ? expected : null);
            var (heldOut, d, name, truth) = energy is not null
                ? EnergyHeldOut(energy, parse.GetValue(energyOpt)!, parse.GetValue(data), parse.GetValue(dataset), parse.GetValue(n), parse.GetValue(seed), stderr)
                : LoadHeldOut(parse.GetValue(data), parse.GetValue(dataset), parse.GetValue(n), parse.GetValue(seed), dimension, stderr);
            if (d != expected)
            {
                throw new CliException($"dimension mismatch: the data have d = {d} but {source} d = {expected}");
            }

            var trainingCloud = parse.GetValue(train) is { } trainPath ? CliIO.ReadPoints(trainPath, "--train") : null;
            if (trainingCloud is not null && trainingCloud.Dimension != d)
            {
                throw new CliException($"dimension mismatch: --train {trainingCloud.Source} has d = {trainingCloud.Dimension} but the held-out data have d = {d}");
            }

            // Built-in datasets with known modes get the mode coverage; files have no known modes.
            var options = new MetricsOptions
            {
                Seed = parse.GetValue(seed),
                Splits = parse.GetValue(splits),
                DataName = name,
                TrueMean = truth?.Mean,
                TrueCovariance = truth?.Covariance,
                Modes = parse.GetValue(dataset) is { } ds ? DatasetModes.For(ds) : energy is not null ? Energies.EnergyTruth.ModesOf(energy) : null,
                TrainingPoints = trainingCloud?.ToArray(),
                TrainingLabels = parse.GetValue(trainLabels) is { } tl ? CliIO.ReadLabels(tl, "--train-labels", trainingCloud!.Count, $"--train {trainingCloud.Source}") : null,
                HeldOutLabels = parse.GetValue(labels) is { } hl ? CliIO.ReadLabels(hl, "--labels", heldOut.Length / d, $"--data {name}") : null,
            };
            if (options.TrainingLabels is { } tls && tls.Distinct().Count() < 2)
            {
                throw new CliException($"--train-labels: every label is {tls[0]}; the class balance needs at least two classes");
            }

            var report = fitted is not null
                ? ModelEvaluation.Evaluate(fitted, heldOut, options, truth).Report
                : ModelEvaluation.EvaluateSamples(ctx, generated!.ToArray(), heldOut, d, options);
            var comparison = energy is not null && fitted is not null
                ? Energies.EnergyDiagnostics.Compare(fitted, energy, heldOut, Math.Max(4096, heldOut.Length / d), (ulong)parse.GetValue(seed))
                : null;

            // CliIO.Json, not report.ToJson(): that one writes a NaN as the string "NaN" (for its round trip); --json writes null.
            if (parse.GetValue(json))
            {
                stdout.WriteLine(comparison is null ? JsonSerializer.Serialize(report, CliIO.Json) : JsonSerializer.Serialize(new { metrics = report, energy = comparison }, CliIO.Json));
            }
            else
            {
                stdout.WriteLine(report.ToTable());
                if (comparison is not null)
                {
                    stdout.Write(comparison.Diagnostics.ToText());
                    stdout.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"moments against the held-out draws (largest over coordinates, in their sd): mean {comparison.Raw.MeanError:F3}, sd {comparison.Raw.SdError:F3} as drawn; mean {comparison.Reweighted.MeanError:F3}, sd {comparison.Reweighted.SdError:F3} reweighted"));
                }
            }

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

        RequireHeldOutCount(n);

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

    /// <summary>
    /// Held-out data for <c>--energy</c>: the --data file (reference draws, for example a long <c>cmm mala</c> run), else
    /// <paramref name="n"/> exact samples of the energy (default <see cref="DefaultDatasetPoints"/>; a seed distinct from the
    /// model's); the truth is the energy's closed form when it is Gaussian.
    /// </summary>
    private static (float[] Data, int Dimension, string Name, DatasetTruth? Truth) EnergyHeldOut(Energies.IEnergy energy, string energyPath, string? file,
        string? dataset, int? n, int seed, TextWriter stderr)
    {
        if (dataset is not null)
        {
            throw new CliException("--energy draws its own held-out data: give --data (reference draws) or nothing, not --dataset");
        }

        var truth = Energies.EnergyTruth.For(energy);
        if (file is not null)
        {
            var (data, d, name, _) = LoadHeldOut(file, null, n, seed, null, stderr);
            return (data, d, name, truth);
        }

        RequireHeldOutCount(n);

        var exact = energy.ExactSamples(n ?? DefaultDatasetPoints, unchecked(seed + 1_000_003))
                    ?? throw new CliException($"--energy {energyPath}: the energy '{energy.Name}' has no exact sampler; give --data with reference draws (for example from cmm mala)");
        return (exact, energy.Dimension, $"{energy.Name} (exact samples)", truth);
    }

    /// <summary>Refuses a held-out count below 4, the fewest the held-out metrics accept.</summary>
    private static void RequireHeldOutCount(int? n)
    {
        if (n is < 4)
        {
            throw new CliException($"--n must be at least 4 (got {n})");
        }
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
