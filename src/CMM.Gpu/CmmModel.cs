using CMM.Gpu.Energies;
using CMM.Gpu.Density;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using CMM.Gpu.IO;

namespace CMM.Gpu;

/// <summary>
/// How a fit runs, beyond its hyper-parameters: the device, the checkpoint file and resuming from it, an observer of every
/// event, progress and cancellation. The <c>cmm fit</c> command is this plus a progress bar.
/// </summary>
public sealed record FitRun
{
    /// <summary>The device; null opens one from <c>CMM_ACCELERATOR</c> or else the best available (<see cref="AcceleratorKind.Auto"/>),
    /// owned and disposed by the returned model.</summary>
    public CmmContext? Device { get; init; }

    /// <summary>Checkpoint file written every <see cref="FitOptions.CheckpointEvery"/> iterations and on cancellation; null for none.
    /// It is deleted once the fit has completed (or stopped early), since the model holds everything it did, unless
    /// <see cref="KeepCheckpoint"/> is set.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Keep the checkpoint of a completed fit, to extend it later with more iterations (<see cref="Resume"/> with a
    /// larger <see cref="FitOptions.Iterations"/>).</summary>
    public bool KeepCheckpoint { get; init; }

    /// <summary>Continue from <see cref="CheckpointPath"/> (which must exist) instead of starting afresh; bit-identical to an
    /// uninterrupted fit with the same data and options.</summary>
    public bool Resume { get; init; }

    /// <summary>Receives every iteration, recovery, checkpoint and validation (optional).</summary>
    public IFitObserver? Observer { get; init; }

    /// <summary>Receives every iteration's figures (optional; called on the fitting thread).</summary>
    public IProgress<FitProgress>? Progress { get; init; }

    /// <summary>Stops the fit after the current iteration (with a checkpoint when a path is set).</summary>
    public CancellationToken CancellationToken { get; init; }
}

/// <summary>
/// The library's front door (docs/library.md): fit a conjugate moment measure to data, save and load it, draw samples,
/// encode data to latents and decode latents to data, and evaluate the potential and the model's log-density. Everything is
/// in the data's own coordinates; the defaults are those of the <c>cmm</c> command (same samples for the same model and seed).
/// <code>
/// using var model = CmmModel.Fit(data);            // float[n, d]
/// float[,] samples = model.Sample(1000, seed: 1);
/// model.Save("model.cmm");
/// </code>
/// Dispose the model to free its device memory (and the device it opened, when it opened one).
/// </summary>
public sealed class CmmModel : IDisposable
{
    private readonly CmmContext? ownedDevice;
    private ModelDensity? density;
    private LogNormalizerEstimate? logNormalizer;
    private bool disposed;

    private CmmModel(FittedModel fitted, CmmContext? ownedDevice, FitResult? fitResult)
    {
        Fitted = fitted;
        this.ownedDevice = ownedDevice;
        FitResult = fitResult;
    }

    /// <summary>The engine-level model (potential, conjugate solver, normalisation) for uses the facade does not cover.</summary>
    public FittedModel Fitted { get; }

    /// <summary>The device the model lives on.</summary>
    public CmmContext Device => Fitted.Potential.Context;

    /// <summary>The data dimension d.</summary>
    public int Dimension => Fitted.Dimension;

    /// <summary>How the fit that made this model ended (iterations, losses, status); null for a loaded model.</summary>
    public FitResult? FitResult { get; }

    /// <summary>The model's parameters and metadata, as saved.</summary>
    public IcnnModel Parameters => Fitted.Model;

    // ------------------------------------------------------------------ fitting

