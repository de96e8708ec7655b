using CMM.Gpu.Compute;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Icnn;

/// <summary>Which form the ICNN point kernels take.</summary>
public enum IcnnKernelVariant
{
    /// <summary><see cref="Interleaved"/> on GPUs, <see cref="SlotRows"/> on the CPU accelerator.</summary>
    Auto,

    /// <summary>Each thread's scratch is one contiguous row (cache-friendly on CPUs), few threads.</summary>
    SlotRows,

    /// <summary>Scratch and partial gradients interleaved across threads (element e of thread s at e * G + s), so
    /// neighbouring threads touch neighbouring addresses (coalesced on GPUs) while reading the same weight (broadcast); many threads.</summary>
    Interleaved,

    /// <summary><see cref="Interleaved"/> scratch, and for value, gradient and the parameter gradients the effective
    /// parameters are first copied into each group's shared memory (explicitly grouped kernels with one barrier).
    /// Used only when the P parameters fit in the group's shared memory, else <see cref="Interleaved"/> is used.
    /// Opt-in: not yet measured on a GPU. Hessian and Hessian-vector products use the <see cref="Interleaved"/> kernels.</summary>
    Staged,
}

/// <summary>Execution options of an <see cref="IcnnPotential"/>.</summary>
public sealed record IcnnPotentialOptions
{
    /// <summary>Kernel form (default <see cref="IcnnKernelVariant.Auto"/>).</summary>
    public IcnnKernelVariant Variant { get; init; } = IcnnKernelVariant.Auto;

    /// <summary>Upper bound on the device workspace (scratch plus partial gradients), in floats (default 2^24 = 64 MiB).</summary>
    public long WorkspaceFloats { get; init; } = 1L << 24;

    /// <summary>Largest number of threads per launch; 0 = automatic (on the CPU accelerator 4 per core for value, gradient and
    /// Hessian kernels and 64 for parameter gradients; 65536 and 8192 on GPUs).</summary>
    public int MaxThreads { get; init; }

    /// <summary>
    /// Test seam: on the CPU accelerator, run the point kernels in their ArrayView (GPU) form instead of the pointer
    /// form (<see cref="IcnnCpuKernels"/>), so that tests can check the two forms give identical results. Ignored on GPUs.
    /// </summary>
    internal bool ArrayViewKernelsOnCpu { get; init; }

    /// <summary>
    /// Test and benchmark seam: on the CPU accelerator, the fused Newton conjugate solve runs in its SIMD form
    /// (<see cref="IcnnSimdSolver"/>, several points per vector; default) where the hardware and the dimension allow it, else
    /// in the scalar pointer form (<see cref="IcnnCpuKernels.SolveNewton{TAct}"/>). False forces the scalar form. Ignored on
    /// GPUs and with <see cref="ArrayViewKernelsOnCpu"/>.
    /// </summary>
    internal bool SimdNewtonOnCpu { get; init; } = true;

    /// <summary>
    /// Test and benchmark seam: on the CPU accelerator, the fused L-BFGS conjugate solve runs in its SIMD form
    /// (<see cref="IcnnSimdSolver.TrySolveLbfgs{TAct}"/>, several points per vector; default) where the hardware allows it (any
    /// dimension), else in the scalar pointer form (<see cref="IcnnLbfgsCpuKernels.SolveLbfgs{TAct}"/>). False forces the
    /// scalar form. Ignored on GPUs and with <see cref="ArrayViewKernelsOnCpu"/>.
    /// </summary>
    internal bool SimdLbfgsOnCpu { get; init; } = true;

    /// <summary>
    /// Whether the value parameter gradient (semi-dual objectives, mean value gradients) runs on the CPU accelerator in SIMD
    /// form (<see cref="IcnnSimdSolver.TryValueParameterGradient{TAct}"/>; default) where the hardware and the dimension allow
    /// it, else in the scalar pointer form. False forces the scalar form. Ignored on GPUs, with
    /// <see cref="ArrayViewKernelsOnCpu"/> and with the staged variant.
    /// </summary>
    internal bool SimdGradientOnCpu { get; init; } = true;

    /// <summary>
    /// Whether the loss parameter gradient (<see cref="IcnnPotential.LossParameterGradient(DevicePoints, DevicePoints, DeviceVector)"/>)
    /// runs on the CPU accelerator in SIMD form (<see cref="IcnnSimdSolver.TryLossParameterGradient{TAct}"/>; default) where the
    /// hardware and the dimension allow it, else in the scalar pointer form. False forces the scalar form. Ignored on GPUs, with
    /// <see cref="ArrayViewKernelsOnCpu"/> and with the staged variant.
    /// </summary>
    internal bool SimdLossGradientOnCpu { get; init; } = true;

    /// <summary>
    /// Whether values and gradients of w (<see cref="IcnnPotential.Value"/>, <see cref="IcnnPotential.Gradient"/>,
    /// <see cref="IcnnPotential.ValueAndGradient"/>) run on the CPU accelerator in SIMD form
    /// (<see cref="IcnnSimdSolver.TryEvaluate{TAct}"/>; default) where the hardware allows it, else in the scalar pointer form.
    /// False forces the scalar form. Ignored on GPUs, with <see cref="ArrayViewKernelsOnCpu"/> and with the staged variant.
    /// </summary>
    internal bool SimdEvaluateOnCpu { get; init; } = true;

    /// <summary>Every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (!Enum.IsDefined(Variant))
        {
            p.Add($"Variant {(int)Variant} is unknown: use Auto, SlotRows, Interleaved or Staged");
        }

        if (WorkspaceFloats < 1024)
        {
            p.Add($"WorkspaceFloats = {WorkspaceFloats} is too small: use at least 1024 (default 16777216)");
        }

