using System.Globalization;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Density;

/// <summary>The family of the importance-sampling proposal of <see cref="LogNormalizer"/>.</summary>
public enum ProposalKind
{
    /// <summary>Multivariate Student t with <see cref="LogNormalizerOptions.DegreesOfFreedom"/>: polynomial tails, so the
    /// weights exp(-w) / proposal stay bounded wherever exp(-w) has Gaussian or lighter tails (every strongly convex w).</summary>
    StudentT,

    /// <summary>Gaussian: tighter, but the weights are unbounded (infinite variance) when the proposal's tails are lighter than
    /// exp(-w)'s in some direction; use it with a <see cref="LogNormalizerOptions.ScaleInflation"/> above 1.</summary>
    Gaussian,
}

/// <summary>Options of <see cref="LogNormalizer.Estimate(IPotential, ReadOnlySpan{float}, LogNormalizerOptions?)"/>.</summary>
public sealed record LogNormalizerOptions
{
    /// <summary>Proposal draws M (default 65,536). The standard error falls as 1 / sqrt(M) once the weights are well behaved.</summary>
    public int Samples { get; init; } = 1 << 16;

    /// <summary>Proposal family (default <see cref="ProposalKind.StudentT"/>).</summary>
    public ProposalKind Proposal { get; init; } = ProposalKind.StudentT;

    /// <summary>Degrees of freedom nu of the Student t proposal (default 5; at least 1).</summary>
    public double DegreesOfFreedom { get; init; } = 5;

    /// <summary>
    /// The proposal's scale matrix is this factor times the fitted covariance (default 1; the Student t's own covariance is then
    /// nu / (nu - 2) times the fitted one, 5/3 for nu = 5). Larger values trade efficiency for safety in the tails.
    /// </summary>
    public double ScaleInflation { get; init; } = 1.0;

    /// <summary>Seed of the proposal draws (default 0): the estimate is a deterministic function of the seed and the inputs.</summary>
    public int Seed { get; init; }

    /// <summary>Every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (Samples < 100)
        {
            p.Add($"Samples = {Samples} is too few: use at least 100 (default 65536)");
        }

        if (!Enum.IsDefined(Proposal))
        {
            p.Add($"Proposal {(int)Proposal} is unknown: use StudentT or Gaussian");
        }

        if (!(DegreesOfFreedom >= 1) || double.IsInfinity(DegreesOfFreedom))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"DegreesOfFreedom = {DegreesOfFreedom} must be finite and at least 1 (default 5)"));
        }

        if (!(ScaleInflation > 0) || double.IsInfinity(ScaleInflation))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"ScaleInflation = {ScaleInflation} must be positive and finite (default 1)"));
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
            throw new ArgumentException("invalid log-normaliser options: " + string.Join("; ", p));
        }
    }
}

/// <summary>
/// An importance-sampling estimate of log Z_w, Z_w = integral of exp(-w) (docs/density.md).
/// </summary>
/// <param name="LogZ">The estimate log((1/M) sum_j r_j), r_j = exp(-w(x_j)) / p(x_j), x_j ~ p (NaN when no weight is positive).</param>
/// <param name="StandardError">Delta-method standard error of <paramref name="LogZ"/>: sqrt(1/ESS - 1/M). It is itself an estimate
/// from the same weights: when the weights are heavy-tailed (small ESS), it understates the error.</param>
/// <param name="EffectiveSampleSize">Kish's ESS = (sum r)^2 / sum r^2, between 1 and M.</param>
/// <param name="Samples">M, the proposal draws.</param>
/// <param name="NonFinite">Draws where w was NaN or -infinity (counted as weight 0; should be 0).</param>
/// <param name="Proposal">The proposal in words.</param>
public sealed record LogNormalizerEstimate(double LogZ, double StandardError, double EffectiveSampleSize, int Samples, int NonFinite, string Proposal)
{
    /// <summary>ESS / M: 1 for a perfect proposal; below about 0.01 the estimate and its standard error are not to be trusted.</summary>
    public double EffectiveSampleFraction => Samples > 0 ? EffectiveSampleSize / Samples : 0;

    /// <summary>A known value (e.g. a closed form), with no error.</summary>
    /// <param name="logZ">log Z.</param>
    /// <returns>The estimate.</returns>
    public static LogNormalizerEstimate Exact(double logZ) => new(logZ, 0, double.PositiveInfinity, 0, 0, "exact");
}