    /// <summary>Fits a model to the rows of <paramref name="data"/> (n points of dimension d).</summary>
    /// <param name="data">The points, one per row.</param>
    /// <param name="options">Hyper-parameters; null for the defaults of <c>cmm fit</c>.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="device">The device; null opens the best available one, owned by the model.</param>
    /// <returns>The model; check <see cref="FitResult"/> (<see cref="FitResult.Succeeded"/>, <see cref="FitResult.Reason"/>) for a
    /// fit that diverged or whose sampler or conjugate solver failed (it keeps the last good parameters and is not a finished fit).</returns>
    /// <exception cref="ArgumentException">Empty, non-finite or too little data, or invalid options.</exception>
    public static CmmModel Fit(float[,] data, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var (flat, d) = Rows.Flatten(data, nameof(data));
        return FitOrThrow(flat, d, options, device, progress, cancellationToken);
    }

    /// <summary>Fits a model to <paramref name="data"/>, one point per array (all of the same length d).</summary>
    /// <param name="data">The points.</param>
    /// <param name="options">Hyper-parameters; null for the defaults of <c>cmm fit</c>.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="device">The device; null opens the best available one, owned by the model.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentException">Ragged, empty or non-finite data, or invalid options.</exception>
    public static CmmModel Fit(float[][] data, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var (flat, d) = Rows.Flatten(data, nameof(data));
        return FitOrThrow(flat, d, options, device, progress, cancellationToken);
    }

    /// <summary>Fits a model to row-major points: <paramref name="data"/> holds n * d values.</summary>
    /// <param name="data">The points, row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Hyper-parameters; null for the defaults of <c>cmm fit</c>.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="device">The device; null opens the best available one, owned by the model.</param>
    /// <returns>The model.</returns>
    public static CmmModel Fit(ReadOnlySpan<float> data, int dimension, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default) =>
        FitOrThrow(data.ToArray(), dimension, options, device, progress, cancellationToken);

    /// <summary>Fits a model to a point file (.csv with one point per line, or .npy of shape (n, d); docs/file-formats.md).</summary>
    /// <param name="path">The file.</param>
    /// <param name="options">Hyper-parameters; null for the defaults of <c>cmm fit</c>.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="device">The device; null opens the best available one, owned by the model.</param>
    /// <returns>The model.</returns>
    /// <exception cref="PointFileException">A missing, empty, ragged or non-numeric file, with the line or value at fault.</exception>
    public static CmmModel FitFile(string path, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var cloud = PointFile.Read(path);
        return FitOrThrow(cloud.Data.ToArray(), cloud.Dimension, options, device, progress, cancellationToken);
    }

    /// <summary>Fits on a worker thread: <see cref="Fit(float[,], FitOptions?, CmmContext?, IProgress{FitProgress}?, CancellationToken)"/>.</summary>
    /// <param name="data">The points, one per row.</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit (the task is then cancelled).</param>
    /// <param name="device">The device; null opens the best available one.</param>
    /// <returns>The model.</returns>
    public static Task<CmmModel> FitAsync(float[,] data, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Fit(data, options, device, progress, cancellationToken), cancellationToken);

    /// <summary>Fits on a worker thread: <see cref="Fit(float[][], FitOptions?, CmmContext?, IProgress{FitProgress}?, CancellationToken)"/>.</summary>
    /// <param name="data">The points.</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit (the task is then cancelled).</param>
    /// <param name="device">The device; null opens the best available one.</param>
    /// <returns>The model.</returns>
    public static Task<CmmModel> FitAsync(float[][] data, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Fit(data, options, device, progress, cancellationToken), cancellationToken);

    /// <summary>Fits on a worker thread: row-major points, n * d values.</summary>
    /// <param name="data">The points, row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit (the task is then cancelled).</param>
    /// <param name="device">The device; null opens the best available one.</param>
    /// <returns>The model.</returns>
    public static Task<CmmModel> FitAsync(ReadOnlyMemory<float> data, int dimension, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Fit(data.Span, dimension, options, device, progress, cancellationToken), cancellationToken);

