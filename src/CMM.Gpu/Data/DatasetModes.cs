using MathNet.Numerics.Distributions;

namespace CMM.Gpu.Data;

/// <summary>
/// The modes of the built-in datasets, defined once here from the generators in <see cref="Datasets"/>
/// (docs/metrics.md, "Mode coverage"). The distance-based gaps sit 3 noise standard deviations away from every
/// mode; exact target shares are given where symmetry or a closed form fixes them.
/// </summary>
public static class DatasetModes
{
    /// <summary>How far (in noise standard deviations) a point must be from every mode to count as in the gap.</summary>
    public const double GapDeviations = 3;

    private const int CurveVertices = 1200;

    /// <summary>
    /// The mode structure of a built-in dataset, or null for one without modes (<c>gaussian</c>, <c>exponential</c>,
    /// <c>uniform</c>).
    /// </summary>
    /// <param name="name">One of <see cref="Datasets.Names"/>.</param>
    /// <param name="options">The options the data were drawn with (the noise of <c>moons</c>, <c>circles</c> and
    /// <c>swiss-roll</c> sets the width of their modes); null for the defaults.</param>
    /// <returns>The structure, or null.</returns>
    /// <exception cref="ArgumentException">Unknown name, options that do not apply, or a noise of 0 (no gap can be
    /// defined around a mode of width 0).</exception>
    public static ModeStructure? For(string name, DatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        Datasets.RequireKnown(name);
        options ??= DatasetOptions.Default;
        Datasets.CheckOptions(name, options);
        return name switch
        {
            "bimodal" => Bimodal(),
            "eight-gaussians" => EightGaussians(),
            "checkerboard" => Checkerboard(),
            "circles" => Circles(NoiseSd(name, options.Noise ?? 0.08, 3)),
            "moons" => Moons(NoiseSd(name, options.Noise ?? 0.1, 2)),
            "swiss-roll" => SwissRoll(NoiseSd(name, options.Noise ?? 1.0, 0.2)),
            "pinwheel" => Pinwheel(),
            _ => null,
        };
    }

    private static double NoiseSd(string name, double noise, double scale)
    {
        if (noise <= 0)
        {
            throw new ArgumentException($"the modes of '{name}' need Noise > 0 (got {noise}): the gap lies {GapDeviations} noise sd from each mode", nameof(noise));
        }

        return noise * scale;
    }

    /// <summary>0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2): the sign picks the mode; the gap is |y| &lt; 1 (docs/experiments.md's gap).</summary>
    private static ModeStructure Bimodal() => new(
        "bimodal",
        1,
        ["mode at -2", "mode at +2"],
        "the sign of y",
        "|y| < 1: between the modes, more than 2 sd from both",
        (ReadOnlySpan<float> p, out bool gap) =>
        {
            gap = Math.Abs(p[0]) < 1;
            return p[0] < 0 ? 0 : 1;
        },
        [0.5, 0.5],
        // P(|y| < 1) = P(2 < Z < 6) for either component.
        Normal.CDF(0, 1, -2) - Normal.CDF(0, 1, -6));

    /// <summary>FFJORD's eight Gaussians: centres 4 (cos, sin)(k pi/4) / 1.414, sd 0.5 / 1.414.</summary>
    private static ModeStructure EightGaussians()
    {
        const double Scale = 1.414, Sd = 0.5 / Scale;
        var centres = new double[16];
        var names = new string[8];
        for (int k = 0; k < 8; k++)
        {
            centres[2 * k] = 4 * Math.Cos(k * Math.PI / 4) / Scale;
            centres[(2 * k) + 1] = 4 * Math.Sin(k * Math.PI / 4) / Scale;
            names[k] = $"centre at {45 * k} deg";
        }

        double limit2 = GapDeviations * GapDeviations * Sd * Sd;
        return new ModeStructure(
            "eight-gaussians",
            2,
            names,
            "nearest centre",
            $"farther than {GapDeviations} sd ({GapDeviations * Sd:0.###}) from every centre",
            (ReadOnlySpan<float> p, out bool gap) =>
            {
                int best = 0;
                double bestD2 = double.PositiveInfinity;
                for (int k = 0; k < 8; k++)
                {
                    double dx = p[0] - centres[2 * k], dy = p[1] - centres[(2 * k) + 1];
                    double d2 = (dx * dx) + (dy * dy);
                    if (d2 < bestD2)
                    {
                        (best, bestD2) = (k, d2);
                    }
                }

                gap = bestD2 > limit2;
                return best;
            },
            Enumerable.Repeat(1.0 / 8, 8).ToArray(),
            EightGaussiansGapShare());
    }

