namespace CMM.Gpu.Cli.Plotting;

/// <summary>
/// Level sets of a function sampled on a rectangular grid, by marching squares with linear interpolation
/// along cell edges; saddle cells are resolved by the cell-centre average. Segments are chained into
/// polylines (closed ones repeat their first point). Cells with a non-finite corner are skipped.
/// ScottPlot 5 has a contour plottable, but it draws coarse, stair-stepped lines on this kind of grid, so
/// the figures use this helper and draw the polylines as plain lines.
/// </summary>
public static class MarchingSquares
{
    /// <summary>The polylines where the grid function equals <paramref name="level"/>.</summary>
    /// <param name="grid">The sampled function.</param>
    /// <param name="level">The level.</param>
    /// <returns>Polylines as lists of (x, y) points.</returns>
    public static IReadOnlyList<IReadOnlyList<(double X, double Y)>> Trace(PotentialGrid grid, double level)
    {
        ArgumentNullException.ThrowIfNull(grid);
        int nx = grid.Xs.Count, ny = grid.Ys.Count;
        int hCount = ny * (nx - 1);
        var adj = new Dictionary<int, List<int>>();

        bool Above(int ix, int iy) => grid.Values[iy, ix] >= level;
        int HEdge(int ix, int iy) => (iy * (nx - 1)) + ix; // (ix, iy) - (ix + 1, iy)
        int VEdge(int ix, int iy) => hCount + (iy * nx) + ix; // (ix, iy) - (ix, iy + 1)
        void Link(int a, int b)
        {
            if (!adj.TryGetValue(a, out var la))
            {
                adj[a] = la = new List<int>(2);
            }

            if (!adj.TryGetValue(b, out var lb))
            {
                adj[b] = lb = new List<int>(2);
            }

            la.Add(b);
            lb.Add(a);
        }

        for (int iy = 0; iy + 1 < ny; iy++)
        {
            for (int ix = 0; ix + 1 < nx; ix++)
            {
                double v00 = grid.Values[iy, ix], v10 = grid.Values[iy, ix + 1], v01 = grid.Values[iy + 1, ix], v11 = grid.Values[iy + 1, ix + 1];
                if (!double.IsFinite(v00) || !double.IsFinite(v10) || !double.IsFinite(v01) || !double.IsFinite(v11))
                {
                    continue;
                }

                bool a00 = Above(ix, iy), a10 = Above(ix + 1, iy), a01 = Above(ix, iy + 1), a11 = Above(ix + 1, iy + 1);
                int bottom = HEdge(ix, iy), top = HEdge(ix, iy + 1), left = VEdge(ix, iy), right = VEdge(ix + 1, iy);
                var crossed = new List<int>(4);
                if (a00 != a10)
                {
                    crossed.Add(bottom);
                }

                if (a10 != a11)
                {
                    crossed.Add(right);
                }

                if (a01 != a11)
                {
                    crossed.Add(top);
                }

                if (a00 != a01)
                {
                    crossed.Add(left);
                }

                if (crossed.Count == 2)
                {
                    Link(crossed[0], crossed[1]);
                }
                else if (crossed.Count == 4)
                {
                    bool centre = (v00 + v10 + v01 + v11) / 4 >= level;
                    if (centre == a00)
                    {
                        Link(bottom, right); // cut off corner (1, 0)
                        Link(left, top); // cut off corner (0, 1)
                    }
                    else
                    {
                        Link(bottom, left); // cut off corner (0, 0)
                        Link(top, right); // cut off corner (1, 1)
                    }
                }
            }
        }

        (double X, double Y) Point(int edge)
        {
            int ix0, iy0, ix1, iy1;
            if (edge < hCount)
            {
                iy0 = iy1 = edge / (nx - 1);
                ix0 = edge % (nx - 1);
                ix1 = ix0 + 1;
            }
            else
            {
                int e = edge - hCount;
                iy0 = e / nx;
                ix0 = ix1 = e % nx;
                iy1 = iy0 + 1;
            }

            double p = grid.Values[iy0, ix0], q = grid.Values[iy1, ix1];
            double t = q == p ? 0.5 : Math.Clamp((level - p) / (q - p), 0, 1);
            return (grid.Xs[ix0] + (t * (grid.Xs[ix1] - grid.Xs[ix0])), grid.Ys[iy0] + (t * (grid.Ys[iy1] - grid.Ys[iy0])));
        }

        var lines = new List<IReadOnlyList<(double X, double Y)>>();
        var used = new HashSet<int>();

        // Open chains start at an end (an edge with one neighbour); what is left are closed loops.
        foreach (var start in adj.Where(kv => kv.Value.Count == 1).Select(kv => kv.Key).Concat(adj.Keys).ToList())
        {
            if (used.Contains(start))
            {
                continue;
            }

            var line = new List<(double X, double Y)>();
            int prev = -1, cur = start;
            while (true)
            {
                used.Add(cur);
                line.Add(Point(cur));
                int next = -1;
                foreach (var nb in adj[cur])
                {
                    if (nb != prev && !used.Contains(nb))
                    {
                        next = nb;
                        break;
                    }
                }

                if (next < 0)
                {
                    if (adj[cur].Contains(start) && line.Count > 2)
                    {
                        line.Add(line[0]);
                    }

                    break;
                }

                prev = cur;
                cur = next;
            }

            lines.Add(line);
        }

        return lines;
    }
}
