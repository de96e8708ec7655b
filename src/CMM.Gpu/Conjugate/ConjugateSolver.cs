using CMM.Gpu.Compute;
using CMM.Gpu.Icnn;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Conjugate;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Conjugate;

/// <summary>
/// Batched conjugate solve (decode) y = grad w*(x) = argmin_y w(y) - &lt;x, y&gt;, i.e. grad w(y) = x, for a
/// batch of points x, and the forward map (encode) x = grad w(y). The solver owns its workspace and
/// reuses it while the batch shape stays the same; dispose it before the context.
/// The host drives the iterations (one Gradient, Hessian or Value call of the potential per stage for the
/// whole batch) and the per-point algebra runs in kernels: one thread per point on GPUs, a block of points per
/// thread on the CPU accelerator (<see cref="PointLaunch"/>). For ICNN potentials both methods run the same iteration
/// per point inside one launch instead (<see cref="IcnnPotential.SolveNewton"/>, <see cref="IcnnPotential.SolveLbfgs"/>).
/// </summary>
public sealed class ConjugateSolver : IDisposable
{
    private readonly ConjugateLauncher kernels;
    private Workspace? workspace;
    private bool disposed;

    /// <summary>Creates a solver on a device.</summary>
    /// <param name="context">The device.</param>
    public ConjugateSolver(CmmContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
        kernels = context.GetComponent(c => new ConjugateLauncher(c));
    }

    /// <summary>The device.</summary>
    public CmmContext Context { get; }

    /// <summary>Encode: x = grad w(y) (one batched gradient; asynchronous).</summary>
    /// <param name="potential">w.</param>
    /// <param name="y">Data points [n, d].</param>
    /// <param name="x">Output latents [n, d].</param>
    public static void Encode(IPotential potential, DevicePoints y, DevicePoints x)
    {
        ArgumentNullException.ThrowIfNull(potential);
        potential.Gradient(y, x);
    }

    /// <summary>Convenience: uploads, encodes (x = grad w(y)) and downloads.</summary>
    /// <param name="potential">w.</param>
    /// <param name="y">Data points, row-major n * d.</param>
    /// <returns>x = grad w(y), row-major n * d.</returns>
    public static float[] Encode(IPotential potential, ReadOnlySpan<float> y)
    {
        ArgumentNullException.ThrowIfNull(potential);
        using var dy = DevicePoints.Upload(potential.Context, y, potential.Dimension);
        using var dx = DevicePoints.Allocate(potential.Context, dy.Count, dy.Dimension);
        potential.Gradient(dy, dx);
        return dx.ToArray();
    }

    /// <summary>Convenience: uploads, decodes and downloads.</summary>
    /// <param name="potential">w.</param>
    /// <param name="x">Latents, row-major n * d.</param>
    /// <param name="options">Options (defaults when null).</param>
    /// <param name="result">Per-point status and residuals.</param>
    /// <returns>y = grad w*(x), row-major n * d.</returns>
    public float[] Decode(IPotential potential, ReadOnlySpan<float> x, ConjugateOptions? options, out ConjugateResult result)
    {
        ArgumentNullException.ThrowIfNull(potential);
        using var dx = DevicePoints.Upload(Context, x, potential.Dimension);
        using var dy = DevicePoints.Allocate(Context, dx.Count, dx.Dimension);
        result = Solve(potential, dx, dy, options);
        return dy.ToArray();
    }

    /// <summary>
    /// Solves grad w(y_i) = x_i for every point. Starts from y = x, or from the contents of
    /// <paramref name="y"/> when <see cref="ConjugateOptions.WarmStart"/> is set. Synchronises (it checks
    /// convergence on the host once per iteration and per line-search round).
    /// </summary>
    /// <param name="potential">w, strongly convex.</param>
    /// <param name="x">Targets [n, d].</param>
    /// <param name="y">Output [n, d] (input too when warm-starting); may not alias <paramref name="x"/>.</param>
    /// <param name="options">Options (defaults when null).</param>
    /// <returns>Per-point status, iterations and residuals, and the fraction converged.</returns>
    public ConjugateResult Solve(IPotential potential, DevicePoints x, DevicePoints y, ConjugateOptions? options = null) =>
        SolveDeferred(potential, x, y, options).Result;

