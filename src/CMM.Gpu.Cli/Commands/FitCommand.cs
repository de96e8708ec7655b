using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Cli.Terminal;
using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm fit</c>: fits a CMM (or MM) model to a data file or a built-in dataset.</summary>
internal static class FitCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var o = new FitCliOptions();
        var outOpt = new Option<string>("--out") { Description = "Model file to write.", Required = true };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("fit", "Fit a conjugate moment measure (or the moment-measure baseline) to data, or to an unnormalised density (--energy).") { outOpt, json, acc };
        o.AddTo(cmd);
        o.AddEnergyTo(cmd);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(o.Energy) is { } energyPath)
            {
                return FitEnergy(parse, o, energyPath, outOpt, json, acc, stdout, stderr);
            }

            var (data, d, name) = o.LoadData(parse);
            var options = o.Build(parse);
            var (outPath, checkpoint) = OutputPaths(parse, o, outOpt);
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var model = Fit(ctx, data, d, name, options, checkpoint, parse.GetValue(o.Resume), stderr, parse.GetValue(o.KeepCheckpoint));
            var result = model.FitResult!;
            // A fit that failed (diverged, sampler or solver failed) never writes --out: its last good model goes to MODEL.failed.cmm.
            bool failed = result.Status is not (FitStatus.Completed or FitStatus.EarlyStopped or FitStatus.Cancelled);
            string? failedPath = failed ? FailedModelPath(outPath) : null;
            model.Save(failedPath ?? outPath);
            var summary = new
            {
                status = result.Status.ToString(),
                reason = result.Reason,
                iterations = result.Iterations,
                final_loss = result.LossHistory.Count > 0 ? result.LossHistory[^1] : double.NaN,
                recoveries = result.Recoveries,
                step_halvings = result.StepHalvings,
                seconds = result.Elapsed.TotalSeconds,
                model = failed ? null : outPath,
                failed_model = failedPath,
                failed_model_iteration = failed ? model.Parameters.Metadata.Iterations : (long?)null,
                checkpoint = File.Exists(checkpoint) ? checkpoint : null,
                data = name,
                n = data.Length / d,
                d,
                method = FitOptions.NameOf(options.Method),
                objective = options.ObjectiveName,
                accelerator = ctx.Kind.ToString().ToLowerInvariant(),
                best_validation = result.BestValidation,
                best_iteration = result.BestIteration,
                data_treatment = result.DataTreatment,
                // Means over this run's iterations (start-up excluded): docs/performance.md, issue 20.
                kernel_launches_per_iteration = result.KernelLaunchesPerIteration,
                host_syncs_per_iteration = result.HostSynchronizationsPerIteration,
            };
            foreach (var line in result.DataTreatment)
            {
                stderr.WriteLine("cmm fit: " + line);
            }

            if (failed)
            {
                stderr.WriteLine($"cmm: error: the fit failed ({result.Status}): {result.Reason}");
            }

            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(summary, CliIO.Json));
            }
            else if (failed)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{summary.status} after {summary.iterations} iterations in {summary.seconds:0.0} s: {result.Reason}. No model written to {outPath}; " +
                    $"the last good model (iteration {summary.failed_model_iteration}) is in {failedPath} and the fit's state in {summary.checkpoint ?? "no checkpoint"}"));
            }
            else
            {
                string best = result.BestIteration is { } bi
                    ? string.Create(CultureInfo.InvariantCulture, $"; the model is the best validated one, iteration {bi} (energy distance {result.BestValidation:G4})")
                    : "";
                if (result.StepHalvings > 0)
                {
                    best += string.Create(CultureInfo.InvariantCulture, $"; the Langevin step was halved {result.StepHalvings} time(s) for low MALA acceptance");
                }

                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{summary.status}: {summary.iterations} iterations in {summary.seconds:0.0} s, final loss {summary.final_loss:G4}{best}; model written to {outPath}"));
            }

            return result.Status switch
            {
                FitStatus.Completed or FitStatus.EarlyStopped => ExitCodes.Ok,
                FitStatus.Cancelled => ExitCodes.Interrupted,
                _ => ExitCodes.Failed,
            };
        });
        return cmd;
    }

    /// <summary><c>cmm fit --energy FILE.json</c>: CMFMA, with the same progress, checkpoints, resume and failure handling as a
    /// fit to data, and the energy diagnostics printed and stored with the model.</summary>
    private static int FitEnergy(ParseResult parse, FitCliOptions o, string energyPath, Option<string> outOpt, Option<bool> json, Option<string?> acc,
        TextWriter stdout, TextWriter stderr)
    {
        if (parse.GetValue(o.Data) is not null || parse.GetValue(o.Dataset) is not null)
        {
            throw new CliException("--energy fits a density without data: give --energy FILE.json or --data/--dataset, not both");
        }

        var energy = DensityCommand.LoadEnergy(energyPath, "--energy");

        var options = o.Build(parse);
        var (outPath, checkpoint) = OutputPaths(parse, o, outOpt);
        using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cmm fit: energy {energy.Name} ({energyPath}), d = {energy.Dimension}, cmfma / residual, {options.Iterations} iterations"));
        using var model = RunWithProgress(stderr, options, checkpoint, run => CmmModel.FitEnergy(energy, options, run with { Device = ctx }),
            parse.GetValue(o.Resume), parse.GetValue(o.KeepCheckpoint));
        var result = model.FitResult!;
        bool failed = result.Status is not (FitStatus.Completed or FitStatus.Cancelled);
        string? failedPath = failed ? FailedModelPath(outPath) : null;
        model.Save(failedPath ?? outPath);
        var diagnostics = model.EnergyDiagnostics;
        if (diagnostics is not null)
        {
            foreach (var line in diagnostics.ToText().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                stderr.WriteLine("cmm fit: " + line);
            }
        }

        if (failed)
        {
            stderr.WriteLine($"cmm: error: the fit failed ({result.Status}): {result.Reason}");
        }

        if (parse.GetValue(json))
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                status = result.Status.ToString(),
                reason = result.Reason,
                iterations = result.Iterations,
                final_loss = result.LossHistory.Count > 0 ? result.LossHistory[^1] : double.NaN,
                recoveries = result.Recoveries,
                seconds = result.Elapsed.TotalSeconds,
                model = failed ? null : outPath,
                failed_model = failedPath,
                energy = energy.Describe(),
                d = energy.Dimension,
                method = "cmm",
                objective = options.ObjectiveName,
                accelerator = ctx.Kind.ToString().ToLowerInvariant(),
                diagnostics,
                kernel_launches_per_iteration = result.KernelLaunchesPerIteration,
                host_syncs_per_iteration = result.HostSynchronizationsPerIteration,
            }, CliIO.Json));
        }
        else
        {
            double last = result.LossHistory.Count > 0 ? result.LossHistory[^1] : double.NaN;
            stdout.WriteLine(failed
                ? string.Create(CultureInfo.InvariantCulture, $"{result.Status} after {result.Iterations} iterations: {result.Reason}. No model written to {outPath}; the last good model is in {failedPath}")
                : string.Create(CultureInfo.InvariantCulture, $"{result.Status}: {result.Iterations} iterations in {result.Elapsed.TotalSeconds:0.0} s, residual variance {last:G4}; model written to {outPath}"));
        }

        return result.Status switch
        {
            FitStatus.Completed => ExitCodes.Ok,
            FitStatus.Cancelled => ExitCodes.Interrupted,
            _ => ExitCodes.Failed,
        };
    }

    /// <summary>--out and the checkpoint (default MODEL.ckpt), both checked writable before any work.</summary>
    private static (string Out, string Checkpoint) OutputPaths(ParseResult parse, FitCliOptions o, Option<string> outOpt)
    {
        string outPath = parse.GetValue(outOpt)!;
        CliIO.CheckOutputPath(outPath, "--out");
        string checkpoint = parse.GetValue(o.Checkpoint) ?? outPath + ".ckpt";
        CliIO.CheckOutputPath(checkpoint, "--checkpoint");
        return (outPath, checkpoint);
    }

    /// <summary>Where a failed fit's last good model goes instead of <paramref name="outPath"/>: MODEL.failed.cmm beside it
    /// (model.cmm gives model.failed.cmm; a name without extension gets .failed.cmm).</summary>
    public static string FailedModelPath(string outPath)
    {
        string ext = Path.GetExtension(outPath);
        string name = Path.GetFileNameWithoutExtension(outPath) + ".failed" + (ext.Length > 0 ? ext : ".cmm");
        return Path.Combine(Path.GetDirectoryName(outPath) ?? "", name);
    }

    /// <summary>Runs (or resumes) a fit through the library's facade (<see cref="CmmModel.Fit(ReadOnlySpan{float}, int, FitOptions?, FitRun)"/>)
    /// with a progress display and Ctrl+C handling. The checkpoint is removed once the fit has completed.</summary>
    public static CmmModel Fit(CmmContext ctx, float[] data, int d, string name, FitOptions options,
        string checkpoint, bool resume, TextWriter stderr, bool keepCheckpoint = false)
    {
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cmm fit: {name}, n = {data.Length / d}, d = {d}, {options.Method.ToString().ToLowerInvariant()} / {options.ObjectiveName}, {options.Iterations} iterations"));
        return RunWithProgress(stderr, options, checkpoint, run => CmmModel.Fit(data, d, options, run with { Device = ctx }), resume, keepCheckpoint);
    }

    /// <summary>Runs a fit with a progress display and Ctrl+C handling; a missing or foreign checkpoint on --resume is a one-line error.</summary>
    private static CmmModel RunWithProgress(TextWriter stderr, FitOptions options, string checkpoint, Func<FitRun, CmmModel> fit, bool resume, bool keepCheckpoint)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
            stderr.WriteLine("cmm fit: stopping after this iteration and writing a checkpoint (Ctrl+C again to abort)...");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return ProgressDisplay.Run(stderr, "fit", options.Iterations, sink =>
            {
                var run = new FitRun { CheckpointPath = checkpoint, Resume = resume, KeepCheckpoint = keepCheckpoint, Observer = new Observer(sink, stderr, checkpoint), CancellationToken = cts.Token };
                try
                {
                    return fit(run);
                }
                catch (FileNotFoundException)
                {
                    throw new CliException($"--resume: checkpoint '{checkpoint}' does not exist");
                }
                catch (InvalidDataException e)
                {
                    throw new CliException($"--resume {checkpoint}: {e.Message}");
                }
            });
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private sealed class Observer(IProgressSink sink, TextWriter stderr, string checkpoint) : IFitObserver
    {
        public void OnResumed(int iteration) =>
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cmm fit: resuming from {checkpoint} at iteration {iteration}"));

        public void OnIteration(FitProgress p)
        {
            var status = string.Create(CultureInfo.InvariantCulture, $"loss {p.Loss:G4}");
            if (p.SinkhornIterations > 0)
            {
                status += string.Create(CultureInfo.InvariantCulture, $", sinkhorn {p.SinkhornIterations} it (err {p.SinkhornMarginalError:G2})");
            }

            if (p.LangevinAcceptance < 1)
            {
                status += string.Create(CultureInfo.InvariantCulture, $", accept {p.LangevinAcceptance:P0}");
            }

            if (p.ConjugateConvergedFraction < 1)
            {
                status += string.Create(CultureInfo.InvariantCulture, $", conj {p.ConjugateConvergedFraction:P0}");
            }

            sink.Report(p.Iteration, status);
        }

        public void OnRecovery(int iteration, double learningRateScale) =>
            sink.Report(iteration - 1, learningRateScale > 0
                ? string.Create(CultureInfo.InvariantCulture, $"non-finite step at iteration {iteration}: rolled back, learning rate x{learningRateScale:G3}")
                : $"non-finite steps keep coming back at iteration {iteration}: stopping with the last good model");

        public void OnCheckpoint(string path, int iteration)
        {
        }

        public void OnHealthWarning(int iteration, string message) => sink.Message("cmm fit: warning: " + message);

        public void OnValidation(int iteration, double energyDistance, double best, bool improved) =>
            sink.Report(iteration, improved
                ? string.Create(CultureInfo.InvariantCulture, $"validation energy {energyDistance:G4} (new best)")
                : string.Create(CultureInfo.InvariantCulture, $"validation energy {energyDistance:G4} (best {best:G4})"));
    }
}