        if (MaxThreads < 0)
        {
            p.Add($"MaxThreads = {MaxThreads} must be 0 (automatic) or positive");
        }

        return p;
    }

    /// <summary>Throws if <see cref="Problems"/> is not empty.</summary>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    public void Validate()
    {
        var p = Problems();
        if (p.Count > 0)
        {
            throw new ArgumentException("invalid ICNN potential options: " + string.Join("; ", p));
        }
    }
}

/// <summary>
/// An input-convex neural network potential w (docs/icnn.md) with its parameters on the device:
/// batched value, input gradient, Hessian, Hessian-vector products, and parameter gradients of the
/// batch mean of w, of the gradient-matching loss and of the likelihood objective. Calls are queued on the context's stream and
/// share one workspace: an instance is not thread-safe. Owns its device memory; dispose it before the context.
/// </summary>
public sealed class IcnnPotential : IReplicablePotential, IDisposable
{
    private readonly IcnnKernelSet kernels;
    private readonly IcnnActivationKernels act;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> mask;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> scale;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> table;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> extra;
    private readonly IcnnPotentialOptions options;
    private MemoryBuffer1D<float, Stride1D.Dense>? workspace;
    private MemoryBuffer1D<float, Stride1D.Dense>? partial;
    private MemoryBuffer1D<float, Stride1D.Dense>? secondGradient;
    private MemoryBuffer1D<float, Stride1D.Dense>? encoded;
    private MemoryBuffer1D<float, Stride1D.Dense>? slotValues;
    private readonly bool simdNewton;
    private readonly bool simdLbfgs;
    private readonly bool simdGradient;
    private readonly bool simdLossGradient;
    private readonly bool simdEvaluate;
    private bool disposed;

    private IcnnPotential(CmmContext context, IcnnArchitecture architecture, ReadOnlySpan<float> parameters, IcnnPotentialOptions? options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(architecture);
        context.ThrowIfDisposed();
        architecture.Validate();
        this.options = options ?? new IcnnPotentialOptions();
        this.options.Validate();
        Context = context;
        // A private copy of the widths: the caller's list cannot change the shape under the kernels.
        Architecture = architecture with { HiddenWidths = architecture.HiddenWidths.ToArray().AsReadOnly() };
        Layout = new IcnnLayout(architecture);
        Shape.RequireLength(parameters.Length, Layout.ParameterCount, nameof(parameters), "the architecture's parameter vector");
        Variant = this.options.Variant != IcnnKernelVariant.Auto ? this.options.Variant
            : context.IsGpu ? IcnnKernelVariant.Interleaved : IcnnKernelVariant.SlotRows;
        long staged = Layout.ParameterCount + Dimension;
        if (Variant == IcnnKernelVariant.Staged &&
            (staged > MaxStagedParameters || staged * sizeof(float) > context.Accelerator.MaxSharedMemoryPerGroup))
        {
            Variant = IcnnKernelVariant.Interleaved;
        }
        kernels = IcnnKernelSet.For(context);
        bool pointerForm = !context.IsGpu && !this.options.ArrayViewKernelsOnCpu;
        act = kernels.For(architecture.Activation, pointerForm);
        simdNewton = pointerForm && this.options.SimdNewtonOnCpu && IcnnSimdSolver.IsSupported(Dimension);
        simdLbfgs = pointerForm && this.options.SimdLbfgsOnCpu && IcnnSimdSolver.IsLbfgsSupported(Dimension);
        simdEvaluate = pointerForm && Variant != IcnnKernelVariant.Staged && this.options.SimdEvaluateOnCpu && IcnnSimdSolver.IsEvaluateSupported(Dimension);
        simdGradient = pointerForm && Variant != IcnnKernelVariant.Staged && this.options.SimdGradientOnCpu && IcnnSimdSolver.IsGradientSupported(Dimension);
        simdLossGradient = pointerForm && Variant != IcnnKernelVariant.Staged && this.options.SimdLossGradientOnCpu && IcnnSimdSolver.IsGradientSupported(Dimension);
        var acc = context.Accelerator;
        Parameters = DeviceVector.Upload(context, parameters);
        // The effective buffer holds the P effective parameters, then the input centre the kernels subtract.
        var pre = Architecture.EffectivePreconditioner;
        EffectiveParameters = DeviceVector.Allocate(context, ParameterCount + (long)Dimension);
        context.Tally.Write(EffectiveParameters.View.SubView(ParameterCount, Dimension), pre.Centre.ToArray());
        mask = context.Tally.Upload(acc, Layout.NonNegativeMask());
        scale = context.Tally.Upload(acc, Layout.ParameterScales(pre, Architecture.Sharpness));
        table = context.Tally.Upload(acc, Layout.KernelTable());
        extra = acc.Allocate1D<float>(1);
        Refresh();
    }

    /// <summary>Most floats (parameters plus the d-long input centre) <see cref="IcnnKernelVariant.Staged"/> stages: 12,288 floats = 48 KiB, the dynamic shared
    /// memory a CUDA group gets without opting in to more.</summary>
    public const int MaxStagedParameters = 12288;

    /// <inheritdoc />
    public CmmContext Context { get; }

    /// <inheritdoc />
    public int Dimension => Architecture.Dimension;

    /// <summary>The architecture.</summary>
    public IcnnArchitecture Architecture { get; }

    /// <summary>Where each block lives in the parameter vector.</summary>
    public IcnnLayout Layout { get; }

    /// <summary>Number of (free) parameters P.</summary>
    public int ParameterCount => (int)Layout.ParameterCount;

