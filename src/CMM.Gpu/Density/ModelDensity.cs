using System.Globalization;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Fitting;
using CMM.Gpu.Linalg;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Density;

/// <summary>Log densities at a batch of points.</summary>
/// <param name="Values">One value per point; NaN where the density is undefined (see <paramref name="Undefined"/>).</param>
/// <param name="Undefined">Points where it could not be computed: a Hessian that is not numerically positive definite, a
/// non-finite potential, or (moment-measure models) a conjugate solve that did not converge.</param>
public sealed record DensityValues(double[] Values, int Undefined)
{
    /// <summary>The index of the first undefined point, or -1.</summary>
    public int FirstUndefined => Array.FindIndex(Values, v => !double.IsFinite(v));
}

/// <summary>
/// The density of a model's samples at any point, without sampling (docs/density.md). With x ~ exp(-w) / Z_w and
/// z the point in the potential's coordinates:
/// <list type="bullet">
/// <item>CMM, z = grad w*(x): log q(z) = -w(grad w(z)) + log det Hess w(z) - log Z_w (no conjugate solve);</item>
/// <item>moment measure, z = grad u(x): log q(z) = -u(x) - log det Hess u(x) - log Z_u at x = grad u*(z) (one conjugate solve per point).</item>
/// </list>
/// Points are given in data coordinates y; a model fitted on normalised data z = (y - mean) / scale, or in the logit
/// coordinates of a box, adds the normalisation's log |Jacobian| at each point (<see cref="Normalization.LogAbsJacobianAt"/>;
/// undefined outside a bounded model's box). The gradient, values, Hessians and log determinants
/// (<see cref="BatchedCholesky"/>) are computed on the device in chunks; log Z comes from <see cref="LogNormalizer"/>.
/// Works with any <see cref="IPotential"/>. Owns a conjugate solver for moment-measure models; dispose it before the context
/// (it does not own the potential).
/// </summary>
public sealed class ModelDensity : IDisposable
{
    /// <summary>Largest dimension the exact log-density is computed for: every point needs its d x d Hessian (d potential
    /// passes) and a float32 Cholesky factorisation (d^3 / 6 operations), in d^2 floats of device memory.</summary>
    public const int MaxDimension = 64;

    private const long ChunkFloats = 1L << 22;
    private const int MaxChunk = 1 << 16;

    private readonly ConjugateSolver? solver;
    private readonly ConjugateOptions? conjugate;

    /// <summary>Creates the density of a potential.</summary>
    /// <param name="potential">w (CMM) or u (moment measure), strongly convex.</param>
    /// <param name="mapping">How latents map to samples: <see cref="SampleMapping.ConjugateGradient"/> (CMM, y = grad w*(x)) or
    /// <see cref="SampleMapping.Gradient"/> (moment measure, y = grad u(x)).</param>
    /// <param name="normalization">Data coordinates to the potential's coordinates (null: identity).</param>
    /// <param name="conjugate">Options of the conjugate solves of a moment-measure density (null: defaults).</param>
    /// <exception cref="ArgumentException">The dimension exceeds <see cref="MaxDimension"/>, or the normalisation's dimension differs.</exception>
    public ModelDensity(IPotential potential, SampleMapping mapping = SampleMapping.ConjugateGradient, Normalization? normalization = null,
        ConjugateOptions? conjugate = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        if (!Enum.IsDefined(mapping))
        {
            throw new ArgumentException($"mapping {(int)mapping} is unknown", nameof(mapping));
        }

        int d = potential.Dimension;
        if (d > MaxDimension)
        {
            throw new ArgumentException(
                $"the exact log-density needs a {d} x {d} Hessian and its Cholesky factorisation per point; d = {d} exceeds ModelDensity.MaxDimension = {MaxDimension}",
                nameof(potential));
        }

        normalization ??= Normalization.Identity(d);
        Shape.RequireSameDimension(d, normalization.Mean.Count, "the potential", nameof(normalization));
        Potential = potential;
        Mapping = mapping;
        Normalization = normalization;
        if (mapping == SampleMapping.Gradient)
        {
            conjugate?.ThrowIfInvalid();
            this.conjugate = conjugate;
            solver = new ConjugateSolver(potential.Context);
        }
    }

    /// <summary>The potential (w or u) in its own coordinates.</summary>
    public IPotential Potential { get; }

    /// <summary>CMM (<see cref="SampleMapping.ConjugateGradient"/>) or moment measure (<see cref="SampleMapping.Gradient"/>).</summary>
    public SampleMapping Mapping { get; }

    /// <summary>Data coordinates to the potential's coordinates.</summary>
    public Normalization Normalization { get; }

    /// <summary>d.</summary>
    public int Dimension => Potential.Dimension;

    /// <summary>The density of a fitted model's samples, in data coordinates (its potential, method and normalisation).</summary>
    /// <param name="model">The model (not owned).</param>
    /// <returns>The density; dispose it before the model.</returns>
    public static ModelDensity For(FittedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        // MM: the conjugate solves of an ill-conditioned generator use Newton up to d = 64, as its fit did.
        return new ModelDensity(model.Potential, model.Method == FitMethod.Cmm ? SampleMapping.ConjugateGradient : SampleMapping.Gradient,
            model.Normalization, model.Method == FitMethod.Cmm || model.GeneratorSolveOptions is not { } g ? null : new ConjugateOptions { NewtonMaxDimension = g.NewtonMaxDimension });
    }

