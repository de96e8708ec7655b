using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Fitting;

/// <summary>
/// A fitted model ready to use: the potential on the device plus its normalisation and method.
/// Sampling, encoding, decoding and potential values all take and return data coordinates.
/// CMM: sample x ~ exp(-w), y = grad w*(x); encode y -> grad w(y); decode x -> grad w*(x).
/// MM: sample x ~ exp(-u), y = grad u(x); encode y -> grad u*(y); decode x -> grad u(x).
/// A CMM whose network is u = w* (<see cref="FitNetwork.Conjugate"/>) has w = u* (<see cref="ConjugatePotential"/>): its
/// samples and decode are grad u(x) with no solve, its encode, w and the Langevin steps solve grad u(z) = .
/// Models fitted since format version 2 are the CMM of the data as given (their <see cref="Normalization"/> is the
/// identity for CMM and the centring translation for MM); version-1 files keep the data normalisation they were fitted with.
/// </summary>
public sealed class FittedModel : IDisposable
{
    private readonly ConjugateSolver solver;
    private readonly ConjugatePotential? conjugate;
    private float[]? latentMode;

    /// <summary>Puts a model on the device.</summary>
    /// <param name="context">The device.</param>
    /// <param name="model">The model (e.g. from <see cref="IcnnModelFile.Load"/> or <see cref="FitResult.Model"/>).</param>
    public FittedModel(CmmContext context, IcnnModel model)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        var md = model.Metadata;
        int d = model.Architecture.Dimension;
        var stored = md.Options.GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value);
        Normalization = (md.NormalizationMean.Count == d && md.NormalizationScale.Count == d
            ? new Normalization(md.NormalizationMean.ToArray(), md.NormalizationScale[0])
            : Normalization.Identity(d)) with { Box = LogitBox.FromKeyValues(stored, d) };
        Method = md.Method == "mm" ? FitMethod.MomentMeasure : FitMethod.Cmm;
        NetworkRole = md.Network == "conjugate" ? FitNetwork.Conjugate : FitNetwork.Potential;
        Network = model.CreatePotential(context);
        // A generator network (MM's u, or CMM's u = w*) is inverted by conjugate solves, the way the fit solved them (stored
        // in the file since 2026-12-05). Older files judge it as the fit would (CmmFitter.GeneratorSolveOptions) from the
        // trained network's Hessian at the preconditioner's centre, which can differ from what the fit chose at its start.
        GeneratorSolveOptions = Method == FitMethod.MomentMeasure || NetworkRole == FitNetwork.Conjugate
            ? stored.TryGetValue(CmmFitter.GeneratorNewtonKey, out var newton)
                && int.TryParse(newton, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int limit) && limit >= 0
                ? CmmFitter.GeneratorSolveOptions(Network, limit)
                : CmmFitter.GeneratorSolveOptions(Network, () => HessianAtCentre(context, Network))
            : null;
        conjugate = NetworkRole == FitNetwork.Conjugate ? new ConjugatePotential(Network, GeneratorSolveOptions) : null;
        Potential = conjugate ?? (IPotential)Network;
        solver = new ConjugateSolver(context);
        DequantizationWidth = stored.TryGetValue("dequantization_width", out var width)
            && double.TryParse(width, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double w) && w > 0 ? w : 0;
        // Models written before the integer_data key say it in their data_treatment text.
        IntegerData = DequantizationWidth > 0 && (stored.TryGetValue("integer_data", out var integer)
            ? integer == "true"
            : stored.TryGetValue("data_treatment", out var treatment) && treatment.Contains("integer-valued", StringComparison.Ordinal));
    }

    /// <summary>Whether the model was fitted to integer data plus U[0, <see cref="DequantizationWidth"/>) noise: flooring its
    /// samples gives samples of the integer data (<c>cmm eval</c> does so before it compares them).</summary>
    public bool IntegerData { get; }

    /// <summary>
    /// Width of the uniform noise the fit added to integer data (docs/fitting.md, "Quantised data"): 1 when the model is the
    /// density of y + U[0, 1)^d, so that flooring its samples gives integers; 0 when the data were fitted as given.
    /// </summary>
    public double DequantizationWidth { get; }

    /// <summary>The model.</summary>
    public IcnnModel Model { get; }

    /// <summary>The latent's energy in fitting coordinates: w for CMM (the ICNN, or u* when the ICNN is u = w*), u for MM.</summary>
    public IPotential Potential { get; }

    /// <summary>The ICNN: w, or u = w* (<see cref="NetworkRole"/>), or u for MM.</summary>
    public IcnnPotential Network { get; }

    /// <summary>What the ICNN of a CMM model represents (always <see cref="FitNetwork.Potential"/> for MM and version-1 files).</summary>
    public FitNetwork NetworkRole { get; }

    /// <summary>Data coordinates to fitting coordinates.</summary>
    public Normalization Normalization { get; }

    /// <summary>CMM or the moment-measure baseline.</summary>
    public FitMethod Method { get; }

    /// <summary>The data dimension d.</summary>
    public int Dimension => Model.Architecture.Dimension;

    /// <summary>The typical size of grad of the latent's energy (the latent's scale), from the ICNN's preconditioner: its gradient
    /// scale, or for u = w* its input scale. Tolerances and initial spreads are given relative to it.</summary>
    public double LatentScale
    {
        get
        {
            var pre = Model.Architecture.EffectivePreconditioner;
            return NetworkRole == FitNetwork.Conjugate ? Math.Sqrt(pre.InputScale.Average(v => (double)v * v)) : pre.GradientScale;
        }
    }

    /// <summary>The typical curvature of the latent's energy: the ICNN's curvature scale, or its inverse for u = w*.
    /// Langevin steps are given relative to its inverse.</summary>
    public double LatentCurvature
    {
        get
        {
            double c = Model.Architecture.EffectivePreconditioner.CurvatureScale;
            return NetworkRole == FitNetwork.Conjugate ? 1.0 / c : c;
        }
    }

    /// <summary>Conjugate-solve options for the latent's energy (decode): the default tolerances times <see cref="LatentScale"/>.</summary>
    public ConjugateOptions ConjugateDefaults => new() { AbsoluteTolerance = new ConjugateOptions().AbsoluteTolerance * LatentScale };

    /// <summary>For a generator network (MM, or CMM with the network u = w*): the options of the solves that invert it, with
    /// the Newton dimension limit the fit used (older files: Newton up to d = 64 when the network's Hessian at the
    /// preconditioner's centre has a condition number above 100); null for CMM with the network w.</summary>
    public ConjugateOptions? GeneratorSolveOptions { get; }

    /// <summary>The mode of the latent exp(-w) (or exp(-u)): argmin w = grad w*(0), solved once; Langevin chains start there.</summary>
    public IReadOnlyList<float> LatentMode => latentMode ??= conjugate is not null
        ? ConjugateSolver.Encode(Network, new float[Dimension])
        : solver.Decode(Potential, new float[Dimension], InverseSolveOptions with { MaxIterations = 200 }, out _);

    /// <summary><see cref="ConjugateDefaults"/> with a generator's Newton limit (<see cref="GeneratorSolveOptions"/>): the solves
    /// that invert the potential itself (MM's encode and latent mode).</summary>
    private ConjugateOptions InverseSolveOptions =>
        GeneratorSolveOptions is { } g ? ConjugateDefaults with { NewtonMaxDimension = g.NewtonMaxDimension } : ConjugateDefaults;

    /// <summary>Loads a model file onto the device.</summary>
    /// <param name="context">The device.</param>
    /// <param name="path">The model file.</param>
    /// <returns>The model.</returns>
    /// <exception cref="InvalidDataException">Truncated, corrupted or newer-version file.</exception>
    public static FittedModel Load(CmmContext context, string path) => new(context, IcnnModelFile.Load(path));

    /// <summary>
    /// Generates samples in chunks (data coordinates): latents by Langevin on exp(-w), mapped by grad w*
    /// (CMM) or grad u (MM). The chunk's <see cref="SampleChunk.Latents"/> stay in fitting coordinates (the data's own
    /// for CMM models of format version 2). The options are read relative to the model (<see cref="Relative"/>).
    /// </summary>
    /// <param name="options">Generation options; <see cref="GenerationOptions.Mapping"/> is set from the method.</param>
    /// <param name="onChunk">Receives each chunk.</param>
    /// <param name="progress">Optional progress.</param>
    /// <param name="cancellationToken">Stops between chunks.</param>
    /// <returns>The summary.</returns>
    public GenerationResult Sample(GenerationOptions options, Action<SampleChunk> onChunk,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Sample(options, [Potential.Context], onChunk, progress, cancellationToken);

    /// <summary>
    /// Generates samples as <see cref="Sample(GenerationOptions, Action{SampleChunk}, IProgress{GenerationProgress}?, CancellationToken)"/>,
    /// with the chunks dealt to several devices (<see cref="SampleGenerator.Generate(Potentials.IPotential, IReadOnlyList{CmmContext}, GenerationOptions, Action{SampleChunk}, IProgress{GenerationProgress}?, CancellationToken)"/>):
    /// the model's potential is copied onto each device other than its own; the output equals the single-device output.
    /// </summary>
    /// <param name="options">Generation options; <see cref="GenerationOptions.Mapping"/> is set from the method.</param>
    /// <param name="devices">The devices (e.g. from <see cref="CmmContext.CreateAll"/>), usually including the model's own.</param>
    /// <param name="onChunk">Receives each chunk, in order, on the calling thread.</param>
    /// <param name="progress">Optional progress.</param>
    /// <param name="cancellationToken">Stops between chunks.</param>
    /// <returns>The summary.</returns>
    public GenerationResult Sample(GenerationOptions options, IReadOnlyList<CmmContext> devices, Action<SampleChunk> onChunk,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(onChunk);
        var o = Relative(options);
        return SampleGenerator.Generate(Potential, devices, o, chunk =>
        {
            var samples = chunk.Samples.ToArray();
            Normalization.Backward(samples);
            onChunk(chunk with { Samples = samples });
        }, progress, cancellationToken);
    }

    /// <summary>
    /// The generation options in this model's units: chains start at <see cref="LatentMode"/> (unless
    /// <see cref="GenerationOptions.InitialCentre"/> is set) with spread InitialScale / sqrt(curvature scale), the Langevin
    /// step is StepSize / curvature scale, the conjugate tolerance is scaled by the gradient scale, and the mapping follows
    /// the method. For a model fitted to unit-scale data these are the options as given.
    /// </summary>
    /// <param name="options">Options in units of the model's latent.</param>
    /// <returns>The options the generator runs.</returns>
    public GenerationOptions Relative(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        double curvature = LatentCurvature;
        return options with
        {
            Mapping = Method == FitMethod.Cmm ? SampleMapping.ConjugateGradient : SampleMapping.Gradient,
            InitialCentre = options.InitialCentre ?? LatentMode,
            InitialScale = options.InitialScale / Math.Sqrt(curvature),
            Langevin = options.Langevin with { StepSize = options.Langevin.StepSize / curvature },
            Conjugate = options.Conjugate with { AbsoluteTolerance = options.Conjugate.AbsoluteTolerance * LatentScale },
        };
    }

    /// <summary>Maps data to the latent space: grad w(y) (CMM) or grad u*(y) (MM).</summary>
    /// <param name="data">Row-major points in data coordinates.</param>
    /// <param name="result">The conjugate solve's result (MM, and CMM whose network is u = w*), or null.</param>
    /// <returns>Latents, row-major.</returns>
    /// <exception cref="ArgumentException">No points, a length that is not a multiple of d, or a non-finite value (the message names the first).</exception>
    public float[] Encode(ReadOnlySpan<float> data, out ConjugateResult? result)
    {
        var z = Normalized(data);
        if (Method == FitMethod.Cmm)
        {
            var x = ConjugateSolver.Encode(Potential, z);
            result = conjugate?.LastSolve;
            return x;
        }

        var y = solver.Decode(Potential, z, InverseSolveOptions, out var r);
        result = r;
        return y;
    }

    /// <summary>The network's Hessian at its preconditioner's centre (row-major, double).</summary>
    private static double[] HessianAtCentre(CmmContext context, IcnnPotential network)
    {
        int d = network.Dimension;
        using var p = DevicePoints.Upload(context, network.Architecture.EffectivePreconditioner.Centre.ToArray(), d);
        using var h = DeviceVector.Allocate(context, (long)d * d);
        network.Hessian(p, h);
        return h.ToArray().Select(v => (double)v).ToArray();
    }

    /// <summary>Maps latents to data: grad w*(x) (CMM) or grad u(x) (MM), in data coordinates.</summary>
    /// <param name="latents">Row-major latents.</param>
    /// <param name="result">The conjugate solve's result (CMM whose network is w), or null.</param>
    /// <returns>Samples, row-major, data coordinates.</returns>
    /// <exception cref="ArgumentException">No points, a length that is not a multiple of d, or a non-finite value (the message names the first).</exception>
    public float[] Decode(ReadOnlySpan<float> latents, out ConjugateResult? result)
    {
        PointChecks.Require(latents, Dimension, "latents", nameof(latents));
        float[] y;
        if (Method == FitMethod.Cmm && conjugate is null)
        {
            y = solver.Decode(Potential, latents, ConjugateDefaults, out var r);
            result = r;
        }
        else
        {
            // grad u(x): MM, or CMM with the network u = w*.
            result = null;
            y = ConjugateSolver.Encode(Network, latents);
        }

        Normalization.Backward(y);
        return y;
    }

    /// <summary>The potential at data points: w(z) (CMM) or u(z) (MM), z the normalised points.</summary>
    /// <param name="data">Row-major points in data coordinates.</param>
    /// <returns>One value per point.</returns>
    /// <exception cref="ArgumentException">No points, a length that is not a multiple of d, or a non-finite value (the message names the first).</exception>
    public float[] PotentialValues(ReadOnlySpan<float> data)
    {
        var z = Normalized(data);
        using var p = DevicePoints.Upload(Potential.Context, z, Dimension);
        using var v = DeviceVector.Allocate(Potential.Context, p.Count);
        Potential.Value(p, v);
        return v.ToArray();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        solver.Dispose();
        conjugate?.Dispose();
        Network.Dispose();
    }

    private float[] Normalized(ReadOnlySpan<float> data)
    {
        PointChecks.Require(data, Dimension, "points", nameof(data));
        var z = data.ToArray();
        Normalization.Forward(z);
        return z;
    }
}