/// <summary>
/// Estimates log Z_w = log integral of exp(-w) by importance sampling from a proposal fitted to samples of exp(-w)
/// (e.g. the model's Langevin latents): a multivariate Student t (default) or Gaussian with the samples' mean and
/// covariance. Draws are made on the host in double precision (seeded), w is evaluated on the device in batches, and
/// the weights are combined in double with a running log-sum-exp. Trustworthy in low dimension (the ESS fraction says how
/// well the proposal fits); in high dimension a Gaussian-shaped proposal misses exp(-w) by a factor that grows exponentially
/// with d and the estimate degrades without warning beyond a small ESS (docs/density.md).
/// </summary>
public static class LogNormalizer
{
    private const int Batch = 1 << 16;

    /// <summary>Fits the proposal to <paramref name="latents"/> (mean and covariance) and estimates log Z_w.</summary>
    /// <param name="potential">w.</param>
    /// <param name="latents">Samples of exp(-w), row-major [n, d], n at least d + 1, finite.</param>
    /// <param name="options">Options (defaults when null).</param>
    /// <returns>The estimate.</returns>
    /// <exception cref="ArgumentException">Bad shapes, non-finite latents, too few of them, or invalid options.</exception>
    public static LogNormalizerEstimate Estimate(IPotential potential, ReadOnlySpan<float> latents, LogNormalizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        var (mean, covariance) = GaussianFit.Fit(latents, potential.Dimension, nameof(latents));
        return Estimate(potential, mean, covariance, options);
    }

    /// <summary>Estimates log Z_w with a proposal of the given mean and covariance (scaled by <see cref="LogNormalizerOptions.ScaleInflation"/>).</summary>
    /// <param name="potential">w.</param>
    /// <param name="mean">Proposal centre, length d.</param>
    /// <param name="covariance">Covariance to scale, d x d symmetric positive definite (a tiny ridge is added).</param>
    /// <param name="options">Options (defaults when null).</param>
    /// <returns>The estimate.</returns>
    /// <exception cref="ArgumentException">Bad shapes, a covariance that is not positive definite, or invalid options.</exception>
    public static LogNormalizerEstimate Estimate(IPotential potential, IReadOnlyList<double> mean, double[,] covariance, LogNormalizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        options ??= new LogNormalizerOptions();
        options.Validate();
        int d = potential.Dimension;
        Shape.RequireLength(mean.Count, d, nameof(mean), $"a proposal mean in dimension {d}");
        var proposal = new Proposal(mean, covariance, options);
        var rng = new Random(options.Seed);
        var lse = new LogSumExp();
        var lse2 = new LogSumExp();
        int nonFinite = 0;
        var x = new float[Math.Min(options.Samples, Batch) * d];
        var logp = new double[Math.Min(options.Samples, Batch)];
        for (int done = 0; done < options.Samples;)
        {
            int m = Math.Min(Batch, options.Samples - done);
            for (int j = 0; j < m; j++)
            {
                logp[j] = proposal.Draw(rng, x.AsSpan(j * d, d));
            }

            float[] w;
            using (var points = DevicePoints.Upload(potential.Context, x.AsSpan(0, m * d), d))
            using (var values = DeviceVector.Allocate(potential.Context, m))
            {
                potential.Value(points, values);
                w = values.ToArray();
            }

            for (int j = 0; j < m; j++)
            {
                double wj = w[j];
                if (double.IsNaN(wj) || double.IsNegativeInfinity(wj))
                {
                    nonFinite++;
                    continue;
                }

                double logr = -wj - logp[j];
                lse.Add(logr);
                lse2.Add(2 * logr);
            }

            done += m;
        }

        int total = options.Samples;
        if (!lse.HasTerms || double.IsNegativeInfinity(lse.Value))
        {
            return new LogNormalizerEstimate(double.NaN, double.NaN, 0, total, nonFinite, proposal.Description);
        }

        double logZ = lse.Value - Math.Log(total);
        double ess = Math.Exp((2 * lse.Value) - lse2.Value);
        double se = Math.Sqrt(Math.Max(0, (1 / ess) - (1.0 / total)));
        return new LogNormalizerEstimate(logZ, se, ess, total, nonFinite, proposal.Description);
    }

