using System.Diagnostics;
using System.Globalization;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Energies;
using CMM.Gpu.Fitting.Objectives;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Fitting;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using ILGPU;
using ILGPU.Runtime;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace CMM.Gpu.Fitting;

/// <summary>
/// The fitting loop of docs/maths.md section 3: persistent Langevin particles on exp(-w), data batches,
/// and Adam steps on the ICNN potential with the semi-dual objective (conjugate solves), the map objective
/// (Sinkhorn entropic map) or maximum likelihood (CMM with the network w), for CMM or the moment-measure
/// baseline. Owns all its device state; dispose it before the context.
/// </summary>
public sealed class CmmFitter : IDisposable
{
    private const int MaxRecoveries = 6;
    private const int MaxValidationPoints = 1024;
    private readonly CmmContext context;
    private readonly float[] data;
    private readonly float[] validation;
    private readonly int count;
    private readonly int dimension;
    private readonly IcnnPotential potential;
    private readonly IcnnOptimizer optimizer;
    private readonly LangevinChains chains;
    private readonly ConjugatePotential? conjugateOfNetwork;
    private readonly int? generatorNewtonMaxDimension;
    private readonly bool boxPerBatch;
    private readonly IPotential latentEnergy;
    private readonly bool generatorNetwork;
    private readonly IFitObjective objective;
    private readonly DevicePoints batch;
    private readonly DeviceVector gradient;
    private readonly DeviceVector scalar;
    private readonly FitHealth health;
    private ConjugateOptions conjugateOptions;
    private readonly string optionsFingerprint;
    private readonly string dataFingerprint;
    private readonly float[] batchHost;
    // The last good free parameters (those the current iteration started from) and the last healthy ones stay on the
    // device: copying them there each iteration needs no host read; they are read only for a checkpoint or a failed fit.
    private readonly DeviceVector lastGood;
    private readonly DeviceVector healthyParameters;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> figures;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noStatuses;
    private readonly FitLauncher fitKernels;
    private double langevinStep;
    private double learningRateScale = 1;
    private int recoveries;
    private bool fullBatchLoaded;
    private bool disposed;
    private ConjugateSolver? validationSolver;
    private DevicePoints? validationOut;
    private double bestValidation = double.NaN;
    private int bestIteration;
    private int validationsSinceBest;
    private float[]? bestParameters;
    private int healthyIteration;

