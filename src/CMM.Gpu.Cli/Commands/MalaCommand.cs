using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Energies;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm mala</c>: the MALA baseline on an energy (docs/cmfma.md): chains on rho itself, their acceptance and
/// effective sample size, the cost in energy evaluations and seconds.</summary>
internal static class MalaCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new MalaOptions();
        var energyOpt = new Option<string>("--energy") { Description = "The energy file (as for cmm fit --energy).", Required = true };
        var outOpt = new Option<string?>("--out") { Description = "Write the kept draws (.csv or .npy): chain c's step t is row c * steps + t." };
        var chains = new Option<int>("--chains") { Description = "Independent chains, run side by side.", DefaultValueFactory = _ => defaults.Chains };
        var steps = new Option<int>("--steps") { Description = "Kept steps per chain.", DefaultValueFactory = _ => defaults.Steps };
        var burnIn = new Option<int>("--burn-in") { Description = "Steps per chain before the first kept one; the step size adapts during them, then stays fixed.", DefaultValueFactory = _ => defaults.BurnIn };
        var evaluations = new Option<long?>("--evaluations") { Description = "Budget of energy evaluations (with gradient) instead of --steps: steps = evaluations / chains - burn-in, to compare with a fit at the same cost." };
        var step = new Option<double?>("--step-size") { Description = "The first step size (default 0.5 d^(-1/3), in the preconditioner's units)." };
        var acceptance = new Option<double>("--target-acceptance") { Description = "Acceptance rate the burn-in adapts the step to.", DefaultValueFactory = _ => defaults.TargetAcceptance };
        var plain = new Option<bool>("--no-precondition") { Description = "Plain MALA (identity preconditioner) instead of the Laplace start's covariance." };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => defaults.Seed };
        var json = CommonOptions.Json();
        var cmd = new Command("mala", "MALA on an energy's density itself (the baseline of cmm fit --energy): draws, acceptance, effective sample size per coordinate, energy evaluations and seconds.")
        {
            energyOpt, outOpt, chains, steps, burnIn, evaluations, step, acceptance, plain, seed, json,
        };
        cmd.SetAction(parse =>
        {
            string? outPath = parse.GetValue(outOpt);
            CliIO.CheckWritable(outPath, "--out");
            var energy = DensityCommand.LoadEnergy(parse.GetValue(energyOpt)!, "--energy");
            int keptSteps = parse.GetValue(steps);
            if (parse.GetValue(evaluations) is { } budget)
            {
                if (parse.GetResult(steps) is { Implicit: false })
                {
                    throw new CliException("give --steps or --evaluations, not both");
                }

                long perChain = (budget / Math.Max(1, parse.GetValue(chains))) - parse.GetValue(burnIn);
                if (perChain < 4)
                {
                    throw new CliException($"--evaluations {budget}: leaves {perChain} steps per chain after the burn-in (at least 4 are needed)");
                }

                keptSteps = (int)Math.Min(perChain, int.MaxValue);
            }

            var options = new MalaOptions
            {
                Chains = parse.GetValue(chains),
                Steps = keptSteps,
                BurnIn = parse.GetValue(burnIn),
                StepSize = parse.GetValue(step),
                TargetAcceptance = parse.GetValue(acceptance),
                Precondition = !parse.GetValue(plain),
                Seed = parse.GetValue(seed),
            };
            CliIO.RequireValid(options.Validate());
            if ((long)options.Chains * options.Steps * energy.Dimension > int.MaxValue)
            {
                throw new CliException($"--chains {options.Chains} x --steps {options.Steps} x d {energy.Dimension} draws do not fit in one array; use fewer steps");
            }

            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cmm mala: energy {energy.Name}, d = {energy.Dimension}, {options.Chains} chains x ({options.BurnIn} + {options.Steps}) steps{(options.Precondition ? ", preconditioned by the Laplace start" : "")}"));
            var run = EnergyMala.Run(energy, options);
            if (outPath is not null)
            {
                CliIO.WritePoints(outPath, run.Samples, run.Dimension);
            }

            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    energy = energy.Describe(),
                    d = run.Dimension,
                    chains = run.Chains,
                    steps = run.Steps,
                    burn_in = options.BurnIn,
                    preconditioned = options.Precondition,
                    acceptance = run.Acceptance,
                    step_size = run.StepSize,
                    energy_evaluations = run.EnergyEvaluations,
                    seconds = run.Seconds,
                    ess_min = run.MinEffectiveSamples,
                    ess_median = run.MedianEffectiveSamples,
                    ess = run.EffectiveSamples,
                    ess_min_per_second = run.MinEffectiveSamples / run.Seconds,
                    ess_min_per_evaluation = run.MinEffectiveSamples / run.EnergyEvaluations,
                    @out = outPath,
                }, CliIO.Json));
            }
            else
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"acceptance {run.Acceptance:P1} at step size {run.StepSize:G3}; effective sample size min {run.MinEffectiveSamples:F0}, median {run.MedianEffectiveSamples:F0} of {(long)run.Chains * run.Steps} draws"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{run.EnergyEvaluations} energy evaluations in {run.Seconds:F1} s: {run.MinEffectiveSamples / run.Seconds:G3} effective samples per second, {run.MinEffectiveSamples / run.EnergyEvaluations:G3} per evaluation (worst coordinate)"));
                if (outPath is not null)
                {
                    stdout.WriteLine($"{(long)run.Chains * run.Steps} draws written to {outPath}");
                }
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
}