    /// <summary>
    /// The exact gap share of the eight Gaussians. In sd units the centres lie at radius 8, neighbours 16 sin(pi/8) =
    /// 6.12 apart, so the 3-sd disks are disjoint: a point of component 0 is in the gap when it is outside its own disk
    /// (probability exp(-9/2) = 1.111 %) and outside the other seven, whose masses under component 0 are noncentral
    /// chi-square probabilities (0.060 % for each neighbour, below 1e-15 for the rest): 0.9907 %.
    /// </summary>
    private static double EightGaussiansGapShare()
    {
        double r2 = GapDeviations * GapDeviations, share = Math.Exp(-r2 / 2);
        for (int k = 1; k < 8; k++)
        {
            double distance = 16 * Math.Sin(k * Math.PI / 8);
            share -= StandardNormalDiskMass(distance, r2);
        }

        return share;
    }

    /// <summary>
    /// P(|Z - mu| &lt;= r) for Z ~ N(0, I_2) and |mu| = <paramref name="distance"/>: the noncentral chi-square (2 degrees
    /// of freedom) CDF, sum over j of Poisson(j; |mu|^2/2) P(chi^2_(2 + 2j) &lt;= r^2), where P(chi^2_(2m) &lt;= x) =
    /// P(Poisson(x/2) &gt;= m) is summed from m upwards (no cancellation).
    /// </summary>
    private static double StandardNormalDiskMass(double distance, double r2)
    {
        double half = distance * distance / 2, x = r2 / 2, total = 0;
        for (int j = 0; j < 400; j++)
        {
            double weight = Math.Exp((j * Math.Log(half)) - half - LogFactorial(j));
            double tail = 0;
            for (int i = j + 1; i < j + 100; i++)
            {
                tail += Math.Exp((i * Math.Log(x)) - x - LogFactorial(i));
            }

            total += weight * tail;
        }

        return total;
    }

    private static double LogFactorial(int n) => MathNet.Numerics.SpecialFunctions.FactorialLn(n);

    /// <summary>The 8 occupied 2 x 2 squares of FFJORD's checkerboard on [-4, 4]^2: columns i and rows j in -2..1 with i + j even.</summary>
    private static ModeStructure Checkerboard()
    {
        var boxes = new List<(double X0, double Y0)>();
        var names = new List<string>();
        for (int i = -2; i <= 1; i++)
        {
            for (int j = -2; j <= 1; j++)
            {
                if ((i + j) % 2 == 0)
                {
                    boxes.Add((2 * i, 2 * j));
                    names.Add($"square [{2 * i}, {(2 * i) + 2}] x [{2 * j}, {(2 * j) + 2}]");
                }
            }
        }

        return new ModeStructure(
            "checkerboard",
            2,
            names,
            "nearest occupied square (distance 0 inside it)",
            "outside every occupied square",
            (ReadOnlySpan<float> p, out bool gap) =>
            {
                int best = 0;
                double bestD2 = double.PositiveInfinity;
                for (int k = 0; k < boxes.Count; k++)
                {
                    double dx = Math.Max(0, Math.Max(boxes[k].X0 - p[0], p[0] - (boxes[k].X0 + 2)));
                    double dy = Math.Max(0, Math.Max(boxes[k].Y0 - p[1], p[1] - (boxes[k].Y0 + 2)));
                    double d2 = (dx * dx) + (dy * dy);
                    if (d2 < bestD2)
                    {
                        (best, bestD2) = (k, d2);
                    }
                }

                gap = bestD2 > 0;
                return best;
            },
            Enumerable.Repeat(1.0 / 8, 8).ToArray(),
            0);
    }

    /// <summary>Two rings of radii 3 and 1.5 (sklearn's make_circles, factor 0.5, times 3), noise sd 3 x noise.</summary>
    private static ModeStructure Circles(double sd) => NearerOfTwo(
        "circles",
        ["outer ring (r = 3)", "inner ring (r = 1.5)"],
        "nearest ring by radius",
        $"radius farther than {GapDeviations} noise sd ({GapDeviations * sd:0.###}) from both rings",
        GapDeviations * sd,
        (x, y) =>
        {
            double r = Math.Sqrt((x * x) + (y * y));
            return (Math.Abs(r - 3), Math.Abs(r - 1.5));
        },
        null);

