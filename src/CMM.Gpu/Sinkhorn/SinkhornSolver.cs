using CMM.Gpu.Compute;
using CMM.Gpu.Costs;
using CMM.Gpu.Memory;
using ILGPU.Runtime;

namespace CMM.Gpu.Sinkhorn;

/// <summary>
/// Log-domain Sinkhorn between weighted point clouds x [n, d] (weights a) and y [m, d] (weights b) for
/// the cost C_ij = 1/2 |x_i - y_j|^2, with the convention P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps).
/// <para>
/// The solver is reusable: it owns its device workspace (potentials, log-weights, error buffers, and the
/// cost matrix when stored), keeps the potentials of the last solve on the device (<see cref="F"/>,
/// <see cref="G"/>) so the next solve can be warm-started, and answers entropic-map and plan-application
/// queries about the last solve. The point clouds stay owned by the caller and must stay alive while
/// those queries are made. Not thread-safe. Dispose it before the <see cref="CmmContext"/>.
/// </para>
/// </summary>
public sealed class SinkhornSolver : IDisposable
{
    private readonly CmmContext context;
    private readonly SinkhornLauncher launcher;
    private int n = -1;
    private int m = -1;
    private DeviceVector? f;
    private DeviceVector? g;
    private DeviceVector? fNext;
    private DeviceVector? errorN;
    private DeviceVector? errorM;
    private DeviceVector? logA;
    private DeviceVector? logB;
    private DeviceVector? cost;
    private int queryCount = -1;
    private DeviceVector? queryPotential;
    private DeviceVector? queryError;
    private DeviceVector? queryLogWeight;
    private bool potentialsValid;
    private bool hasSolution;
    private DevicePoints? lastX;
    private DevicePoints? lastY;
    private float lastEpsilon;
    private bool disposed;
    private CancellationToken cancel;

    /// <summary>Creates a solver (kernels are compiled on the first solve of the context, then cached).</summary>
    /// <param name="context">The device.</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
    public SinkhornSolver(CmmContext context, SinkhornOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.ThrowIfDisposed();
        Options = options ?? new SinkhornOptions();
        Options.ThrowIfInvalid();
        this.context = context;
        launcher = SinkhornLauncher.For(context);
    }

    /// <summary>The options every solve uses.</summary>
    public SinkhornOptions Options { get; }

    /// <summary>The potential f of the last solve (or set by <see cref="SetPotentials"/>), on the device; owned by the solver. Null before any.</summary>
    public DeviceVector? F => f;

    /// <summary>The potential g of the last solve, on the device; owned by the solver. Null before any.</summary>
    public DeviceVector? G => g;

    /// <summary>Length of the stored cost matrix the solver holds (0 when none: online solves hold nothing n x m).</summary>
    internal long StoredCostLength => cost?.Length ?? 0;

    /// <summary>The result of the last solve, or null.</summary>
    public SinkhornResult? LastResult { get; private set; }

    /// <summary>
    /// Solves entropic OT between x (weights a) and y (weights b).
    /// </summary>
    /// <param name="x">Source points [n, d] (caller-owned; keep it alive for later map / plan queries).</param>
    /// <param name="y">Target points [m, d].</param>
    /// <param name="a">Source weights (n non-negative values, any positive total; normalised to 1). Empty: uniform.</param>
    /// <param name="b">Target weights (m values). Empty: uniform.</param>
    /// <param name="warmStart">Start from the potentials held by the solver (the previous solve, or <see cref="SetPotentials"/>)
    /// when their sizes match n and m; otherwise start from zero.</param>
    /// <param name="cancellationToken">Checked at each error check; when signalled the solve stops with <see cref="SinkhornStatus.Cancelled"/>.</param>
    /// <returns>The result; non-convergence, divergence and cancellation are reported in <see cref="SinkhornResult.Status"/>.</returns>
    /// <exception cref="ArgumentException">Shape mismatch, bad weights, non-finite points, or buffers from another context.</exception>
    public SinkhornResult Solve(DevicePoints x, DevicePoints y, ReadOnlySpan<float> a = default, ReadOnlySpan<float> b = default,
        bool warmStart = false, CancellationToken cancellationToken = default)
    {
        cancel = cancellationToken;
        try
        {
            return SolveCore(x, y, a, b, warmStart, Options, isRetry: false);
        }
        finally
        {
            cancel = default;
        }
    }