    /// <summary>
    /// As <see cref="Solve"/>, but the per-point statuses, iterations and residuals stay on the device until the returned
    /// handle is asked for them, so a caller that needs no result makes no host synchronisation for it (the host-driven
    /// path still synchronises per iteration to test convergence). The handle is valid until this solver's next solve.
    /// </summary>
    internal ConjugateSolveHandle SolveDeferred(IPotential potential, DevicePoints x, DevicePoints y, ConjugateOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        options ??= new ConjugateOptions();
        options.ThrowIfInvalid();
        Shape.RequireSameContext(Context, potential.Context, nameof(potential));
        Shape.RequireSameContext(Context, x.Context, nameof(x));
        Shape.RequireSameContext(Context, y.Context, nameof(y));
        Shape.RequireSameDimension(potential.Dimension, x.Dimension, "the potential", nameof(x));
        Shape.RequireLength(y.Length, x.Length, nameof(y), $"points [{x.Count}, {x.Dimension}]");
        if (ReferenceEquals(x, y))
        {
            throw new ArgumentException("y may not alias x", nameof(y));
        }

        int n = x.Count, d = x.Dimension;
        var method = options.Resolve(d);
        int m = method == ConjugateMethod.Lbfgs ? options.History : 0;
        bool fused = potential is IcnnPotential && !BatchedOnly;
        var ws = EnsureWorkspace(n, d, method, m, fused);
        var tally = Context.Tally;
        generation++;
        if (!options.WarmStart)
        {
            tally.Copy(x.View, y.View);
        }

        if (fused && potential is IcnnPotential icnn)
        {
            if (method == ConjugateMethod.Newton)
            {
                SolveFused(icnn, x, y, options, ws);
            }
            else
            {
                SolveFusedLbfgs(icnn, x, y, options, ws);
            }

            return new ConjugateSolveHandle(this, ws, generation, method, n, null);
        }

        tally.FillBytes<int>(ws.Active.View, 1);
        tally.Clear(ws.Status.View);
        tally.Clear(ws.Iterations.View);
        ws.Residual.Clear();
        if (m > 0)
        {
            ws.Rho.Clear();
        }

        float atol = (float)options.AbsoluteTolerance, rtol = (float)options.RelativeTolerance;
        float minStep = MathF.Pow(2f, -options.MaxLineSearchSteps);
        int it = 0;
        var count = new int[1];
        // Once some points have converged, the potential is evaluated only at the points still active: they are listed
        // (ListActive), packed into the Packed* buffers, evaluated there and the results written back to their rows. Each
        // point's result does not depend on the batch it is evaluated in, so the solve is unchanged, only cheaper.
        int listed = n;
        for (; ; it++)
        {
            // w(y) comes with the gradient (one pass for the ICNN); the line search below needs it.
            if (listed == n)
            {
                potential.ValueAndGradient(y, ws.Wy, ws.G);
            }
            else
            {
                kernels.GatherRows(listed, y.View, ws.PackedPoints.View, ws.Index.View, d);
                potential.ValueAndGradient(ws.PackedPoints.Prefix(listed), ws.PackedValues.Prefix(listed), ws.PackedGradients.Prefix(listed));
                kernels.ScatterRows(listed, ws.PackedValues.View, ws.Wy.View, ws.Index.View, 1);
                kernels.ScatterRows(listed, ws.PackedGradients.View, ws.G.View, ws.Index.View, d);
            }

            if (m > 0 && it > 0)
            {
                kernels.LbfgsUpdate(n, y.View, ws.YPrev.View, ws.G.View, ws.GPrev.View, ws.S.View, ws.Yv.View, ws.Rho.View,
                    ws.Active.View, d, m, (it - 1) % m);
            }

            tally.Clear(ws.Counter.View);
            kernels.Residual(n, ws.G.View, x.View, ws.Residual.View, ws.Active.View, ws.Status.View, ws.Iterations.View,
                ws.Counter.View, d, atol, rtol, it);
            tally.Read(ws.Counter.View, count);
            if (count[0] == 0 || it == options.MaxIterations)
            {
                break;
            }

            if (count[0] < listed)
            {
                tally.Clear(ws.Counter.View);
                kernels.ListActive(n, ws.Active.View, ws.Index.View, ws.Counter.View);
                listed = count[0];
                kernels.GatherRows(listed, y.View, ws.PackedPoints.View, ws.Index.View, d); // for the Hessian below
            }

            if (method == ConjugateMethod.Newton)
            {
                if (listed == n)
                {
                    potential.Hessian(y, ws.Hessians!);
                }
                else
                {
                    potential.Hessian(ws.PackedPoints.Prefix(listed), ws.PackedHessians.Prefix((long)listed * d * d));
                    kernels.ScatterRows(listed, ws.PackedHessians.View, ws.Hessians.View, ws.Index.View, d * d);
                }

                kernels.Newton(n, ws.Hessians.View, ws.G.View, x.View, ws.Direction.View, ws.Slope.View, ws.Active.View, d);
            }
            else
            {
                kernels.LbfgsDirection(n, ws.G.View, x.View, ws.S.View, ws.Yv.View, ws.Rho.View, ws.Alpha.View,
                    ws.Direction.View, ws.Slope.View, ws.Active.View, new LbfgsShape(d, m, Math.Max(0, (it - 1) % m), Math.Min(it, m)));
                kernels.CopyActive(n, y.View, ws.YPrev.View, ws.Active.View, d);
                kernels.CopyActive(n, ws.G.View, ws.GPrev.View, ws.Active.View, d);
            }

            kernels.LineSearchStart(n, ws.Step.View, ws.Pending.View, ws.Active.View);
            for (int ls = 0; ls <= options.MaxLineSearchSteps; ls++)
            {
                kernels.LineSearchTrial(n, y.View, ws.Direction.View, ws.Step.View, ws.Pending.View, ws.Trial.View, d);
                if (listed == n)
                {
                    potential.Value(ws.Trial, ws.Wt);
                }
                else
                {
                    kernels.GatherRows(listed, ws.Trial.View, ws.PackedPoints.View, ws.Index.View, d);
                    potential.Value(ws.PackedPoints.Prefix(listed), ws.PackedValues.Prefix(listed));
                    kernels.ScatterRows(listed, ws.PackedValues.View, ws.Wt.View, ws.Index.View, 1);
                }

                tally.Clear(ws.Counter.View);
                kernels.LineSearchUpdate(n, x.View, y.View, ws.Trial.View, ws.Wy.View, ws.Wt.View, ws.Step.View, ws.Slope.View,
                    ws.Pending.View, ws.Active.View, ws.Status.View, ws.Counter.View, d, new LineSearchConstants((float)options.Armijo, minStep));
                tally.Read(ws.Counter.View, count);
                if (count[0] == 0)
                {
                    break;
                }
            }
        }

        return new ConjugateSolveHandle(this, ws, generation, method, n, it);
    }