/// <summary>The fitting options of <c>cmm fit</c> and <c>cmm demo</c>, mapped onto <see cref="FitOptions"/>.</summary>
internal sealed class FitCliOptions
{
    private static readonly FitOptions Defaults = new();

    public Option<string?> Data { get; } = new("--data") { Description = "Training data (.csv or .npy)." };

    public Option<string?> Dataset { get; } = new("--dataset") { Description = "Built-in dataset: " + string.Join(", ", Datasets.Names) + "." };

    public Option<int> Count { get; } = new("--n") { Description = "Points to draw from a built-in dataset (more points: less of the sample's own noise in the fit).", DefaultValueFactory = _ => Datasets.DefaultTrainingCount };

    public Option<int?> Dimension { get; } = new("--dim") { Description = "Dimension of --dataset gaussian (default 2; mean and covariance as in docs/datasets.md)." };

    public Option<string> Method { get; } = new("--method") { Description = "cmm (conjugate moment measure) or mm (moment measure baseline).", DefaultValueFactory = _ => FitOptions.NameOf(Defaults.Method) };

    public Option<string> Objective { get; } = new("--objective") { Description = "semidual (conjugate solves), map (Sinkhorn entropic map) or likelihood (maximum likelihood; --network w only).", DefaultValueFactory = _ => Defaults.ObjectiveName };

