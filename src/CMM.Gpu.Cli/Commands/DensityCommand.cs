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
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("density", "Write the model's log-density log q(y) at data points (CMM: no conjugate solve; MM: one per point); log Z is estimated by importance sampling.")
        {
            model, data, outOpt, latents, proposals, seed, json, acc,
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
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, input.Dimension);
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
                $"cmm density: drawing {latentCount} latents (MALA, burn-in {GenerationOptions.DefaultLangevin.BurnIn}) to fit the log Z proposal"));
            var (_, lat, generation) = ModelEvaluation.Generate(fitted, latentCount, (ulong)parse.GetValue(seed));
            if (generation.Status == SamplingStatus.Diverged)
            {
                throw new CliException("the Langevin chains for the log Z proposal diverged (non-finite even after step-size back-off); nothing written", ExitCodes.Failed);
            }

            var logZ = density.EstimateLogNormalizer(lat, isOptions);
            if (!double.IsFinite(logZ.LogZ))
            {
                throw new CliException($"the log Z estimate failed ({logZ.NonFinite} of {logZ.Samples} proposal draws gave a non-finite w); nothing written", ExitCodes.Failed);
            }

            stderr.WriteLine("cmm density: " + ModelDensity.Describe(logZ));
            if (logZ.EffectiveSampleFraction < 0.01)
            {
                stderr.WriteLine("cmm density: warning: the effective sample size is below 1 % of the proposal draws: the log Z estimate and its standard error are not reliable (docs/density.md)");
            }

            var values = density.LogDensity(input.Data.Span, logZ);
            if (values.Undefined > 0)
            {
                throw new CliException(
                    $"the log-density is undefined at {values.Undefined} of {input.Count} points (first: point {values.FirstUndefined}, 0-based): "
                    + (fitted.Method == FitMethod.Cmm ? "a Hessian that is not numerically positive definite or a non-finite potential" : "a conjugate solve that did not converge, a non-positive-definite Hessian or a non-finite potential")
                    + "; nothing written", ExitCodes.Failed);
            }

            CliIO.WritePoints(outPath, values.Values.Select(v => (float)v).ToArray(), 1);
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
                    normalization_log_abs_jacobian = fitted.Normalization.LogAbsJacobian,
                    mean_log_density = values.Values.Average(),
                }, CliIO.Json));
            }
            else
            {
                stdout.WriteLine($"{input.Count} points written to {outPath}");
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }
}