    /// <summary>The kernel form in use (never Auto; Staged only when the parameters fit in shared memory).</summary>
    public IcnnKernelVariant Variant { get; }

    /// <summary>The free parameters theta on the device (P_l, p, D enter the model as softplus(theta)). If you write
    /// it directly, call <see cref="Refresh"/> afterwards.</summary>
    internal DeviceVector Parameters { get; }

    /// <summary>The effective parameters (scaled, softplus applied where the layout's mask says), which the kernels read,
    /// followed by the preconditioner's input centre (P + d floats).</summary>
    internal DeviceVector EffectiveParameters { get; }

    internal ArrayView<int> Mask => mask.View;

    internal ArrayView<float> Scale => scale.View;

    /// <summary>Creates a potential initialised so that w(x) is close to 1/2 |x|^2 (docs/icnn.md, "Initialisation").</summary>
    /// <param name="context">The device.</param>
    /// <param name="architecture">The architecture (validated).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    /// <param name="options">Execution options, or null for defaults.</param>
    /// <returns>The potential; the caller owns it.</returns>
    public static IcnnPotential Create(CmmContext context, IcnnArchitecture architecture, int seed = 0, IcnnPotentialOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        architecture.Validate();
        return new IcnnPotential(context, architecture, InitialParameters(architecture, seed), options);
    }

    /// <summary>Creates a potential from free parameters in the layout of <see cref="IcnnLayout"/>.</summary>
    /// <param name="context">The device.</param>
    /// <param name="architecture">The architecture.</param>
    /// <param name="parameters">Free parameters theta (length <see cref="IcnnLayout.ParameterCount"/>).</param>
    /// <param name="options">Execution options, or null.</param>
    /// <returns>The potential; the caller owns it.</returns>
    public static IcnnPotential FromParameters(CmmContext context, IcnnArchitecture architecture, ReadOnlySpan<float> parameters, IcnnPotentialOptions? options = null) =>
        new(context, architecture, parameters, options);

