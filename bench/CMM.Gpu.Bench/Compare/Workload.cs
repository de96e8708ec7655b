using System.Globalization;
using System.Text.Json.Serialization;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// The work one call of a workload does, counted from the algorithm (not measured): exp evaluations, floating-point
/// operations (add, sub, mul, div, max each count 1; exp and log are counted separately, not as FLOPs), and the
/// minimum bytes a streaming implementation must move to and from memory (inputs read once, outputs written once;
/// caches can make the real traffic lower, the stored cost matrix makes it higher).
/// </summary>
internal sealed record Work(double Exps, double Flops, double Bytes)
{
    /// <summary>Pairwise 1/2|x-y|^2 over n x m x d: 3d + 1 FLOPs per entry; reads both clouds, writes the matrix.</summary>
    public static Work Pairwise(long n, long m, int d) => new(0, n * m * ((3.0 * d) + 1), 4.0 * ((n * d) + (m * d) + (n * m)));

    /// <summary>One Sinkhorn iteration (f update then g update), online: per pair and direction 3d + 1 FLOPs for the cost,
    /// 5 for (h - c) * (1/eps) + lw and the streaming LSE (compare, sub, add), one exp; reads points, potentials and
    /// log-weights, writes potentials and errors.</summary>
    public static Work SinkhornOnline(long n, long m, int d) =>
        new(2.0 * n * m, 2.0 * n * m * ((3.0 * d) + 6), 4.0 * 2 * (((n + m) * d) + (3 * (n + m))));

    /// <summary>One Sinkhorn iteration from a stored n x m cost: 5 FLOPs and one exp per pair and direction; the matrix is read twice.</summary>
    public static Work SinkhornStored(long n, long m) => new(2.0 * n * m, 2.0 * n * m * 5, (2.0 * 4 * n * m) + (4.0 * 2 * 3 * (n + m)));

    /// <summary>One ULA step for a quadratic potential: gradient Ax + b (2d^2 FLOPs), proposal (4d), Box-Muller per pair of
    /// normals (log, sqrt, sin, cos: counted as 0 exps); bytes: x read twice, gradient written and read, proposal written and read, x written.</summary>
    public static Work LangevinStep(long n, int d) => new(0, n * ((2.0 * d * d) + (4.0 * d)), 4.0 * n * d * 7);

    /// <summary>
    /// One ICNN call over n points, hidden widths h_1..h_L, rank r (docs/icnn.md). With MW = sum_l h_l d and
    /// MP = sum_(l>=1) h_l h_(l-1) multiply-adds per matrix pass: forward 2 (MW + MP) + 2 h_L + 2 d r + 5 d FLOPs;
    /// input gradient = forward + reverse 2 (MW + MP) + H + 4 d r + 4 d; loss gradient = forward + reverse + tangent forward
    /// (each 2 (MW + MP)) + the double reverse (4 MW + 8 MP: weight gradients of primal and tangent, two adjoint passes)
    /// + 4 H + 6 d r + 8 d. Exps: softplus = one exp and one log (counted as 2) per unit in the forward, the sigmoid one exp
    /// per unit for the derivatives. Bytes: points in, values / gradients out; the loss gradient also writes P floats.
    /// </summary>
    public static Work Icnn(string kind, long n, IReadOnlyList<int> widths, int d, int r, long parameters)
    {
        double mw = widths.Sum(h => (double)h * d), mp = 0, hsum = widths.Sum();
        for (int l = 1; l < widths.Count; l++)
        {
            mp += (double)widths[l] * widths[l - 1];
        }

        double fwd = (2 * (mw + mp)) + (2 * widths[^1]) + (2.0 * d * r) + (5.0 * d);
        double rev = (2 * (mw + mp)) + hsum + (4.0 * d * r) + (4.0 * d);
        return kind switch
        {
            "icnn_value" => new(n * 2 * hsum, n * fwd, 4.0 * n * (d + 1)),
            "icnn_grad" => new(n * 3 * hsum, n * (fwd + rev), 4.0 * n * 2 * d),
            _ => new(n * 3 * hsum, n * (fwd + rev + (2 * (mw + mp)) + (4 * mw) + (8 * mp) + (4 * hsum) + (6.0 * d * r) + (8.0 * d)),
                (4.0 * n * 2 * d) + (4.0 * parameters)),
        };
    }

    /// <summary>Conjugate solve: the work depends on the iterations; only the points are counted.</summary>
    public static Work PerPoint => new(0, 0, 0);

    [JsonIgnore]
    public bool IsEmpty => Exps == 0 && Flops == 0 && Bytes == 0;
}

/// <summary>One measured (workload, implementation) pair.</summary>
internal sealed record Measurement(
    string Key,
    string Workload,
    int N,
    int M,
    int D,
    string Impl,
    string Baseline,
    double Seconds,
    double[] Samples,
    Work Work,
    string Note)
{
    /// <summary>The JSON key shared with bench/scripts/baselines.py: workload and shape.</summary>
    public static string MakeKey(string workload, int n, int m, int d) =>
        string.Create(CultureInfo.InvariantCulture, $"{workload} n={n} m={m} d={d}");
}
