using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Memory;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm sinkhorn</c>: entropic OT between two point files.</summary>
internal static class SinkhornCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var x = new Option<string>("--x") { Description = "Source points (.csv, .npy or IDX; [n, d], [n] or [n, h, w] images).", Required = true };
        var y = new Option<string>("--y") { Description = "Target points (.csv, .npy or IDX; [m, d], [m] or [m, h, w] images).", Required = true };
        var eps = new Option<double?>("--epsilon") { Description = "Absolute epsilon (overrides --epsilon-rel)." };
        var epsRel = new Option<double>("--epsilon-rel") { Description = "Epsilon relative to the mean cost.", DefaultValueFactory = _ => new SinkhornOptions().RelativeEpsilon };
        var tol = new Option<double>("--tolerance") { Description = "L1 marginal error to stop at.", DefaultValueFactory = _ => new SinkhornOptions().Tolerance };
        var maxIt = new Option<int>("--max-iterations") { Description = "Iteration cap.", DefaultValueFactory = _ => new SinkhornOptions().MaxIterations };
        var storage = new Option<string>("--cost-storage") { Description = "auto|stored|online.", DefaultValueFactory = _ => "auto" };
        var scaling = new Option<bool>("--epsilon-scaling") { Description = "Anneal epsilon from a large value down to the target." };
        var initF = new Option<string?>("--init-f") { Description = "Warm start: initial f (one value per x point)." };
        var initG = new Option<string?>("--init-g") { Description = "Warm start: initial g (one value per y point)." };
        var fOut = new Option<string?>("--f") { Description = "Write the potential f here (.csv or .npy)." };
        var gOut = new Option<string?>("--g") { Description = "Write the potential g here (.csv or .npy)." };
        var mapOut = new Option<string?>("--map") { Description = "Write the entropic map T(x_i) of the x points here." };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("sinkhorn", "Entropic optimal transport (log-domain Sinkhorn) between two point clouds, cost 1/2|x-y|^2.")
        {
            x, y, eps, epsRel, tol, maxIt, storage, scaling, initF, initG, fOut, gOut, mapOut, json, acc,
        };
        cmd.SetAction(parse =>
        {
            var storageKind = parse.GetValue(storage)?.ToUpperInvariant() switch
            {
                "AUTO" => CostStorage.Auto,
                "STORED" => CostStorage.Stored,
                "ONLINE" => CostStorage.Online,
                var other => throw new CliException($"--cost-storage '{other?.ToLowerInvariant()}': expected auto|stored|online"),
            };
            var options = new SinkhornOptions
            {
                Epsilon = parse.GetValue(eps),
                RelativeEpsilon = parse.GetValue(epsRel),
                Tolerance = parse.GetValue(tol),
                MaxIterations = parse.GetValue(maxIt),
                CostStorage = storageKind,
                EpsilonScaling = parse.GetValue(scaling),
            };
            CliIO.RequireValid(options.Validate());

            string? fPath = parse.GetValue(fOut), gPath = parse.GetValue(gOut), mapPath = parse.GetValue(mapOut);
            CliIO.CheckWritable(fPath, "--f");
            CliIO.CheckWritable(gPath, "--g");
            CliIO.CheckWritable(mapPath, "--map");
            var cx = CliIO.ReadPoints(parse.GetValue(x), "--x");
            var cy = CliIO.ReadPoints(parse.GetValue(y), "--y");
            if (cx.Dimension != cy.Dimension)
            {
                throw new CliException($"dimension mismatch: --x {cx.Source} has d = {cx.Dimension} but --y {cy.Source} has d = {cy.Dimension}");
            }

            CliIO.RefuseOverflow(cx);
            CliIO.RefuseOverflow(cy);
            float[]? f0 = null, g0 = null;
            if (parse.GetValue(initF) is { } fi)
            {
                f0 = ReadVector(fi, "--init-f", cx.Count);
            }

            if (parse.GetValue(initG) is { } gi)
            {
                g0 = ReadVector(gi, "--init-g", cy.Count);
            }

            if ((f0 is null) != (g0 is null))
            {
                throw new CliException("--init-f and --init-g must be given together");
            }

            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var dx = DevicePoints.Upload(ctx, cx.Data.Span, cx.Dimension);
            using var dy = DevicePoints.Upload(ctx, cy.Data.Span, cy.Dimension);
            using var solver = new SinkhornSolver(ctx, options);
            if (f0 is not null)
            {
                solver.SetPotentials(f0, g0);
            }

            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cmm sinkhorn: n = {cx.Count}, m = {cy.Count}, d = {cx.Dimension}"));
            var r = solver.Solve(dx, dy, warmStart: f0 is not null);
            if (r.Status == SinkhornStatus.Diverged)
            {
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cmm sinkhorn: diverged after {r.Iterations} iterations (non-finite potentials); try a larger --epsilon-rel or --epsilon-scaling. No files written."));
            }
            else
            {
                if (r.Status != SinkhornStatus.Converged)
                {
                    stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cmm sinkhorn: warning: not converged ({r.Status}), marginal error {r.MarginalError:G4} > tolerance {options.Tolerance:G4}"));
                }

                if (fPath is not null)
                {
                    CliIO.WritePoints(fPath, r.F, 1);
                }

                if (gPath is not null)
                {
                    CliIO.WritePoints(gPath, r.G, 1);
                }

                if (mapPath is not null)
                {
                    using var mapped = DevicePoints.Allocate(ctx, cx.Count, cx.Dimension);
                    solver.EntropicMap(dx, mapped);
                    CliIO.WritePoints(mapPath, mapped.ToArray(), cx.Dimension);
                }
            }

            var summary = new
            {
                status = r.Status.ToString(),
                converged = r.Converged,
                iterations = r.Iterations,
                marginal_error = r.MarginalError,
                transport_cost = r.TransportCost,
                regularized_cost = r.RegularizedCost,
                epsilon = r.Epsilon,
                mean_cost = r.MeanCost,
                cost_storage = r.CostStorage.ToString().ToLowerInvariant(),
                n = cx.Count,
                m = cy.Count,
                d = cx.Dimension,
                accelerator = ctx.Kind.ToString().ToLowerInvariant(),
            };
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(summary, CliIO.Json));
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"status {summary.status}, iterations {r.Iterations}, marginal error {r.MarginalError:G4}, transport cost {r.TransportCost:G6}, regularized cost {r.RegularizedCost:G6}, epsilon {r.Epsilon:G4} ({summary.cost_storage} cost)"));
            }

            return r.Status == SinkhornStatus.Diverged ? ExitCodes.Failed : ExitCodes.Ok;
        });
        return cmd;
    }

    private static float[] ReadVector(string path, string option, int expected)
    {
        var c = CliIO.ReadPoints(path, option);
        if (c.Dimension != 1 || c.Count != expected)
        {
            throw new CliException($"{option} {c.Source}: expected {expected} values in one column, got [{c.Count}, {c.Dimension}]");
        }

        return c.ToArray();
    }
}
