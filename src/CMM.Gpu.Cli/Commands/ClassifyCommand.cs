using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CMM.Gpu.Metrics;

namespace CMM.Gpu.Cli.Commands;

/// <summary>
/// <c>cmm classify</c>: labels points (generated samples, inpainting completions) with a linear classifier trained on
/// labelled real points (<see cref="LabelClassifier"/>), and reports the share of each label, the mean confidence and, with
/// true labels, the accuracy (docs/metrics.md).
/// </summary>
internal static class ClassifyCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var train = new Option<string>("--train") { Description = "Labelled training points (.csv, .npy or IDX).", Required = true };
        var trainLabels = new Option<string>("--train-labels") { Description = "Their class labels, one per row.", Required = true };
        var data = new Option<string>("--data") { Description = "Points to label (.csv, .npy or IDX).", Required = true };
        var labels = new Option<string?>("--labels") { Description = "True labels of --data (one per row, or one per --repeat rows): adds the accuracy." };
        var repeat = new Option<int>("--repeat") { Description = "Each --labels value labels this many consecutive rows (cmm inpaint writes --completions rows per input).", DefaultValueFactory = _ => 1 };
        var outOpt = new Option<string?>("--out") { Description = "Also write each row's label and confidence (.csv or .npy, two columns)." };
        var json = CommonOptions.Json();
        var cmd = new Command("classify", "Label points with a linear classifier trained on labelled real points: share of each label, mean confidence, accuracy against true labels.")
        {
            train, trainLabels, data, labels, repeat, outOpt, json,
        };
        cmd.SetAction(parse =>
        {
            int rep = parse.GetValue(repeat);
            if (rep < 1)
            {
                throw new CliException($"--repeat must be at least 1 (got {rep})");
            }

            string? outPath = parse.GetValue(outOpt);
            if (outPath is not null)
            {
                CliIO.CheckWritable(outPath, "--out");
            }

            var training = CliIO.ReadPoints(parse.GetValue(train), "--train");
            var trainingLabels = CliIO.ReadLabels(parse.GetValue(trainLabels)!, "--train-labels", training.Count, $"--train {training.Source}");
            if (trainingLabels.Distinct().Count() < 2)
            {
                throw new CliException($"--train-labels: every label is {trainingLabels[0]}; a classifier needs at least two classes");
            }

            var points = CliIO.ReadPoints(parse.GetValue(data), "--data");
            if (points.Dimension != training.Dimension)
            {
                throw new CliException($"dimension mismatch: --data {points.Source} has d = {points.Dimension} but --train {training.Source} has d = {training.Dimension}");
            }

            int[]? truth = null;
            if (parse.GetValue(labels) is { } labelPath)
            {
                if (points.Count % rep != 0)
                {
                    throw new CliException($"--repeat {rep} does not divide the {points.Count} rows of --data {points.Source}");
                }

                var given = CliIO.ReadLabels(labelPath, "--labels", points.Count / rep, rep == 1 ? $"--data {points.Source}" : $"--data {points.Source} divided by --repeat {rep}");
                truth = Enumerable.Range(0, points.Count).Select(i => given[i / rep]).ToArray();
            }

            var classifier = LabelClassifier.Train(training.ToArray(), training.Dimension, trainingLabels);
            var (predicted, confidence) = classifier.Predict(points.ToArray());
            var shares = ClassBalanceReport.Shares(predicted, classifier.Classes);
            double? accuracy = truth is null ? null : predicted.Zip(truth, (p, t) => p == t ? 1.0 : 0.0).Average();
            if (outPath is not null)
            {
                var rows = new float[predicted.Length * 2];
                for (int i = 0; i < predicted.Length; i++)
                {
                    rows[2 * i] = predicted[i];
                    rows[(2 * i) + 1] = (float)confidence[i];
                }

                CliIO.WritePoints(outPath, rows, 2);
            }

            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    rows = predicted.Length,
                    classes = classifier.Classes,
                    share = shares,
                    mean_confidence = confidence.Average(),
                    accuracy,
                    newton_steps = classifier.NewtonSteps,
                }, CliIO.Json));
                return ExitCodes.Ok;
            }

            var ci = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            sb.Append(ci, $"{predicted.Length} rows of {points.Source} labelled by a linear classifier trained on {training.Count} rows of {training.Source}\n");
            sb.Append(ci, $"  {"class",6}  {"share",7}\n");
            for (int j = 0; j < shares.Length; j++)
            {
                sb.Append(ci, $"  {classifier.Classes[j],6}  {shares[j],7:P1}\n");
            }

            sb.Append(ci, $"mean confidence {confidence.Average():P1}");
            sb.Append(accuracy is { } a ? string.Create(ci, $"; accuracy against --labels {a:P1}") : string.Empty);
            stdout.WriteLine(sb.ToString());
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