    private CmmFitter(CmmContext context, ReadOnlySpan<float> rawData, int dimension, FitOptions options, IEnergy? energy = null)
    {
        options.ThrowIfInvalid();
        Energy = energy;
        this.context = context;
        Options = options;
        this.dimension = dimension;
        (data, validation) = SplitValidation(rawData, dimension, options);
        count = data.Length / dimension;
        IntegerData = AllIntegers(rawData);
        DequantizationWidth = options.Dequantization switch
        {
            Dequantization.Uniform => 1.0,
            Dequantization.Auto when IntegerData => 1.0,
            _ => 0.0,
        };
        // The fit is the CMM of the data as given (dequantised when quantised: the start sees one draw of the noise, every
        // batch a fresh one, the validation points a fixed one); only the moment-measure baseline translates them.
        if (DequantizationWidth > 0)
        {
            AddUniformNoise(validation, new Random(unchecked((options.Seed * 31) ^ 0x0DE0)));
        }

        var startData = DequantizationWidth > 0 ? data.ToArray() : data;
        if (DequantizationWidth > 0)
        {
            AddUniformNoise(startData, new Random(unchecked((options.Seed * 37) ^ 0x57A7)));
        }

        // A bounded fit is the CMM of the logit coordinates of its box: the start, the validation points and the batches are
        // taken there after their dequantisation noise (the batches one by one when the noise is drawn afresh).
        Box = energy is null ? BoxFor(options.Bounds, rawData, dimension, DequantizationWidth) : null;
        if (Box is not null)
        {
            startData = startData == data ? data.ToArray() : startData;
            Box.Forward(startData);
        }

        if (energy is null)
        {
            Start = GaussianStart.Estimate(startData, dimension, options.Method, options.StrongConvexity, options.Network);
        }
        else
        {
            var (mean, covariance, modes) = EnergyStart.Estimate(energy, seed: options.Seed);
            EnergyModes = modes;
            if (options.PilotStart)
            {
                (mean, covariance) = EnergyStart.Pilot(energy, mean, covariance, options.Seed);
            }

            Start = GaussianStart.FromMoments(mean, covariance, options.Method, options.StrongConvexity, options.Network);
        }

        Normalization = new Normalization(Start.Translation.Select(m => (float)m).ToArray(), 1f) { Box = Box };
        boxPerBatch = Box is not null && DequantizationWidth > 0;
        if (!boxPerBatch)
        {
            Normalization.Forward(data);
        }

        Normalization.Forward(validation);
        // A fit to an energy has no data: the energy and its parameters identify the target.
        dataFingerprint = energy is null ? FitCheckpoint.Fingerprint(data) : FitCheckpoint.Fingerprint(energy.Describe());
        // Dequantisation joins the fingerprint only when it acts, so fits of other data keep the fingerprints they had.
        optionsFingerprint = FitCheckpoint.Fingerprint(options.Describe() + (DequantizationWidth > 0 ? ";dequantization_width=1" : ""));
        var arch = Architecture(options, Start);
        var theta = IcnnPotential.InitialParameters(arch, options.Seed);
        Start.WriteInto(theta, arch);
        potential = IcnnPotential.FromParameters(context, arch, theta);
        optimizer = new IcnnOptimizer(potential, new IcnnOptimizerOptions { LearningRate = (float)options.LearningRate, MaxGradientNorm = (float)options.MaxGradientNorm });
        chains = new LangevinChains(context, options.Particles, dimension, (ulong)options.Seed);
        chains.SetStates(Start.SampleLatents(options.Particles, unchecked(options.Seed ^ 0x1A7E)));
        conjugateOptions = new ConjugateOptions { MaxIterations = 50, AbsoluteTolerance = 1e-4 * Start.Preconditioner.GradientScale };
        int batchCount = Math.Max(1, Math.Min(options.BatchSize, count));
        batchHost = new float[batchCount * dimension];
        batch = DevicePoints.Allocate(context, batchCount, dimension);
        // MM and the conjugate parametrisation share the roles of the ICNN: it is the generator's potential u (samples
        // grad u(x)), and the data are encoded by u's conjugate. They differ in the latent: exp(-u) for MM, exp(-u*) here.
        generatorNetwork = options.Method == FitMethod.MomentMeasure || Start.Network == FitNetwork.Conjugate;
        gradient = DeviceVector.Allocate(context, potential.ParameterCount);
        scalar = DeviceVector.Allocate(context, 1);
        if (generatorNetwork)
        {
            var solveOptions = GeneratorSolveOptions(potential, Start);
            generatorNewtonMaxDimension = solveOptions.NewtonMaxDimension;
            conjugateOfNetwork = new ConjugatePotential(potential, solveOptions);
        }

        latentEnergy = Start.Network == FitNetwork.Conjugate ? conjugateOfNetwork! : potential;
        objective = FitObjectives.Create(context, options, generatorNetwork, conjugateOfNetwork, batchCount, dimension, conjugateOptions, energy, Start);

        langevinStep = options.LangevinStepSize / Start.LargestCurvature;
        lastGood = DeviceVector.Allocate(context, potential.ParameterCount);
        healthyParameters = DeviceVector.Allocate(context, potential.ParameterCount);
        context.Tally.Copy(potential.Parameters.View, lastGood.View);
        context.Tally.Copy(potential.Parameters.View, healthyParameters.View);
        figures = context.Accelerator.Allocate1D<int>(3);
        noStatuses = context.Accelerator.Allocate1D<int>(1);
        fitKernels = context.GetComponent(c => new FitLauncher(c));
        health = new FitHealth(options);
    }

    /// <summary>The options the fit runs with.</summary>
    public FitOptions Options { get; }

    /// <summary>The box of a bounded fit (<see cref="FitOptions.Bounds"/>), whose logit coordinates the model is fitted in;
    /// null when unbounded.</summary>
    public LogitBox? Box { get; }