    /// <summary>
    /// The initial free parameters: W_l ~ N(0, 1/d), b_l ~ N(0, 2^2), P_l = softplus(theta) with P_l ~ 1/h_(l-1) (times
    /// e^(0.1 N(0,1))), p = 0.01 / h_L, D = 1 - alpha (0 if alpha &gt;= 1), R ~ N(0, 0.01^2), c = 0: the Hessian
    /// starts close to the identity and the network part is small. With a preconditioner these are the normalised
    /// network's values (D = 1 - alpha / curvature scale, so the Hessian starts at kappa / s^2). Deterministic in <paramref name="seed"/>.
    /// </summary>
    /// <param name="architecture">The architecture.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>The free parameters.</returns>
    public static float[] InitialParameters(IcnnArchitecture architecture, int seed)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        architecture.Validate();
        var layout = new IcnnLayout(architecture);
        var theta = new float[layout.ParameterCount];
        var rng = new Random(seed);
        double Normal()
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }

        int d = architecture.Dimension;
        double wScale = 1.0 / Math.Sqrt(d);
        for (int l = 0; l < layout.Layers.Count; l++)
        {
            var lo = layout.Layers[l];
            for (int i = 0; i < lo.Width * d; i++)
            {
                theta[lo.Weights + i] = (float)(wScale * Normal());
            }

            // Biases ~ N(0, 2^2) spread the units' softplus bends over +-2 standard deviations of (normalised) data
            // instead of stacking them all at x = 0; with b = 0 a bimodal fit had to move every bend to the modes first.
            for (int i = 0; i < lo.Width; i++)
            {
                theta[lo.Bias + i] = (float)(2 * Normal());
            }

            if (lo.Passthrough >= 0)
            {
                int hp = layout.Layers[l - 1].Width;
                for (int i = 0; i < lo.Width * hp; i++)
                {
                    theta[lo.Passthrough + i] = (float)InverseSoftplus(Math.Exp(0.1 * Normal()) / hp);
                }
            }
        }

        int hTop = layout.Layers[^1].Width;
        Array.Fill(theta, (float)InverseSoftplus(0.01 / hTop), layout.OutputOffset, hTop);
        // Unit curvature in the preconditioner's normalised units: kappa D~ / s^2 + alpha = kappa / s^2 (D = 1 - alpha unpreconditioned).
        double diag = 1.0 - (architecture.Alpha / architecture.EffectivePreconditioner.CurvatureScale);
        Array.Fill(theta, diag > 1e-6 ? (float)InverseSoftplus(diag) : -30f, layout.DiagonalOffset, d);
        for (int i = 0; i < d * architecture.Rank; i++)
        {
            theta[layout.LowRankOffset + i] = (float)(0.01 * Normal());
        }

        return theta;
    }

    /// <summary>softplus^-1(y) = log(e^y - 1) for y &gt; 0.</summary>
    /// <param name="y">A positive value.</param>
    /// <returns>theta with softplus(theta) = y.</returns>
    public static double InverseSoftplus(double y) => y > 30 ? y : y + Math.Log(1.0 - Math.Exp(-y));

    /// <summary>Downloads the free parameters theta.</summary>
    /// <returns>A copy.</returns>
    public float[] GetParameters() => Parameters.ToArray();

    /// <summary>
    /// A copy on another device (for multi-device generation): the same architecture, free parameters and execution
    /// options, its effective parameters recomputed there by the same kernel, so a device of the same kind gives the same values.
    /// </summary>
    /// <param name="context">The device of the copy.</param>
    /// <returns>The copy; the caller owns it.</returns>
    public IPotential Replicate(CmmContext context)
    {
        ThrowIfDisposed();
        return FromParameters(context, Architecture, GetParameters(), options);
    }

    /// <summary>Downloads the effective parameters (each free parameter times its preconditioning scale, after softplus for P_l, p, D).</summary>
    /// <returns>A copy of the P effective parameters (without the input centre).</returns>
    public float[] GetEffectiveParameters() => EffectiveParameters.ToArray()[..ParameterCount];

    /// <summary>Replaces the free parameters and refreshes the effective ones.</summary>
    /// <param name="parameters">Free parameters (length <see cref="ParameterCount"/>).</param>
    public void SetParameters(ReadOnlySpan<float> parameters)
    {
        ThrowIfDisposed();
        Parameters.CopyFrom(parameters);
        Refresh();
    }

    /// <summary>Recomputes the effective parameters from the free ones (after writing <see cref="Parameters"/> directly).</summary>
    public void Refresh()
    {
        ThrowIfDisposed();
        kernels.Materialize(ParameterCount, Parameters.View, mask.View, scale.View, EffectiveParameters.View);
    }

    /// <inheritdoc />
    public void Value(DevicePoints points, DeviceVector values)
    {
        CheckPoints(points, nameof(points));
        ArgumentNullException.ThrowIfNull(values);
        Shape.RequireSameContext(Context, values.Context, nameof(values));
        Shape.RequireLength(values.Length, points.Count, nameof(values), $"values of {points.Count} points");
        Evaluate(points, values.View, extra.View, 1);
    }

    /// <inheritdoc />
    public void Gradient(DevicePoints points, DevicePoints gradients)
    {
        CheckPoints(points, nameof(points));
        CheckPoints(gradients, nameof(gradients));
        RequireCount(points, gradients, nameof(gradients));
        Evaluate(points, extra.View, gradients.View, 2);
    }

    /// <inheritdoc />
    /// <remarks>One pass: the forward pass of the gradient gives w.</remarks>
    public void ValueAndGradient(DevicePoints points, DeviceVector values, DevicePoints gradients)
    {
        CheckPoints(points, nameof(points));
        CheckPoints(gradients, nameof(gradients));
        RequireCount(points, gradients, nameof(gradients));
        ArgumentNullException.ThrowIfNull(values);
        Shape.RequireSameContext(Context, values.Context, nameof(values));
        Shape.RequireLength(values.Length, points.Count, nameof(values), $"values of {points.Count} points");
        Evaluate(points, values.View, gradients.View, 3);
    }

    /// <inheritdoc />
    public void Hessian(DevicePoints points, DeviceVector hessians)
    {
        CheckPoints(points, nameof(points));
        ArgumentNullException.ThrowIfNull(hessians);
        Shape.RequireSameContext(Context, hessians.Context, nameof(hessians));
        int d = Dimension;
        Shape.RequireLength(hessians.Length, (long)points.Count * d * d, nameof(hessians), $"{points.Count} Hessians of {d} x {d}");
        var dm = PointDims(points.Count, out var ws, hessian: true);
        act.Hessian(dm.Slots, EffectiveParameters.View, table.View, dm, points.View, ws, hessians.View);
    }

    /// <summary>output[i, :] = Hess w(x_i) directions[i, :].</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="directions">Directions [n, d].</param>
    /// <param name="output">Output [n, d].</param>
    public void HessianVectorProduct(DevicePoints points, DevicePoints directions, DevicePoints output)
    {
        CheckPoints(points, nameof(points));
        CheckPoints(directions, nameof(directions));
        CheckPoints(output, nameof(output));
        RequireCount(points, directions, nameof(directions));
        RequireCount(points, output, nameof(output));
        var dm = PointDims(points.Count, out var ws);
        act.HessianVector(dm.Slots, EffectiveParameters.View, table.View, dm, points.View, directions.View, ws, output.View);
    }

    /// <summary>
    /// gradient = d/d theta of mean_i w(x_i) (free parameters, layout of <see cref="Layout"/>); mean[0] = mean_i w(x_i).
    /// Asynchronous. Per-thread partial sums are reduced column by column, without atomics.
    /// </summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="gradient">Output [P].</param>
    /// <param name="mean">Output of length at least 1: the batch mean of w.</param>
    public void MeanValueParameterGradient(DevicePoints points, DeviceVector gradient, DeviceVector mean)
    {
        CheckPoints(points, nameof(points));
        CheckGradient(gradient);
        ArgumentNullException.ThrowIfNull(mean);
        Shape.RequireSameContext(Context, mean.Context, nameof(mean));
        var dm = GradientDims(points.Count, out var ws, out var part);
        dm = LaunchValueGradient(dm, points.View, ws, part);
        ReduceMean(dm, part, points.Count, gradient.View, mean.View.SubView(0, 1));
    }

    /// <summary>As <see cref="MeanValueParameterGradient(DevicePoints, DeviceVector, DeviceVector)"/>, and waits: returns the batch mean of w.</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="gradient">Output [P].</param>
    /// <returns>mean_i w(x_i).</returns>
    public float MeanValueParameterGradient(DevicePoints points, DeviceVector gradient)
    {
        CheckPoints(points, nameof(points));
        CheckGradient(gradient);
        var dm = GradientDims(points.Count, out var ws, out var part);
        dm = LaunchValueGradient(dm, points.View, ws, part);
        ReduceMean(dm, part, points.Count, gradient.View, extra.View);
        return ReadExtra();
    }

    /// <summary>
    /// The semi-dual objective J = mean_i w(data_i) - mean_j w(model_j) and its gradient with respect to the free
    /// parameters, E_data[d w / d theta] - E_model[d w / d theta] (the model points, e.g. decoded particles grad w*(x_j),
    /// are held fixed). Asynchronous: objective[0] receives J.
    /// </summary>
    /// <param name="data">Data points [n, d].</param>
    /// <param name="model">Model points [m, d].</param>
    /// <param name="gradient">Output [P].</param>
    /// <param name="objective">Output of length at least 1.</param>
    public void SemiDualParameterGradient(DevicePoints data, DevicePoints model, DeviceVector gradient, DeviceVector objective)
    {
        CheckObjective(data, model, nameof(model), gradient, objective);
        var dm = GradientDims(data.Count, out var ws, out var part);
        dm = LaunchValueGradient(dm, data.View, ws, part);
        ReduceMean(dm, part, data.Count, gradient.View, objective.View.SubView(0, 1));
        SubtractMeanValueGradient(model, gradient, objective);
    }

    /// <summary>
    /// The maximum-likelihood objective (docs/fitting.md, "Maximum likelihood") and its gradient with respect to the free
    /// parameters: J = mean_i [w(grad w(y_i)) - log det Hess w(y_i)] - mean_j w(x_j) over data points y_i and latent samples
    /// x_j of exp(-w) (held fixed). Its gradient is minus that of the data's mean log-likelihood
    /// log q_w(y) = -w(grad w(y)) + log det Hess w(y) - log Z_w, since d log Z_w / d theta = -E_latent[d w / d theta]; the path
    /// through grad w and the log determinant's third-order derivative are exact (a jet pass per direction; no conjugate solve).
    /// Its value is minus the mean log-likelihood minus log Z_w + mean_j w(x_j) (the latent's entropy, which depends on theta): a
    /// surrogate with the right gradient, not the log-likelihood. Asynchronous: objective[0] receives J, which is NaN (as is
    /// the gradient's norm) when a Hessian is not numerically positive definite. Costs about 5 d + 8 network passes per data point.
    /// </summary>
    /// <param name="data">Data points y [n, d].</param>
    /// <param name="latents">Latent samples x [m, d] of exp(-w) (e.g. the fit's Langevin particles).</param>
    /// <param name="gradient">Output [P].</param>
    /// <param name="objective">Output of length at least 1.</param>
    public void LikelihoodParameterGradient(DevicePoints data, DevicePoints latents, DeviceVector gradient, DeviceVector objective)
    {
        CheckObjective(data, latents, nameof(latents), gradient, objective);
        var enc = Ensure(ref encoded, (long)data.Count * Dimension);
        var dm = GradientDims(data.Count, out var ws, out var part, likelihood: true);
        act.LikelihoodParameterGradient(dm.Slots, EffectiveParameters.View, table.View, dm, data.View, enc, ws, part);
        ReduceMean(dm, part, data.Count, gradient.View, objective.View.SubView(0, 1));
        SubtractMeanValueGradient(latents, gradient, objective);
    }

    /// <summary>
    /// The CMFMA objective (docs/cmfma.md): the variance over points y_i (held fixed) of the Monge-Ampere residual
    /// r_i = w(grad w(y_i)) - log det Hess w(y_i) - V_i, and its gradient (2/n) sum_i (r_i - mean r) d/dtheta [w(grad w(y_i)) -
    /// log det Hess w(y_i)] (the mean of r drops out since the weights sum to zero). r is constant exactly when the model's
    /// density is proportional to exp(-V). The likelihood kernel runs with one point per slot, so that each slot's partial row
    /// is one point's gradient and its column P one point's w(grad w(y)) - log det Hess w(y); the residuals are formed on the
    /// host and the rows are summed with the weights 2 (r_i - mean r) / n (<c>IcnnKernels.ReduceSlotsWeighted</c>). Synchronous.
    /// objective[0] receives the variance; it and the gradient are NaN when a Hessian is not numerically positive definite.
    /// </summary>
    /// <param name="points">Points y [n, d], n &gt;= 2.</param>
    /// <param name="energies">V(y_i), one per point.</param>
    /// <param name="gradient">Output [P].</param>
    /// <param name="objective">Output of length at least 1.</param>
    /// <param name="pointWeights">Null for equal weights 1/n; else, given the residuals, weights pi_i &gt;= 0 summing to 1, held
    /// fixed (no gradient flows through them): the objective is then the weighted variance sum_i pi_i (r_i - sum_j pi_j r_j)^2,
    /// its gradient 2 sum_i pi_i (r_i - mean) d/dtheta [...].</param>
    /// <returns>The residuals r_i (NaN where the Hessian is not positive definite).</returns>
    public double[] ResidualParameterGradient(DevicePoints points, ReadOnlySpan<double> energies, DeviceVector gradient, DeviceVector objective,
        Func<double[], double[]>? pointWeights = null)
    {
        CheckObjective(points, points, nameof(points), gradient, objective);
        int n = points.Count;
        if (energies.Length != n || n < 2)
        {
            throw new ArgumentException($"need at least 2 points and one energy per point (got {n} points and {energies.Length} energies)", nameof(energies));
        }

        var enc = Ensure(ref encoded, (long)n * Dimension);
        var dm = GradientDims(n, out var ws, out var part, likelihood: true, onePerSlot: true);
        act.LikelihoodParameterGradient(dm.Slots, EffectiveParameters.View, table.View, dm, points.View, enc, ws, part);
        var values = Ensure(ref slotValues, 2L * n);
        kernels.SlotColumn(n, part, dm, ParameterCount, values.SubView(0, n));
        var terms = Context.Tally.Read(values.SubView(0, n));
        var residuals = new double[n];
        for (int i = 0; i < n; i++)
        {
            residuals[i] = terms[i] - energies[i];
        }

        var pi = pointWeights?.Invoke(residuals) ?? Enumerable.Repeat(1.0 / n, n).ToArray();
        if (pi.Length != n)
        {
            throw new ArgumentException($"the point weights must be {n} values (got {pi.Length})", nameof(pointWeights));
        }

        double mean = 0;
        for (int i = 0; i < n; i++)
        {
            mean += pi[i] * residuals[i];
        }

        var weights = new float[n];
        double variance = 0;
        for (int i = 0; i < n; i++)
        {
            double c = residuals[i] - mean;
            weights[i] = (float)(2 * pi[i] * c);
            variance += pi[i] * c * c;
        }

        Context.Tally.Write(values.SubView(n, n), weights);
        kernels.ReduceSlotsWeighted(ParameterCount, part, dm, Parameters.View, mask.View, scale.View, values.SubView(n, n), gradient.View);
        Context.Tally.Write(objective.View.SubView(0, 1), [(float)variance]);
        return residuals;
    }

    private void CheckObjective(DevicePoints data, DevicePoints other, string otherName, DeviceVector gradient, DeviceVector objective)
    {
        CheckPoints(data, nameof(data));
        CheckPoints(other, otherName);
        CheckGradient(gradient);
        ArgumentNullException.ThrowIfNull(objective);
        Shape.RequireSameContext(Context, objective.Context, nameof(objective));
    }

    /// <summary>gradient = (1/n) sum of the slot partials (chain rule of the reparameterisation applied), extra[0] = (1/n) column P.</summary>
    private void ReduceMean(IcnnDims dm, ArrayView<float> part, int n, ArrayView<float> gradient, ArrayView<float> extra)
    {
        float s = 1f / n;
        kernels.ReduceSlots(ParameterCount + 1, part, dm, Parameters.View, mask.View, scale.View, s, s, gradient, extra);
    }

    /// <summary>gradient -= d/dtheta mean_j w(x_j), objective[0] -= mean_j w(x_j) (queued).</summary>
    private void SubtractMeanValueGradient(DevicePoints points, DeviceVector gradient, DeviceVector objective)
    {
        var tmp = Ensure(ref secondGradient, ParameterCount + 1L);
        var dm = GradientDims(points.Count, out var ws, out var part);
        dm = LaunchValueGradient(dm, points.View, ws, part);
        ReduceMean(dm, part, points.Count, tmp.SubView(0, ParameterCount), tmp.SubView(ParameterCount, 1));
        kernels.AddScaled(ParameterCount, gradient.View, tmp.SubView(0, ParameterCount), -1f);
        kernels.AddScaled(1, objective.View.SubView(0, 1), tmp.SubView(ParameterCount, 1), -1f);
    }

    /// <summary>
    /// The gradient-matching loss L = mean_i |grad w(y_i) - t_i|^2 and its gradient with respect to the free
    /// parameters, dL/dtheta = 2 mean_i d/dtheta [v_i' grad w(y_i)], v_i = grad w(y_i) - t_i fixed (a tangent
    /// forward pass then a reverse pass per point). Asynchronous: loss[0] receives L.
    /// </summary>
    /// <param name="points">Points y [n, d].</param>
    /// <param name="targets">Targets t [n, d].</param>
    /// <param name="gradient">Output [P].</param>
    /// <param name="loss">Output of length at least 1.</param>
    public void LossParameterGradient(DevicePoints points, DevicePoints targets, DeviceVector gradient, DeviceVector loss)
    {
        CheckPoints(points, nameof(points));
        CheckPoints(targets, nameof(targets));
        RequireCount(points, targets, nameof(targets));
        CheckGradient(gradient);
        ArgumentNullException.ThrowIfNull(loss);
        Shape.RequireSameContext(Context, loss.Context, nameof(loss));
        LaunchLoss(points, targets, gradient, loss.View.SubView(0, 1));
    }

    /// <summary>As <see cref="LossParameterGradient(DevicePoints, DevicePoints, DeviceVector, DeviceVector)"/>, and waits: returns L.</summary>
    /// <param name="points">Points y [n, d].</param>
    /// <param name="targets">Targets t [n, d].</param>
    /// <param name="gradient">Output [P].</param>
    /// <returns>The loss.</returns>
    public float LossParameterGradient(DevicePoints points, DevicePoints targets, DeviceVector gradient)
    {
        CheckPoints(points, nameof(points));
        CheckPoints(targets, nameof(targets));
        RequireCount(points, targets, nameof(targets));
        CheckGradient(gradient);
        LaunchLoss(points, targets, gradient, extra.View);
        return ReadExtra();
    }

    /// <summary>Whether the fused solve of this method runs in its SIMD form on the host (it then needs no work buffer).</summary>
    /// <param name="method">Newton or L-BFGS.</param>
    /// <returns>True on the CPU accelerator where the SIMD form runs.</returns>
    internal bool SolvesOnHost(Conjugate.ConjugateMethod method) => method == Conjugate.ConjugateMethod.Newton ? simdNewton : simdLbfgs;

    /// <summary>
    /// The conjugate solve grad w(y_i) = x_i of every point by damped Newton in one launch (<see cref="IcnnSolveKernels"/>):
    /// y holds the starts on entry. Used by <see cref="Conjugate.ConjugateSolver"/> for ICNN potentials.
    /// </summary>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts, then solutions [n, d].</param>
    /// <param name="work">At least n (d^2 + 2d) floats (unused by the SIMD form: may be empty there).</param>
    /// <param name="ints">At least 2n ints: status, then iterations.</param>
    /// <param name="residual">At least n floats.</param>
    /// <param name="settings">Tolerances and limits.</param>
    internal void SolveNewton(DevicePoints x, DevicePoints y, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, NewtonSettings settings)
    {
        CheckPoints(x, nameof(x));
        CheckPoints(y, nameof(y));
        RequireCount(x, y, nameof(y));
        if (simdNewton)
        {
            // CPU accelerator: the SIMD form, run on the host over the same (host) buffers; the CPU accelerator's launches are
            // synchronous, so every queued write to x and y has landed.
            act.SolveNewtonSimd!(EffectiveParameters.View, table.View, SimdDims(x.Count), x.View, y.View, ints, residual, settings, PointLaunch.For(Context).LoopThreads);
            return;
        }

        var dm = PointDims(x.Count, out var ws, hessian: true);
        act.SolveNewton(dm.Slots, EffectiveParameters.View, table.View, dm, x.View, y.View, ws, work, ints, residual, settings);
    }

    /// <summary>
    /// The conjugate solve grad w(y_i) = x_i of every point by L-BFGS in one launch (<see cref="IcnnLbfgsKernels"/>): the
    /// iteration of the host-driven batched solver, per point; on the CPU accelerator its SIMD form
    /// (<see cref="IcnnSimdSolver.TrySolveLbfgs{TAct}"/>) unless <see cref="IcnnPotentialOptions.SimdLbfgsOnCpu"/> is false.
    /// y holds the starts on entry. Used by <see cref="Conjugate.ConjugateSolver"/> for ICNN potentials.
    /// </summary>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Starts, then solutions [n, d].</param>
    /// <param name="work">At least n <see cref="IcnnLbfgsKernels.WorkPerPoint"/> floats (unused by the SIMD form: may be empty there).</param>
    /// <param name="ints">At least 2n ints: status, then iterations.</param>
    /// <param name="residual">At least n floats.</param>
    /// <param name="settings">Tolerances, limits and history length.</param>
    internal void SolveLbfgs(DevicePoints x, DevicePoints y, ArrayView<float> work, ArrayView<int> ints, ArrayView<float> residual, LbfgsSettings settings)
    {
        CheckPoints(x, nameof(x));
        CheckPoints(y, nameof(y));
        RequireCount(x, y, nameof(y));
        if (simdLbfgs)
        {
            act.SolveLbfgsSimd!(EffectiveParameters.View, table.View, SimdDims(x.Count), x.View, y.View, ints, residual, settings, PointLaunch.For(Context).LoopThreads);
            return;
        }

        var dm = PointDims(x.Count, out var ws);
        act.SolveLbfgs(dm.Slots, EffectiveParameters.View, table.View, dm, x.View, y.View, ws, work, ints, residual, settings);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        workspace?.Dispose();
        partial?.Dispose();
        secondGradient?.Dispose();
        encoded?.Dispose();
        slotValues?.Dispose();
        extra.Dispose();
        table.Dispose();
        scale.Dispose();
        mask.Dispose();
        EffectiveParameters.Dispose();
        Parameters.Dispose();
    }

    /// <summary>Threads and scratch floats per thread a point launch of n points uses (for tests and docs).</summary>
    /// <param name="n">Number of points.</param>
    /// <param name="forParameterGradient">True for the parameter-gradient kernels (which also hold P + 1 partial sums per thread).</param>
    /// <returns>(threads, floats of workspace in total).</returns>
    public (int Threads, long WorkspaceFloats) LaunchShape(int n, bool forParameterGradient)
    {
        int stride = BaseDims().ScratchPerSlot;
        long perSlot = stride + (forParameterGradient ? ParameterCount + 1L : 0L);
        int slots = Slots(n, perSlot, forParameterGradient);
        return (slots, slots * perSlot);
    }

    private void LaunchLoss(DevicePoints points, DevicePoints targets, DeviceVector gradient, ArrayView<float> lossOut)
    {
        var dm = GradientDims(points.Count, out var ws, out var part);
        if (simdLossGradient)
        {
            dm = LaunchSimdGradient(dm, (sd, blocks) => act.LossParameterGradientSimd!(EffectiveParameters.View, table.View, sd, points.View, targets.View, part, blocks));
        }
        else if (Variant == IcnnKernelVariant.Staged)
        {
            act.LossParameterGradientStaged(StagedConfig(dm), EffectiveParameters.View, table.View, dm, points.View, targets.View, ws, part);
        }
        else
        {
            act.LossParameterGradient(dm.Slots, EffectiveParameters.View, table.View, dm, points.View, targets.View, ws, part);
        }
        float s = 1f / points.Count;
        kernels.ReduceSlots(ParameterCount + 1, part, dm, Parameters.View, mask.View, scale.View, 2f * s, s, gradient.View, lossOut);
    }

    private float ReadExtra()
    {
        return Context.Tally.ReadFirst<float>(extra.View);
    }

    private void Evaluate(DevicePoints points, ArrayView<float> values, ArrayView<float> grads, int mode)
    {
        if (simdEvaluate)
        {
            // CPU accelerator: the SIMD form over the same (host) buffers, as SolveNewton.
            act.EvaluateSimd!(EffectiveParameters.View, table.View, SimdDims(points.Count), points.View, values, grads, mode, PointLaunch.For(Context).LoopThreads);
            return;
        }

        var dm = PointDims(points.Count, out var ws);
        if (Variant == IcnnKernelVariant.Staged)
        {
            act.EvaluateStaged(StagedConfig(dm), EffectiveParameters.View, table.View, dm, points.View, ws, values, grads, mode);
        }
        else
        {
            act.Evaluate(dm.Slots, EffectiveParameters.View, table.View, dm, points.View, ws, values, grads, mode);
        }
    }

    /// <summary>Launches the value parameter gradient; returns the dimensions to reduce with (the SIMD form fills fewer slot rows).</summary>
    private IcnnDims LaunchValueGradient(IcnnDims dm, ArrayView<float> x, ArrayView<float> ws, ArrayView<float> part)
    {
        if (simdGradient)
        {
            return LaunchSimdGradient(dm, (sd, blocks) => act.ValueParameterGradientSimd!(EffectiveParameters.View, table.View, sd, x, part, blocks));
        }

        if (Variant == IcnnKernelVariant.Staged)
        {
            act.ValueParameterGradientStaged(StagedConfig(dm), EffectiveParameters.View, table.View, dm, x, ws, part);
        }
        else
        {
            act.ValueParameterGradient(dm.Slots, EffectiveParameters.View, table.View, dm, x, ws, part);
        }

        return dm;
    }

    /// <summary>Runs a SIMD parameter gradient (<paramref name="launch"/>, given the dimensions and the blocks to run) and returns
    /// the dimensions to reduce with: it fills <see cref="IcnnSimdSolver.GradientBlocks"/> slot rows.</summary>
    private IcnnDims LaunchSimdGradient(IcnnDims dm, Action<IcnnDims, int> launch)
    {
        int blocks = PointLaunch.For(Context).LoopThreads;
        launch(dm, blocks);
        dm.Slots = Math.Max(1, IcnnSimdSolver.GradientBlocks(dm.Count, dm.Slots, blocks));
        return dm;
    }

    private KernelConfig StagedConfig(IcnnDims dm)
    {
        int t = Math.Min(128, Context.Accelerator.MaxNumThreadsPerGroup);
        return new KernelConfig((dm.Slots + t - 1) / t, t, SharedMemoryConfig.RequestDynamic<float>(ParameterCount + Dimension));
    }

    /// <summary>The dimensions of a SIMD form's call over n points (Count = n, one slot; no ICNN scratch).</summary>
    private IcnnDims SimdDims(int n)
    {
        var dm = BaseDims();
        dm.Count = n;
        dm.Slots = 1;
        return dm;
    }

    private IcnnDims BaseDims() => new()
    {
        Dim = Dimension,
        Layers = Layout.Layers.Count,
        Rank = Architecture.Rank,
        Hidden = Layout.TotalHidden,
        MaxWidth = Layout.MaxWidth,
        ParamCount = ParameterCount,
        OffOut = Layout.OutputOffset,
        OffDiag = Layout.DiagonalOffset,
        OffLowRank = Layout.LowRankOffset,
        OffLinear = Layout.LinearOffset,
        Alpha = Architecture.Alpha,
    };

    private int Slots(int n, long perSlot, bool gradient)
    {
        int cap = options.MaxThreads > 0 ? options.MaxThreads
            : Variant != IcnnKernelVariant.SlotRows ? (gradient ? 8192 : 65536) : (gradient ? 64 : PointLaunch.For(Context).LoopThreads);
        long byMemory = Math.Max(1, options.WorkspaceFloats / perSlot);
        return (int)Math.Max(1, Math.Min(Math.Min(n, cap), byMemory));
    }

    private IcnnDims PointDims(int n, out ArrayView<float> ws, bool hessian = false)
    {
        var dm = BaseDims();
        // The Hessian kernel and the fused solve build the Hessian from the layer Jacobians: two M x d buffers more per slot.
        int stride = hessian ? dm.HessianScratchPerSlot : dm.ScratchPerSlot;
        int slots = Slots(n, stride, gradient: false);
        dm.Count = n;
        dm.Slots = slots;
        SetScratchStrides(ref dm, stride);
        ws = Ensure(ref workspace, (long)slots * stride);
        return dm;
    }

    private IcnnDims GradientDims(int n, out ArrayView<float> ws, out ArrayView<float> part, bool likelihood = false, bool onePerSlot = false)
    {
        var dm = BaseDims();
        int stride = likelihood ? dm.LikelihoodScratchPerSlot : dm.ScratchPerSlot;
        // One point per slot (per-point gradients) ignores the thread cap and the workspace budget: n rows of partials.
        int slots = onePerSlot ? n : Slots(n, stride + ParameterCount + 1L, gradient: true);
        dm.Count = n;
        dm.Slots = slots;
        SetScratchStrides(ref dm, stride);
        if (Variant != IcnnKernelVariant.SlotRows)
        {
            dm.PartialSlotStride = 1;
            dm.PartialParamStride = slots;
        }
        else
        {
            dm.PartialSlotStride = ParameterCount + 1;
            dm.PartialParamStride = 1;
        }

        ws = Ensure(ref workspace, (long)slots * stride);
        part = Ensure(ref partial, (long)slots * (ParameterCount + 1));
        return dm;
    }

    private void SetScratchStrides(ref IcnnDims dm, int stride)
    {
        if (Variant != IcnnKernelVariant.SlotRows)
        {
            dm.ScratchSlotStride = 1;
            dm.ScratchElemStride = dm.Slots;
        }
        else
        {
            dm.ScratchSlotStride = stride;
            dm.ScratchElemStride = 1;
        }
    }

    private ArrayView<float> Ensure(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = Context.Accelerator.Allocate1D<float>(Math.Max(1, length));
        }

        return buffer.View.SubView(0, Math.Max(1, length));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    private void CheckPoints(DevicePoints points, string name)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(points, name);
        Shape.RequireSameContext(Context, points.Context, name);
        Shape.RequireSameDimension(Dimension, points.Dimension, "the potential", name);
    }

    private static void RequireCount(DevicePoints a, DevicePoints b, string name)
    {
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"{name} has {b.Count} points but points has {a.Count}", name);
        }
    }

    private void CheckGradient(DeviceVector gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        Shape.RequireSameContext(Context, gradient.Context, nameof(gradient));
        Shape.RequireLength(gradient.Length, ParameterCount, nameof(gradient), "the parameter gradient");
    }
}