    /// <summary>
    /// sklearn's two moons times 2 plus (-1, -0.2): the upper moon is the arc of radius 2 about (-1, -0.2) over angles
    /// [0, pi], the lower one the arc about (1, 0.8) over [pi, 2 pi]; noise sd 2 x noise. The half-turn about (0, 0.3)
    /// swaps the moons, so each holds exactly half the target.
    /// </summary>
    private static ModeStructure Moons(double sd) => NearerOfTwo(
        "moons",
        ["upper moon", "lower moon"],
        "nearest generator curve (half circle)",
        $"farther than {GapDeviations} noise sd ({GapDeviations * sd:0.###}) from both curves",
        GapDeviations * sd,
        (x, y) => (ArcDistance(x, y, -1, -0.2, 0), ArcDistance(x, y, 1, 0.8, Math.PI)),
        [0.5, 0.5]);

    /// <summary>Two 2-D modes given by a point's distances to each: the nearer one wins (ties go to the first), and the gap is beyond <paramref name="limit"/> from both.</summary>
    private static ModeStructure NearerOfTwo(string name, string[] names, string assignment, string gap, double limit, Func<double, double, (double First, double Second)> distances, IReadOnlyList<double>? exact) => new(
        name,
        2,
        names,
        assignment,
        gap,
        (ReadOnlySpan<float> p, out bool inGap) =>
        {
            var (first, second) = distances(p[0], p[1]);
            inGap = Math.Min(first, second) > limit;
            return first <= second ? 0 : 1;
        },
        exact);

    /// <summary>Distance from (x, y) to the half circle of radius 2 about (cx, cy) over angles [from, from + pi].</summary>
    private static double ArcDistance(double x, double y, double cx, double cy, double from)
    {
        double dx = x - cx, dy = y - cy;
        double angle = Math.Atan2(dy, dx) - from;
        angle -= 2 * Math.PI * Math.Floor(angle / (2 * Math.PI));
        if (angle <= Math.PI)
        {
            return Math.Abs(Math.Sqrt((dx * dx) + (dy * dy)) - 2);
        }

        double e0x = cx + (2 * Math.Cos(from)) - x, e0y = cy + (2 * Math.Sin(from)) - y;
        double e1x = cx - (2 * Math.Cos(from)) - x, e1y = cy - (2 * Math.Sin(from)) - y;
        return Math.Sqrt(Math.Min((e0x * e0x) + (e0y * e0y), (e1x * e1x) + (e1y * e1y)));
    }

    /// <summary>
    /// sklearn's swiss roll (t cos t, t sin t) / 5, t in [1.5 pi, 4.5 pi], cut into three arcs of equal t (t is
    /// uniform, so a third of the target each, up to noise near the cuts); noise sd noise / 5. The roll has one mode;
    /// the thirds show whether the model covers all of it (the inner part is the hard one).
    /// </summary>
    private static ModeStructure SwissRoll(double sd)
    {
        var curve = new double[2 * (CurveVertices + 1)];
        for (int i = 0; i <= CurveVertices; i++)
        {
            double t = 1.5 * Math.PI * (1 + (2.0 * i / CurveVertices));
            curve[2 * i] = t * Math.Cos(t) / 5;
            curve[(2 * i) + 1] = t * Math.Sin(t) / 5;
        }

        double limit = GapDeviations * sd;
        return new ModeStructure(
            "swiss-roll",
            2,
            ["inner third (t in [1.5 pi, 2.5 pi])", "middle third (t in [2.5 pi, 3.5 pi])", "outer third (t in [3.5 pi, 4.5 pi])"],
            "third of the curve holding the nearest curve point",
            $"farther than {GapDeviations} noise sd ({limit:0.###}) from the curve",
            (ReadOnlySpan<float> p, out bool gap) =>
            {
                int segment = NearestSegment(curve, p[0], p[1], out double d2);
                gap = d2 > limit * limit;
                return Math.Min(2, 3 * segment / CurveVertices);
            });
    }

