using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Potentials;
using CMM.Gpu.Linalg;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Potentials;

/// <summary>
/// A potential whose gradient comes from an iterative solve that a good start shortens: the caller passes a start for each
/// point's gradient in the output buffer (for Langevin proposals, the gradient at the chain's current state). The result
/// may differ from a cold start's within the solve's tolerance, so callers use it only where their own state determines
/// the start (<see cref="Sampling.LangevinChains"/> within one run, whose first evaluation is cold).
/// </summary>
public interface IWarmStartPotential : IPotential
{
    /// <summary>As <see cref="IPotential.ValueAndGradient"/>, with each point's solve started at the row of <paramref name="gradients"/>.</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="values">Output of length n.</param>
    /// <param name="gradients">On entry the starts, on exit the gradients [n, d].</param>
    void ValueAndGradientFrom(DevicePoints points, DeviceVector values, DevicePoints gradients);

    /// <summary>As <see cref="IPotential.Gradient"/>, with each point's solve started at the row of <paramref name="gradients"/>.</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="gradients">On entry the starts, on exit the gradients [n, d].</param>
    void GradientFrom(DevicePoints points, DevicePoints gradients);
}

/// <summary>A potential whose convex conjugate is known explicitly: grad w*(x) needs no solve.</summary>
public interface IConjugateKnown
{
    /// <summary>w*, the convex conjugate of this potential.</summary>
    IPotential Conjugate { get; }
}

/// <summary>
/// w = u*, the convex conjugate of an ICNN potential u (docs/fitting.md, "The conjugate parametrisation"):
/// w(x) = sup_z &lt;x, z&gt; - u(z) = &lt;x, z&gt; - u(z), grad w(x) = z = grad u*(x), Hess w(x) = Hess u(z)^-1, with z found by the
/// batched conjugate solve grad u(z) = x. Every point's solve starts at centre + (x - grad u(centre)) / curvature scale
/// (u's preconditioner), so a point's result depends on that point only: the same in any batch, chunk or device.
/// Its conjugate w* = u is the ICNN itself (<see cref="IConjugateKnown"/>), so sampling maps latents by grad u with no solve.
/// Not thread-safe (one solver and its scratch); owns them, and u too when built by <see cref="Replicate"/>.
/// </summary>
public sealed class ConjugatePotential : IReplicablePotential, IConjugateKnown, IWarmStartPotential, IDisposable
{
    private readonly ConjugateSolver solver;
    private readonly bool ownsInner;
    private readonly Launcher launcher;
    private readonly DevicePoints centre;
    private readonly DevicePoints image;
    private DevicePoints? scratchPoints;
    private ConjugateSolver.ConjugateSolveHandle? lastSolve;
    private bool disposed;

    /// <summary>Wraps u.</summary>
    /// <param name="inner">The ICNN u (strongly convex, so u* is smooth); not owned unless <paramref name="ownsInner"/>.</param>
    /// <param name="options">Options of the solves (null: the defaults with the absolute tolerance times u's gradient scale).</param>
    /// <param name="ownsInner">Dispose u with this potential.</param>
    public ConjugatePotential(IcnnPotential inner, ConjugateOptions? options = null, bool ownsInner = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
        this.ownsInner = ownsInner;
        var pre = inner.Architecture.EffectivePreconditioner;
        Options = options ?? new ConjugateOptions { AbsoluteTolerance = new ConjugateOptions().AbsoluteTolerance * pre.GradientScale };
        Options.ThrowIfInvalid();
        solver = new ConjugateSolver(inner.Context);
        launcher = inner.Context.GetComponent(c => new Launcher(c));
        centre = DevicePoints.Upload(inner.Context, pre.Centre.ToArray(), inner.Dimension);
        image = DevicePoints.Allocate(inner.Context, 1, inner.Dimension);
    }

    /// <summary>The ICNN u.</summary>
    public IcnnPotential Inner { get; }

    /// <inheritdoc />
    public IPotential Conjugate => Inner;

    /// <summary>The options of the conjugate solves.</summary>
    public ConjugateOptions Options { get; }

    /// <summary>
    /// The last solve's result (iterations, converged fraction), or null before the first. Read from the device on first
    /// access (a host synchronisation), so solves whose result nobody asks for, such as a Langevin run's, make none for it.
    /// </summary>
    public ConjugateResult? LastSolve => lastSolve?.Result;

    /// <summary>The last solve's converged fraction, reading only its statuses (one host read, or none when read before).</summary>
    /// <summary>The last solve, its result still on the device until asked for; null before the first.</summary>
    internal ConjugateSolver.ConjugateSolveHandle? LastSolveHandle => lastSolve;

    internal double LastConvergedFraction => (lastSolve ?? throw new InvalidOperationException("no solve yet")).ConvergedFraction;

