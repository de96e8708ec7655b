using CMM.Gpu.IO;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Data;

/// <summary>
/// The built-in seeded datasets. Every dataset is a pure function of (name, n, seed, options): the same
/// arguments give bit-identical points on every machine (the generator is <see cref="Random"/> with a
/// seed, whose seeded sequence .NET keeps stable). Definitions and scales of the generated ones follow the
/// normalizing-flow literature (FFJORD's toy data); <c>digits</c> draws rows of a fixed set of 8 x 8 images
/// (<see cref="DigitsData"/>). docs/datasets.md lists them.
/// </summary>
public static class Datasets
{
    private static readonly string[] AllNames =
    [
        "gaussian", "bimodal", "exponential", "uniform",
        "moons", "circles", "eight-gaussians", "checkerboard", "swiss-roll", "pinwheel",
        "digits",
    ];

    /// <summary>
    /// Points <c>cmm fit</c> and <c>cmm demo</c> draw from a built-in dataset unless told otherwise (20,000). The fit's cost
    /// per iteration does not depend on it (batches of <see cref="FitOptions.BatchSize"/>), but its quality does: with
    /// 2,000 points and the default 1,200 iterations the fit follows the sample's own fluctuations, and the d = 5 Gaussian
    /// ended 8.6 % (mean) and 34 % (worst point) off its closed-form Hessian; with 20,000, 1.3 % and 2.9 % (docs/experiments.md).
    /// </summary>
    public const int DefaultTrainingCount = 20_000;

    /// <summary>The names <see cref="Create"/> accepts, in a stable order.</summary>
    public static IReadOnlyList<string> Names => AllNames;

    /// <summary>True when <paramref name="name"/> is a built-in dataset (exact, lower-case match).</summary>
    /// <param name="name">A candidate name.</param>
    /// <returns>Whether <see cref="Create"/> knows it.</returns>
    public static bool IsKnown(string name) => Array.IndexOf(AllNames, name) >= 0;

    /// <summary>The dimension the dataset produces with these options.</summary>
    /// <param name="name">A built-in dataset name.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>d.</returns>
    public static int DimensionOf(string name, DatasetOptions? options = null)
    {
        RequireKnown(name);
        options ??= DatasetOptions.Default;
        return name switch
        {
            "gaussian" => GaussianDimension(options),
            "bimodal" or "exponential" or "uniform" => 1,
            "digits" => DigitsData.Dimension,
            _ => 2,
        };
    }

    /// <summary>
    /// The most points <see cref="Create"/> draws from the dataset: the rows of a fixed data set (1,797 for
    /// <c>digits</c>, drawn without replacement), or null for the generated ones, which have no limit.
    /// </summary>
    /// <param name="name">A built-in dataset name.</param>
    /// <returns>The limit, or null.</returns>
    public static int? MaxCount(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        RequireKnown(name);
        return name == "digits" ? DigitsData.Count : null;
    }

    /// <summary>A default point count cut to what the dataset holds: <paramref name="n"/>, or all rows of a fixed data set
    /// (<see cref="MaxCount"/>) when it has fewer.</summary>
    /// <param name="name">A built-in dataset name.</param>
    /// <param name="n">The count wanted by default.</param>
    /// <returns>min(n, MaxCount).</returns>
    public static int AtMostAll(string name, int n) => MaxCount(name) is { } most ? Math.Min(n, most) : n;

