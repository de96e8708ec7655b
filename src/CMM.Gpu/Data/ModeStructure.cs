namespace CMM.Gpu.Data;

/// <summary>Assigns one point to a mode of a <see cref="ModeStructure"/>.</summary>
/// <param name="point">The point's d coordinates.</param>
/// <param name="inGap">Set to true when the point lies in the gap (far from every mode, by the structure's own rule).</param>
/// <returns>The index of the point's nearest mode, in [0, mode count).</returns>
public delegate int ModeAssigner(ReadOnlySpan<float> point, out bool inGap);

/// <summary>
/// The known modes of a dataset and the gap between them (docs/metrics.md, "Mode coverage"): every point belongs to
/// its nearest mode, and a point that is far from every mode is also counted in the gap, so the mode shares sum to 1
/// and the gap share overlaps them. <see cref="DatasetModes.For"/> gives the built-in datasets' structures; anyone
/// can build one for their own data.
/// </summary>
public sealed class ModeStructure
{
    private readonly ModeAssigner assigner;

    /// <summary>Creates a mode structure.</summary>
    /// <param name="name">Name of the data the modes describe.</param>
    /// <param name="dimension">d of the points, at least 1.</param>
    /// <param name="modeNames">One name per mode, at least one mode.</param>
    /// <param name="assignment">How a point is assigned to a mode, in words (printed with the shares).</param>
    /// <param name="gap">What the gap is, in words.</param>
    /// <param name="assigner">The rule: nearest mode index and whether the point is in the gap.</param>
    /// <param name="exactModeShares">The target's exact share of each mode when known (e.g. by symmetry), else null.</param>
    /// <param name="exactGapShare">The target's exact gap share when known, else null.</param>
    /// <exception cref="ArgumentException">No modes, a bad dimension, or exact shares that do not match the modes.</exception>
    public ModeStructure(
        string name,
        int dimension,
        IReadOnlyList<string> modeNames,
        string assignment,
        string gap,
        ModeAssigner assigner,
        IReadOnlyList<double>? exactModeShares = null,
        double? exactGapShare = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(modeNames);
        ArgumentNullException.ThrowIfNull(assignment);
        ArgumentNullException.ThrowIfNull(gap);
        ArgumentNullException.ThrowIfNull(assigner);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (modeNames.Count == 0)
        {
            throw new ArgumentException($"the mode structure of '{name}' needs at least one mode", nameof(modeNames));
        }

        if (exactModeShares is not null && exactModeShares.Count != modeNames.Count)
        {
            throw new ArgumentException($"'{name}' has {modeNames.Count} modes but {exactModeShares.Count} exact shares", nameof(exactModeShares));
        }

        Name = name;
        Dimension = dimension;
        ModeNames = modeNames.ToArray();
        Assignment = assignment;
        Gap = gap;
        this.assigner = assigner;
        ExactModeShares = exactModeShares?.ToArray();
        ExactGapShare = exactGapShare;
    }

    /// <summary>Name of the data the modes describe.</summary>
    public string Name { get; }

    /// <summary>d.</summary>
    public int Dimension { get; }

    /// <summary>One name per mode.</summary>
    public IReadOnlyList<string> ModeNames { get; }

    /// <summary>How a point is assigned to a mode, in words.</summary>
    public string Assignment { get; }

    /// <summary>What the gap is, in words.</summary>
    public string Gap { get; }

    /// <summary>The target's exact share of each mode, or null when there is no closed form.</summary>
    public IReadOnlyList<double>? ExactModeShares { get; }

    /// <summary>The target's exact gap share, or null when there is no closed form.</summary>
    public double? ExactGapShare { get; }

    /// <summary>Assigns one point.</summary>
    /// <param name="point">d coordinates.</param>
    /// <param name="inGap">True when the point is in the gap.</param>
    /// <returns>The nearest mode's index.</returns>
    /// <exception cref="ArgumentException">The point does not have d coordinates.</exception>
    public int Assign(ReadOnlySpan<float> point, out bool inGap)
    {
        if (point.Length != Dimension)
        {
            throw new ArgumentException($"the modes of '{Name}' are for d = {Dimension} but the point has {point.Length} coordinates", nameof(point));
        }

        int mode = assigner(point, out inGap);
        if ((uint)mode >= (uint)ModeNames.Count)
        {
            throw new InvalidOperationException($"the mode rule of '{Name}' returned mode {mode}, outside [0, {ModeNames.Count})");
        }

        return mode;
    }
}