    /// <inheritdoc />
    public CmmContext Context => Inner.Context;

    /// <inheritdoc />
    public int Dimension => Inner.Dimension;

    /// <inheritdoc />
    public void Value(DevicePoints points, DeviceVector values)
    {
        ArgumentNullException.ThrowIfNull(points);
        var z = Scratch(points.Count);
        ValueAndGradient(points, values, z);
    }

    /// <inheritdoc />
    public void Gradient(DevicePoints points, DevicePoints gradients) => Solve(points, gradients, warm: false);

    /// <inheritdoc />
    public void GradientFrom(DevicePoints points, DevicePoints gradients) => Solve(points, gradients, warm: true);

    /// <inheritdoc />
    public void ValueAndGradient(DevicePoints points, DeviceVector values, DevicePoints gradients) => ValueAndGradient(points, values, gradients, warm: false);

    /// <inheritdoc />
    public void ValueAndGradientFrom(DevicePoints points, DeviceVector values, DevicePoints gradients) => ValueAndGradient(points, values, gradients, warm: true);

    /// <inheritdoc />
    /// <remarks>Hess w(x) = Hess u(z)^-1 at z = grad w(x), inverted on the device by a Cholesky factorisation per point.</remarks>
    public void Hessian(DevicePoints points, DeviceVector hessians)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(hessians);
        int d = Dimension;
        Shape.RequireLength(hessians.Length, (long)points.Count * d * d, nameof(hessians), $"{points.Count} Hessians of {d} x {d}");
        using var z = DevicePoints.Allocate(Context, points.Count, d);
        Solve(points, z, warm: false);
        using var hu = DeviceVector.Allocate(Context, hessians.Length);
        Inner.Hessian(z, hu);
        BatchedCholesky.Inverses(hu, d, hessians);
    }

    /// <summary>A copy on another device: u copied (and owned by the copy), the same options.</summary>
    /// <param name="context">The device.</param>
    /// <returns>The copy; the caller owns it.</returns>
    public IPotential Replicate(CmmContext context) =>
        new ConjugatePotential((IcnnPotential)Inner.Replicate(context), Options, ownsInner: true);

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        scratchPoints?.Dispose();
        image.Dispose();
        centre.Dispose();
        solver.Dispose();
        if (ownsInner)
        {
            Inner.Dispose();
        }
    }

    private void ValueAndGradient(DevicePoints points, DeviceVector values, DevicePoints gradients, bool warm)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(values);
        Shape.RequireLength(values.Length, points.Count, nameof(values), $"values of {points.Count} points");
        Solve(points, gradients, warm);
        Inner.Value(gradients, values);
        launcher.Legendre(points.Count, points.View, gradients.View, values.View, Dimension);
    }

    /// <summary>z = grad u*(x): the solve grad u(z) = x from z's contents (warm) or from the isotropic start (u's current
    /// gradient at its centre).</summary>
    private void Solve(DevicePoints points, DevicePoints z, bool warm)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(z);
        Shape.RequireSameDimension(Dimension, points.Dimension, "the potential", nameof(points));
        Shape.RequireLength(z.Length, points.Length, nameof(z), $"points [{points.Count}, {points.Dimension}]");
        if (!warm)
        {
            Inner.Gradient(centre, image);
            float ratio = (float)(1.0 / Inner.Architecture.EffectivePreconditioner.CurvatureScale);
            launcher.Start(points.Count, points.View, z.View, centre.View, image.View, ratio, Dimension);
        }

        lastSolve = solver.SolveDeferred(Inner, points, z, Options with { WarmStart = true });
    }

    private DevicePoints Scratch(int n)
    {
        if (scratchPoints is null || scratchPoints.Count != n)
        {
            scratchPoints?.Dispose();
            scratchPoints = DevicePoints.Allocate(Context, n, Dimension);
        }

        return scratchPoints;
    }

    private sealed class Launcher(CmmContext context)
    {
        private readonly PointLaunch launch = PointLaunch.For(context);

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int> start =
            LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int>(ConjugatePotentialKernels.Start, HostLoop.PerBlock);

        private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> legendre =
            LightKernels.For(context).Load<PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ConjugatePotentialKernels.Legendre, HostLoop.PerBlock);

        public void Start(int n, ArrayView<float> x, ArrayView<float> z, ArrayView<float> centre, ArrayView<float> image, float ratio, int d)
        {
            var range = launch.Plan(n, out int threads);
            start(threads, range, x, z, centre, image, ratio, d);
        }

        public void Legendre(int n, ArrayView<float> x, ArrayView<float> z, ArrayView<float> u, int d)
        {
            var range = launch.Plan(n, out int threads);
            legendre(threads, range, x, z, u, u, d);
        }
    }
}