    public Option<int> Iterations { get; } = new("--iterations") { Description = "Outer iterations.", DefaultValueFactory = _ => Defaults.Iterations };

    public Option<int> Particles { get; } = new("--particles") { Description = "Persistent Langevin particles.", DefaultValueFactory = _ => Defaults.Particles };

    public Option<int> Batch { get; } = new("--batch") { Description = "Data points per iteration.", DefaultValueFactory = _ => Defaults.BatchSize };

    public Option<int> LangevinSteps { get; } = new("--langevin-steps") { Description = "Langevin steps per iteration.", DefaultValueFactory = _ => Defaults.LangevinSteps };

    public Option<double> StepSize { get; } = new("--step-size") { Description = "Langevin step size, relative to the inverse of the largest curvature of the data's Gaussian start.", DefaultValueFactory = _ => Defaults.LangevinStepSize };

    public Option<string> Sampler { get; } = new("--sampler") { Description = "ula or mala (ULA is biased by its step size: its particles are too wide, so the fitted w comes out too curved).", DefaultValueFactory = _ => Defaults.Sampler.ToString().ToLowerInvariant() };

    public Option<double> EpsilonRel { get; } = new("--epsilon-rel") { Description = "Sinkhorn epsilon relative to the mean cost (map objective).", DefaultValueFactory = _ => Defaults.EpsilonRelative };