    /// <summary>Fits a point file on a worker thread.</summary>
    /// <param name="path">The file (.csv or .npy).</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="progress">Receives every iteration's figures (optional).</param>
    /// <param name="cancellationToken">Stops the fit (the task is then cancelled).</param>
    /// <param name="device">The device; null opens the best available one.</param>
    /// <returns>The model.</returns>
    public static Task<CmmModel> FitFileAsync(string path, FitOptions? options = null, CmmContext? device = null,
        IProgress<FitProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => FitFile(path, options, device, progress, cancellationToken), cancellationToken);

    /// <summary>
    /// Fits with checkpoints, resume and an observer (what <c>cmm fit</c> runs). Unlike the simple overloads it does not throw on
    /// cancellation: the model of the last completed iteration comes back with <see cref="FitStatus.Cancelled"/> in
    /// <see cref="FitResult"/>, and the checkpoint (when a path is set) lets a later call resume. A fit that diverges or whose
    /// sampler or conjugate solver stops working (<see cref="FitStatus.SamplerFailed"/>, <see cref="FitStatus.SolverFailed"/>;
    /// warnings go to <see cref="IFitObserver.OnHealthWarning"/> as it runs) comes back with that status, the reason in
    /// <see cref="FitResult.Reason"/> and its last good parameters; its checkpoint is kept. Save such a model only as what it is.
    /// </summary>
    /// <param name="data">The points, row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="run">Device, checkpoint, resume, observer, progress, cancellation.</param>
    /// <returns>The model, whatever the status.</returns>
    /// <exception cref="ArgumentException">Invalid data or options.</exception>
    /// <exception cref="FileNotFoundException"><see cref="FitRun.Resume"/> without an existing checkpoint.</exception>
    /// <exception cref="InvalidDataException">A corrupt checkpoint, or one written for other data or options.</exception>
    public static CmmModel Fit(ReadOnlySpan<float> data, int dimension, FitOptions? options, FitRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        options ??= new FitOptions();
        RequireValid(options);
        var copy = data.ToArray();
        return RunFit(options, run, device => StartFitter(device, copy, dimension, options, run), null);
    }

    /// <summary>The options <see cref="FitEnergy"/> uses when given none: the defaults with the residual objective and the
    /// network w (the only combination CMFMA supports).</summary>
    public static FitOptions DefaultEnergyOptions { get; } = new() { Objective = FitObjective.Residual, Network = FitNetwork.Potential };

    /// <summary>
    /// Fits a model to a target known only through its energy V, density proportional to exp(-V), with no samples of it
    /// (CMFMA, docs/cmfma.md). When the fit completes, <see cref="EnergyDiagnostics"/> (effective sample size, log normaliser,
    /// residual variance, mode weights) are computed from 4,096 samples and stored with the model.
    /// </summary>
    /// <param name="energy">The target's energy (a built-in from <see cref="EnergyFile"/> or your own <see cref="IEnergy"/>).</param>
    /// <param name="options">Hyper-parameters with <see cref="FitObjective.Residual"/> and the network w; null for <see cref="DefaultEnergyOptions"/>.</param>
    /// <param name="run">Device, checkpoint, resume, observer, progress, cancellation.</param>
    /// <returns>The model, whatever the status.</returns>
    /// <exception cref="ArgumentException">Invalid options, or an energy without a finite minimum or that returns non-finite values.</exception>
    /// <exception cref="FileNotFoundException"><see cref="FitRun.Resume"/> without an existing checkpoint.</exception>
    /// <exception cref="InvalidDataException">A corrupt checkpoint, or one written for another energy or other options.</exception>
    public static CmmModel FitEnergy(IEnergy energy, FitOptions? options, FitRun run)
    {
        ArgumentNullException.ThrowIfNull(energy);
        ArgumentNullException.ThrowIfNull(run);
        options ??= DefaultEnergyOptions;
        RequireValid(options);
        var counted = new CountingEnergy(energy); // the fit's cost in energy evaluations, for comparisons with MALA
        return RunFit(options, run, device =>
        {
            if (!run.Resume)
            {
                return CmmFitter.CreateForEnergy(device, counted, options);
            }

            RequireCheckpoint(run);
            return CmmFitter.ResumeForEnergy(device, counted, options, FitCheckpoint.Load(run.CheckpointPath!));
        }, counted);
    }