    /// <summary>The box of <paramref name="bounds"/> for the raw training data (before dequantisation noise).</summary>
    /// <exception cref="ArgumentException">A training value (or its value plus the dequantisation width) outside explicit bounds,
    /// or data of a single value with bounds from the data.</exception>
    private static LogitBox? BoxFor(DataBounds bounds, ReadOnlySpan<float> data, int dimension, double noiseWidth)
    {
        if (!bounds.IsBounded)
        {
            return null;
        }

        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        int argMin = 0, argMax = 0;
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] < min)
            {
                (min, argMin) = (data[i], i);
            }

            if (data[i] > max)
            {
                (max, argMax) = (data[i], i);
            }
        }

        if (bounds.UseDataRange)
        {
            if (!(max + noiseWidth > min))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"--bounds data: every training value is {min}, so the data's range is empty; give --bounds LO,HI"));
            }

            return LogitBox.Around(min, max + noiseWidth, dimension, bounds.Margin);
        }

        double lo = bounds.Lower!.Value, hi = bounds.Upper!.Value;
        if (min < lo || max + noiseWidth > hi)
        {
            int at = min < lo ? argMin : argMax;
            string what = min < lo ? $"{min}" : noiseWidth > 0 ? $"{max} (plus its dequantisation noise up to {noiseWidth})" : $"{max}";
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"training row {at / dimension}, coordinate {at % dimension}: {what} lies outside --bounds {lo},{hi}"));
        }

        return LogitBox.Around(lo, hi, dimension, bounds.Margin);
    }

    /// <summary>The width of the uniform noise added to every training value (1 when the data were dequantised, else 0;
    /// <see cref="FitOptions.Dequantization"/>).</summary>
    public double DequantizationWidth { get; }

    /// <summary>Whether every training value is an integer (pixels, counts); stored in the model as <c>integer_data</c> when the
    /// data were dequantised, so that evaluation can floor the samples back to integers.</summary>
    public bool IntegerData { get; }

    /// <summary>What the fit did to the data on purpose, one line each (dequantisation, directions of zero variance); empty when
    /// nothing. Stored in the model's metadata (key "data_treatment") and printed by <c>cmm fit</c>.</summary>
    public IReadOnlyList<string> DataTreatment
    {
        get
        {
            var lines = new List<string>();
            if (DequantizationWidth > 0)
            {
                lines.Add(Options.Dequantization == Dequantization.Uniform
                    ? "dequantised: uniform noise U[0, 1) added to every value, drawn afresh for every batch (--dequantize uniform)"
                    : "the data are integer-valued: fitted as y + U[0, 1) noise drawn afresh for every batch (floor the samples for integers; --dequantize off to fit them as given)");
            }

            if (Box is not null)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"bounded (--bounds {Options.Bounds}): fitted in the logit coordinates of the box ({Box.Lower.Min():G6}, {Box.Upper.Max():G6}), the data's range widened by {Options.Bounds.Margin:P0} of its width on either side; samples stay inside it"));
            }

            if (Start.RegularizedDirections > 0)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{Start.RegularizedDirections} direction(s) of (near) zero variance: their variance raised to {Start.Regularization:G3} ({GaussianStart.RelativeRegularization:G1} of the largest) in the Gaussian start"));
            }

            return lines;
        }
    }

    /// <summary>The data's Gaussian approximation: the start of the potential and particles, and the scales of the fit.</summary>
    public GaussianStart Start { get; }

    /// <summary>The translation from data coordinates to fitting coordinates: the identity for CMM; for the moment-measure
    /// baseline the data minus their mean (a moment measure exists only for centred data).</summary>
    public Normalization Normalization { get; }

    /// <summary>Outer iterations completed so far.</summary>
    public int Iteration { get; private set; }

    /// <summary>Training points (the data less the validation share when early stopping is on).</summary>
    public int TrainingCount => count;

    /// <summary>Validation points held out for early stopping (0 when off).</summary>
    public int ValidationCount => validation.Length / dimension;

    /// <summary>Test seam: when it returns true for a 1-based iteration, that step is treated as non-finite.</summary>
    internal Func<int, bool>? InjectNonFiniteStep { get; set; }

    /// <summary>Test seam: the options of the semi-dual objective's conjugate solves with the network w (a test makes them
    /// unable to converge).</summary>
    internal ConjugateOptions ConjugateSolveOptions
    {
        get => conjugateOptions;
        set
        {
            conjugateOptions = value;
            if (objective is PotentialSemiDualObjective semiDual)
            {
                semiDual.Options = value;
            }
        }
    }

    /// <summary>Non-finite steps rolled back so far.</summary>
    public int Recoveries => recoveries;

    /// <summary>The particles' current Langevin step (in fitting coordinates; lowered by divergence back-offs and the health monitor).</summary>
    public double LangevinStep => langevinStep;

    /// <summary>Halvings of the Langevin step made so far by the health monitor (docs/fitting.md, "Health monitoring").</summary>
    public int StepHalvings => health.StepHalvings;

    /// <summary>The potential being fitted (w for CMM, u for MM), in fitting coordinates.</summary>
    public IcnnPotential Potential => potential;

    /// <summary>The persistent particles (latent samples), in fitting coordinates.</summary>
    public LangevinChains Particles => chains;

    /// <summary>Starts a new fit on row-major data [n, d].</summary>
    /// <param name="context">The device.</param>
    /// <param name="data">Training data, row-major, at least 2 points.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Options (validated).</param>
    /// <returns>The fitter.</returns>
    public static CmmFitter Create(CmmContext context, ReadOnlySpan<float> data, int dimension, FitOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        PointChecks.Require(data, dimension, "training data", nameof(data), minPoints: 2);
        if (options?.Objective == FitObjective.Residual)
        {
            throw new ArgumentException("the residual objective fits an energy, not data: use CreateForEnergy", nameof(options));
        }

        return new CmmFitter(context, data, dimension, options ?? new FitOptions());
    }

    /// <summary>
    /// Starts a fit to a target known through its energy V, with no samples (CMFMA, docs/cmfma.md): the options' objective
    /// must be <see cref="FitObjective.Residual"/> (CMM, network w), and early stopping is off (there is nothing to validate
    /// on). The start is the Gaussian of <see cref="EnergyStart.Estimate"/>.
    /// </summary>
    /// <param name="context">The device.</param>
    /// <param name="energy">The target's energy.</param>
    /// <param name="options">Options (validated).</param>
    /// <returns>The fitter.</returns>
    /// <exception cref="ArgumentException">Invalid options, another objective, early stopping, or an energy without a finite minimum.</exception>
    public static CmmFitter CreateForEnergy(CmmContext context, IEnergy energy, FitOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(energy);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Objective != FitObjective.Residual)
        {
            throw new ArgumentException($"a fit to an energy needs the residual objective (got {options.ObjectiveName})", nameof(options));
        }

        if (options.EarlyStopping)
        {
            throw new ArgumentException("a fit to an energy has no data to validate on: early stopping must be off (validation fraction 0)", nameof(options));
        }

        return new CmmFitter(context, ReadOnlySpan<float>.Empty, energy.Dimension, options, energy);
    }

    /// <summary>Continues a fit to an energy from its checkpoint (same energy and options; the iteration count may be raised).</summary>
    /// <param name="context">The device.</param>
    /// <param name="energy">The same energy.</param>
    /// <param name="options">The same options.</param>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <returns>The fitter, positioned after the checkpoint's iteration.</returns>
    /// <exception cref="InvalidDataException">The checkpoint belongs to another energy or other options.</exception>
    public static CmmFitter ResumeForEnergy(CmmContext context, IEnergy energy, FitOptions options, FitCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return Restored(CreateForEnergy(context, energy, options), checkpoint);
    }

    /// <summary>The energy of a fit to an energy (<see cref="CreateForEnergy"/>), else null.</summary>
    public IEnergy? Energy { get; }

    /// <summary>The energy's local minima and their Laplace masses, found for the start (fits to an energy), else null.</summary>
    public IReadOnlyList<LaplaceMode>? EnergyModes { get; }

    /// <summary>Continues a fit from a checkpoint written by <see cref="SaveCheckpoint"/> with the same data and options.</summary>
    /// <param name="context">The device.</param>
    /// <param name="data">The same training data.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">The same options (the iteration count may be raised).</param>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <returns>The fitter, positioned after the checkpoint's iteration.</returns>
    /// <exception cref="InvalidDataException">The checkpoint belongs to other data or options.</exception>
    public static CmmFitter Resume(CmmContext context, ReadOnlySpan<float> data, int dimension, FitOptions options, FitCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(checkpoint);
        return Restored(Create(context, data, dimension, options), checkpoint);
    }

    /// <summary>Restores <paramref name="checkpoint"/> into a new fitter, disposing the fitter when the checkpoint is refused.</summary>
    private static CmmFitter Restored(CmmFitter f, FitCheckpoint checkpoint)
    {
        try
        {
            f.Restore(checkpoint);
            return f;
        }
        catch
        {
            f.Dispose();
            throw;
        }
    }

    /// <summary>Largest start-Hessian condition number at which the generator's conjugate solves keep the default method
    /// (L-BFGS above d = 16); above it they use Newton up to d = <see cref="IllConditionedNewtonMaxDimension"/>.</summary>
    public const double IllConditionedThreshold = 100;

    /// <summary>Largest d at which an ill-conditioned generator's solves use Newton (a d x d Hessian and Cholesky per point).</summary>
    public const int IllConditionedNewtonMaxDimension = 64;

    /// <summary>The model-file key of the Newton dimension limit the generator's solves used in the fit (a loaded model solves
    /// the same way; files without it judge the limit from the trained network, <see cref="GeneratorSolveOptions(IcnnPotential, Func{IReadOnlyList{double}})"/>).</summary>
    public const string GeneratorNewtonKey = "generator_newton_max_dimension";

    /// <summary>The generator's solve options with a given Newton dimension limit (what a model file stored).</summary>
    /// <param name="network">The generator's potential u.</param>
    /// <param name="newtonMaxDimension">Largest d solved by Newton.</param>
    /// <returns>The options.</returns>
    internal static ConjugateOptions GeneratorSolveOptions(IcnnPotential network, int newtonMaxDimension) =>
        GeneratorDefaults(network) with { NewtonMaxDimension = newtonMaxDimension };

    private static ConjugateOptions GeneratorDefaults(IcnnPotential network)
    {
        var defaults = new ConjugateOptions();
        return defaults with { AbsoluteTolerance = defaults.AbsoluteTolerance * network.Architecture.EffectivePreconditioner.GradientScale };
    }

    /// <summary>
    /// The options of the solves of u* for the generator network u (MM, or CMM with u = w*): the defaults, with the absolute
    /// tolerance times u's gradient scale, except that an ill-conditioned start (condition number of Hess u above
    /// <see cref="IllConditionedThreshold"/>) solves by Newton up to d = 64. L-BFGS with 8 pairs does not converge in 100
    /// iterations there: the MM baseline on the 8x8 digits (Hess u = the covariance, condition number about 2,400) failed
    /// every solve, and Newton converged them (docs/experiments.md section 6). The CMM's u = w* has the cube root of that
    /// conditioning, where L-BFGS is 1.7x faster than Newton at d = 64 (measured), so it keeps the default.
    /// </summary>
    internal static ConjugateOptions GeneratorSolveOptions(IcnnPotential network, GaussianStart start) =>
        GeneratorSolveOptions(network, () => start.Hessian);

    /// <summary>The same rule from any Hessian of the generator (a loaded model's: its network's at the preconditioner's centre),
    /// asked for only where it can matter (d at most <see cref="IllConditionedNewtonMaxDimension"/>).</summary>
    internal static ConjugateOptions GeneratorSolveOptions(IcnnPotential network, Func<IReadOnlyList<double>> hessianRowMajor)
    {
        var options = GeneratorDefaults(network);
        if (network.Dimension > IllConditionedNewtonMaxDimension)
        {
            return options;
        }

        var eig = Matrix<double>.Build.DenseOfRowMajor(network.Dimension, network.Dimension, hessianRowMajor().ToArray())
            .Evd(Symmetricity.Symmetric).EigenValues.Select(e => e.Real).ToArray();
        double condition = eig.Max() / eig.Min();
        return condition > IllConditionedThreshold
            ? options with { NewtonMaxDimension = IllConditionedNewtonMaxDimension }
            : options;
    }

    /// <summary>The ICNN architecture the options describe for a start: its preconditioner, and alpha in data units.</summary>
    /// <param name="options">Options.</param>
    /// <param name="start">The data's Gaussian start.</param>
    /// <returns>The architecture.</returns>
    public static IcnnArchitecture Architecture(FitOptions options, GaussianStart start)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(start);
        int d = start.Mean.Count;
        return new IcnnArchitecture(d)
        {
            HiddenWidths = options.HiddenWidths.ToArray(),
            Alpha = (float)start.Alpha,
            Rank = options.QuadraticRankFor(d),
            Preconditioner = start.Preconditioner,
            Activation = options.Activation,
            Sharpness = (float)options.EffectiveSharpness,
        };
    }

    /// <summary>Runs outer iterations until <see cref="FitOptions.Iterations"/> are done, the token is cancelled, the fit diverges,
    /// or the health monitor stops it (the sampler's acceptance or the conjugate solves' convergence stayed below its floor;
    /// status <see cref="FitStatus.SamplerFailed"/> or <see cref="FitStatus.SolverFailed"/> with <see cref="FitResult.Reason"/>).</summary>
    /// <param name="observer">Receives progress after every iteration, or null.</param>
    /// <param name="checkpointPath">Where to write checkpoints (every <see cref="FitOptions.CheckpointEvery"/> iterations and on cancellation), or null.</param>
    /// <param name="cancellationToken">Stops the loop cleanly after the current iteration.</param>
    /// <returns>The result with the model.</returns>
    public FitResult Run(IFitObserver? observer = null, string? checkpointPath = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var clock = Stopwatch.StartNew();
        var losses = new List<double>();
        var status = FitStatus.Completed;
        string? reason = null;
        var countersAtStart = context.Counters;
        while (Iteration < Options.Iterations)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                status = FitStatus.Cancelled;
                break;
            }

            var step = Step(out bool parametersFinite);
            bool injected = InjectNonFiniteStep?.Invoke(Iteration + 1) == true;
            if (injected || !double.IsFinite(step.Loss) || !parametersFinite)
            {
                bool recovered = Recover();
                observer?.OnRecovery(Iteration + 1, recovered ? learningRateScale : 0);
                if (!recovered)
                {
                    status = FitStatus.Diverged;
                    reason = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"diverged: iteration {Iteration + 1} was non-finite with the {MaxRecoveries} rollbacks a fit allows used up (each halved the learning rate); the model is the last good one, iteration {Iteration}");
                    break;
                }

                continue;
            }

            // The iteration's figures judge the parameters it started from (its Langevin run and solves used them).
            if (health.IsHealthy(step))
            {
                context.Tally.Copy(lastGood.View, healthyParameters.View);
                healthyIteration = Iteration;
            }

            context.Tally.Copy(potential.Parameters.View, lastGood.View);
            Iteration++;
            losses.Add(step.Loss);
            var progress = step with { Iteration = Iteration, Elapsed = clock.Elapsed };
            observer?.OnIteration(progress);
            var verdict = health.Observe(progress);
            foreach (var warning in verdict.Warnings)
            {
                observer?.OnHealthWarning(Iteration, warning);
            }

            if (verdict.Action == FitHealthAction.HalveLangevinStep)
            {
                langevinStep *= 0.5;
            }
            else if (verdict.Action is FitHealthAction.StopSamplerFailed or FitHealthAction.StopSolverFailed)
            {
                status = verdict.Action == FitHealthAction.StopSamplerFailed ? FitStatus.SamplerFailed : FitStatus.SolverFailed;
                reason = verdict.Reason;
                break;
            }

            bool stop = false;
            if (Options.EarlyStopping && (Iteration % Options.ValidateEvery == 0 || Iteration == Options.Iterations))
            {
                stop = ValidateStep(observer);
            }

            if (checkpointPath is not null && Options.CheckpointEvery > 0 && Iteration % Options.CheckpointEvery == 0)
            {
                SaveCheckpoint(checkpointPath);
                observer?.OnCheckpoint(checkpointPath, Iteration);
            }

            if (stop)
            {
                status = FitStatus.EarlyStopped;
                break;
            }
        }

        var work = context.Counters - countersAtStart;
        if (checkpointPath is not null && status != FitStatus.Completed)
        {
            SaveCheckpoint(checkpointPath);
            observer?.OnCheckpoint(checkpointPath, Iteration);
        }

        if (bestParameters is not null && status is FitStatus.Completed or FitStatus.EarlyStopped)
        {
            // The best validated parameters, not the last ones; the fitter itself keeps its training state.
            var best = new IcnnModel(potential.Architecture, bestParameters.ToArray(), Metadata(bestIteration));
            return new FitResult(status, Iteration, losses, recoveries, clock.Elapsed, best)
            {
                BestValidation = bestValidation, BestIteration = bestIteration, StepHalvings = health.StepHalvings, DataTreatment = DataTreatment, DeviceWork = work,
            };
        }

        if (status is FitStatus.SamplerFailed or FitStatus.SolverFailed)
        {
            // The last healthy parameters, not the last ones; the fitter (and its checkpoint) keeps its training state.
            var healthy = new IcnnModel(potential.Architecture, healthyParameters.ToArray(), Metadata(healthyIteration));
            return new FitResult(status, Iteration, losses, recoveries, clock.Elapsed, healthy) { Reason = reason, StepHalvings = health.StepHalvings, DataTreatment = DataTreatment, DeviceWork = work };
        }

        return new FitResult(status, Iteration, losses, recoveries, clock.Elapsed, ToModel()) { Reason = reason, StepHalvings = health.StepHalvings, DataTreatment = DataTreatment, DeviceWork = work };
    }

    /// <summary>
    /// The early-stopping metric now: energy distance between the particles mapped to data space (grad w* for
    /// CMM, grad u for MM; fitting coordinates) and the validation points (up to 1,024).
    /// </summary>
    /// <returns>The energy distance.</returns>
    /// <exception cref="InvalidOperationException">Early stopping is off.</exception>
    public double ValidationEnergy()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (!Options.EarlyStopping)
        {
            throw new InvalidOperationException("early stopping is off (FitOptions.ValidationFraction = 0): there are no validation points");
        }

        validationOut ??= DevicePoints.Allocate(context, Options.Particles, dimension);
        if (!generatorNetwork)
        {
            // The semi-dual objective's solver holds only scratch space sized for the particles: reuse it.
            var solver = (objective as PotentialSemiDualObjective)?.Solver ?? (validationSolver ??= new ConjugateSolver(context));
            solver.SolveDeferred(potential, chains.States, validationOut, conjugateOptions); // its result is not needed: no read
        }
        else
        {
            potential.Gradient(chains.States, validationOut);
        }

        return Metrics.SampleMetrics.EnergyDistance(validationOut.ToArray(), validation, dimension);
    }

    private static (float[] Training, float[] Validation) SplitValidation(ReadOnlySpan<float> raw, int d, FitOptions options)
    {
        int n = raw.Length / d;
        if (!options.EarlyStopping)
        {
            return (raw.ToArray(), []);
        }

        int v = (int)Math.Round(n * options.ValidationFraction);
        if (v < 2 || n - v < 2)
        {
            throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"a validation fraction of {options.ValidationFraction} of {n} points leaves {v} validation and {n - v} training points; early stopping needs at least 2 of each"));
        }

        var perm = Metrics.NoiseFloor.Permutation(n, unchecked(options.Seed ^ 0x5EED));
        var all = raw.ToArray();
        int kept = Math.Min(v, MaxValidationPoints);
        var training = Metrics.NoiseFloor.Gather(all, d, perm, v, n - v);
        var validation = Metrics.NoiseFloor.Gather(all, d, perm, 0, kept);
        return (training, validation);
    }

    private bool ValidateStep(IFitObserver? observer)
    {
        double e = ValidationEnergy();
        bool improved = double.IsFinite(e) && (double.IsNaN(bestValidation) || e < bestValidation);
        if (improved)
        {
            bestValidation = e;
            bestIteration = Iteration;
            bestParameters = potential.GetParameters();
            validationsSinceBest = 0;
        }
        else
        {
            validationsSinceBest++;
        }

        observer?.OnValidation(Iteration, e, bestValidation, improved);
        return validationsSinceBest >= Options.Patience;
    }

    /// <summary>The current model with its metadata (normalisation, method, options, iterations, seed).</summary>
    /// <returns>The model.</returns>
    public IcnnModel ToModel() => IcnnModel.FromPotential(potential, Metadata(Iteration));

    private IcnnModelMetadata Metadata(int iterations) =>
        new()
        {
            DataDimension = dimension,
            // Empty for CMM (data coordinates); the centring translation for MM.
            NormalizationMean = Options.Method == FitMethod.Cmm ? [] : Normalization.Mean.ToArray(),
            NormalizationScale = Options.Method == FitMethod.Cmm ? [] : Enumerable.Repeat(1f, dimension).ToArray(),
            Method = FitOptions.NameOf(Options.Method),
            Network = FitOptions.NameOf(Start.Network),
            Options = [.. StoredOptions()],
            Iterations = iterations,
            Seed = Options.Seed,
        };

    /// <summary>The options and facts a model file keeps: the fit's options, the energy or the data treatment, and for a
    /// generator network the Newton limit its solves were trained with (<see cref="GeneratorNewtonKey"/>).</summary>
    private IEnumerable<KeyValuePair<string, string>> StoredOptions()
    {
        foreach (var kv in Options.ToKeyValues())
        {
            yield return kv;
        }

        if (Energy is not null)
        {
            yield return new("energy", Energy.Describe());
        }
        else if (DataTreatment.Count > 0)
        {
            yield return new("dequantization_width", DequantizationWidth.ToString("R", CultureInfo.InvariantCulture));
            yield return new("data_treatment", string.Join(" | ", DataTreatment));
            yield return new("integer_data", IntegerData ? "true" : "false");
        }

        if (Box is not null)
        {
            foreach (var kv in Box.ToKeyValues())
            {
                yield return kv;
            }
        }

        if (generatorNewtonMaxDimension is { } newton)
        {
            yield return new(GeneratorNewtonKey, newton.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Writes the complete fitting state atomically.</summary>
    /// <param name="path">The checkpoint file.</param>
    public void SaveCheckpoint(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var (m, v, steps) = optimizer.ExportState();
        var objectiveState = objective.SaveState();
        var checkpoint = new FitCheckpoint
        {
            Iteration = Iteration,
            LearningRateScale = learningRateScale,
            Recoveries = recoveries,
            LangevinStepSize = langevinStep,
            ChainStepCount = chains.StepCount,
            Particles = chains.States.ToArray(),
            WarmStart = chains.SolveStarts() ?? [],
            SinkhornF = objectiveState?.F ?? [],
            SinkhornG = objectiveState?.G ?? [],
            AdamM = m,
            AdamV = v,
            AdamSteps = steps,
            Model = IcnnModelFile.Serialize(ToModel()),
            OptionsFingerprint = optionsFingerprint,
            DataFingerprint = dataFingerprint,
            BestValidation = bestValidation,
            BestIteration = bestIteration,
            ValidationsSinceBest = validationsSinceBest,
            BestParameters = bestParameters ?? [],
            HealthAcceptance = health.Acceptance.ToArray(),
            HealthConverged = health.Converged.ToArray(),
            StepHalvings = health.StepHalvings,
            HealthyIteration = healthyIteration,
            HealthyParameters = healthyParameters.ToArray(),
        };
        checkpoint.Save(path);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        validationOut?.Dispose();
        validationSolver?.Dispose();
        objective.Dispose();
        conjugateOfNetwork?.Dispose();
        scalar.Dispose();
        gradient.Dispose();
        lastGood.Dispose();
        healthyParameters.Dispose();
        figures.Dispose();
        noStatuses.Dispose();
        batch.Dispose();
        chains.Dispose();
        optimizer.Dispose();
        potential.Dispose();
    }

    private void Restore(FitCheckpoint c)
    {
        if (c.DataFingerprint != dataFingerprint)
        {
            throw new InvalidDataException("the checkpoint was written for other training data");
        }

        if (c.OptionsFingerprint != optionsFingerprint)
        {
            throw new InvalidDataException("the checkpoint was written with other fitting options (only --iterations may change on resume)");
        }

        var model = IcnnModelFile.Deserialize(c.Model, "checkpoint model");
        if (!model.Architecture.Equals(potential.Architecture))
        {
            throw new InvalidDataException("the checkpoint's network architecture differs from the options");
        }

        potential.SetParameters(model.Parameters.ToArray());
        optimizer.ImportState(c.AdamM, c.AdamV, c.AdamSteps);
        chains.SetStates(c.Particles, c.ChainStepCount, c.WarmStart.Length > 0 ? c.WarmStart : null);
        if (c.SinkhornF.Length > 0 && c.SinkhornG.Length > 0)
        {
            objective.RestoreState(c.SinkhornF, c.SinkhornG);
        }

        if (c.BestParameters.Length != 0 && c.BestParameters.Length != potential.ParameterCount)
        {
            throw new InvalidDataException($"the checkpoint's best-validation parameters hold {c.BestParameters.Length} values, the network {potential.ParameterCount}");
        }

        Iteration = c.Iteration;
        bestValidation = c.BestValidation;
        bestIteration = c.BestIteration;
        validationsSinceBest = c.ValidationsSinceBest;
        bestParameters = c.BestParameters.Length > 0 ? c.BestParameters : null;
        learningRateScale = c.LearningRateScale;
        recoveries = c.Recoveries;
        langevinStep = c.LangevinStepSize;
        context.Tally.Copy(potential.Parameters.View, lastGood.View);
        if (c.HealthyParameters.Length != 0 && c.HealthyParameters.Length != potential.ParameterCount)
        {
            throw new InvalidDataException($"the checkpoint's last healthy parameters hold {c.HealthyParameters.Length} values, the network {potential.ParameterCount}");
        }

        health.Restore(c.HealthAcceptance, c.HealthConverged, c.StepHalvings);
        // Before version 3 the checkpoint kept no health state: its own model counts as the last healthy one.
        if (c.HealthyParameters.Length > 0)
        {
            healthyParameters.CopyFrom(c.HealthyParameters);
        }
        else
        {
            context.Tally.Copy(lastGood.View, healthyParameters.View);
        }

        healthyIteration = c.HealthyParameters.Length > 0 ? c.HealthyIteration : c.Iteration;
    }

    private FitProgress Step(out bool parametersFinite)
    {
        var o = Options;
        var lr = (float)(o.LearningRateAt(Iteration) * learningRateScale);
        // No end-of-run diagnostics (the fit uses none: they cost 4 host reads and a cold solve of every particle a run); the
        // next run warm-starts from the gradients of the accepted states, as the PyTorch replica of this recipe does
        // (bench/scripts/cmm_replica.py). Until 2026-12-05 each run ended with that cold solve (one of 8 solves an iteration),
        // so fits made before differ from today's within the solve's tolerance.
        var lang = chains.RunCore(latentEnergy, new LangevinOptions
        {
            Sampler = o.Sampler,
            StepSize = langevinStep,
            BurnIn = o.LangevinSteps,
            Samples = 0,
            CheckEvery = Math.Max(1, o.LangevinSteps),
            DiagnosticChains = 0,
        }, null, default);
        langevinStep = lang.StepSize;
        FillBatch(Iteration);
        int sinkIterations = 0;
        double marginal = double.NaN, converged = 1;
        double loss = 0;
        var state = new FitState(potential, chains, batch, Iteration);
        ConjugateSolver.ConjugateSolveHandle? solve = null;
        for (int inner = 0; inner < o.InnerSteps; inner++)
        {
            var step = objective.Compute(state, gradient, scalar);
            converged = step.ConvergedFraction;
            solve = step.Solve;
            sinkIterations += step.SinkhornIterations;
            marginal = step.MarginalError;
            optimizer.Step(gradient, lr);
        }

        // One host read for the loss, the solve's converged share and the parameters' finiteness, counted on the device.
        int statusCount = solve?.Count ?? 0;
        int parameterCount = potential.ParameterCount;
        var tally = context.Tally;
        tally.Clear(figures.View);
        fitKernels.PackIterationFigures(Math.Max(statusCount, parameterCount), scalar.View, solve?.StatusView ?? noStatuses.View, statusCount,
            potential.Parameters.View, parameterCount, figures.View);
        var packed = new int[3];
        tally.Read(figures.View, packed);
        if (o.InnerSteps > 0)
        {
            loss = BitConverter.Int32BitsToSingle(packed[0]);
        }

        if (solve is not null)
        {
            converged = packed[1] / (double)statusCount; // as ConjugateResult.ConvergedFraction
        }

        parametersFinite = packed[2] == 0;

        return new FitProgress(Iteration + 1, o.Iterations, loss, sinkIterations, marginal,
            o.Sampler == LangevinSampler.Mala ? lang.AcceptanceRate : 1.0, converged, TimeSpan.Zero);
    }

    private void FillBatch(int iteration)
    {
        if (Energy is not null)
        {
            return; // no data: the residual objective makes its own points
        }

        int b = batch.Count;
        bool dequantize = DequantizationWidth > 0;
        if (b == count && !dequantize)
        {
            if (!fullBatchLoaded)
            {
                batch.CopyFrom(data);
                fullBatchLoaded = true;
            }

            return;
        }

        // Counter-based choice: the batch of iteration t depends only on (seed, t), so a resumed fit sees the same batches
        // (and the same dequantisation noise).
        var rng = new Random(unchecked((Options.Seed * 1_000_003) ^ (iteration * 7_919) ^ 0x5EED)); // not HashCode: it is randomised per process
        if (b == count)
        {
            Array.Copy(data, batchHost, data.Length);
        }
        else
        {
            for (int i = 0; i < b; i++)
            {
                int j = rng.Next(count);
                Array.Copy(data, (long)j * dimension, batchHost, (long)i * dimension, dimension);
            }
        }

        if (dequantize)
        {
            AddUniformNoise(batchHost, rng);
        }

        if (boxPerBatch)
        {
            Normalization.Forward(batchHost);
        }

        batch.CopyFrom(batchHost);
    }

    /// <summary>Whether every value is an integer (quantised data such as pixels or counts); false for an empty span.</summary>
    private static bool AllIntegers(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            return false;
        }

        foreach (var v in values)
        {
            if (v != MathF.Round(v))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Adds u ~ U[0, 1) to every value (dequantisation of integer data).</summary>
    private static void AddUniformNoise(float[] values, Random rng)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i] += (float)rng.NextDouble();
        }
    }

    private bool Recover()
    {
        recoveries++;
        if (recoveries > MaxRecoveries)
        {
            RestoreLastGood();
            return false;
        }

        RestoreLastGood();
        optimizer.Reset();
        learningRateScale *= 0.5;
        return true;
    }

    /// <summary>The network's parameters back to the last good ones, on the device (as SetParameters: copy, then Refresh).</summary>
    private void RestoreLastGood()
    {
        context.Tally.Copy(lastGood.View, potential.Parameters.View);
        potential.Refresh();
    }
}

/// <summary>Loads the fitting loop's kernels once per context and launches them by the <see cref="PointLaunch"/> rule.</summary>
internal sealed class FitLauncher(CmmContext context)
{
    private readonly PointLaunch launch = PointLaunch.For(context);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<int>, int, ArrayView<float>, int, ArrayView<int>> pack =
        LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<int>, int, ArrayView<float>, int,
            ArrayView<int>>(FitKernels.PackIterationFigures, HostLoop.PerBlock);

    public void PackIterationFigures(int n, ArrayView<float> loss, ArrayView<int> status, int statusCount, ArrayView<float> parameters, int parameterCount,
        ArrayView<int> packed)
    {
        var range = launch.Plan(n, out int threads);
        pack(threads, range, loss, status, statusCount, parameters, parameterCount, packed);
    }
}