    public Option<double> SinkhornTolerance { get; } = new("--sinkhorn-tolerance") { Description = "Sinkhorn marginal tolerance (map objective).", DefaultValueFactory = _ => Defaults.SinkhornTolerance };

    public Option<int> InnerSteps { get; } = new("--inner-steps") { Description = "Adam steps per iteration.", DefaultValueFactory = _ => Defaults.InnerSteps };

    public Option<double> LearningRate { get; } = new("--learning-rate") { Description = "Initial Adam learning rate.", DefaultValueFactory = _ => Defaults.LearningRate };

    public Option<double> FinalLearningRate { get; } = new("--final-learning-rate") { Description = "Learning rate at the end of the cosine schedule.", DefaultValueFactory = _ => Defaults.FinalLearningRate };

    public Option<string> Hidden { get; } = new("--hidden") { Description = "ICNN hidden widths, comma-separated.", DefaultValueFactory = _ => string.Join(",", Defaults.HiddenWidths) };

    public Option<double> Alpha { get; } = new("--alpha") { Description = "Strong convexity of w, as a fraction (0 < alpha < 1) of the smallest curvature of the data's Gaussian start.", DefaultValueFactory = _ => Defaults.StrongConvexity };

    public Option<int?> Rank { get; } = new("--rank") { Description = "Rank of the ICNN's low-rank quadratic term (default: min(d, 16))." };

    public Option<string> Network { get; } = new("--network") { Description = "What the ICNN represents for CMM: w (the latent's energy; samples by a conjugate solve) or conjugate (u = w*: samples grad u(x), the latent's energy by a conjugate solve).", DefaultValueFactory = _ => FitOptions.NameOf(Defaults.Network) };

    public Option<string> Dequantize { get; } = new("--dequantize") { Description = "Quantised data: auto (default: add U[0, 1) noise to data whose values are all integers, such as pixels or counts), off, or uniform (always).", DefaultValueFactory = _ => Defaults.Dequantization.ToString().ToLowerInvariant() };