    /// <summary>
    /// log q(y) + log Z at data points y (the log-density up to the one constant log Z of the latent potential):
    /// -w(grad w(z)) + log det Hess w(z) (CMM) or -u(x) - log det Hess u(x), grad u(x) = z (moment measure), plus the
    /// normalisation's log |Jacobian|, with z the normalised point. Synchronises.
    /// </summary>
    /// <param name="points">Row-major [n, d] in data coordinates.</param>
    /// <returns>One value per point; NaN and counted where undefined.</returns>
    /// <exception cref="ArgumentException">The length is not a positive multiple of d.</exception>
    public DensityValues UnnormalizedLogDensity(ReadOnlySpan<float> points)
    {
        int d = Dimension;
        if (points.Length == 0 || points.Length % d != 0)
        {
            throw new ArgumentException($"points must be a positive multiple of the dimension {d} (got {points.Length} values)", nameof(points));
        }

        int n = points.Length / d;
        var z = points.ToArray();
        var logJacobian = new double[n];
        for (int i = 0; i < n; i++)
        {
            logJacobian[i] = Normalization.LogAbsJacobianAt(points.Slice(i * d, d));
        }

        Normalization.Forward(z);
        var result = new double[n];
        int undefined = 0;
        int chunk = (int)Math.Clamp(ChunkFloats / ((long)d * d), 1, Math.Min(MaxChunk, n));
        var ctx = Potential.Context;
        using var zc = DevicePoints.Allocate(ctx, chunk, d);
        using var xc = DevicePoints.Allocate(ctx, chunk, d);
        using var values = DeviceVector.Allocate(ctx, chunk);
        using var hessians = DeviceVector.Allocate(ctx, (long)chunk * d * d);
        using var logDet = DeviceVector.Allocate(ctx, chunk);
        var w = new float[chunk];
        var ld = new float[chunk];
        for (int start = 0; start < n; start += chunk)
        {
            int m = Math.Min(chunk, n - start);
            var zm = zc.Prefix(m);
            var xm = xc.Prefix(m);
            zm.CopyFrom(z.AsSpan(start * d, m * d));
            IReadOnlyList<ConjugatePointStatus>? status = null;
            double sign;
            if (Mapping == SampleMapping.ConjugateGradient)
            {
                // x = grad w(z); the Hessian is taken at z itself.
                Potential.Gradient(zm, xm);
                Potential.Value(xm, values.Prefix(m));
                Potential.Hessian(zm, hessians.Prefix((long)m * d * d));
                sign = 1;
            }
            else
            {
                // x = grad u*(z) by a conjugate solve; the Hessian is taken at x.
                status = solver!.Solve(Potential, zm, xm, conjugate).PointStatus;
                Potential.Value(xm, values.Prefix(m));
                Potential.Hessian(xm, hessians.Prefix((long)m * d * d));
                sign = -1;
            }

            BatchedCholesky.LogDeterminants(hessians.Prefix((long)m * d * d), d, logDet);
            values.Prefix(m).CopyTo(w.AsSpan(0, m));
            logDet.Prefix(m).CopyTo(ld.AsSpan(0, m));
            for (int i = 0; i < m; i++)
            {
                double v = -(double)w[i] + (sign * ld[i]) + logJacobian[start + i];
                if (!double.IsFinite(v) || (status is not null && status[i] != ConjugatePointStatus.Converged))
                {
                    v = double.NaN;
                    undefined++;
                }

                result[start + i] = v;
            }
        }

        return new DensityValues(result, undefined);
    }

    /// <summary>log q(y) at data points: <see cref="UnnormalizedLogDensity"/> minus log Z.</summary>
    /// <param name="points">Row-major [n, d] in data coordinates.</param>
    /// <param name="logNormalizer">The estimate of log Z of the latent potential (<see cref="EstimateLogNormalizer"/>).</param>
    /// <returns>One value per point; NaN and counted where undefined.</returns>
    public DensityValues LogDensity(ReadOnlySpan<float> points, LogNormalizerEstimate logNormalizer)
    {
        ArgumentNullException.ThrowIfNull(logNormalizer);
        var u = UnnormalizedLogDensity(points);
        var v = u.Values;
        for (int i = 0; i < v.Length; i++)
        {
            v[i] -= logNormalizer.LogZ;
        }

        return u;
    }

    /// <summary>Estimates log Z of the latent potential by importance sampling from a proposal fitted to <paramref name="latents"/>.</summary>
    /// <param name="latents">Samples of exp(-w) in the potential's coordinates (e.g. <see cref="SampleChunk.Latents"/>), at least d + 1.</param>
    /// <param name="options">Options (defaults when null).</param>
    /// <returns>The estimate.</returns>
    public LogNormalizerEstimate EstimateLogNormalizer(ReadOnlySpan<float> latents, LogNormalizerOptions? options = null) =>
        LogNormalizer.Estimate(Potential, latents, options);

    /// <summary>A one-line description of an estimate, e.g. for a command's log.</summary>
    /// <param name="estimate">The estimate.</param>
    /// <returns>"log Z = ... +- ... (ESS ... of ... proposal draws, ...)".</returns>
    public static string Describe(LogNormalizerEstimate estimate)
    {
        ArgumentNullException.ThrowIfNull(estimate);
        return string.Create(CultureInfo.InvariantCulture,
            $"log Z = {estimate.LogZ:G6} +- {estimate.StandardError:G3} (ESS {estimate.EffectiveSampleSize:F0} of {estimate.Samples} proposal draws, {estimate.EffectiveSampleFraction:P1}; {estimate.Proposal})");
    }

    /// <inheritdoc />
    public void Dispose() => solver?.Dispose();
}
