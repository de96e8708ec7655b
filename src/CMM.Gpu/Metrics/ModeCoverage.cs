using System.Globalization;
using System.Text;
using CMM.Gpu.Data;

namespace CMM.Gpu.Metrics;

/// <summary>One mode's share of the generated points beside the target's (docs/metrics.md, "Mode coverage").</summary>
public sealed record ModeShare
{
    /// <summary>The mode's name (<see cref="ModeStructure.ModeNames"/>).</summary>
    public string Name { get; init; } = "";

    /// <summary>Share of the generated points whose nearest mode this is.</summary>
    public double Generated { get; init; }

    /// <summary>The same share of the held-out points (the target, up to sampling noise).</summary>
    public double HeldOut { get; init; }

    /// <summary>The target's exact share when known, else null.</summary>
    public double? Exact { get; init; }
}

/// <summary>
/// Mode coverage of generated points against held-out data for data with known modes (<see cref="DatasetModes"/>):
/// each mode's share and the gap share, beside the same shares of the held-out data and the exact ones where known.
/// Every point counts for its nearest mode, so the mode shares sum to 1; the gap share overlaps them.
/// </summary>
public sealed record ModeCoverageReport
{
    /// <summary>Name of the data whose modes were used.</summary>
    public string Data { get; init; } = "";

    /// <summary>How points are assigned to modes, in words.</summary>
    public string Assignment { get; init; } = "";

    /// <summary>What the gap is, in words.</summary>
    public string Gap { get; init; } = "";

    /// <summary>Number of generated points counted (all of them).</summary>
    public int GeneratedCount { get; init; }

    /// <summary>Number of held-out points counted (all of them).</summary>
    public int HeldOutCount { get; init; }

    /// <summary>One entry per mode.</summary>
    public IReadOnlyList<ModeShare> Modes { get; init; } = [];

    /// <summary>Share of the generated points in the gap.</summary>
    public double GapShare { get; init; }

    /// <summary>Share of the held-out points in the gap.</summary>
    public double HeldOutGapShare { get; init; }

    /// <summary>The target's exact gap share when known, else null.</summary>
    public double? ExactGapShare { get; init; }

    /// <summary>Value equality, the modes compared element by element.</summary>
    /// <param name="other">The other report.</param>
    /// <returns>Whether every field and every mode agree.</returns>
    public bool Equals(ModeCoverageReport? other) =>
        other is not null && Data == other.Data && Assignment == other.Assignment && Gap == other.Gap
        && GeneratedCount == other.GeneratedCount && HeldOutCount == other.HeldOutCount && Modes.SequenceEqual(other.Modes)
        && GapShare.Equals(other.GapShare) && HeldOutGapShare.Equals(other.HeldOutGapShare) && Nullable.Equals(ExactGapShare, other.ExactGapShare);

    /// <summary>A hash consistent with <see cref="Equals(ModeCoverageReport?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() => HashCode.Combine(Data, Modes.Count, GapShare, HeldOutGapShare);

    /// <summary>A plain-text table: each mode's share (generated, held-out, exact) and the gap share, in percent.</summary>
    /// <returns>The table.</returns>
    public string ToTable()
    {
        var ci = CultureInfo.InvariantCulture;
        static string Pct(double? v) => v is { } x ? (100 * x).ToString("F2", CultureInfo.InvariantCulture) + " %" : "-";
        int w0 = Math.Max("gap".Length, Modes.Select(m => m.Name.Length).DefaultIfEmpty(0).Max());
        var sb = new StringBuilder();
        sb.Append(ci, $"mode coverage ({Data}): all {GeneratedCount} generated vs all {HeldOutCount} held-out points; a point counts for its {Assignment}\n");
        sb.Append(ci, $"gap: {Gap} (gap points also count for their mode)\n");
        sb.Append(ci, $"{"mode".PadRight(w0)}  {"generated",10}  {"held-out",10}  {"exact",10}\n");
        sb.Append(new string('-', w0 + 36)).Append('\n');
        foreach (var m in Modes)
        {
            sb.Append(ci, $"{m.Name.PadRight(w0)}  {Pct(m.Generated),10}  {Pct(m.HeldOut),10}  {Pct(m.Exact),10}\n");
        }

        sb.Append(ci, $"{"gap".PadRight(w0)}  {Pct(GapShare),10}  {Pct(HeldOutGapShare),10}  {Pct(ExactGapShare),10}\n");
        return sb.ToString();
    }
}

/// <summary>Counts points per mode and in the gap of a <see cref="ModeStructure"/> (docs/metrics.md, "Mode coverage").</summary>
public static class ModeCoverage
{
    /// <summary>The share of the points whose nearest mode is each mode, and the share in the gap. O(n) assignments, in parallel.</summary>
    /// <param name="modes">The mode structure.</param>
    /// <param name="points">Row-major [n, d], n &gt;= 1.</param>
    /// <param name="dimension">d; must be the structure's.</param>
    /// <returns>One share per mode (summing to 1) and the gap share.</returns>
    /// <exception cref="ArgumentException">Empty or misshapen points, or a d other than the structure's.</exception>
    public static (double[] ModeShares, double GapShare) Shares(ModeStructure modes, float[] points, int dimension)
    {
        ArgumentNullException.ThrowIfNull(modes);
        int n = SampleMetrics.Rows(points, dimension, nameof(points));
        if (dimension != modes.Dimension)
        {
            throw new ArgumentException($"the modes of '{modes.Name}' are for d = {modes.Dimension} but the points have d = {dimension}", nameof(dimension));
        }

        var mode = new int[n];
        var gap = new bool[n];
        Parallel.For(0, n, i => mode[i] = modes.Assign(points.AsSpan(i * dimension, dimension), out gap[i]));
        var counts = new int[modes.ModeNames.Count];
        foreach (int k in mode)
        {
            counts[k]++;
        }

        return (counts.Select(c => c / (double)n).ToArray(), gap.Count(g => g) / (double)n);
    }

    /// <summary>Mode and gap shares of all generated and all held-out points, with the exact shares where known.</summary>
    /// <param name="modes">The mode structure.</param>
    /// <param name="generated">Row-major [n_gen, d], n_gen &gt;= 1.</param>
    /// <param name="heldOut">Row-major [n_held, d], n_held &gt;= 1.</param>
    /// <param name="dimension">d; must be the structure's.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">Empty or misshapen points, or a d other than the structure's.</exception>
    public static ModeCoverageReport Evaluate(ModeStructure modes, float[] generated, float[] heldOut, int dimension)
    {
        ArgumentNullException.ThrowIfNull(modes);
        var (g, gGap) = Shares(modes, generated, dimension);
        var (h, hGap) = Shares(modes, heldOut, dimension);
        return new ModeCoverageReport
        {
            Data = modes.Name,
            Assignment = modes.Assignment,
            Gap = modes.Gap,
            GeneratedCount = generated.Length / dimension,
            HeldOutCount = heldOut.Length / dimension,
            Modes = modes.ModeNames.Select((name, k) => new ModeShare { Name = name, Generated = g[k], HeldOut = h[k], Exact = modes.ExactModeShares?[k] }).ToArray(),
            GapShare = gGap,
            HeldOutGapShare = hGap,
            ExactGapShare = modes.ExactGapShare,
        };
    }
}