    /// <summary>Solves started so far; a <see cref="ConjugateSolveHandle"/> reads the workspace only while it is the latest.</summary>
    private long generation;

    /// <summary>Test seam: drive the Newton and L-BFGS iterations from the host for ICNN potentials too (the fused solves are the default).</summary>
    internal bool BatchedOnly { get; set; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            workspace?.Dispose();
        }
    }

    /// <summary>
    /// Newton for an ICNN in one launch (<see cref="IcnnPotential.SolveNewton"/>): the same iteration, tests and statuses as
    /// the host-driven path, with no launch or host synchronisation per iteration, and none at all until the result is read.
    /// </summary>
    private static void SolveFused(IcnnPotential potential, DevicePoints x, DevicePoints y, ConjugateOptions options, Workspace ws)
    {
        var settings = new NewtonSettings((float)options.AbsoluteTolerance, (float)options.RelativeTolerance, (float)options.Armijo,
            MathF.Pow(2f, -options.MaxLineSearchSteps), options.MaxIterations);
        potential.SolveNewton(x, y, potential.SolvesOnHost(ConjugateMethod.Newton) ? default : ws.FusedWork.View, ws.FusedInts.View, ws.Residual.View, settings);
    }

    /// <summary>Reads a solve's full result from the workspace (2 reads fused, 3 host-driven).</summary>
    private ConjugateResult ReadResult(Workspace ws, ConjugateMethod method, int n, int? loopIterations)
    {
        var tally = Context.Tally;
        if (loopIterations is null)
        {
            // A fused solve (Newton or L-BFGS): statuses then iterations in one buffer.
            var ints = new int[2 * n];
            tally.Read(ws.FusedInts.View.SubView(0, 2 * n), ints);
            var residuals = ws.Residual.ToArray();
            return Result(method, ints.AsSpan(0, n).ToArray(), ints.AsSpan(n, n).ToArray(), residuals);
        }

        var status = new int[n];
        var iterations = new int[n];
        tally.Read(ws.Status.View, status);
        tally.Read(ws.Iterations.View, iterations);
        return Result(method, status, iterations, ws.Residual.ToArray()) with { Iterations = loopIterations.Value };
    }

    /// <summary>Reads only the per-point statuses (1 read) and returns the fraction converged, as <see cref="Result"/> computes it.</summary>
    private double ReadConvergedFraction(Workspace ws, int n, bool fused)
    {
        var status = new int[n];
        Context.Tally.Read(fused ? ws.FusedInts.View.SubView(0, n) : ws.Status.View.SubView(0, n), status);
        int converged = status.Count(s => (ConjugatePointStatus)s == ConjugatePointStatus.Converged);
        return converged / (double)n;
    }

    /// <summary>
    /// L-BFGS for an ICNN in one launch (<see cref="IcnnPotential.SolveLbfgs"/>): the iteration of the host-driven path below,
    /// per point and in the same arithmetic order, with no launch or host synchronisation per iteration, and none at all until
    /// the result is read.
    /// </summary>
    private static void SolveFusedLbfgs(IcnnPotential potential, DevicePoints x, DevicePoints y, ConjugateOptions options, Workspace ws)
    {
        var settings = new LbfgsSettings((float)options.AbsoluteTolerance, (float)options.RelativeTolerance, (float)options.Armijo,
            MathF.Pow(2f, -options.MaxLineSearchSteps), options.MaxIterations, options.History);
        potential.SolveLbfgs(x, y, potential.SolvesOnHost(ConjugateMethod.Lbfgs) ? default : ws.FusedWork.View, ws.FusedInts.View, ws.Residual.View, settings);
    }

    private static ConjugateResult Result(ConjugateMethod method, int[] status, int[] iterations, float[] residuals)
    {
        int n = status.Length;
        var pointStatus = status.Select(s => (ConjugatePointStatus)s).ToArray();
        int converged = pointStatus.Count(s => s == ConjugatePointStatus.Converged);
        var overall = converged == n ? ConjugateStatus.Converged
            : pointStatus.Any(s => s == ConjugatePointStatus.NonFinite) ? ConjugateStatus.NonFinite
            : pointStatus.Any(s => s == ConjugatePointStatus.MaxIterations) ? ConjugateStatus.MaxIterations
            : ConjugateStatus.Stalled;
        double maxRes = residuals.Select(r => float.IsFinite(r) ? r : double.PositiveInfinity).DefaultIfEmpty(0).Max();
        return new ConjugateResult(overall, method, iterations.DefaultIfEmpty(0).Max(), converged / (double)n, maxRes, pointStatus, iterations, residuals);
    }

    /// <summary>
    /// A solve whose result is still on the device (<see cref="SolveDeferred"/>): the first access to <see cref="Result"/> reads
    /// it, <see cref="ConvergedFraction"/> reads only the statuses. Both throw once the solver has started another solve or been
    /// disposed before the result was read (the workspace holds the newer solve's result, or none); a value read before stays.
    /// </summary>
    internal sealed class ConjugateSolveHandle
    {
        private readonly ConjugateSolver solver;
        private readonly Workspace workspace;
        private readonly long generation;
        private readonly ConjugateMethod method;
        private readonly int count;
        private readonly int? loopIterations;
        private ConjugateResult? result;
        private double? convergedFraction;

        internal ConjugateSolveHandle(ConjugateSolver solver, Workspace workspace, long generation, ConjugateMethod method, int count, int? loopIterations)
        {
            this.solver = solver;
            this.workspace = workspace;
            this.generation = generation;
            this.method = method;
            this.count = count;
            this.loopIterations = loopIterations;
        }

        /// <summary>The full result (read on first access: 2 host reads for a fused solve, 3 host-driven).</summary>
        public ConjugateResult Result
        {
            get
            {
                if (result is null)
                {
                    ThrowIfStale();
                    result = solver.ReadResult(workspace, method, count, loopIterations);
                }

                return result;
            }
        }

        /// <summary>The fraction of points converged (1 host read of the statuses, unless the result was read already).</summary>
        public double ConvergedFraction
        {
            get
            {
                if (result is not null)
                {
                    return result.ConvergedFraction;
                }

                if (convergedFraction is null)
                {
                    ThrowIfStale();
                    convergedFraction = solver.ReadConvergedFraction(workspace, count, loopIterations is null);
                }

                return convergedFraction.Value;
            }
        }

        /// <summary>Number of points solved.</summary>
        public int Count => count;

        /// <summary>The per-point statuses on the device (valid until the solver's next solve), for a count on the device.</summary>
        public ArrayView<int> StatusView
        {
            get
            {
                ThrowIfStale();
                return loopIterations is null ? workspace.FusedInts!.View.SubView(0, count) : workspace.Status.View.SubView(0, count);
            }
        }

        private void ThrowIfStale()
        {
            ObjectDisposedException.ThrowIf(solver.disposed, solver);
            if (solver.generation != generation || !ReferenceEquals(solver.workspace, workspace))
            {
                throw new InvalidOperationException("the conjugate solve's result was not read before the solver's next solve overwrote it");
            }
        }
    }

    private Workspace EnsureWorkspace(int n, int d, ConjugateMethod method, int m, bool fused)
    {
        if (workspace is not null && workspace.Matches(n, d, method, m, fused))
        {
            return workspace;
        }

        workspace?.Dispose();
        workspace = new Workspace(Context, n, d, method, m, fused);
        return workspace;
    }

    /// <summary>
    /// The buffers of a solve of n points. Each is allocated on first use and kept for the next solve of the same shape: a
    /// fused solve (<see cref="IcnnPotential"/>) uses only <see cref="Residual"/>, <see cref="FusedInts"/> and, for the scalar
    /// kernels, <see cref="FusedWork"/> (the SIMD forms need none), so it no longer holds the host-driven path's n x d and
    /// n x d x d buffers (at n = 20,000, d = 64 the unused L-BFGS work alone was 100 MB).
    /// </summary>
    internal sealed class Workspace : IDisposable
    {
        private readonly CmmContext context;
        private readonly int n;
        private readonly int d;
        private readonly ConjugateMethod method;
        private readonly int m;
        private readonly bool fused;
        private readonly List<IDisposable> allocated = [];
        private DevicePoints? g, direction, trial, packedPoints, packedGradients, yPrev, gPrev;
        private DeviceVector? wy, wt, step, slope, residual, hessians, packedHessians, packedValues, fusedWork, s, yv, rho, alpha;
        private MemoryBuffer1D<int, Stride1D.Dense>? active, pending, status, iterations, counter, index, fusedInts;

        public Workspace(CmmContext context, int n, int d, ConjugateMethod method, int m, bool fused)
        {
            this.context = context;
            this.n = n;
            this.d = d;
            this.method = method;
            this.m = m;
            this.fused = fused;
        }

        public DevicePoints G => Points(ref g);

        public DevicePoints Direction => Points(ref direction);

        public DevicePoints Trial => Points(ref trial);

        public DeviceVector Wy => Vector(ref wy, n);

        public DeviceVector Wt => Vector(ref wt, n);

        public DeviceVector Step => Vector(ref step, n);

        public DeviceVector Slope => Vector(ref slope, n);

        public DeviceVector Residual => Vector(ref residual, n);

        public MemoryBuffer1D<int, Stride1D.Dense> Active => Ints(ref active, n);

        public MemoryBuffer1D<int, Stride1D.Dense> Pending => Ints(ref pending, n);

        public MemoryBuffer1D<int, Stride1D.Dense> Status => Ints(ref status, n);

        public MemoryBuffer1D<int, Stride1D.Dense> Iterations => Ints(ref iterations, n);

        public MemoryBuffer1D<int, Stride1D.Dense> Counter => Ints(ref counter, 1);

        /// <summary>Hessians of the host-driven Newton path [n, d, d].</summary>
        public DeviceVector Hessians => Vector(ref hessians, (long)n * d * d);

        /// <summary>Per-point work of the scalar fused solve: the Hessian, direction and trial point (Newton), or the history
        /// pairs and vectors of <see cref="IcnnLbfgsKernels"/> (L-BFGS).</summary>
        public DeviceVector FusedWork => Vector(ref fusedWork, method == ConjugateMethod.Newton ? (long)n * ((d * d) + (2 * d)) : n * IcnnLbfgsKernels.WorkPerPoint(d, m));

        /// <summary>Status then iterations of the fused solve [2n].</summary>
        public MemoryBuffer1D<int, Stride1D.Dense> FusedInts => Ints(ref fusedInts, 2L * n);

        /// <summary>Indices of the points still active (first <c>listed</c> entries).</summary>
        public MemoryBuffer1D<int, Stride1D.Dense> Index => Ints(ref index, n);

        /// <summary>The listed points, packed.</summary>
        public DevicePoints PackedPoints => Points(ref packedPoints);

        /// <summary>Gradients at the packed points.</summary>
        public DevicePoints PackedGradients => Points(ref packedGradients);

        /// <summary>Values at the packed points.</summary>
        public DeviceVector PackedValues => Vector(ref packedValues, n);

        /// <summary>Hessians at the packed points (Newton).</summary>
        public DeviceVector PackedHessians => Vector(ref packedHessians, (long)n * d * d);

        public DeviceVector S => Vector(ref s, (long)n * m * d);

        public DeviceVector Yv => Vector(ref yv, (long)n * m * d);

        public DeviceVector Rho => Vector(ref rho, (long)n * m);

        public DeviceVector Alpha => Vector(ref alpha, (long)n * m);

        public DevicePoints YPrev => Points(ref yPrev);

        public DevicePoints GPrev => Points(ref gPrev);

        public bool Matches(int count, int dimension, ConjugateMethod kind, int history, bool fusedSolve) =>
            n == count && d == dimension && method == kind && m == history && (fused == fusedSolve || kind == ConjugateMethod.Newton);

        public void Dispose()
        {
            foreach (var b in allocated)
            {
                b.Dispose();
            }

            allocated.Clear();
        }

        private DevicePoints Points(ref DevicePoints? field) => field ??= Keep(DevicePoints.Allocate(context, n, d));

        private DeviceVector Vector(ref DeviceVector? field, long length) => field ??= Keep(DeviceVector.Allocate(context, length));

        private MemoryBuffer1D<int, Stride1D.Dense> Ints(ref MemoryBuffer1D<int, Stride1D.Dense>? field, long length) =>
            field ??= Keep(context.Accelerator.Allocate1D<int>(length));

        private T Keep<T>(T buffer)
            where T : IDisposable
        {
            allocated.Add(buffer);
            return buffer;
        }
    }
}


