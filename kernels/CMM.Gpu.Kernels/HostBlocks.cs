namespace CMM.Gpu.Kernels;

/// <summary>
/// The split of host work (the SIMD forms of the CPU accelerator) into contiguous blocks of work units run in parallel: at
/// most the blocks asked for, every block but the last of the same size. A unit is a group of SIMD lanes, a row or a group of
/// columns; which points each block gets depends only on the unit count and the blocks asked for, so results that depend on
/// the blocks (the parameter gradients' partial rows) are deterministic.
/// </summary>
internal static class HostBlocks
{
    /// <summary>The number of blocks <see cref="ForEach"/> runs (0 when there are no units).</summary>
    /// <param name="units">Work units (0 or more).</param>
    /// <param name="maxBlocks">Blocks wanted (values below 1 count as 1).</param>
    /// <returns>The blocks.</returns>
    public static int Count(int units, int maxBlocks) => units < 1 ? 0 : Ceiling(units, PerBlock(units, maxBlocks));

    /// <summary>Runs <paramref name="block"/>(b, first unit, end unit) for each of the <see cref="Count"/> blocks, in parallel
    /// when there are several; none when there are no units.</summary>
    /// <param name="units">Work units.</param>
    /// <param name="maxBlocks">Blocks wanted.</param>
    /// <param name="block">The work of one block: its index and its units [first, end).</param>
    public static void ForEach(int units, int maxBlocks, Action<int, int, int> block)
    {
        int nb = Count(units, maxBlocks);
        if (nb == 0)
        {
            return;
        }

        int per = PerBlock(units, maxBlocks);
        void Run(int b) => block(b, b * per, Math.Min(units, (b + 1) * per));
        if (nb == 1)
        {
            Run(0);
        }
        else
        {
            Parallel.For(0, nb, Run);
        }
    }

    private static int PerBlock(int units, int maxBlocks) => Ceiling(units, Math.Clamp(maxBlocks, 1, Math.Max(1, units)));

    private static int Ceiling(int a, int b) => (a + b - 1) / b;
}
