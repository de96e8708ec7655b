using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Density;
using CMM.Gpu.Fitting;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm density</c>: the model's normalised log-density log q(y) at the points of a file (docs/density.md).</summary>
internal static class DensityCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var data = new Option<string>("--data") { Description = "Points y (.csv, .npy or IDX), data coordinates.", Required = true };
        var outOpt = new Option<string>("--out") { Description = "Output file (.csv or .npy): log q(y), one value per row.", Required = true };
        var latents = new Option<int>("--latents")
        {
            Description = "Latents drawn from exp(-w) by Langevin (MALA) to fit the log Z proposal (at least d + 1).",
            DefaultValueFactory = _ => 1024,
        };
        var proposals = new Option<int>("--proposal-samples")
        {
            Description = "Importance-sampling draws for the log Z estimate.",
            DefaultValueFactory = _ => new LogNormalizerOptions().Samples,
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the latents and of the proposal draws.", DefaultValueFactory = _ => 0 };
        var energyOpt = new Option<string?>("--energy") { Description = "An energy file (cmm fit --energy): also write each point's log importance weight -V(y) - log q(y) as a second column." };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("density", "Write the model's log-density log q(y) at data points (CMM: no conjugate solve; MM: one per point); log Z is estimated by importance sampling.")
        {
            model, data, outOpt, latents, proposals, seed, energyOpt, json, acc,
        };
        cmd.SetAction(parse =>
        {
            string outPath = parse.GetValue(outOpt)!;
            CliIO.CheckWritable(outPath, "--out");
            int latentCount = parse.GetValue(latents);
            var isOptions = new LogNormalizerOptions { Samples = parse.GetValue(proposals), Seed = parse.GetValue(seed) };
            if (isOptions.Samples < 100)
            {
                throw new CliException($"--proposal-samples must be at least 100 (got {isOptions.Samples})");
            }

            var input = CliIO.ReadPoints(parse.GetValue(data), "--data");
            var energy = parse.GetValue(energyOpt) is { } energyPath ? LoadEnergy(energyPath, "--energy") : null;
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, input.Dimension);
            var (values, logZ) = LogDensities(fitted, input.Data.Span, input.Count, latentCount, isOptions, parse.GetValue(seed), stderr);
            var weights = energy is null ? null : LogWeights(energy, input.Data.Span, values, fitted.Dimension);
            WriteColumns(outPath, values, weights);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    points = input.Count,
                    @out = outPath,
                    method = FitOptions.NameOf(fitted.Method),
                    log_normalizer = logZ.LogZ,
                    log_normalizer_se = logZ.StandardError,
                    effective_sample_size = logZ.EffectiveSampleSize,
                    proposal_samples = logZ.Samples,
                    proposal = logZ.Proposal,
                    latents = latentCount,
                    normalization_log_abs_jacobian = fitted.Normalization.Box is null ? fitted.Normalization.LogAbsJacobian : (double?)null, // a bounded model's varies by point
                    mean_log_density = values.Average(),
                    energy_log_normalizer = weights is null ? (double?)null : Energies.EnergyDiagnostics.LogMeanExp(weights),
                    effective_sample_fraction = weights is null ? (double?)null : Energies.EnergyDiagnostics.EffectiveSampleFractionOf(weights),
                }, CliIO.Json));
            }
            else
            {
                stdout.WriteLine(weights is null
                    ? $"{input.Count} points written to {outPath}"
                    : string.Create(CultureInfo.InvariantCulture, $"{input.Count} points written to {outPath} (log q, log weight); effective sample size {Energies.EnergyDiagnostics.EffectiveSampleFractionOf(weights):P1}, log normaliser of the energy {Energies.EnergyDiagnostics.LogMeanExp(weights):F4}"));
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
    /// <summary>Reads an energy file; its problems are one-line errors naming the option.</summary>
    public static Energies.IEnergy LoadEnergy(string path, string option)
    {
        try
        {
            return Energies.EnergyFile.Load(path);
        }
        catch (FileNotFoundException)
        {
            throw new CliException($"{option}: file '{path}' does not exist");
        }
        catch (ArgumentException e)
        {
            throw new CliException($"{option} {e.Message}");
        }
    }

    /// <summary>log q at every point: latents by MALA for the log Z proposal, the importance-sampling log Z, then the exact
    /// log-density; every failure is a one-line error and nothing is written.</summary>
    public static (double[] Values, LogNormalizerEstimate LogZ) LogDensities(FittedModel fitted, ReadOnlySpan<float> points, int count, int latentCount,
        LogNormalizerOptions isOptions, int seed, TextWriter stderr)
    {
        int d = fitted.Dimension;
        if (d > ModelDensity.MaxDimension)
        {
            throw new CliException($"the exact log-density is limited to d <= {ModelDensity.MaxDimension} (a d x d Hessian and its Cholesky factorisation per point); the model has d = {d}");
        }

        if (latentCount < d + 1)
        {
            throw new CliException($"--latents must be at least d + 1 = {d + 1} to fit the log Z proposal (got {latentCount})");
        }

        using var density = ModelDensity.For(fitted);
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cmm: drawing {latentCount} latents (MALA, burn-in {GenerationOptions.DefaultLangevin.BurnIn}) to fit the log Z proposal"));
        var (_, lat, generation) = ModelEvaluation.Generate(fitted, latentCount, (ulong)seed);
        if (generation.Status == SamplingStatus.Diverged)
        {
            throw new CliException("the Langevin chains for the log Z proposal diverged (non-finite even after step-size back-off); nothing written", ExitCodes.Failed);
        }

        var logZ = density.EstimateLogNormalizer(lat, isOptions);
        if (!double.IsFinite(logZ.LogZ))
        {
            throw new CliException($"the log Z estimate failed ({logZ.NonFinite} of {logZ.Samples} proposal draws gave a non-finite w); nothing written", ExitCodes.Failed);
        }

        stderr.WriteLine("cmm: " + ModelDensity.Describe(logZ));
        if (logZ.EffectiveSampleFraction < 0.01)
        {
            stderr.WriteLine("cmm: warning: the effective sample size is below 1 % of the proposal draws: the log Z estimate and its standard error are not reliable (docs/density.md)");
        }

        var values = density.LogDensity(points, logZ);
        if (values.Undefined > 0)
        {
            throw new CliException(
                $"the log-density is undefined at {values.Undefined} of {count} points (first: point {values.FirstUndefined}, 0-based): "
                + (fitted.Method == FitMethod.Cmm ? "a Hessian that is not numerically positive definite or a non-finite potential" : "a conjugate solve that did not converge, a non-positive-definite Hessian or a non-finite potential")
                + "; nothing written", ExitCodes.Failed);
        }

        return (values.Values, logZ);
    }

    /// <summary>log importance weights -V(y) - log q(y) (docs/cmfma.md); a non-finite V is a one-line error.</summary>
    public static double[] LogWeights(Energies.IEnergy energy, ReadOnlySpan<float> points, double[] logQ, int dimension)
    {
        if (energy.Dimension != dimension)
        {
            throw new CliException($"dimension mismatch: the energy has d = {energy.Dimension} but the model d = {dimension}");
        }

        var v = new double[logQ.Length];
        energy.Evaluate(points, v, default);
        int bad = Array.FindIndex(v, e => !double.IsFinite(e));
        if (bad >= 0)
        {
            throw new CliException($"the energy '{energy.Name}' is {v[bad]} at point {bad} (0-based); nothing written", ExitCodes.Failed);
        }

        return v.Select((e, i) => -e - logQ[i]).ToArray();
    }

    /// <summary>Writes log q, and the log weights as a second column when given.</summary>
    public static void WriteColumns(string path, double[] logQ, double[]? logWeights)
    {
        int columns = logWeights is null ? 1 : 2;
        var rows = new float[logQ.Length * columns];
        for (int i = 0; i < logQ.Length; i++)
        {
            rows[i * columns] = (float)logQ[i];
            if (logWeights is not null)
            {
                rows[(i * columns) + 1] = (float)logWeights[i];
            }
        }

        CliIO.WritePoints(path, rows, columns);
    }
}
