using CMM.Gpu.Density;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using CMM.Gpu.Cli.Terminal;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Fitting;
using CMM.Gpu.IO;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm sample</c>, <c>encode</c>, <c>decode</c> and <c>potential</c>: using a fitted model.</summary>
internal static class SampleCommands
{
    public static Command Sample(TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var n = new Option<long>("--n") { Description = "Number of samples.", Required = true };
        var outOpt = new Option<string>("--out") { Description = "Samples file (.csv or .npy), streamed chunk by chunk.", Required = true };
        var latentOut = new Option<string?>("--latent-out") { Description = "Also write the latents x (fitting coordinates)." };
        var energyOpt = new Option<string?>("--energy") { Description = "The energy file the model was fitted to (cmm fit --energy): with --weights, each sample's importance weight." };
        var weightsOut = new Option<string?>("--weights") { Description = "With --energy: also write each sample's log q(y) and log importance weight -V(y) - log q(y) (two columns); the samples are read back once written." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the chains.", DefaultValueFactory = _ => 0UL };
        var sampler = new Option<string>("--sampler") { Description = "ula or mala.", DefaultValueFactory = _ => "mala" };
        var step = new Option<double>("--step-size") { Description = "Langevin step size (MALA adapts it).", DefaultValueFactory = _ => GenerationOptions.DefaultLangevin.StepSize };
        var burnIn = new Option<int>("--burn-in") { Description = "Langevin steps before the first draw.", DefaultValueFactory = _ => GenerationOptions.DefaultLangevin.BurnIn };
        var chunk = new Option<int>("--chunk") { Description = "Chains per chunk (device memory bound).", DefaultValueFactory = _ => new GenerationOptions().ChunkSize };
        var shard = new Option<string>("--shard") { Description = "K/N: write only the K-th (0-based) of N disjoint slices of the same stream.", DefaultValueFactory = _ => "0/1" };
        var devices = new Option<string?>("--devices")
        {
            Description = "N|all: devices of the accelerator the chunks are dealt to (default: all GPUs of a cuda/opencl accelerator, 1 on the cpu). "
                + "The output is the same for any N. With --accelerator cpu, N simulated devices (for testing).",
        };
        var json = CommonOptions.Json();
        var acc = CommonOptions.Accelerator();
        var cmd = new Command("sample", "Generate samples: latents x ~ exp(-w) by Langevin, mapped through grad w* (CMM) or grad u (MM).")
        {
            model, n, outOpt, latentOut, energyOpt, weightsOut, seed, sampler, step, burnIn, chunk, shard, devices, json, acc,
        };
        cmd.SetAction(parse =>
        {
            long count = parse.GetValue(n);
            if (count <= 0)
            {
                throw new CliException($"--n must be positive (got {count})");
            }

            Shard sh;
            try
            {
                sh = Shard.Parse(parse.GetValue(shard)!);
            }
            catch (FormatException e)
            {
                throw new CliException("--shard: " + e.Message);
            }

            var defaults = CmmModel.DefaultSampling(count, parse.GetValue(seed));
            var lang = defaults.Langevin with
            {
                Sampler = parse.GetValue(sampler)?.ToUpperInvariant() switch
                {
                    "ULA" => LangevinSampler.Ula,
                    "MALA" => LangevinSampler.Mala,
                    var s => throw new CliException($"--sampler '{s?.ToLowerInvariant()}': expected ula or mala"),
                },
                StepSize = parse.GetValue(step),
                BurnIn = parse.GetValue(burnIn),
            };
            lang = lang with { AdaptStepSize = lang.Sampler == LangevinSampler.Mala };
            var options = defaults with { Langevin = lang, ChunkSize = parse.GetValue(chunk), Shard = sh };
            CliIO.RequireValid(options.Validate());

            int? wanted = CliIO.ParseDevices(parse.GetValue(devices));
            string outPath = parse.GetValue(outOpt)!;
            string? latentPath = parse.GetValue(latentOut);
            CliIO.CheckWritable(outPath, "--out");
            CliIO.CheckWritable(latentPath, "--latent-out");
            string? weightsPath = parse.GetValue(weightsOut);
            if ((weightsPath is null) != (parse.GetValue(energyOpt) is null))
            {
                throw new CliException("--weights and --energy go together: the weights are those of the energy the model was fitted to");
            }

            CliIO.CheckWritable(weightsPath, "--weights");
            var energy = parse.GetValue(energyOpt) is { } energyPath ? DensityCommand.LoadEnergy(energyPath, "--energy") : null;
            using var deviceSet = CliIO.OpenDevices(parse.GetValue(acc), wanted, stderr);
            using var fitted = ModelCommands.Load(deviceSet.Primary, parse.GetValue(model)!);
            if (energy is not null && energy.Dimension != fitted.Dimension)
            {
                throw new CliException($"dimension mismatch: the energy has d = {energy.Dimension} but the model d = {fitted.Dimension}");
            }

            var (start, end) = sh.Range(count);
            var result = ProgressDisplay.Run(stderr, "sample", end - start, sink =>
                fitted.SampleToFile(outPath, options, latentPath, deviceSet.Devices, new Progress(sink)));
            if (result.Status == SamplingStatus.Diverged)
            {
                throw new CliException("sampling diverged (non-finite chains even after step-size back-off); nothing written. Try a smaller --step-size.", ExitCodes.Failed);
            }

            double? ess = null, energyLogZ = null;
            if (energy is not null)
            {
                var written = CliIO.ReadPoints(outPath, "--out");
                var (logQ, _) = DensityCommand.LogDensities(fitted.Fitted, written.Data.Span, written.Count, 1024, new LogNormalizerOptions { Seed = (int)parse.GetValue(seed) },
                    (int)parse.GetValue(seed), stderr);
                var logWeights = DensityCommand.LogWeights(energy, written.Data.Span, logQ, fitted.Dimension);
                DensityCommand.WriteColumns(weightsPath!, logQ, logWeights);
                ess = Energies.EnergyDiagnostics.EffectiveSampleFractionOf(logWeights);
                energyLogZ = Energies.EnergyDiagnostics.LogMeanExp(logWeights);
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"cmm sample: log q and log weights written to {weightsPath}; effective sample size {ess:P1}, log normaliser of the energy {energyLogZ:F4}"));
            }

            var summary = new
            {
                status = result.Status.ToString(),
                generated = result.Generated,
                first_index = result.FirstIndex,
                shard = sh.ToString(),
                devices = result.Devices,
                step_size = result.StepSize,
                acceptance_rate = result.AcceptanceRate,
                divergent_chains = result.DivergentChains,
                conjugate_converged_fraction = result.ConjugateConvergedFraction,
                seconds = result.Elapsed.TotalSeconds,
                @out = outPath,
                weights = weightsPath,
                effective_sample_fraction = ess,
                energy_log_normalizer = energyLogZ,
            };
            stdout.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(summary, CliIO.Json)
                : string.Create(CultureInfo.InvariantCulture, $"{result.Generated} samples written to {outPath}{(result.Devices > 1 ? $" by {result.Devices} devices" : "")} (status {result.Status}, acceptance {result.AcceptanceRate:P0}, conjugate solves converged {result.ConjugateConvergedFraction:P1})"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    public static Command Map(string name, string description, TextWriter stdout, TextWriter stderr)
    {
        var model = new Option<string>("--model") { Description = "Model file.", Required = true };
        var data = new Option<string>("--data") { Description = "Input points (.csv, .npy or IDX).", Required = true };
        var outOpt = new Option<string>("--out") { Description = "Output file (.csv or .npy).", Required = true };
        var acc = CommonOptions.Accelerator();
        var cmd = new Command(name, description) { model, data, outOpt, acc };
        cmd.SetAction(parse =>
        {
            string outPath = parse.GetValue(outOpt)!;
            CliIO.CheckWritable(outPath, "--out");
            var input = CliIO.ReadPoints(parse.GetValue(data), "--data");
            using var ctx = CliIO.OpenContext(parse.GetValue(acc), stderr);
            using var fitted = ModelCommands.LoadModel(ctx, parse.GetValue(model)!, input.Dimension);
            ConjugateResult? conj = null;
            float[] result;
            int dim = fitted.Dimension;
            switch (name)
            {
                case "encode":
                    result = fitted.Encode(input.Data.Span, out conj);
                    break;
                case "decode":
                    result = fitted.Decode(input.Data.Span, out conj);
                    break;
                default:
                    result = fitted.PotentialValues(input.Data.Span);
                    dim = 1;
                    break;
            }

            if (conj is not null && conj.ConvergedFraction < 1)
            {
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"cmm {name}: warning: {1 - conj.ConvergedFraction:P2} of the conjugate solves did not converge (max residual {conj.MaxResidual:G3})"));
            }

            CliIO.WritePoints(outPath, result, dim);
            stdout.WriteLine($"{input.Count} points written to {outPath}");
            return conj is not null && conj.ConvergedFraction < 1 ? ExitCodes.Failed : ExitCodes.Ok;
        });
        return cmd;
    }

    private sealed class Progress(IProgressSink sink) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => sink.Report(value.Done, "");
    }
}