    /// <summary>Uploads potentials to warm-start the next <see cref="Solve"/> (with warmStart = true) for clouds of sizes f.Length and g.Length.</summary>
    /// <param name="fInitial">f, one finite value per x point.</param>
    /// <param name="gInitial">g, one finite value per y point.</param>
    public void SetPotentials(ReadOnlySpan<float> fInitial, ReadOnlySpan<float> gInitial)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequirePositive(fInitial.Length, nameof(fInitial), "length of f");
        Shape.RequirePositive(gInitial.Length, nameof(gInitial), "length of g");
        RequireFinite(fInitial, nameof(fInitial));
        RequireFinite(gInitial, nameof(gInitial));
        EnsureWorkspace(fInitial.Length, gInitial.Length);
        f!.CopyFrom(fInitial);
        g!.CopyFrom(gInitial);
        potentialsValid = true;
    }

    /// <summary>
    /// The debiased Sinkhorn divergence S_eps(a, b) = OT_eps(a, b) - 1/2 OT_eps(a, a) - 1/2 OT_eps(b, b), with OT_eps the
    /// regularised objective and one epsilon for all three problems (absolute, or relative to the mean cost of the (x, y) pair).
    /// The two self problems use the symmetric averaged update f &lt;- (f + T(f)) / 2 (GeomLoss), which converges much faster
    /// than alternating updates there. The solver is left holding the (x, y) solve.
    /// </summary>
    /// <param name="x">Points [n, d].</param>
    /// <param name="y">Points [m, d].</param>
    /// <param name="a">Weights of x (empty: uniform).</param>
    /// <param name="b">Weights of y (empty: uniform).</param>
    /// <returns>The value and the three solves.</returns>
    public SinkhornDivergenceResult Divergence(DevicePoints x, DevicePoints y, ReadOnlySpan<float> a = default, ReadOnlySpan<float> b = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        CheckClouds(x, y);
        double eps = Options.Epsilon ?? EpsilonFromMean(MeanCost(x.ToArray(), y.ToArray(), x.Dimension,
            NormalisedWeights(a, x.Count, nameof(a)), NormalisedWeights(b, y.Count, nameof(b))));
        var o = Options with { Epsilon = eps };
        var xx = SolveCore(x, x, a, a, false, o, false, symmetric: true);
        var yy = SolveCore(y, y, b, b, false, o, false, symmetric: true);
        var xy = SolveCore(x, y, a, b, false, o, false);
        return new SinkhornDivergenceResult(xy.RegularizedCost - 0.5 * (xx.RegularizedCost + yy.RegularizedCost), xy, xx, yy);
    }

    /// <summary>
    /// The entropic map of the last solve at any points: T(q) = sum_j p_j(q) y_j with
    /// p_j(q) proportional to b_j exp((g_j - 1/2 |q - y_j|^2) / eps) (a stabilised softmax: the soft c-transform
    /// of g at q is computed first, then the weights are normalised by it). Asynchronous.
    /// </summary>
    /// <param name="query">Points [q, d] (in-sample or new).</param>
    /// <param name="destination">Output [q, d].</param>
    public void EntropicMap(DevicePoints query, DevicePoints destination) => Map(query, destination, towardsY: true);

    /// <summary>The map of the last solve onto the x cloud: T'(q) = sum_i p_i(q) x_i, p_i(q) proportional to a_i exp((f_i - 1/2 |q - x_i|^2) / eps).</summary>
    /// <param name="query">Points [q, d].</param>
    /// <param name="destination">Output [q, d].</param>
    public void InverseEntropicMap(DevicePoints query, DevicePoints destination) => Map(query, destination, towardsY: false);

    /// <summary>Host convenience for <see cref="EntropicMap(DevicePoints, DevicePoints)"/>.</summary>
    /// <param name="query">Row-major query points, q * d.</param>
    /// <returns>The mapped points, row-major q * d.</returns>
    public float[] EntropicMap(ReadOnlySpan<float> query)
    {
        RequireSolution();
        using var q = DevicePoints.Upload(context, query, lastY!.Dimension);
        using var dest = DevicePoints.Allocate(context, q.Count, q.Dimension);
        EntropicMap(q, dest);
        return dest.ToArray();
    }

    /// <summary>(P v)_i = sum_j P_ij v_j for the last solve, without materialising P. Asynchronous.</summary>
    /// <param name="v">A vector over y, length m.</param>
    /// <param name="destination">A vector over x, length n.</param>
    public void ApplyPlan(DeviceVector v, DeviceVector destination) => ApplyCore(v, destination, transposed: false);

    /// <summary>(P^T u)_j = sum_i P_ij u_i for the last solve, without materialising P. Asynchronous.</summary>
    /// <param name="u">A vector over x, length n.</param>
    /// <param name="destination">A vector over y, length m.</param>
    public void ApplyPlanTransposed(DeviceVector u, DeviceVector destination) => ApplyCore(u, destination, transposed: true);

    /// <summary>Host convenience for <see cref="ApplyPlan(DeviceVector, DeviceVector)"/>.</summary>
    /// <param name="v">m values.</param>
    /// <returns>n values.</returns>
    public float[] ApplyPlan(ReadOnlySpan<float> v)
    {
        RequireSolution();
        using var dv = DeviceVector.Upload(context, v);
        using var dest = DeviceVector.Allocate(context, n);
        ApplyPlan(dv, dest);
        return dest.ToArray();
    }

    /// <summary>Host convenience for <see cref="ApplyPlanTransposed(DeviceVector, DeviceVector)"/>.</summary>
    /// <param name="u">n values.</param>
    /// <returns>m values.</returns>
    public float[] ApplyPlanTransposed(ReadOnlySpan<float> u)
    {
        RequireSolution();
        using var du = DeviceVector.Upload(context, u);
        using var dest = DeviceVector.Allocate(context, m);
        ApplyPlanTransposed(du, dest);
        return dest.ToArray();
    }

    /// <summary>
    /// The mean cost sum_ij a_i b_j 1/2 |x_i - y_j|^2 without an n x m matrix, in double precision, by the identity
    /// 1/2 sum_i a_i |x_i - xbar|^2 + 1/2 sum_j b_j |y_j - ybar|^2 + 1/2 |xbar - ybar|^2 (weighted means xbar, ybar;
    /// for uniform weights this is 1/2 (mean|x|^2 + mean|y|^2) - &lt;mean x, mean y&gt;, written without cancellation).
    /// </summary>
    /// <param name="x">Row-major x, n * d.</param>
    /// <param name="y">Row-major y, m * d.</param>
    /// <param name="dimension">d.</param>
    /// <param name="a">Weights of x (empty: uniform; normalised).</param>
    /// <param name="b">Weights of y (empty: uniform; normalised).</param>
    /// <returns>The mean cost.</returns>
    public static double MeanCost(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int dimension, ReadOnlySpan<float> a = default, ReadOnlySpan<float> b = default)
    {
        Shape.RequirePositive(dimension, nameof(dimension), "dimension");
        if (x.Length == 0 || x.Length % dimension != 0 || y.Length == 0 || y.Length % dimension != 0)
        {
            throw new ArgumentException($"x ({x.Length} values) and y ({y.Length} values) must be positive multiples of the dimension {dimension}");
        }

        return MeanCost(x, y, dimension, NormalisedWeights(a, x.Length / dimension, nameof(a)), NormalisedWeights(b, y.Length / dimension, nameof(b)));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        DisposeWorkspace();
        cost?.Dispose();
        DisposeQueryWorkspace();
    }

    private SinkhornResult SolveCore(DevicePoints x, DevicePoints y, ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool warmStart, SinkhornOptions opt, bool isRetry, bool symmetric = false)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        CheckClouds(x, y);
        int nn = x.Count, mm = y.Count, d = x.Dimension;
        var aNorm = NormalisedWeights(a, nn, nameof(a));
        var bNorm = NormalisedWeights(b, mm, nameof(b));
        bool warm = warmStart && potentialsValid && n == nn && m == mm;
        EnsureWorkspace(nn, mm);
        if (!warm)
        {
            f!.Clear();
            g!.Clear();
        }

        logA!.CopyFrom(LogWeights(aNorm));
        logB!.CopyFrom(LogWeights(bNorm));

        double meanCost = double.NaN;
        double target;
        if (opt.Epsilon is { } absolute)
        {
            target = absolute;
        }
        else
        {
            meanCost = MeanCost(x.ToArray(), y.ToArray(), d, aNorm, bNorm);
            target = EpsilonFromMean(meanCost, opt);
        }

        var storage = ResolveStorage(opt, nn, mm);
        bool stored = storage == CostStorage.Stored;
        if (stored)
        {
            long length = (long)nn * mm;
            if (cost is null || cost.Length != length)
            {
                cost?.Dispose();
                cost = null;
                cost = DeviceVector.Allocate(context, length);
            }

            PairwiseCost.For(context).Compute(x, y, cost, CostKind.HalfSquaredEuclidean, opt.Variant);
        }
        else if (cost is not null)
        {
            // Online: release a matrix kept from an earlier stored solve; nothing n x m stays allocated.
            cost.Dispose();
            cost = null;
        }

        var costView = stored ? cost!.View : errorN!.View;
        float omega = (float)opt.Relaxation;
        var variant = opt.Variant;
        float targetF = (float)target;
        float Schedule(int t) =>
            opt.EpsilonScaling ? (float)(target * Math.Max(1.0, opt.ScalingStart * Math.Pow(opt.ScalingDecay, t))) : targetF;

        void UpdateF(float eps, DeviceVector destination) =>
            launcher.Update(variant, x.View, y.View, costView, stored, false, mm, g!.View, logB!.View, logA!.View,
                f!.View, destination.View, errorN!.View, nn, mm, d, eps, omega);

        // Symmetric problem (x against itself, a = b): f = g, and the averaged update f <- (f + T(f)) / 2
        // (omega = 1/2) converges much faster than alternating updates, which oscillate on such problems.
        void UpdateSymmetric(float eps) =>
            launcher.Update(variant, x.View, x.View, costView, stored, false, nn, f!.View, logA!.View, logA!.View,
                f!.View, fNext!.View, errorN!.View, nn, nn, d, eps, 0.5f);

        void UpdateG(float eps) =>
            launcher.Update(variant, y.View, x.View, costView, stored, true, mm, f!.View, logA!.View, logB!.View,
                g!.View, g!.View, errorM!.View, mm, nn, d, eps, omega);

        var history = new List<double>();
        var historyIterations = new List<int>();
        var errorHost = new float[nn];
        var status = SinkhornStatus.MaxIterations;
        double lastError = double.NaN;
        float stateEpsilon = Schedule(0);
        int it = 0;
        for (; ; it++)
        {
            bool final = it == opt.MaxIterations;
            bool atTarget = it > 0 && Schedule(it - 1) == targetF;
            bool check = final || (atTarget && (it % opt.CheckEvery == 0 || (warm && it == 1)));
            if (check)
            {
                // The f update from g also yields the row-marginal error of the current state (f, g):
                // write it to fNext so that, if converged, (f, g) is returned unchanged.
                float epsState = it > 0 ? Schedule(it - 1) : Schedule(0);
                if (symmetric)
                {
                    UpdateSymmetric(epsState);
                }
                else
                {
                    UpdateF(epsState, fNext!);
                }

                errorN!.CopyTo(errorHost);
                double e = 0;
                foreach (float v in errorHost)
                {
                    e += v;
                }

                history.Add(e);
                historyIterations.Add(it);
                lastError = e;
                stateEpsilon = epsState;
                if (!double.IsFinite(e))
                {
                    status = SinkhornStatus.Diverged;
                    break;
                }

                if (e <= opt.Tolerance && epsState == targetF)
                {
                    status = SinkhornStatus.Converged;
                    break;
                }

                if (final)
                {
                    status = SinkhornStatus.MaxIterations;
                    break;
                }

                if (cancel.IsCancellationRequested)
                {
                    status = SinkhornStatus.Cancelled;
                    break;
                }

                (f, fNext) = (fNext, f);
                if (symmetric)
                {
                    continue;
                }
            }
            else if (symmetric)
            {
                UpdateSymmetric(Schedule(it));
                (f, fNext) = (fNext, f);
                continue;
            }
            else
            {
                UpdateF(Schedule(it), f!);
            }

            UpdateG(Schedule(it));
        }

        if (symmetric)
        {
            context.Tally.Copy(f!.View, g!.View);
        }

        if (status == SinkhornStatus.Diverged && !opt.EpsilonScaling && opt.RetryWithScalingOnDivergence && !isRetry)
        {
            return SolveCore(x, y, a, b, false, opt with { EpsilonScaling = true }, isRetry: true, symmetric);
        }

        var fHost = f!.ToArray();
        var gHost = g!.ToArray();
        bool usable = status != SinkhornStatus.Diverged;
        potentialsValid = usable;
        hasSolution = usable;
        lastX = x;
        lastY = y;
        lastEpsilon = stateEpsilon;

        double transportCost = double.NaN;
        if (usable && opt.ComputeTransportCost)
        {
            launcher.Apply(x.View, y.View, f.View, logA.View, g.View, logB.View, errorN!.View, errorN.View,
                nn, mm, d, 1, stateEpsilon, costMode: true);
            errorN.CopyTo(errorHost);
            transportCost = 0;
            foreach (float v in errorHost)
            {
                transportCost += v;
            }
        }

        double regularized = double.NaN;
        if (usable)
        {
            regularized = 0;
            for (int i = 0; i < nn; i++)
            {
                regularized += aNorm[i] > 0 ? aNorm[i] * fHost[i] : 0;
            }

            for (int j = 0; j < mm; j++)
            {
                regularized += bNorm[j] > 0 ? bNorm[j] * gHost[j] : 0;
            }
        }

        var result = new SinkhornResult
        {
            Status = status,
            Iterations = it,
            MarginalError = lastError,
            ErrorHistory = history,
            ErrorHistoryIterations = historyIterations,
            Epsilon = stateEpsilon,
            TargetEpsilon = target,
            MeanCost = meanCost,
            F = fHost,
            G = gHost,
            TransportCost = transportCost,
            RegularizedCost = regularized,
            CostStorage = storage,
            WarmStarted = warm,
            RetriedWithScaling = isRetry,
        };
        LastResult = result;
        return result;
    }

    private void Map(DevicePoints query, DevicePoints destination, bool towardsY)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(destination);
        RequireSolution();
        Shape.RequireSameContext(context, query.Context, nameof(query));
        Shape.RequireSameContext(context, destination.Context, nameof(destination));
        var target = towardsY ? lastY! : lastX!;
        int d = target.Dimension;
        Shape.RequireSameDimension(d, query.Dimension, "the solved clouds", nameof(query));
        Shape.RequireLength(destination.Length, query.Length, nameof(destination), $"points [{query.Count}, {d}]");
        int q = query.Count;
        EnsureQueryWorkspace(q);
        var potential = towardsY ? g!.View : f!.View;
        var logWeight = towardsY ? logB!.View : logA!.View;
        int count = target.Count;

        // 1) soft c-transform of the potential at the queries (weight 1 per query): the softmax normaliser.
        launcher.Update(Options.Variant, query.View, target.View, queryError!.View, false, false, count, potential, logWeight,
            queryLogWeight!.View, queryPotential!.View, queryPotential.View, queryError.View, q, count, d, lastEpsilon, 1f);

        // 2) sum_j exp(log b_j + (fq + g_j - C_qj) / eps) y_j, whose weights sum to one.
        launcher.Apply(query.View, target.View, queryPotential.View, queryLogWeight.View, potential, logWeight,
            target.View, destination.View, q, count, d, d, lastEpsilon, costMode: false);
    }

    private void ApplyCore(DeviceVector values, DeviceVector destination, bool transposed)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(destination);
        RequireSolution();
        Shape.RequireSameContext(context, values.Context, nameof(values));
        Shape.RequireSameContext(context, destination.Context, nameof(destination));
        var own = transposed ? lastY! : lastX!;
        var other = transposed ? lastX! : lastY!;
        Shape.RequireLength(values.Length, other.Count, nameof(values), $"a vector over the {(transposed ? "x" : "y")} points");
        Shape.RequireLength(destination.Length, own.Count, nameof(destination), $"a vector over the {(transposed ? "y" : "x")} points");
        launcher.Apply(own.View, other.View,
            transposed ? g!.View : f!.View, transposed ? logB!.View : logA!.View,
            transposed ? f!.View : g!.View, transposed ? logA!.View : logB!.View,
            values.View, destination.View, own.Count, other.Count, own.Dimension, 1, lastEpsilon, costMode: false);
    }

    private CostStorage ResolveStorage(SinkhornOptions opt, int nn, int mm)
    {
        if (opt.CostStorage != CostStorage.Auto)
        {
            return opt.CostStorage;
        }

        long bytes = (long)nn * mm * sizeof(float);
        long budget = Math.Min(opt.MaxStoredCostBytes, context.MemoryBytes / 4);
        return bytes <= budget ? CostStorage.Stored : CostStorage.Online;
    }

    private double EpsilonFromMean(double meanCost) => EpsilonFromMean(meanCost, Options);

    private static double EpsilonFromMean(double meanCost, SinkhornOptions opt) =>
        // All points equal (mean cost 0): any epsilon solves the problem exactly; use RelativeEpsilon as an absolute value.
        meanCost > 0 ? opt.RelativeEpsilon * meanCost : opt.RelativeEpsilon;

    private void EnsureWorkspace(int nn, int mm)
    {
        if (n == nn && m == mm && f is not null)
        {
            return;
        }

        DisposeWorkspace();
        potentialsValid = false;
        hasSolution = false;
        n = nn;
        m = mm;
        f = DeviceVector.Allocate(context, nn);
        fNext = DeviceVector.Allocate(context, nn);
        errorN = DeviceVector.Allocate(context, nn);
        logA = DeviceVector.Allocate(context, nn);
        g = DeviceVector.Allocate(context, mm);
        errorM = DeviceVector.Allocate(context, mm);
        logB = DeviceVector.Allocate(context, mm);
    }

    private void DisposeWorkspace()
    {
        f?.Dispose();
        fNext?.Dispose();
        errorN?.Dispose();
        logA?.Dispose();
        g?.Dispose();
        errorM?.Dispose();
        logB?.Dispose();
        f = fNext = errorN = logA = g = errorM = logB = null;
        n = m = -1;
    }

    private void EnsureQueryWorkspace(int q)
    {
        if (queryCount == q && queryPotential is not null)
        {
            return;
        }

        DisposeQueryWorkspace();
        queryCount = q;
        queryPotential = DeviceVector.Allocate(context, q);
        queryError = DeviceVector.Allocate(context, q);
        queryLogWeight = DeviceVector.Allocate(context, q); // zeros: weight 1 for every query point
    }

    private void DisposeQueryWorkspace()
    {
        queryPotential?.Dispose();
        queryError?.Dispose();
        queryLogWeight?.Dispose();
        queryPotential = queryError = queryLogWeight = null;
        queryCount = -1;
    }

    private void RequireSolution()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (!hasSolution)
        {
            throw new InvalidOperationException("no usable Sinkhorn solution: call Solve first (and check that its Status is not Diverged)");
        }
    }

    private void CheckClouds(DevicePoints x, DevicePoints y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        Shape.RequireSameContext(context, x.Context, nameof(x));
        Shape.RequireSameContext(context, y.Context, nameof(y));
        Shape.RequireSameDimension(x.Dimension, y.Dimension, nameof(x), nameof(y));
    }

    private static double[] NormalisedWeights(ReadOnlySpan<float> w, int count, string name)
    {
        var result = new double[count];
        if (w.IsEmpty)
        {
            Array.Fill(result, 1.0 / count);
            return result;
        }

        Shape.RequireLength(w.Length, count, name, $"one weight per point ({count} points)");
        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            float v = w[i];
            if (!(v >= 0) || !float.IsFinite(v))
            {
                throw new ArgumentException($"{name}[{i}] = {v}: weights must be finite and non-negative", name);
            }

            sum += v;
        }

        if (!(sum > 0))
        {
            throw new ArgumentException($"{name} sums to 0: at least one weight must be positive", name);
        }

        for (int i = 0; i < count; i++)
        {
            result[i] = w[i] / sum;
        }

        return result;
    }

    private static float[] LogWeights(double[] normalised)
    {
        var result = new float[normalised.Length];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = normalised[i] > 0 ? (float)Math.Log(normalised[i]) : float.NegativeInfinity;
        }

        return result;
    }

    private static double MeanCost(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int d, double[] a, double[] b)
    {
        var xbar = WeightedMean(x, d, a);
        var ybar = WeightedMean(y, d, b);
        double total = 0.5 * WeightedSpread(x, d, a, xbar) + 0.5 * WeightedSpread(y, d, b, ybar);
        for (int k = 0; k < d; k++)
        {
            double diff = xbar[k] - ybar[k];
            total += 0.5 * diff * diff;
        }

        if (!double.IsFinite(total))
        {
            throw new ArgumentException("the points contain non-finite values (the mean cost is not finite)");
        }

        return total;
    }

    private static double[] WeightedMean(ReadOnlySpan<float> p, int d, double[] w)
    {
        var mean = new double[d];
        for (int i = 0; i < w.Length; i++)
        {
            for (int k = 0; k < d; k++)
            {
                mean[k] += w[i] * p[i * d + k];
            }
        }

        return mean;
    }

    private static double WeightedSpread(ReadOnlySpan<float> p, int d, double[] w, double[] mean)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++)
        {
            for (int k = 0; k < d; k++)
            {
                double diff = p[i * d + k] - mean[k];
                s += w[i] * diff * diff;
            }
        }

        return s;
    }

    private static void RequireFinite(ReadOnlySpan<float> values, string name)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException($"{name}[{i}] = {values[i]}: potentials must be finite", name);
            }
        }
    }
}
