using System.Globalization;
using System.Text.Json;
using CMM.Gpu.IO;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Cli;

/// <summary>
/// <c>cmm classify</c> and the labelled metrics of <c>cmm eval</c> (<c>--train</c>, <c>--train-labels</c>, <c>--labels</c>,
/// <c>--samples</c>): outputs checked against the library, bad labels as one-line errors.
/// </summary>
public sealed class ClassifyCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-classify-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    /// <summary>Two classes in 2-D: N((0, 0), I) then N((4, 0), I), n each; labels 0 then 1.</summary>
    private (string Points, string Labels, float[] X, int[] Y) TwoClasses(string name, int n, int seed)
    {
        var x = TestData.Normal(2 * n * 2, seed);
        var y = new int[2 * n];
        for (int i = n; i < 2 * n; i++)
        {
            x[2 * i] += 4;
            y[i] = 1;
        }

        PointFile.Write(P(name + ".csv"), x, 2);
        File.WriteAllLines(P(name + "-labels.csv"), y.Select(v => v.ToString(CultureInfo.InvariantCulture)));
        return (P(name + ".csv"), P(name + "-labels.csv"), x, y);
    }

    private static void AssertOneLineError(int code, string stderr, string expected)
    {
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'), l => l.StartsWith("cmm: error", StringComparison.Ordinal));
    }

    [Fact]
    public void ClassifyReportsSharesConfidenceAndAccuracyAsTheLibraryDoes()
    {
        var train = TwoClasses("train", 100, 1);
        var data = TwoClasses("data", 30, 2);
        var (code, stdout, stderr) = CliTests.Run("classify", "--train", train.Points, "--train-labels", train.Labels, "--data", data.Points,
            "--labels", data.Labels, "--out", P("pred.csv"), "--json");
        Assert.True(code == 0, stderr);

        var classifier = CMM.Gpu.Metrics.LabelClassifier.Train(train.X, 2, train.Y);
        var (predicted, confidence) = classifier.Predict(data.X);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(60, root.GetProperty("rows").GetInt32());
        Assert.Equal(predicted.Count(p => p == 1) / 60.0, root.GetProperty("share")[1].GetDouble(), 12);
        Assert.Equal(confidence.Average(), root.GetProperty("mean_confidence").GetDouble(), 12);
        Assert.Equal(predicted.Zip(data.Y, (p, t) => p == t ? 1.0 : 0.0).Average(), root.GetProperty("accuracy").GetDouble(), 12);
        Assert.InRange(root.GetProperty("accuracy").GetDouble(), 0.95, 1); // classes 4 sd apart: Bayes accuracy 0.977

        var rows = PointFile.Read(P("pred.csv"));
        Assert.Equal(2, rows.Dimension);
        Assert.Equal(predicted.Select(p => (float)p), Enumerable.Range(0, 60).Select(i => rows.Data.Span[2 * i]));
    }

    [Fact]
    public void RepeatSpreadsEachLabelOverConsecutiveRows()
    {
        var train = TwoClasses("train", 100, 3);
        var data = TwoClasses("data", 10, 4); // 20 rows: 10 of class 0, then 10 of class 1
        File.WriteAllLines(P("two.csv"), ["0", "1"]);
        var (code, stdout, stderr) = CliTests.Run("classify", "--train", train.Points, "--train-labels", train.Labels, "--data", data.Points,
            "--labels", P("two.csv"), "--repeat", "10", "--json");
        Assert.True(code == 0, stderr);
        var (fullCode, fullOut, _) = CliTests.Run("classify", "--train", train.Points, "--train-labels", train.Labels, "--data", data.Points,
            "--labels", data.Labels, "--json");
        Assert.Equal(0, fullCode);
        using var a = JsonDocument.Parse(stdout);
        using var b = JsonDocument.Parse(fullOut);
        Assert.Equal(b.RootElement.GetProperty("accuracy").GetDouble(), a.RootElement.GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public void BadLabelsAreOneLineErrors()
    {
        var train = TwoClasses("train", 20, 5);
        File.WriteAllLines(P("short.csv"), ["0", "1", "0"]);
        File.WriteAllLines(P("frac.csv"), Enumerable.Range(0, 40).Select(i => i == 7 ? "0.5" : "1"));
        File.WriteAllLines(P("one.csv"), Enumerable.Repeat("3", 40));
        File.WriteAllLines(P("wide.csv"), Enumerable.Repeat("0,1", 40));
        string[] common = ["classify", "--train", train.Points, "--data", train.Points];
        var cases = new (string[] Args, string Expected)[]
        {
            ([.. common, "--train-labels", P("short.csv")], "3 labels for the 40 rows"),
            ([.. common, "--train-labels", P("frac.csv")], "row 8 holds 0.5, not an integer class label"),
            ([.. common, "--train-labels", P("one.csv")], "every label is 3"),
            ([.. common, "--train-labels", P("wide.csv")], "labels are one value per row"),
            ([.. common, "--train-labels", train.Labels, "--labels", train.Labels, "--repeat", "3"], "--repeat 3 does not divide the 40 rows"),
            ([.. common, "--train-labels", train.Labels, "--repeat", "0"], "--repeat must be at least 1"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run(args);
            AssertOneLineError(code, stderr, expected);
        }
    }

    [Fact]
    public void EvalOfSamplesAddsNearCopiesAndClassBalance()
    {
        var train = TwoClasses("train", 100, 6);
        var held = TwoClasses("held", 40, 7);
        // "Generated": 40 copies of training points and 40 fresh points of class 1 only.
        var gen = new float[80 * 2];
        train.X.AsSpan(0, 80).CopyTo(gen);
        var fresh = TestData.Normal(80, 8);
        for (int i = 0; i < 40; i++)
        {
            gen[80 + (2 * i)] = fresh[2 * i] + 4;
            gen[80 + (2 * i) + 1] = fresh[(2 * i) + 1];
        }

        PointFile.Write(P("gen.csv"), gen, 2);
        var (code, stdout, stderr) = CliTests.Run("eval", "--samples", P("gen.csv"), "--data", held.Points, "--train", train.Points,
            "--train-labels", train.Labels, "--labels", held.Labels, "--splits", "1", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        var (share, heldShare, threshold) = CMM.Gpu.Metrics.SampleMetrics.NearCopyShare(gen, train.X, held.X, 2);
        Assert.Equal(share, root.GetProperty("near_copy_share").GetDouble(), 12);
        Assert.Equal(heldShare, root.GetProperty("near_copy_share_noise_floor").GetDouble(), 12);
        Assert.Equal(threshold, root.GetProperty("near_copy_distance").GetDouble(), 12);
        Assert.True(share >= 0.5, $"near-copy share {share}"); // the 40 copies

        var balance = root.GetProperty("class_balance");
        Assert.InRange(balance.GetProperty("generated_share")[1].GetDouble(), 0.4, 0.6); // 40 copies of class-0 points, 40 fresh of class 1
        Assert.InRange(balance.GetProperty("held_out_accuracy").GetDouble(), 0.9, 1.0);

        // The table shows both.
        var (tableCode, table, _) = CliTests.Run("eval", "--samples", P("gen.csv"), "--data", held.Points, "--train", train.Points,
            "--train-labels", train.Labels, "--splits", "1", "--accelerator", "cpu");
        Assert.Equal(0, tableCode);
        Assert.Contains("near-copy share", table, StringComparison.Ordinal);
        Assert.Contains("class balance", table, StringComparison.Ordinal);
    }

    [Fact]
    public void EvalRefusesInconsistentLabelledOptions()
    {
        var train = TwoClasses("train", 20, 9);
        string[] baseArgs = ["eval", "--samples", train.Points, "--data", train.Points, "--accelerator", "cpu"];
        var cases = new (string[] Args, string Expected)[]
        {
            (["eval", "--data", train.Points, "--accelerator", "cpu"], "give exactly one of --model FILE or --samples FILE"),
            ([.. baseArgs, "--train-labels", train.Labels], "--train-labels needs --train"),
            ([.. baseArgs, "--labels", train.Labels], "--labels needs --data"),
            ([.. baseArgs, "--train", train.Points, "--train-labels", P("none.csv")], "none.csv"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, stderr) = CliTests.Run(args);
            AssertOneLineError(code, stderr, expected);
        }
    }
}