    public Option<string> Bounds { get; } = new("--bounds") { Description = "The data's support: off (default: the model lives on R^d), data (the training values' range), or LO,HI (every value in [LO, HI]). A bounded model is fitted in the logit coordinates of the range widened by 5 % on either side, and its samples stay inside: pixels, proportions.", DefaultValueFactory = _ => "off" };

    public Option<double> BoundsMargin { get; } = new("--bounds-margin") { Description = "With --bounds: the widening of the range on either side, as a fraction of its width, in (0, 1]; the model's support is the widened box.", DefaultValueFactory = _ => LogitBox.DefaultMargin };

    public Option<string> Activation { get; } = new("--activation") { Description = "ICNN activation: softplus or elu.", DefaultValueFactory = _ => Defaults.Activation.ToString().ToLowerInvariant() };

    public Option<double?> Sharpness { get; } = new("--sharpness") { Description = "Activation sharpness beta: units compute act(beta s) / beta (elu with beta is CELU with alpha 1/beta). Default: 4 with --network conjugate, 1 with --network w." };


    public Option<int> Seed { get; } = new("--seed") { Description = "Random seed.", DefaultValueFactory = _ => Defaults.Seed };

    public Option<string?> Checkpoint { get; } = new("--checkpoint") { Description = "Checkpoint file (default: MODEL.ckpt)." };

    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "Checkpoint interval in iterations (0: only on Ctrl+C).", DefaultValueFactory = _ => Defaults.CheckpointEvery };

    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue from the checkpoint." };

    public Option<bool> KeepCheckpoint { get; } = new("--keep-checkpoint") { Description = "Keep the checkpoint after the fit completes (it is removed otherwise), to extend the fit later with --resume and more --iterations." };

    public Option<double> ValidationFraction { get; } = new("--validation-fraction") { Description = "Early stopping: share of the data (at most 0.5) held out to validate on; 0 (default) turns it off.", DefaultValueFactory = _ => Defaults.ValidationFraction };

    public Option<int> ValidateEvery { get; } = new("--validate-every") { Description = "Early stopping: iterations between validations.", DefaultValueFactory = _ => Defaults.ValidateEvery };

    public Option<int> Patience { get; } = new("--patience") { Description = "Early stopping: validations without a new best before the fit stops (the best model is kept).", DefaultValueFactory = _ => Defaults.Patience };

    public Option<int> HealthWindow { get; } = new("--health-window") { Description = "Health monitoring: iterations over which MALA acceptance and the share of converged conjugate solves are averaged against their floors.", DefaultValueFactory = _ => Defaults.HealthWindow };

    public Option<double> MinAcceptance { get; } = new("--min-acceptance") { Description = "Health monitoring: floor of the fitting particles' MALA acceptance (below it the Langevin step is halved, then the fit fails); 0 turns it off.", DefaultValueFactory = _ => Defaults.MinLangevinAcceptance };

    public Option<double> MinConverged { get; } = new("--min-converged") { Description = "Health monitoring: floor of the share of conjugate solves that converge (below it the fit fails); 0 turns it off.", DefaultValueFactory = _ => Defaults.MinConjugateConverged };

    public Option<int> StepHalvings { get; } = new("--step-halvings") { Description = "Health monitoring: halvings of the Langevin step allowed when MALA acceptance stays below its floor, before the fit fails.", DefaultValueFactory = _ => Defaults.MaxStepHalvings };

    public Option<string?> Energy { get; } = new("--energy") { Description = "Fit to a density known only up to a constant, exp(-V), with no data (CMFMA, docs/cmfma.md): a JSON file naming V, e.g. {\"type\": \"gaussian\", \"mean\": [..], \"covariance\": [[..]]}; types: " + string.Join(", ", Energies.EnergyFile.Types) + "." };

    public Option<double> TargetWeight { get; } = new("--target-weight") { Description = "With --energy: share (0-1) of the residual's variance taken under the energy's density (importance weights) rather than under the points' own law: 0 lets the model drop modes the points rarely visit; 1 lets it put mass where the density has none.", DefaultValueFactory = _ => Defaults.TargetWeight };

    public Option<bool> PilotStart { get; } = new("--pilot-start") { Description = "With --energy: start from the moments of a MALA pilot run instead of the Laplace approximation at the minima (for targets that curve away from their mode; not for separated modes)." };

    public Option<double> ProposalShare { get; } = new("--proposal-share") { Description = "With --energy: share of each iteration's points drawn from the start's Gaussian instead of the model (so unvisited modes still count).", DefaultValueFactory = _ => Defaults.ProposalShare };

    /// <summary>Adds the energy options (<c>cmm fit</c> only).</summary>
    public void AddEnergyTo(Command cmd)
    {
        cmd.Options.Add(Energy);
        cmd.Options.Add(ProposalShare);
        cmd.Options.Add(TargetWeight);
        cmd.Options.Add(PilotStart);
    }

    public void AddTo(Command cmd)
    {
        foreach (var opt in new Option[]
                 {
                     Data, Dataset, Count, Dimension, Method, Objective, Iterations, Particles, Batch, LangevinSteps, StepSize, Sampler, EpsilonRel,
                     SinkhornTolerance, InnerSteps, LearningRate, FinalLearningRate, Hidden, Alpha, Rank, Network, Activation, Dequantize, Bounds, BoundsMargin, Sharpness, Seed, Checkpoint,
                     CheckpointEvery, Resume, KeepCheckpoint, ValidationFraction, ValidateEvery, Patience, HealthWindow, MinAcceptance, MinConverged,
                     StepHalvings,
                 })
        {
            cmd.Options.Add(opt);
        }
    }

    public (float[] Data, int Dimension, string Name) LoadData(ParseResult parse, string? defaultDataset = null)
    {
        var file = parse.GetValue(Data);
        var name = parse.GetValue(Dataset) ?? (file is null ? defaultDataset : null);
        if (file is not null && parse.GetValue(Dataset) is not null)
        {
            throw new CliException("give either --data FILE or --dataset NAME, not both");
        }

        if (file is not null)
        {
            CliIO.RefuseDimensionForFile(parse.GetValue(Dimension));

            var cloud = CliIO.ReadPoints(file, "--data");
            CliIO.RefuseOverflow(cloud);
            if (cloud.Count < 2)
            {
                throw new CliException($"--data {cloud.Source}: at least 2 points are needed to fit (got {cloud.Count})");
            }

            return (cloud.ToArray(), cloud.Dimension, cloud.Source);
        }

        if (name is null)
        {
            throw new CliException("give --data FILE or --dataset NAME (" + string.Join(", ", Datasets.Names) + ")");
        }

        CliIO.RequireDataset(name, "--dataset");

        int n = parse.GetValue(Count);
        if (parse.GetResult(Count) is null or { Implicit: true })
        {
            n = Datasets.AtMostAll(name, n); // a finite data set (digits): all of it by default
        }

        if (Datasets.MaxCount(name) is { } max && n > max)
        {
            throw new CliException($"--n {n}: the '{name}' dataset has only {max} points (drawn without replacement)");
        }

        if (n < 2)
        {
            throw new CliException($"--n must be at least 2 (got {n})");
        }

        var ds = Datasets.Create(name, n, parse.GetValue(Seed), CliIO.DatasetOptionsFor(name, parse.GetValue(Dimension)));
        return (ds.Points, ds.Dimension, name);
    }

    /// <summary>--bounds: off, data, or LO,HI.</summary>
    private static DataBounds ParseBounds(string? text)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case null or "" or "OFF":
                return DataBounds.None;
            case "DATA":
                return DataBounds.FromData;
        }

        // The ends' order and finiteness are checked with the other options (FitOptions.Validate).
        var parts = text!.Split(',');
        if (parts.Length == 2
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double lo)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double hi))
        {
            return DataBounds.Interval(lo, hi);
        }

        throw new CliException($"--bounds '{text}': expected off, data, or two numbers LO,HI");
    }

    public FitOptions Build(ParseResult parse)
    {
        var hiddenText = parse.GetValue(Hidden) ?? "";
        var widths = new List<int>();
        foreach (var part in hiddenText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int w) || w <= 0)
            {
                throw new CliException($"--hidden '{hiddenText}': expected positive integers separated by commas, e.g. 64,64,64");
            }

            widths.Add(w);
        }

        var options = new FitOptions
        {
            Method = parse.GetValue(Method)?.ToUpperInvariant() switch
            {
                "CMM" => FitMethod.Cmm,
                "MM" => FitMethod.MomentMeasure,
                var m => throw new CliException($"--method '{m?.ToLowerInvariant()}': expected cmm or mm"),
            },
            Objective = parse.GetValue(Objective)?.ToUpperInvariant() switch
            {
                "SEMIDUAL" or "SEMI-DUAL" => FitObjective.SemiDual,
                "MAP" => FitObjective.Map,
                "LIKELIHOOD" => FitObjective.Likelihood,
                "RESIDUAL" => FitObjective.Residual,
                var m => throw new CliException($"--objective '{m?.ToLowerInvariant()}': expected semidual, map, likelihood or residual (--energy)"),
            },
            Sampler = parse.GetValue(Sampler)?.ToUpperInvariant() switch
            {
                "ULA" => LangevinSampler.Ula,
                "MALA" => LangevinSampler.Mala,
                var m => throw new CliException($"--sampler '{m?.ToLowerInvariant()}': expected ula or mala"),
            },
            Iterations = parse.GetValue(Iterations),
            Particles = parse.GetValue(Particles),
            BatchSize = parse.GetValue(Batch),
            LangevinSteps = parse.GetValue(LangevinSteps),
            LangevinStepSize = parse.GetValue(StepSize),
            EpsilonRelative = parse.GetValue(EpsilonRel),
            SinkhornTolerance = parse.GetValue(SinkhornTolerance),
            InnerSteps = parse.GetValue(InnerSteps),
            LearningRate = parse.GetValue(LearningRate),
            FinalLearningRate = parse.GetValue(FinalLearningRate),
            HiddenWidths = widths,
            Network = parse.GetValue(Network)?.ToUpperInvariant() switch
            {
                "W" => FitNetwork.Potential,
                "CONJUGATE" => FitNetwork.Conjugate,
                var m => throw new CliException($"--network '{m?.ToLowerInvariant()}': expected w or conjugate"),
            },
            Activation = parse.GetValue(Activation)?.ToUpperInvariant() switch
            {
                "SOFTPLUS" => IcnnActivation.Softplus,
                "ELU" => IcnnActivation.Elu,
                var m => throw new CliException($"--activation '{m?.ToLowerInvariant()}': expected softplus or elu"),
            },
            Sharpness = parse.GetValue(Sharpness),
            Dequantization = parse.GetValue(Dequantize)?.ToUpperInvariant() switch
            {
                "AUTO" => Dequantization.Auto,
                "OFF" => Dequantization.Off,
                "UNIFORM" => Dequantization.Uniform,
                var m => throw new CliException($"--dequantize '{m?.ToLowerInvariant()}': expected auto, off or uniform"),
            },
            Bounds = ParseBounds(parse.GetValue(Bounds)) with { Margin = parse.GetValue(BoundsMargin) },
            StrongConvexity = parse.GetValue(Alpha),
            QuadraticRank = parse.GetValue(Rank),
            Seed = parse.GetValue(Seed),
            CheckpointEvery = parse.GetValue(CheckpointEvery),
            ValidationFraction = parse.GetValue(ValidationFraction),
            ValidateEvery = parse.GetValue(ValidateEvery),
            Patience = parse.GetValue(Patience),
            HealthWindow = parse.GetValue(HealthWindow),
            MinLangevinAcceptance = parse.GetValue(MinAcceptance),
            MinConjugateConverged = parse.GetValue(MinConverged),
            MaxStepHalvings = parse.GetValue(StepHalvings),
        };
        if (parse.GetResult(Energy) is { Implicit: false })
        {
            // A fit to an energy: the residual objective with the network w unless asked otherwise (then Validate says why not).
            options = options with
            {
                Objective = parse.GetResult(Objective) is null or { Implicit: true } ? FitObjective.Residual : options.Objective,
                Network = parse.GetResult(Network) is null or { Implicit: true } ? FitNetwork.Potential : options.Network,
                ProposalShare = parse.GetValue(ProposalShare),
                TargetWeight = parse.GetValue(TargetWeight),
                PilotStart = parse.GetValue(PilotStart),
            };
            if (options.Objective != FitObjective.Residual)
            {
                throw new CliException($"--energy fits with --objective residual (got --objective {options.ObjectiveName})");
            }
        }
        else if (options.Objective == FitObjective.Residual)
        {
            throw new CliException("--objective residual fits an energy: give --energy FILE.json");
        }

        CliIO.RequireValid(options.Validate());

        return options;
    }
}