    /// <summary>Index of the polyline segment nearest to (x, y) and the squared distance to it.</summary>
    private static int NearestSegment(double[] vertices, double x, double y, out double bestD2)
    {
        int best = 0;
        bestD2 = double.PositiveInfinity;
        for (int i = 0; (2 * i) + 3 < vertices.Length; i++)
        {
            double ax = vertices[2 * i], ay = vertices[(2 * i) + 1];
            double ux = vertices[(2 * i) + 2] - ax, uy = vertices[(2 * i) + 3] - ay;
            double s = Math.Clamp((((x - ax) * ux) + ((y - ay) * uy)) / ((ux * ux) + (uy * uy)), 0, 1);
            double dx = x - (ax + (s * ux)), dy = y - (ay + (s * uy));
            double d2 = (dx * dx) + (dy * dy);
            if (d2 < bestD2)
            {
                (best, bestD2) = (i, d2);
            }
        }

        return best;
    }

    /// <summary>
    /// FFJORD's pinwheel: arm k is the image of (f0, f1) ~ N((1, 0), diag(0.3^2, 0.1^2)) under
    /// p = 2 R(-(2 pi k / 5 + 0.25 e^f0)) (f0, f1), a warped Gaussian. A point is assigned to the arm with the nearest
    /// pre-image in those noise units, z^2 = ((f0 - 1) / 0.3)^2 + (f1 / 0.1)^2, and is in the gap when z &gt; 3 for every
    /// arm (as for the eight Gaussians). The fifth-turn rotation cycles the arms, so each holds exactly a fifth.
    /// </summary>
    private static ModeStructure Pinwheel()
    {
        const int Arms = 5;
        return new ModeStructure(
            "pinwheel",
            2,
            Enumerable.Range(0, Arms).Select(k => $"arm {k}").ToArray(),
            "arm with the nearest pre-image in noise sd units (radial 0.3, tangential 0.1)",
            $"pre-image farther than {GapDeviations} sd from every arm's centre (1, 0)",
            (ReadOnlySpan<float> p, out bool gap) =>
            {
                int best = 0;
                double bestZ2 = double.PositiveInfinity;
                for (int k = 0; k < Arms; k++)
                {
                    double z2 = PinwheelPreimageZ2(p[0], p[1], 2 * Math.PI * k / Arms);
                    if (z2 < bestZ2)
                    {
                        (best, bestZ2) = (k, z2);
                    }
                }

                gap = bestZ2 > GapDeviations * GapDeviations;
                return best;
            },
            Enumerable.Repeat(1.0 / Arms, Arms).ToArray());
    }

    /// <summary>
    /// The smallest z^2 over the pre-images of p under one pinwheel arm. With p / 2 = rho (cos phi, sin phi), a
    /// pre-image solves (f0, f1) = rho (cos, sin)(phi + b(f0)), b(f0) = base + 0.25 e^f0, so f0 is a root of
    /// h(f0) = f0 - rho cos(phi + b(f0)) in [-rho, rho] (h(-rho) &lt;= 0 &lt;= h(rho): one always exists). The roots are
    /// bracketed on a grid of 128 cells and bisected. Only points with rho &lt;= sqrt(1.9^2 + 0.3^2) can have z &lt;= 3.
    /// </summary>
    private static double PinwheelPreimageZ2(double x, double y, double armAngle)
    {
        const int Cells = 128;
        double rho = Math.Sqrt((x * x) + (y * y)) / 2, phi = Math.Atan2(y, x);
        double Angle(double f0) => phi + armAngle + (0.25 * Math.Exp(Math.Min(f0, 30)));
        double H(double f0) => f0 - (rho * Math.Cos(Angle(f0)));
        double Z2(double f0)
        {
            double f1 = rho * Math.Sin(Angle(f0)), a = (f0 - 1) / 0.3, b = f1 / 0.1;
            return (a * a) + (b * b);
        }

        if (rho == 0)
        {
            return Z2(0);
        }

        double best = double.PositiveInfinity, step = 2 * rho / Cells, lo = -rho, hLo = H(lo);
        for (int c = 1; c <= Cells; c++)
        {
            double hi = c == Cells ? rho : -rho + (c * step), hHi = H(hi);
            if ((hLo <= 0 && hHi >= 0) || (hLo >= 0 && hHi <= 0))
            {
                double a = lo, b = hi, ha = hLo;
                for (int it = 0; it < 40; it++)
                {
                    double m = 0.5 * (a + b), hm = H(m);
                    if ((ha <= 0) == (hm <= 0))
                    {
                        (a, ha) = (m, hm);
                    }
                    else
                    {
                        b = m;
                    }
                }

                best = Math.Min(best, Z2(0.5 * (a + b)));
            }

            (lo, hLo) = (hi, hHi);
        }

        return best;
    }
}