    /// <summary>How well a model fitted to an energy matches it (<see cref="FitEnergy"/>); null for other models.</summary>
    public EnergyDiagnostics? EnergyDiagnostics { get; private init; }

    private static void RequireValid(FitOptions options)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid fit options: " + string.Join("; ", problems), nameof(options));
        }
    }

    private static CmmModel RunFit(FitOptions options, FitRun run, Func<CmmContext, CmmFitter> start, CountingEnergy? energy)
    {
        var owned = run.Device is null ? CmmContext.Create((string?)null) : null;
        var device = run.Device ?? owned!;
        try
        {
            FitResult result;
            using (var fitter = start(device))
            {
                var observer = run.Progress is null ? run.Observer : new ProgressObserver(run.Progress, run.Observer);
                if (run.Resume)
                {
                    observer?.OnResumed(fitter.Iteration);
                }

                result = fitter.Run(observer, run.CheckpointPath, run.CancellationToken);
            }

            if (run.CheckpointPath is not null && !run.KeepCheckpoint && result.Status is FitStatus.Completed or FitStatus.EarlyStopped)
            {
                File.Delete(run.CheckpointPath);
            }

            var fitted = new FittedModel(device, result.Model);
            if (energy is null || result.Status != FitStatus.Completed)
            {
                return new CmmModel(fitted, owned, result);
            }

            // The diagnostics go into the model's metadata, so that a saved model carries them.
            long fitEvaluations = energy.Evaluations; // before the diagnostics' own evaluations
            var diagnostics = Energies.EnergyDiagnostics.Evaluate(fitted, energy.Inner) with { FitEnergyEvaluations = run.Resume ? null : fitEvaluations };
            var md = result.Model.Metadata;
            var model = result.Model with { Metadata = md with { Options = [.. md.Options, .. diagnostics.ToKeyValues()] } };
            fitted.Dispose();
            return new CmmModel(new FittedModel(device, model), owned, result with { Model = model }) { EnergyDiagnostics = diagnostics };
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ files

    /// <summary>Loads a model file written by <see cref="Save"/> or <c>cmm fit</c>.</summary>
    /// <param name="path">The model file.</param>
    /// <param name="device">The device; null opens the best available one, owned by the model.</param>
    /// <returns>The model.</returns>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">A truncated, corrupted or newer-version file, naming what is wrong.</exception>
    public static CmmModel Load(string path, CmmContext? device = null)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"model file '{path}' does not exist", path);
        }

        var model = IcnnModelFile.Load(path);
        var owned = device is null ? CmmContext.Create((string?)null) : null;
        try
        {
            return new CmmModel(new FittedModel(device ?? owned!, model), owned, null);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    /// <summary>Saves the model (atomically: an interrupted save leaves no partial file; docs/model-format.md).</summary>
    /// <param name="path">The model file.</param>
    public void Save(string path)
    {
        ThrowIfDisposed();
        IcnnModelFile.Save(path, Fitted.Model);
    }

    // ------------------------------------------------------------------ sampling

    /// <summary>The generation options <see cref="Sample(int, ulong, IProgress{GenerationProgress}?, CancellationToken)"/> and
    /// <c>cmm sample</c> use: <see cref="GenerationOptions.DefaultLangevin"/> (MALA, adapted step, 300 burn-in steps).</summary>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed of the chains.</param>
    /// <returns>The options.</returns>
    public static GenerationOptions DefaultSampling(long count, ulong seed = 0) => new() { Count = count, Seed = seed };

    /// <summary>Draws <paramref name="count"/> samples (data coordinates), one per row; the same as
    /// <c>cmm sample --n count --seed seed</c> for the same model.</summary>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed of the chains (the output is a function of model and seed only).</param>
    /// <param name="progress">Receives progress per chunk (optional).</param>
    /// <param name="cancellationToken">Stops between chunks; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The samples, [count, d].</returns>
    /// <exception cref="CmmNumericalException">The chains diverged (non-finite even after step-size back-off).</exception>
    public float[,] Sample(int count, ulong seed = 0, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        int d = Dimension;
        var samples = new float[count, d];
        var result = Sample(DefaultSampling(count, seed), chunk =>
        {
            for (int i = 0; i < chunk.Count; i++)
            {
                for (int k = 0; k < d; k++)
                {
                    samples[chunk.FirstIndex + i, k] = chunk.Samples[(i * d) + k];
                }
            }
        }, null, progress, cancellationToken);
        ThrowIfFailed(result.Status, cancellationToken);
        return samples;
    }

    /// <summary>Draws samples on a worker thread (<see cref="Sample(int, ulong, IProgress{GenerationProgress}?, CancellationToken)"/>).</summary>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed of the chains.</param>
    /// <param name="progress">Receives progress per chunk (optional).</param>
    /// <param name="cancellationToken">Stops between chunks (the task is then cancelled).</param>
    /// <returns>The samples, [count, d].</returns>
    public Task<float[,]> SampleAsync(int count, ulong seed = 0, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Sample(count, seed, progress, cancellationToken), cancellationToken);

    /// <summary>
    /// Streams samples chunk by chunk (constant memory for any count): each chunk holds up to
    /// <see cref="GenerationOptions.ChunkSize"/> samples (data coordinates) and their latents, in order.
    /// </summary>
    /// <param name="options">Count, seed, sampler, chunk size, shard (start from <see cref="DefaultSampling"/>).</param>
    /// <param name="onChunk">Receives each chunk on the calling thread.</param>
    /// <param name="progress">Receives progress per chunk (optional).</param>
    /// <param name="cancellationToken">Stops between chunks (status <see cref="SamplingStatus.Cancelled"/>; no exception).</param>
    /// <param name="devices">Devices to deal the chunks to (the same output for any number); null for the model's own.</param>
    /// <returns>The summary: status (Diverged is a numerical failure), step size, acceptance, conjugate convergence.</returns>
    public GenerationResult Sample(GenerationOptions options, Action<SampleChunk> onChunk, IReadOnlyList<CmmContext>? devices = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        return Fitted.Sample(options, devices ?? [Device], onChunk, progress, cancellationToken);
    }

    /// <summary>
    /// Streams samples to a file (.npy or .csv, by extension) in constant memory, and optionally their latents to another. The
    /// files appear only when the run completes: a diverged or cancelled run leaves no partial file.
    /// </summary>
    /// <param name="path">The samples file.</param>
    /// <param name="options">Count, seed, sampler, chunk size, shard (start from <see cref="DefaultSampling"/>).</param>
    /// <param name="latentPath">The latents file, or null.</param>
    /// <param name="progress">Receives progress per chunk (optional).</param>
    /// <param name="cancellationToken">Stops between chunks (status <see cref="SamplingStatus.Cancelled"/>, no file written).</param>
    /// <param name="devices">Devices to deal the chunks to; null for the model's own.</param>
    /// <returns>The summary.</returns>
    public GenerationResult SampleToFile(string path, GenerationOptions options, string? latentPath = null, IReadOnlyList<CmmContext>? devices = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        int d = Dimension;
        using var writer = PointFileWriter.Create(path, d);
        using var latentWriter = latentPath is null ? null : PointFileWriter.Create(latentPath, d);
        var result = Sample(options, c =>
        {
            writer.Append(c.Samples.AsSpan(0, c.Count * d));
            latentWriter?.Append(c.Latents.AsSpan(0, c.Count * d));
        }, devices, progress, cancellationToken);
        if (result.Status is not (SamplingStatus.Diverged or SamplingStatus.Cancelled))
        {
            writer.Complete();
            latentWriter?.Complete();
        }

        return result;
    }

    /// <summary>Streams samples to a file on a worker thread (<see cref="SampleToFile"/>).</summary>
    /// <param name="path">The samples file.</param>
    /// <param name="options">Count, seed, sampler, chunk size, shard.</param>
    /// <param name="latentPath">The latents file, or null.</param>
    /// <param name="progress">Receives progress per chunk (optional).</param>
    /// <param name="cancellationToken">Stops between chunks.</param>
    /// <returns>The summary.</returns>
    public Task<GenerationResult> SampleToFileAsync(string path, GenerationOptions options, string? latentPath = null,
        IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => SampleToFile(path, options, latentPath, null, progress, cancellationToken), cancellationToken);

    // ------------------------------------------------------------------ maps, potential, density

    /// <summary>Maps data to latents: grad w(y) for CMM, grad u*(y) for MM.</summary>
    /// <param name="data">Points [n, d], data coordinates.</param>
    /// <returns>Latents [n, d].</returns>
    /// <exception cref="CmmNumericalException">Some conjugate solves did not converge.</exception>
    public float[,] Encode(float[,] data)
    {
        ThrowIfDisposed();
        var (flat, d) = Rows.Flatten(data, nameof(data));
        RequireDimension(d, nameof(data));
        var latents = Fitted.Encode(flat, out var solve);
        ThrowIfNotConverged(solve, "encode");
        return Rows.Unflatten(latents, d);
    }

    /// <summary>Maps latents to data: grad w*(x) for CMM, grad u(x) for MM.</summary>
    /// <param name="latents">Latents [n, d].</param>
    /// <returns>Points [n, d], data coordinates.</returns>
    /// <exception cref="CmmNumericalException">Some conjugate solves did not converge.</exception>
    public float[,] Decode(float[,] latents)
    {
        ThrowIfDisposed();
        var (flat, d) = Rows.Flatten(latents, nameof(latents));
        RequireDimension(d, nameof(latents));
        var data = Fitted.Decode(flat, out var solve);
        ThrowIfNotConverged(solve, "decode");
        return Rows.Unflatten(data, d);
    }

    /// <summary>The potential at data points: w(y) for CMM, u(y) for MM (in the model's fitting coordinates).</summary>
    /// <param name="data">Points [n, d], data coordinates.</param>
    /// <returns>One value per point.</returns>
    public float[] Potential(float[,] data)
    {
        ThrowIfDisposed();
        var (flat, d) = Rows.Flatten(data, nameof(data));
        RequireDimension(d, nameof(data));
        return Fitted.PotentialValues(flat);
    }

    /// <summary>
    /// Conditional sampling (inpainting, docs/sampling.md "Conditional sampling"): <paramref name="completions"/> draws of every
    /// row of <paramref name="data"/> from the model given its observed coordinates (<paramref name="observed"/>[k] true:
    /// coordinate k is observed in every row). Needs a CMM with the network u = w* (the default) or an MM model.
    /// </summary>
    /// <param name="data">Points [n, d]; values at free coordinates are ignored.</param>
    /// <param name="observed">Which coordinates are observed (length d; at least one true and one false).</param>
    /// <param name="completions">Draws per row.</param>
    /// <param name="seed">Seed of the chains.</param>
    /// <param name="noise">Observation noise s in data units; null for 0.05 times the rows' spread.</param>
    /// <param name="cancellationToken">Stops the chains; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>[n * completions, d], grouped by row, observed coordinates as given.</returns>
    /// <exception cref="CmmNumericalException">The chains diverged.</exception>
    public float[,] Inpaint(float[,] data, bool[] observed, int completions = 4, ulong seed = 0, double? noise = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(observed);
        var (flat, d) = Rows.Flatten(data, nameof(data));
        RequireDimension(d, nameof(data));
        var mask = observed.Select(o => o ? 1f : 0f).ToArray();
        var result = Sampling.Inpainting.Run(Fitted, flat, mask,
            new Sampling.InpaintOptions { Completions = completions, Seed = seed, Noise = noise }, cancellationToken);
        ThrowIfFailed(result.Status, cancellationToken);
        return Rows.Unflatten(result.Samples, d);
    }

    /// <summary>
    /// The normalising constant log Z of the latent exp(-w), estimated once (importance sampling from 1,024 MALA latents, seed 0,
    /// the defaults of <c>cmm density</c>) and kept; its standard error and effective sample size say how far to trust it
    /// (docs/density.md).
    /// </summary>
    public LogNormalizerEstimate LogNormalizer => logNormalizer ??= EstimateLogNormalizer();

    /// <summary>The model's normalised log-density log q(y) at data points (d &lt;= 64; docs/density.md): CMM with no conjugate
    /// solve, MM with one per point; log Z from <see cref="LogNormalizer"/>.</summary>
    /// <param name="data">Points [n, d], data coordinates.</param>
    /// <returns>log q(y) per point.</returns>
    /// <exception cref="CmmNumericalException">The density is undefined at some point (a Hessian not numerically positive definite).</exception>
    public double[] LogDensity(float[,] data)
    {
        ThrowIfDisposed();
        var (flat, d) = Rows.Flatten(data, nameof(data));
        RequireDimension(d, nameof(data));
        var values = DensityEngine().LogDensity(flat, LogNormalizer);
        if (values.Undefined > 0)
        {
            throw new CmmNumericalException($"the log-density is undefined at {values.Undefined} of {values.Values.Length} points (first: point {values.FirstUndefined}, 0-based)");
        }

        return values.Values;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        density?.Dispose();
        Fitted.Dispose();
        ownedDevice?.Dispose();
    }

    private static CmmModel FitOrThrow(float[] data, int dimension, FitOptions? options, CmmContext? device,
        IProgress<FitProgress>? progress, CancellationToken cancellationToken)
    {
        var model = Fit(data, dimension, options, new FitRun { Device = device, Progress = progress, CancellationToken = cancellationToken });
        if (model.FitResult!.Status == FitStatus.Cancelled)
        {
            model.Dispose();
            throw new OperationCanceledException("the fit was cancelled", cancellationToken);
        }

        return model;
    }

    private static CmmFitter StartFitter(CmmContext device, ReadOnlySpan<float> data, int dimension, FitOptions options, FitRun run)
    {
        if (!run.Resume)
        {
            return CmmFitter.Create(device, data, dimension, options);
        }

        RequireCheckpoint(run);
        return CmmFitter.Resume(device, data, dimension, options, FitCheckpoint.Load(run.CheckpointPath!));
    }

    private static void RequireCheckpoint(FitRun run)
    {
        if (run.CheckpointPath is null || !File.Exists(run.CheckpointPath))
        {
            throw new FileNotFoundException($"cannot resume: checkpoint '{run.CheckpointPath}' does not exist", run.CheckpointPath);
        }
    }

    private static void ThrowIfFailed(SamplingStatus status, CancellationToken cancellationToken)
    {
        if (status == SamplingStatus.Cancelled)
        {
            throw new OperationCanceledException("sampling was cancelled", cancellationToken);
        }

        if (status == SamplingStatus.Diverged)
        {
            throw new CmmNumericalException("sampling diverged: the Langevin chains became non-finite even after step-size back-off");
        }
    }

    private static void ThrowIfNotConverged(Conjugate.ConjugateResult? solve, string what)
    {
        if (solve is not null && solve.ConvergedFraction < 1)
        {
            throw new CmmNumericalException(FormattableString.Invariant(
                $"{what}: {1 - solve.ConvergedFraction:P2} of the conjugate solves did not converge (max residual {solve.MaxResidual:G3})"));
        }
    }

    private LogNormalizerEstimate EstimateLogNormalizer()
    {
        var engine = DensityEngine();
        var (_, latents, generation) = ModelEvaluation.Generate(Fitted, 1024, 0);
        if (generation.Status == SamplingStatus.Diverged)
        {
            throw new CmmNumericalException("the Langevin chains for the log Z proposal diverged");
        }

        return engine.EstimateLogNormalizer(latents);
    }

    private ModelDensity DensityEngine()
    {
        ThrowIfDisposed();
        if (Dimension > ModelDensity.MaxDimension)
        {
            throw new NotSupportedException($"the exact log-density is limited to d <= {ModelDensity.MaxDimension}; the model has d = {Dimension}");
        }

        return density ??= ModelDensity.For(Fitted);
    }

    private void RequireDimension(int d, string parameter)
    {
        if (d != Dimension)
        {
            throw new ArgumentException($"the points have d = {d} but the model has d = {Dimension}", parameter);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    /// <summary>Adapts an <see cref="IProgress{T}"/> to the fitter's observer, forwarding everything to an optional inner one.</summary>
    private sealed class ProgressObserver(IProgress<FitProgress> progress, IFitObserver? inner) : IFitObserver
    {
        public void OnIteration(FitProgress p)
        {
            progress.Report(p);
            inner?.OnIteration(p);
        }

        public void OnRecovery(int iteration, double learningRateScale) => inner?.OnRecovery(iteration, learningRateScale);

        public void OnCheckpoint(string path, int iteration) => inner?.OnCheckpoint(path, iteration);

        public void OnResumed(int iteration) => inner?.OnResumed(iteration);

        public void OnValidation(int iteration, double energyDistance, double best, bool improved) =>
            inner?.OnValidation(iteration, energyDistance, best, improved);

        public void OnHealthWarning(int iteration, string message) => inner?.OnHealthWarning(iteration, message);
    }
}

/// <summary>A numerical failure the caller must know about: diverged chains, conjugate solves that did not converge, an
/// undefined density. The message names what failed and how much.</summary>
public sealed class CmmNumericalException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CmmNumericalException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public CmmNumericalException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The cause.</param>
    public CmmNumericalException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Converts between the facade's [n, d] arrays and the engine's row-major spans, checking shape and values.</summary>
internal static class Rows
{
    public static (float[] Flat, int Dimension) Flatten(float[,] data, string parameter)
    {
        ArgumentNullException.ThrowIfNull(data, parameter);
        int n = data.GetLength(0), d = data.GetLength(1);
        if (n == 0 || d == 0)
        {
            throw new ArgumentException($"the array is empty ({n} x {d}); give one point per row", parameter);
        }

        var flat = new float[n * d];
        Buffer.BlockCopy(data, 0, flat, 0, flat.Length * sizeof(float));
        PointChecks.Require(flat, d, parameter == "latents" ? "latents" : "points", parameter);
        return (flat, d);
    }

    public static (float[] Flat, int Dimension) Flatten(float[][] data, string parameter)
    {
        ArgumentNullException.ThrowIfNull(data, parameter);
        if (data.Length == 0 || data[0] is null || data[0].Length == 0)
        {
            throw new ArgumentException("no points: give at least one non-empty point", parameter);
        }

        int d = data[0].Length;
        var flat = new float[data.Length * d];
        for (int i = 0; i < data.Length; i++)
        {
            var row = data[i];
            if (row is null || row.Length != d)
            {
                throw new ArgumentException($"ragged data: point {i} has {row?.Length ?? 0} values but point 0 has {d}", parameter);
            }

            row.CopyTo(flat, i * d);
        }

        PointChecks.Require(flat, d, parameter == "latents" ? "latents" : "points", parameter);
        return (flat, d);
    }

    public static float[,] Unflatten(float[] flat, int d)
    {
        var rows = new float[flat.Length / d, d];
        Buffer.BlockCopy(flat, 0, rows, 0, flat.Length * sizeof(float));
        return rows;
    }
}
