using System.Text.Json;
using CMM.Gpu.Cli.Commands;
using CMM.Gpu.IO;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Cli;

/// <summary>
/// Every <c>--json</c> output is valid JSON, and a value that was not computed (NaN or +-infinity) is <c>null</c> in it
/// rather than an exception (System.Text.Json refuses to write non-finite numbers).
/// </summary>
public sealed class JsonOutputTests : IDisposable
{
    private static readonly string[] TinyFit =
        ["--iterations", "3", "--particles", "32", "--batch", "32", "--langevin-steps", "2", "--hidden", "8", "--n", "48", "--accelerator", "cpu"];

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-json-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string P(string name) => Path.Combine(dir, name);

    private string Points(string name, int n, int d, int seed, double shift = 0)
    {
        PointFile.Write(P(name), TestData.Normal(n * d, seed, shift: shift), d);
        return P(name);
    }

    [Fact]
    public void NonFiniteNumbersOfEveryFloatingTypeAreWrittenAsNull()
    {
        var json = JsonSerializer.Serialize(new
        {
            nan = double.NaN,
            positive = float.PositiveInfinity,
            negative = (double?)double.NegativeInfinity,
            nullable_float = (float?)float.NaN,
            missing = (double?)null,
            finite = 1.5,
            finite_float = 2.5f,
            finite_nullable = (double?)-3.25,
            values = new[] { 1.0, double.NaN },
        }, CliIO.Json);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        foreach (var key in new[] { "nan", "positive", "negative", "nullable_float", "missing" })
        {
            Assert.True(r.GetProperty(key).ValueKind == JsonValueKind.Null, key + " in " + json);
        }

        Assert.Equal(1.5, r.GetProperty("finite").GetDouble());
        Assert.Equal(2.5, r.GetProperty("finite_float").GetDouble());
        Assert.Equal(-3.25, r.GetProperty("finite_nullable").GetDouble());
        Assert.Equal(1.0, r.GetProperty("values")[0].GetDouble());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("values")[1].ValueKind);
    }

    [Fact]
    public void SinkhornWithAnAbsoluteEpsilonWritesTheUncomputedMeanCostAsNull()
    {
        // An absolute epsilon skips the mean cost (NaN in the result): the run converges and the JSON must still be written.
        var x = Points("x.csv", 20, 2, 1);
        var y = Points("y.csv", 15, 2, 2, shift: 1);
        var (code, stdout, stderr) = CliTests.Run("sinkhorn", "--x", x, "--y", y, "--epsilon", "0.05", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(JsonValueKind.Null, r.GetProperty("mean_cost").ValueKind);
        Assert.Equal(0.05, r.GetProperty("epsilon").GetDouble(), 1e-6); // epsilon is held as a float
        Assert.True(r.GetProperty("converged").GetBoolean());

        // With a relative epsilon the mean cost is computed and written as a number.
        var (code2, stdout2, stderr2) = CliTests.Run("sinkhorn", "--x", x, "--y", y, "--json", "--accelerator", "cpu");
        Assert.True(code2 == 0, stderr2);
        using var doc2 = JsonDocument.Parse(stdout2);
        Assert.True(doc2.RootElement.GetProperty("mean_cost").GetDouble() > 0);
    }

    [Fact]
    public void EveryCommandWithJsonWritesValidJson()
    {
        string Mask(string name)
        {
            File.WriteAllText(P(name), "1,0\n");
            return P(name);
        }

        string Labels(string name, int n)
        {
            File.WriteAllLines(P(name), Enumerable.Range(0, n).Select(i => (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            return P(name);
        }

        // The commands that have --json, found from the help (so a new one cannot be missed here).
        var (helpCode, help, _) = CliTests.Run("--help");
        Assert.Equal(0, helpCode);
        var commands = help[(help.IndexOf("Commands:", StringComparison.Ordinal) + "Commands:".Length)..]
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ')[0])
            .ToList();
        Assert.Contains("sinkhorn", commands);
        var withJson = commands.Where(c => CliTests.Run(c, "--help").Out.Contains("--json", StringComparison.Ordinal)).Order().ToList();

        var model = P("m.cmm");
        var x = Points("x.csv", 20, 2, 1);
        var y = Points("y.csv", 15, 2, 2, shift: 1);
        File.WriteAllText(P("e.json"), """{"type": "gaussian", "mean": [0, 1], "covariance": [[1, 0.3], [0.3, 2]]}""");
        var runs = new Dictionary<string, string[]>
        {
            ["devices"] = ["devices", "--json"],
            ["mala"] = ["mala", "--energy", P("e.json"), "--chains", "4", "--steps", "20", "--burn-in", "10", "--json"],
            ["fit"] = ["fit", "--dataset", "moons", "--out", model, "--json", .. TinyFit],
            ["sinkhorn"] = ["sinkhorn", "--x", x, "--y", y, "--epsilon", "0.05", "--json", "--accelerator", "cpu"],
            ["eval"] = ["eval", "--model", model, "--data", Points("held.csv", 32, 2, 3), "--splits", "1", "--json", "--accelerator", "cpu"],
            ["sample"] = ["sample", "--model", model, "--n", "8", "--burn-in", "2", "--out", P("s.csv"), "--json", "--accelerator", "cpu"],
            ["density"] = ["density", "--model", model, "--data", x, "--out", P("q.csv"), "--latents", "64", "--proposal-samples", "500", "--json", "--accelerator", "cpu"],
            ["classify"] = ["classify", "--train", x, "--train-labels", Labels("xl.csv", 20), "--data", y, "--json"],
            ["inpaint"] = ["inpaint", "--model", model, "--data", x, "--mask", Mask("mask.csv"), "--completions", "2", "--steps", "20", "--out", P("i.csv"), "--json", "--accelerator", "cpu"],
        };
        Assert.Equal(withJson, runs.Keys.Order().ToList());

        foreach (var (name, args) in runs) // in order: fit before the commands that use its model
        {
            var (code, stdout, stderr) = CliTests.Run(args);
            Assert.True(code == 0, $"{name}: {stderr}");
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
            if (name == "sinkhorn")
            {
                Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("mean_cost").ValueKind);
            }
        }
    }
}
