using System.Globalization;
using System.Text.Json;

namespace CMM.Gpu.Energies;

/// <summary>
/// Reads an energy from its JSON form (docs/cmfma.md, <c>cmm fit --energy FILE.json</c>). Built-in types, for any d:
/// <list type="bullet">
/// <item><c>{"type": "gaussian", "mean": [..d..], "covariance": [[..d..], ..d rows..]}</c></item>
/// <item><c>{"type": "gaussian-mixture", "weights": [..k..], "means": [[..d..], ..k..], "covariances": [[[..d..], ..], ..k..]}</c>
/// (density sum_j weights_j N(means_j, covariances_j); weights positive, summing to 1)</item>
/// <item><c>{"type": "banana", "dim": d, "curvature": 0.1, "scale": 10}</c> (<see cref="BananaEnergy"/>; curvature and scale optional)</item>
/// <item><c>{"type": "funnel", "dim": d, "scale": 3}</c> (<see cref="FunnelEnergy"/>; scale optional)</item>
/// <item><c>{"type": "many-well", "dim": d}</c> (<see cref="ManyWellEnergy"/>; d even, 2 to 32)</item>
/// <item><c>{"type": "logistic-regression", "data": "breast-cancer" or "FILE.csv", "prior_variance": 1, "standardize": true, "intercept": true}</c>
/// (<see cref="LogisticRegressionEnergy"/>: the posterior on the embedded breast-cancer data or on a file whose rows are
/// features then a 0/1 label, a path relative to the energy file; the last three keys optional)</item>
/// </list>
/// Every problem (unknown type or key, a missing or malformed value, a covariance that is not positive definite, weights that
/// do not sum to 1) is one <see cref="ArgumentException"/> whose message names it.
/// </summary>
public static class EnergyFile
{
    /// <summary>The built-in types.</summary>
    public static IReadOnlyList<string> Types { get; } = ["gaussian", "gaussian-mixture", "banana", "funnel", "many-well", "logistic-regression"];

    /// <summary>Reads an energy file.</summary>
    /// <param name="path">The JSON file.</param>
    /// <returns>The energy.</returns>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="ArgumentException">The file is not a valid energy.</exception>
    public static IEnergy Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"energy file '{path}' does not exist", path);
        }

        try
        {
            return Parse(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path)));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses the JSON form of an energy.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="baseDirectory">The directory relative data paths are read from (null: the current directory).</param>
    /// <returns>The energy.</returns>
    /// <exception cref="ArgumentException">The text is not a valid energy.</exception>
    public static IEnergy Parse(string json, string? baseDirectory = null)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"not valid JSON ({e.Message.Split('\n')[0]})");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ArgumentException("an energy is a JSON object with a \"type\"");
            }

            if (!root.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
            {
                throw new ArgumentException($"the energy has no \"type\" (one of {string.Join(", ", Types)})");
            }

            string type = typeElement.GetString()!;
            string[] keys = type switch
            {
                "gaussian" => ["type", "mean", "covariance"],
                "gaussian-mixture" => ["type", "weights", "means", "covariances"],
                "banana" => ["type", "dim", "curvature", "scale"],
                "funnel" => ["type", "dim", "scale"],
                "many-well" => ["type", "dim"],
                "logistic-regression" => ["type", "data", "prior_variance", "standardize", "intercept"],
                _ => throw new ArgumentException($"unknown energy type '{type}' (known: {string.Join(", ", Types)})"),
            };
            foreach (var p in root.EnumerateObject())
            {
                if (!keys.Contains(p.Name))
                {
                    throw new ArgumentException($"unknown parameter '{p.Name}' for type '{type}' (expected: {string.Join(", ", keys.Skip(1))})");
                }
            }

            return type switch
            {
                "gaussian" => new GaussianEnergy(Vector(Required(root, "mean"), "mean"), Matrix(Required(root, "covariance"), "covariance")),
                "gaussian-mixture" => new GaussianMixtureEnergy(
                    Vector(Required(root, "weights"), "weights"),
                    List(Required(root, "means"), "means").Select((m, j) => (IReadOnlyList<double>)Vector(m, $"means[{j}]")).ToArray(),
                    List(Required(root, "covariances"), "covariances").Select((c, j) => Matrix(c, $"covariances[{j}]")).ToArray()),
                "banana" => new BananaEnergy(Integer(Required(root, "dim"), "dim"), Number(root, "curvature", 0.1), Number(root, "scale", 10)),
                "many-well" => new ManyWellEnergy(Integer(Required(root, "dim"), "dim")),
                "logistic-regression" => LogisticRegression(root, baseDirectory),
                _ => new FunnelEnergy(Integer(Required(root, "dim"), "dim"), Number(root, "scale", 3)),
            };
        }
    }

    private static LogisticRegressionEnergy LogisticRegression(JsonElement root, string? baseDirectory)
    {
        var data = Required(root, "data");
        if (data.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(data.GetString()))
        {
            throw new ArgumentException($"'data' must be \"{Data.BreastCancerData.BuiltInName}\" or the path of a .csv or .npy file");
        }

        double prior = Number(root, "prior_variance", 1);
        bool standardize = Boolean(root, "standardize", true), intercept = Boolean(root, "intercept", true);
        string name = data.GetString()!;
        if (name == Data.BreastCancerData.BuiltInName)
        {
            return LogisticRegressionEnergy.BreastCancer(prior, standardize, intercept);
        }

        string path = baseDirectory is null || Path.IsPathRooted(name) ? name : Path.Combine(baseDirectory, name);
        return LogisticRegressionEnergy.FromFile(path, prior, standardize, intercept);
    }

    private static bool Boolean(JsonElement root, string name, bool fallback) =>
        !root.TryGetProperty(name, out var e) ? fallback
        : e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean()
        : throw new ArgumentException($"'{name}' must be true or false");

    private static JsonElement Required(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) ? e : throw new ArgumentException($"missing parameter '{name}'");

    private static double Number(JsonElement root, string name, double fallback) =>
        !root.TryGetProperty(name, out var e) ? fallback
        : e.ValueKind == JsonValueKind.Number ? e.GetDouble()
        : throw new ArgumentException($"'{name}' must be a number");

    private static int Integer(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw new ArgumentException($"'{name}' must be an integer");

    private static JsonElement[] List(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().ToArray() : throw new ArgumentException($"'{name}' must be an array");

    private static double[] Vector(JsonElement e, string name)
    {
        var items = List(e, name);
        if (items.Length == 0)
        {
            throw new ArgumentException($"'{name}' is empty");
        }

        return items.Select((x, i) => x.ValueKind == JsonValueKind.Number ? x.GetDouble()
            : throw new ArgumentException($"'{name}[{i.ToString(CultureInfo.InvariantCulture)}]' must be a number")).ToArray();
    }

    private static double[,] Matrix(JsonElement e, string name)
    {
        var rows = List(e, name).Select((r, i) => Vector(r, $"{name}[{i.ToString(CultureInfo.InvariantCulture)}]")).ToArray();
        int n = rows.Length;
        if (n == 0 || rows.Any(r => r.Length != n))
        {
            throw new ArgumentException($"'{name}' must be a square matrix (got {n} rows of {string.Join(", ", rows.Select(r => r.Length).Distinct())} values)");
        }

        var m = new double[n, n];
        for (int a = 0; a < n; a++)
        {
            for (int b = 0; b < n; b++)
            {
                m[a, b] = rows[a][b];
            }
        }

        return m;
    }
}