    /// <summary>The image shape of the dataset's points (8 x 8 for <c>digits</c>), or null for datasets that are not images.</summary>
    /// <param name="name">A built-in dataset name.</param>
    /// <returns>The shape, or null.</returns>
    public static ImageShape? ImageShapeOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        RequireKnown(name);
        return name == "digits" ? DigitsData.ImageShape : null;
    }

    /// <summary>Draws <paramref name="n"/> points of a built-in dataset.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="n">Number of points, at least 1 (and at most <see cref="MaxCount"/> where there is one).</param>
    /// <param name="seed">Seed: same seed, same points; different seeds, independent points (for <c>digits</c>:
    /// a different subset, in a different order, of the same 1,797 rows).</param>
    /// <param name="options">Dataset parameters; null for the defaults.</param>
    /// <returns>The points with their dimension (and, for <c>digits</c>, their <see cref="Dataset.ImageShape"/>).</returns>
    /// <exception cref="ArgumentException">Unknown name (the message lists the known ones), options that are
    /// invalid or do not apply to this dataset (every problem is listed), or more points than a fixed data set has.</exception>
    public static Dataset Create(string name, int n, int seed, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        RequireKnown(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        options ??= DatasetOptions.Default;
        CheckOptions(name, options);
        var rng = new Random(seed);
        if (name == "digits")
        {
            return new Dataset(name, Digits(rng, n), DigitsData.Dimension) { ImageShape = DigitsData.ImageShape };
        }

        float[] pts = name switch
        {
            "gaussian" => Gaussian(rng, n, options),
            "bimodal" => Bimodal(rng, n),
            "exponential" => Exponential(rng, n, options.Rate ?? 1.0),
            "uniform" => Uniform(rng, n, options.Low ?? -1.0, options.High ?? 1.0),
            "moons" => Moons(rng, n, options.Noise ?? 0.1),
            "circles" => Circles(rng, n, options.Noise ?? 0.08),
            "eight-gaussians" => EightGaussians(rng, n),
            "checkerboard" => Checkerboard(rng, n),
            "swiss-roll" => SwissRoll(rng, n, options.Noise ?? 1.0),
            "pinwheel" => Pinwheel(rng, n),
            _ => throw new InvalidOperationException("unreachable: " + name),
        };
        return new Dataset(name, pts, pts.Length / n);
    }

    /// <summary>
    /// The exact law of a dataset with a closed form (gaussian, bimodal, exponential, uniform), or null
    /// for the 2-D toys, which have none.
    /// </summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="options">The same options given to <see cref="Create"/>.</param>
    /// <returns>Mean, covariance, a sampler and (1-D) the density; null when there is no closed form.</returns>
    public static DatasetTruth? Truth(string name, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        RequireKnown(name);
        options ??= DatasetOptions.Default;
        CheckOptions(name, options);
        var o = options;
        float[] Sample(int n, int seed) => Create(name, n, seed, o).Points;
        switch (name)
        {
            case "gaussian":
            {
                var (m, s) = GaussianParameters(options);
                int d = m.Length;
                Func<double, double>? density = d == 1 ? x => NormalPdf(x, m[0], Math.Sqrt(s[0])) : null;
                return new DatasetTruth(name, d, m, s, Sample, density);
            }

            case "bimodal":
                return new DatasetTruth(name, 1, [0.0], [0.25 + 4.0], Sample, x => (0.5 * NormalPdf(x, -2, 0.5)) + (0.5 * NormalPdf(x, 2, 0.5)));
            case "exponential":
            {
                double r = options.Rate ?? 1.0;
                return new DatasetTruth(name, 1, [1 / r], [1 / (r * r)], Sample, x => x < 0 ? 0 : r * Math.Exp(-r * x));
            }

            case "uniform":
            {
                double a = options.Low ?? -1.0, b = options.High ?? 1.0;
                return new DatasetTruth(name, 1, [(a + b) / 2], [(b - a) * (b - a) / 12], Sample, x => x >= a && x <= b ? 1 / (b - a) : 0);
            }

            default:
                return null;
        }
    }

    /// <summary>The default gaussian parameters for dimension d: mean_k = 1 - 1.5 k/(d-1),
    /// std_k = sqrt(2) 0.5^(k/(d-1)), correlation 0.6^|i-j| (d = 2: mean (1, -0.5), covariance [[2, 0.6], [0.6, 0.5]]).</summary>
    /// <param name="d">Dimension, at least 1.</param>
    /// <returns>Mean (length d) and covariance (row-major d x d).</returns>
    public static (double[] Mean, double[] Covariance) DefaultGaussian(int d)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(d, 1);
        var m = new double[d];
        var sd = new double[d];
        for (int k = 0; k < d; k++)
        {
            double t = d == 1 ? 0 : (double)k / (d - 1);
            m[k] = 1 - (1.5 * t);
            sd[k] = Math.Sqrt(2) * Math.Pow(0.5, t);
        }

        var s = new double[d * d];
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < d; j++)
            {
                s[(i * d) + j] = sd[i] * sd[j] * Math.Pow(0.6, Math.Abs(i - j));
            }
        }

        return (m, s);
    }

    internal static void RequireKnown(string name)
    {
        if (!IsKnown(name))
        {
            throw new ArgumentException($"unknown dataset '{name}'; known datasets: {string.Join(", ", AllNames)}", nameof(name));
        }
    }

    internal static void CheckOptions(string name, DatasetOptions options)
    {
        var problems = new List<string>(options.Validate());
        void NotFor(bool given, string field)
        {
            if (given)
            {
                problems.Add($"{field} does not apply to '{name}': leave it null");
            }
        }

        bool isGaussian = name == "gaussian";
        NotFor(!isGaussian && options.Dimension is not null, nameof(options.Dimension));
        NotFor(!isGaussian && options.Mean is not null, nameof(options.Mean));
        NotFor(!isGaussian && options.Covariance is not null, nameof(options.Covariance));
        NotFor(name is not ("moons" or "circles" or "swiss-roll") && options.Noise is not null, nameof(options.Noise));
        NotFor(name != "exponential" && options.Rate is not null, nameof(options.Rate));
        NotFor(name != "uniform" && options.Low is not null, nameof(options.Low));
        NotFor(name != "uniform" && options.High is not null, nameof(options.High));
        if (problems.Count > 0)
        {
            throw new ArgumentException($"invalid options for dataset '{name}':\n  - " + string.Join("\n  - ", problems), nameof(options));
        }
    }

    private static int GaussianDimension(DatasetOptions o) =>
        o.Dimension ?? o.Mean?.Count ?? (o.Covariance is { } c ? (int)Math.Round(Math.Sqrt(c.Count)) : 2);

    private static (double[] Mean, double[] Covariance) GaussianParameters(DatasetOptions o)
    {
        int d = GaussianDimension(o);
        var (m, s) = DefaultGaussian(d);
        return (o.Mean?.ToArray() ?? m, o.Covariance?.ToArray() ?? s);
    }

    private static double NormalPdf(double x, double mu, double sigma)
    {
        double z = (x - mu) / sigma;
        return Math.Exp(-0.5 * z * z) / (sigma * Math.Sqrt(2 * Math.PI));
    }

    /// <summary>Standard normal by Box-Muller (one value per call; 1 - U avoids log 0).</summary>
    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static float[] Gaussian(Random rng, int n, DatasetOptions o)
    {
        var (m, s) = GaussianParameters(o);
        int d = m.Length;
        var l = Matrix<double>.Build.DenseOfRowMajor(d, d, s).Cholesky().Factor;
        var z = new double[d];
        var p = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < d; k++)
            {
                z[k] = Normal(rng);
            }

            for (int r = 0; r < d; r++)
            {
                double v = m[r];
                for (int k = 0; k <= r; k++)
                {
                    v += l[r, k] * z[k];
                }

                p[(i * d) + r] = (float)v;
            }
        }

        return p;
    }

    private static float[] Bimodal(Random rng, int n)
    {
        var p = new float[n];
        for (int i = 0; i < n; i++)
        {
            double c = rng.NextDouble() < 0.5 ? -2.0 : 2.0;
            p[i] = (float)(c + (0.5 * Normal(rng)));
        }

        return p;
    }

    private static float[] Exponential(Random rng, int n, double rate)
    {
        var p = new float[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = (float)(-Math.Log(1.0 - rng.NextDouble()) / rate);
        }

        return p;
    }

    private static float[] Uniform(Random rng, int n, double a, double b)
    {
        var p = new float[n];
        for (int i = 0; i < n; i++)
        {
            p[i] = (float)Math.Min(a + ((b - a) * rng.NextDouble()), b);
        }

        return p;
    }

    private static float[] Moons(Random rng, int n, double noise)
    {
        // sklearn make_moons (points alternate between the two moons), then FFJORD's 2 x + (-1, -0.2).
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            double t = Math.PI * rng.NextDouble();
            double x = i % 2 == 0 ? Math.Cos(t) : 1 - Math.Cos(t);
            double y = i % 2 == 0 ? Math.Sin(t) : 0.5 - Math.Sin(t);
            x += noise * Normal(rng);
            y += noise * Normal(rng);
            p[2 * i] = (float)((2 * x) - 1);
            p[(2 * i) + 1] = (float)((2 * y) - 0.2);
        }

        return p;
    }

    private static float[] Circles(Random rng, int n, double noise)
    {
        // sklearn make_circles(factor 0.5) with random angles, alternating circles, then FFJORD's 3 x.
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            double t = 2 * Math.PI * rng.NextDouble();
            double r = i % 2 == 0 ? 1.0 : 0.5;
            double x = (r * Math.Cos(t)) + (noise * Normal(rng));
            double y = (r * Math.Sin(t)) + (noise * Normal(rng));
            p[2 * i] = (float)(3 * x);
            p[(2 * i) + 1] = (float)(3 * y);
        }

        return p;
    }

    private static float[] EightGaussians(Random rng, int n)
    {
        // FFJORD: centres at radius 4 every 45 degrees, std 0.5, everything divided by 1.414.
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            int k = rng.Next(8);
            double a = k * Math.PI / 4;
            double x = (4 * Math.Cos(a)) + (0.5 * Normal(rng));
            double y = (4 * Math.Sin(a)) + (0.5 * Normal(rng));
            p[2 * i] = (float)(x / 1.414);
            p[(2 * i) + 1] = (float)(y / 1.414);
        }

        return p;
    }

    private static float[] Checkerboard(Random rng, int n)
    {
        // FFJORD: 8 unit squares of a 4 x 4 board on [-2, 2]^2, then scaled by 2 (so [-4, 4]^2).
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            double x1 = (rng.NextDouble() * 4) - 2;
            double x2 = rng.NextDouble() - (rng.Next(2) * 2);
            x2 += ((((int)Math.Floor(x1)) % 2) + 2) % 2;
            p[2 * i] = (float)(2 * x1);
            p[(2 * i) + 1] = (float)(2 * x2);
        }

        return p;
    }

    private static float[] SwissRoll(Random rng, int n, double noise)
    {
        // sklearn make_swiss_roll, coordinates (x, z), divided by 5 (FFJORD).
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            double t = 1.5 * Math.PI * (1 + (2 * rng.NextDouble()));
            double x = (t * Math.Cos(t)) + (noise * Normal(rng));
            double z = (t * Math.Sin(t)) + (noise * Normal(rng));
            p[2 * i] = (float)(x / 5);
            p[(2 * i) + 1] = (float)(z / 5);
        }

        return p;
    }

    private static float[] Digits(Random rng, int n)
    {
        if (n > DigitsData.Count)
        {
            throw new ArgumentException($"the 'digits' dataset has {DigitsData.Count} images; n = {n} is more than can be drawn without replacement (use at most {DigitsData.Count})", nameof(n));
        }

        // The first n steps of a Fisher-Yates shuffle: n distinct rows, each subset and order equally likely.
        var rows = new int[DigitsData.Count];
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = i;
        }

        for (int i = 0; i < n; i++)
        {
            int j = rng.Next(i, rows.Length);
            (rows[i], rows[j]) = (rows[j], rows[i]);
        }

        return DigitsData.Select(rows.AsSpan(0, n));
    }

    private static float[] Pinwheel(Random rng, int n)
    {
        // FFJORD: 5 arms (point i in arm i mod 5), radial std 0.3, tangential std 0.1, rate 0.25, scaled by 2.
        const int Arms = 5;
        var p = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            double f0 = 1 + (0.3 * Normal(rng));
            double f1 = 0.1 * Normal(rng);
            double angle = (2 * Math.PI * (i % Arms) / Arms) + (0.25 * Math.Exp(f0));
            double c = Math.Cos(angle), s = Math.Sin(angle);
            p[2 * i] = (float)(2 * ((f0 * c) + (f1 * s)));
            p[(2 * i) + 1] = (float)(2 * ((-f0 * s) + (f1 * c)));
        }

        return p;
    }
}