    /// <summary>Running log-sum-exp in double (max-shifted).</summary>
    private sealed class LogSumExp
    {
        private double max = double.NegativeInfinity;
        private double sum;

        public bool HasTerms { get; private set; }

        public double Value => max + Math.Log(sum);

        public void Add(double v)
        {
            if (double.IsNegativeInfinity(v))
            {
                return;
            }

            HasTerms = true;
            if (v > max)
            {
                sum = (sum * Math.Exp(max - v)) + 1;
                max = v;
            }
            else
            {
                sum += Math.Exp(v - max);
            }
        }
    }

    /// <summary>The proposal: x = mean + sqrt(s) L z (Gaussian) or the same times sqrt(nu / chi2_nu) (Student t); L L' = covariance.</summary>
    private sealed class Proposal
    {
        private readonly double[] mean;
        private readonly Matrix<double> l;
        private readonly double[] u;
        private readonly double[] z;
        private readonly bool studentT;
        private readonly double nu;
        private readonly double logNormaliser;

        public Proposal(IReadOnlyList<double> mean, double[,] covariance, LogNormalizerOptions options)
        {
            int d = mean.Count;
            if (covariance.GetLength(0) != d || covariance.GetLength(1) != d)
            {
                throw new ArgumentException($"covariance is {covariance.GetLength(0)} x {covariance.GetLength(1)} but the mean has d = {d}", nameof(covariance));
            }

            if (mean.Any(v => !double.IsFinite(v)))
            {
                throw new ArgumentException("the proposal mean must be finite", nameof(mean));
            }

            this.mean = mean.ToArray();
            var scale = Matrix<double>.Build.DenseOfArray(covariance) * options.ScaleInflation;
            if (!scale.Enumerate().All(double.IsFinite))
            {
                throw new ArgumentException("the proposal covariance must be finite", nameof(covariance));
            }

            // A ridge of 1e-10 of the mean variance keeps a covariance fitted to nearly collinear samples factorisable.
            double ridge = 1e-10 * Math.Max(scale.Diagonal().Average(), double.Epsilon);
            scale += Matrix<double>.Build.DenseDiagonal(d, d, ridge);
            try
            {
                l = scale.Cholesky().Factor;
            }
            catch (ArgumentException)
            {
                throw new ArgumentException("the proposal covariance must be symmetric positive definite", nameof(covariance));
            }

            double logDet = GaussianFit.LogDeterminant(l);
            studentT = options.Proposal == ProposalKind.StudentT;
            nu = options.DegreesOfFreedom;
            logNormaliser = studentT
                ? SpecialFunctions.GammaLn((nu + d) / 2) - SpecialFunctions.GammaLn(nu / 2) - (0.5 * d * Math.Log(nu * Math.PI)) - (0.5 * logDet)
                : (-0.5 * d * Math.Log(2 * Math.PI)) - (0.5 * logDet);
            u = new double[d];
            z = new double[d];
            Description = studentT
                ? string.Create(CultureInfo.InvariantCulture, $"Student t (nu = {nu:G4}), scale {options.ScaleInflation:G4} x the fitted covariance")
                : string.Create(CultureInfo.InvariantCulture, $"Gaussian, covariance {options.ScaleInflation:G4} x the fitted covariance");
        }

        public string Description { get; }

        /// <summary>Draws one point into <paramref name="x"/> (float32, as the device sees it) and returns log p at that float point.</summary>
        public double Draw(Random rng, Span<float> x)
        {
            int d = mean.Length;
            for (int k = 0; k < d; k++)
            {
                z[k] = Normal.Sample(rng, 0, 1);
            }

            double radial = studentT ? Math.Sqrt(nu / ChiSquared.Sample(rng, nu)) : 1;
            for (int r = 0; r < d; r++)
            {
                double s = 0;
                for (int k = 0; k <= r; k++)
                {
                    s += l[r, k] * z[k];
                }

                x[r] = (float)(mean[r] + (radial * s));
            }

            // delta = |L^-1 (x - mean)|^2 at the float point actually evaluated.
            double delta = GaussianFit.SquaredMahalanobis(l, mean, x, u);
            return studentT
                ? logNormaliser - (0.5 * (nu + d) * Math.Log(1 + (delta / nu)))
                : logNormaliser - (0.5 * delta);
        }
    }
}