/// <summary>Loads the conjugate-solve kernels once per context and launches them by the <see cref="PointLaunch"/> rule.</summary>
internal sealed class ConjugateLauncher(CmmContext context)
{
    private readonly PointLaunch launch = PointLaunch.For(context);

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, LbfgsShape> lbfgsDirection =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, LbfgsShape>(ConjugateKernels.LbfgsDirection));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, LineSearchConstants> lineSearchUpdate =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<int>, int,
            LineSearchConstants>(ConjugateKernels.LineSearchUpdate));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<int>,
        ArrayView<int>, int, float, float, int> residual =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<int>, ArrayView<int>, ArrayView<int>, int, float, float, int>(ConjugateKernels.Residual));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<int>, int> newton =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<int>, int>(ConjugateKernels.NewtonDirection));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int> lbfgsUpdate =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(ConjugateKernels.LbfgsUpdate));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<int>, ArrayView<int>> lineSearchStart =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<int>, ArrayView<int>>(
            ConjugateKernels.LineSearchStart));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int> lineSearchTrial =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<float>, int>(ConjugateKernels.LineSearchTrial));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> copyActive =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(
            ConjugateKernels.CopyActive));

    private readonly Action<Index1D, PointRange, ArrayView<int>, ArrayView<int>, ArrayView<int>> listActive =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<int>, ArrayView<int>, ArrayView<int>>(ConjugateKernels.ListActive));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> gatherRows =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(ConjugateKernels.GatherRows));

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> scatterRows =
        context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(ConjugateKernels.ScatterRows));

    public void ListActive(int n, ArrayView<int> active, ArrayView<int> index, ArrayView<int> counter)
    {
        var range = launch.Plan(n, out int threads);
        listActive(threads, range, active, index, counter);
    }

    public void GatherRows(int listed, ArrayView<float> source, ArrayView<float> packed, ArrayView<int> index, int width)
    {
        var range = launch.Plan(listed, out int threads);
        gatherRows(threads, range, source, packed, index, width);
    }

    public void ScatterRows(int listed, ArrayView<float> packed, ArrayView<float> destination, ArrayView<int> index, int width)
    {
        var range = launch.Plan(listed, out int threads);
        scatterRows(threads, range, packed, destination, index, width);
    }

    public void Residual(int n, ArrayView<float> g, ArrayView<float> x, ArrayView<float> residualOut, ArrayView<int> active, ArrayView<int> status,
        ArrayView<int> iterations, ArrayView<int> counter, int d, float atol, float rtol, int iteration)
    {
        var range = launch.Plan(n, out int threads);
        residual(threads, range, g, x, residualOut, active, status, iterations, counter, d, atol, rtol, iteration);
    }

    public void Newton(int n, ArrayView<float> hessians, ArrayView<float> g, ArrayView<float> x, ArrayView<float> direction,
        ArrayView<float> slope, ArrayView<int> active, int d)
    {
        var range = launch.Plan(n, out int threads);
        newton(threads, range, hessians, g, x, direction, slope, active, d);
    }

    public void LbfgsDirection(int n, ArrayView<float> g, ArrayView<float> x, ArrayView<float> s, ArrayView<float> yv, ArrayView<float> rho,
        ArrayView<float> alpha, ArrayView<float> direction, ArrayView<float> slope, ArrayView<int> active, LbfgsShape shape)
    {
        var range = launch.Plan(n, out int threads);
        lbfgsDirection(threads, range, g, x, s, yv, rho, alpha, direction, slope, active, shape);
    }

    public void LbfgsUpdate(int n, ArrayView<float> y, ArrayView<float> yPrev, ArrayView<float> g, ArrayView<float> gPrev, ArrayView<float> s,
        ArrayView<float> yv, ArrayView<float> rho, ArrayView<int> active, int d, int m, int slot)
    {
        var range = launch.Plan(n, out int threads);
        lbfgsUpdate(threads, range, y, yPrev, g, gPrev, s, yv, rho, active, d, m, slot);
    }

    public void LineSearchStart(int n, ArrayView<float> step, ArrayView<int> pending, ArrayView<int> active)
    {
        var range = launch.Plan(n, out int threads);
        lineSearchStart(threads, range, step, pending, active);
    }

    public void LineSearchTrial(int n, ArrayView<float> y, ArrayView<float> direction, ArrayView<float> step, ArrayView<int> pending,
        ArrayView<float> trial, int d)
    {
        var range = launch.Plan(n, out int threads);
        lineSearchTrial(threads, range, y, direction, step, pending, trial, d);
    }

    public void LineSearchUpdate(int n, ArrayView<float> x, ArrayView<float> y, ArrayView<float> trial, ArrayView<float> wy, ArrayView<float> wt,
        ArrayView<float> step, ArrayView<float> slope, ArrayView<int> pending, ArrayView<int> active, ArrayView<int> status,
        ArrayView<int> counter, int d, LineSearchConstants constants)
    {
        var range = launch.Plan(n, out int threads);
        lineSearchUpdate(threads, range, x, y, trial, wy, wt, step, slope, pending, active, status, counter, d, constants);
    }

    public void CopyActive(int n, ArrayView<float> source, ArrayView<float> destination, ArrayView<int> active, int d)
    {
        var range = launch.Plan(n, out int threads);
        copyActive(threads, range, source, destination, active, d);
    }
}
