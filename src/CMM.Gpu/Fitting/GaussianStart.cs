using CMM.Gpu.Gaussian;
using CMM.Gpu.Icnn;
using CMM.Gpu.Metrics;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Fitting;

/// <summary>
/// Where a fit starts and the scales it runs at, from the data's Gaussian approximation N(m, S) (docs/fitting.md,
/// "The start and the scales"). The potential starts at the closed form of docs/maths.md section 2 for N(m, S):
/// CMM: w(y) = 1/2 (y - m)'A(y - m) + c'(y - m) + const with A = S^(-1/3) and c = A (m - x0), x0 = (I + A)^(-1) A m
/// the latent's mean (the closed form rewritten around m); MM: u(x) = 1/2 x'Sx on the centred data. So a Gaussian target
/// is right at iteration 0 and every other target starts at its own scale. The ICNN is centred at m; a relative change e
/// of its curvature then moves the latent's mode by e |m - x0|, which for data whose mean lies far from 0 compared
/// with their spread is many latent standard deviations (hundreds for the data times 1,000): the curvature's steps are
/// scaled down by that distance (<see cref="IcnnPreconditioner.QuadraticScale"/>). S is regularised by a small multiple of its mean variance, so data with
/// directions of zero variance (constant pixels) still have a start. The ICNN is preconditioned with the data's
/// centre and RMS scale (<see cref="IcnnPreconditioner"/>), the strong convexity and the Langevin step are given
/// relative to the start's curvature, and the conjugate solver's tolerance relative to the latent's scale: a fit of the
/// data multiplied by 1,000 runs the same iterations as the original, in other units.
/// </summary>
public sealed class GaussianStart
{
    /// <summary>Regularisation of S: its eigenvalues are raised to at least this fraction of the largest one (directions of
    /// zero variance, such as constant pixels, then have a finite curvature; an anisotropy of up to 10^6 is kept as it is).</summary>
    public const double RelativeRegularization = 1e-6;

    /// <summary>The sum of the network's output weights p at the start (docs/fitting.md).</summary>
    public const double OutputWeight = 1e-4;

    private readonly Matrix<double> hessian;
    private readonly Vector<double> linear;

    private GaussianStart(FitMethod method, FitNetwork network, double[] mean, Matrix<double> covariance, double regularization, double alpha)
    {
        Method = method;
        Network = method == FitMethod.Cmm ? network : FitNetwork.Potential;
        Mean = mean;
        Covariance = covariance.ToRowMajorArray();
        Regularization = regularization;
        int d = mean.Length;
        var m = Vector<double>.Build.DenseOfArray(mean);
        var identity = Matrix<double>.Build.DenseIdentity(d);
        double rms = Math.Sqrt(covariance.Diagonal().Average());
        Matrix<double> latentHessian;
        Matrix<double> latentCovariance;
        if (method == FitMethod.Cmm)
        {
            latentHessian = SymmetricMatrix.Power(covariance, -1.0 / 3.0);
            latentCovariance = SymmetricMatrix.Power(latentHessian, -1.0);
            double latentRms = Math.Sqrt(latentCovariance.Diagonal().Average());
            var x0 = (identity + latentHessian).Solve(latentHessian * m);
            LatentMean = x0.ToArray();
            // |m - x0| in latent standard deviations: sqrt((m - x0)' A (m - x0)).
            ModeDistance = Math.Sqrt((m - x0) * (latentHessian * (m - x0)));
            double q = Math.Min(1.0, 1.0 / Math.Max(ModeDistance, 1e-300));
            Translation = new double[d];
            if (Network == FitNetwork.Potential)
            {
                // w around the data's mean m: Hess A, gradient A (m - x0) there.
                hessian = latentHessian;
                linear = latentHessian * (m - x0);
                // The linear term, grad w at m, places the latent: one parameter unit moves it by rms^(-1/3) (the
                // preconditioner's sqrt(kappa)/s), capped at the latent's RMS standard deviation (LinearStep).
                Preconditioner = IcnnPreconditioner.Isotropic(mean, rms, Math.Pow(rms, 4.0 / 3.0), q) with
                {
                    LinearScale = LinearStep(latentRms, Math.Pow(rms, -1.0 / 3.0)),
                };
            }
            else
            {
                // u = w* around the latent's mean x0: Hess A^-1, gradient m there (the latent's mean maps to the data's);
                // inputs of the latent's scale s_x, values of the size s s_x.
                hessian = latentCovariance;
                linear = m;
                // The linear term, grad u at x0, places the data: one parameter unit moves it by sqrt(rms / latentRms)
                // (sqrt(kappa)/s_x), capped at the data's RMS standard deviation (LinearStep).
                Preconditioner = IcnnPreconditioner.Isotropic(LatentMean, latentRms, rms * latentRms, q) with
                {
                    LinearScale = LinearStep(rms, Math.Sqrt(rms / latentRms)),
                };
            }
        }
        else
        {
            // The moment measure exists only for centred data: the model is fitted to the data minus m and adds m back.
            latentHessian = covariance.Clone();
            latentCovariance = SymmetricMatrix.Power(latentHessian, -1.0);
            hessian = latentHessian;
            linear = Vector<double>.Build.Dense(d);
            LatentMean = new double[d];
            // Its linear term only translates the latent (samples and objective unchanged): frozen at 0, so the latent stays N(0, S^-1).
            Preconditioner = IcnnPreconditioner.Isotropic(LatentMean, 1.0 / rms, 1.0) with { LinearScale = 0f };
            Translation = mean;
        }

        var eig = latentHessian.Evd(Symmetricity.Symmetric).EigenValues.Select(e => e.Real).ToArray();
        SmallestCurvature = eig.Min();
        LargestCurvature = eig.Max();
        Alpha = alpha * hessian.Evd(Symmetricity.Symmetric).EigenValues.Select(e => e.Real).Min();
        LatentCovariance = latentCovariance;
    }

    /// <summary>
    /// The preconditioner's linear scale l = min(1, spread / unitStep): the linear term positions the latent (network w) or the
    /// data (network u), and one unit of its parameters, which Adam moves by up to its learning rate per step, must move that
    /// position by at most the RMS standard deviation of what it positions. Without the cap a unit moved the data's mean by
    /// sqrt(s / s_x), which for data of scale 0.001 is 35 data standard deviations: the first Adam steps threw the latent off by
    /// a fifth of its spread and the fit of a Gaussian ended 15-38 % off its closed-form Hessian (docs/experiments.md). For
    /// data of unit scale the cap is inactive (l = 1).
    /// </summary>
    /// <param name="spread">RMS standard deviation of the positioned quantity.</param>
    /// <param name="unitStep">How far one parameter unit moves it without the cap.</param>
    /// <returns>l in (0, 1].</returns>
    internal static float LinearStep(double spread, double unitStep) => (float)Math.Min(1.0, spread / unitStep);

    /// <summary>What the ICNN represents (always <see cref="FitNetwork.Potential"/> for MM, whose ICNN is u).</summary>
    public FitNetwork Network { get; }

    /// <summary>CMM or the moment-measure baseline.</summary>
    public FitMethod Method { get; }

    /// <summary>The data's mean m.</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>The data's covariance S (row-major, regularised: no eigenvalue below <see cref="Regularization"/>).</summary>
    public IReadOnlyList<double> Covariance { get; }

    /// <summary>The floor of S's eigenvalues (<see cref="RelativeRegularization"/> times the largest; 1 when all points are equal).</summary>
    public double Regularization { get; }

    /// <summary>How many eigenvalues of the sample covariance were raised to the floor (directions of (near) zero variance).</summary>
    public int RegularizedDirections { get; private init; }

    /// <summary>The distance from the data's mean to the latent's mode, in latent standard deviations (0 for MM); the
    /// curvature's steps are scaled by min(1, 1 / this).</summary>
    public double ModeDistance { get; }

    /// <summary>The translation subtracted from the data before fitting (m for MM, 0 for CMM), stored in the model and added back by generation.</summary>
    public IReadOnlyList<double> Translation { get; }

    /// <summary>The ICNN's preconditioner: CMM centre m, input scale s (the RMS standard deviation), output scale s^(4/3),
    /// quadratic scale min(1, 1 / <see cref="ModeDistance"/>); MM centre 0, input scale 1/s, output scale 1 (the inputs of u
    /// are latents, of scale 1/s).</summary>
    public IcnnPreconditioner Preconditioner { get; }

    /// <summary>The ICNN's strong-convexity constant in its input's units: the option alpha times the smallest eigenvalue of
    /// <see cref="Hessian"/> (for w: alpha lambda_min(A); for u = w*: alpha / lambda_max(A)).</summary>
    public double Alpha { get; }

    /// <summary>The smallest eigenvalue of the start latent's energy's Hessian (A for CMM, S for MM).</summary>
    public double SmallestCurvature { get; }

    /// <summary>The largest eigenvalue of the start latent's energy's Hessian; Langevin steps are given relative to its inverse.</summary>
    public double LargestCurvature { get; }

    /// <summary>The mean (and mode) x0 of the start's latent exp(-w): (I + A)^(-1) A m for CMM, 0 for MM.</summary>
    public IReadOnlyList<double> LatentMean { get; }

    /// <summary>The covariance of the start's latent: A^(-1) = S^(1/3) for CMM, S^(-1) for MM.</summary>
    public Matrix<double> LatentCovariance { get; }

    /// <summary>The Hessian of the ICNN at the start (w: A; u = w*: A^-1; MM: S), row-major.</summary>
    public IReadOnlyList<double> Hessian => hessian.ToRowMajorArray();

    /// <summary>Estimates the start from row-major data [n, d] (n &gt;= 2).</summary>
    /// <param name="data">The training data, row-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="method">CMM or MM.</param>
    /// <param name="alpha">The strong-convexity option (fraction of the smallest curvature), in (0, 1).</param>
    /// <param name="network">What the ICNN of a CMM fit represents.</param>
    /// <returns>The start.</returns>
    public static GaussianStart Estimate(float[] data, int dimension, FitMethod method, double alpha, FitNetwork network = FitNetwork.Potential)
    {
        ArgumentNullException.ThrowIfNull(data);
        var mean = SampleMetrics.Mean(data, dimension);
        var cov = SymmetricMatrix.FromRowMajor(SampleMetrics.Covariance(data, dimension), dimension);
        cov = (cov + cov.Transpose()) * 0.5;
        var evd = cov.Evd(Symmetricity.Symmetric);
        var lambda = evd.EigenValues.Select(e => e.Real).ToArray();
        double largest = lambda.Max();
        // All points equal: unit variance, so the start is defined (the fit then has nothing to learn but the location).
        double floor = largest > 0 ? RelativeRegularization * largest : 1.0;
        int raised = lambda.Count(l => !(l >= floor));
        if (raised > 0)
        {
            var v = evd.EigenVectors;
            cov = v * Matrix<double>.Build.DiagonalOfDiagonalArray(lambda.Select(l => Math.Max(l, floor)).ToArray()) * v.Transpose();
            cov = (cov + cov.Transpose()) * 0.5;
        }

        return new GaussianStart(method, network, mean, cov, floor, alpha) { RegularizedDirections = raised };
    }

    /// <summary>The start for a target of the given mean and covariance (a fit to an energy, whose moments come from
    /// <see cref="Energies.EnergyStart"/> rather than from data).</summary>
    /// <param name="mean">m (d values).</param>
    /// <param name="covariance">S (d x d), symmetric positive definite.</param>
    /// <param name="method">CMM or MM.</param>
    /// <param name="alpha">The strong-convexity option (fraction of the smallest curvature), in (0, 1).</param>
    /// <param name="network">What the ICNN of a CMM fit represents.</param>
    /// <returns>The start.</returns>
    public static GaussianStart FromMoments(IReadOnlyList<double> mean, double[,] covariance, FitMethod method, double alpha, FitNetwork network = FitNetwork.Potential)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(covariance);
        var cov = Matrix<double>.Build.DenseOfArray(covariance);
        cov = (cov + cov.Transpose()) * 0.5;
        return new GaussianStart(method, network, mean.ToArray(), cov, 0, alpha);
    }

    /// <summary>
    /// Writes the start into free parameters of <paramref name="architecture"/> (which must carry <see cref="Preconditioner"/>
    /// and <see cref="Alpha"/>): the diagonal D and the low-rank factor R are set so that alpha I + D + R R' is the start's
    /// Hessian (exactly when the rank is d; otherwise the top eigen-directions exactly and the rest on the diagonal), and
    /// the linear term c to the start's gradient at the centre. The hidden layers keep their initial weights (their bends
    /// spread around the centre, where the ICNN's inputs lie); their output weights are set to <see cref="OutputWeight"/> /
    /// h_L, so the network part changes the start by about 1e-4.
    /// </summary>
    /// <param name="theta">Free parameters (from <see cref="IcnnPotential.InitialParameters"/>), overwritten in place.</param>
    /// <param name="architecture">The architecture.</param>
    public void WriteInto(float[] theta, IcnnArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(theta);
        ArgumentNullException.ThrowIfNull(architecture);
        var layout = new IcnnLayout(architecture);
        int d = architecture.Dimension, r = architecture.Rank;
        var pre = architecture.EffectivePreconditioner;
        double kappa = pre.OutputScale;
        // In normalised units: D~ + R~R~' = diag(s) (H - alpha I) diag(s) / (kappa q^2).
        double q2 = (double)pre.QuadraticScale * pre.QuadraticScale;
        var q = Matrix<double>.Build.Dense(d, d, (i, j) =>
            pre.InputScale[i] * pre.InputScale[j] * (hessian[i, j] - (i == j ? architecture.Alpha : 0)) / (kappa * q2));
        var evd = q.Evd(Symmetricity.Symmetric);
        var lambda = evd.EigenValues.Select(e => e.Real).ToArray();
        var order = Enumerable.Range(0, d).OrderByDescending(i => lambda[i]).ToArray();
        double floor = Math.Max(lambda.Min(), 1e-12 * Math.Max(lambda.Max(), 1e-30)) / 2;
        var rr = Matrix<double>.Build.Dense(d, d);
        for (int m = 0; m < r; m++)
        {
            int e = order[m];
            double f = Math.Sqrt(Math.Max(lambda[e] - floor, 0));
            for (int k = 0; k < d; k++)
            {
                theta[layout.LowRankOffset + (k * r) + m] = (float)(evd.EigenVectors[k, e] * f);
            }
        }

        for (int m = 0; m < r; m++)
        {
            for (int i = 0; i < d; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    rr[i, j] += theta[layout.LowRankOffset + (i * r) + m] * (double)theta[layout.LowRankOffset + (j * r) + m];
                }
            }
        }

        for (int k = 0; k < d; k++)
        {
            theta[layout.DiagonalOffset + k] = (float)IcnnPotential.InverseSoftplus(Math.Max(q[k, k] - rr[k, k], floor));
            theta[layout.LinearOffset + k] = pre.LinearScale == 0 ? 0f : (float)(linear[k] * pre.InputScale[k] / (pre.LinearScale * Math.Sqrt(kappa)));
        }

        // Output weights 1e-4 / h_L: the network part moves the start by about 1e-4 of its curvature; Adam grows them in
        // log space (softplus) as fast as the data ask.
        int top = architecture.HiddenWidths[^1];
        Array.Fill(theta, (float)IcnnPotential.InverseSoftplus(OutputWeight / top), layout.OutputOffset, top);
    }

    /// <summary>Draws <paramref name="count"/> points of the start's latent N(<see cref="LatentMean"/>, <see cref="LatentCovariance"/>), seeded.</summary>
    /// <param name="count">Number of points.</param>
    /// <param name="seed">Seed.</param>
    /// <returns>Row-major points.</returns>
    public float[] SampleLatents(int count, int seed) =>
        Affine.SampleNormal(Vector<double>.Build.DenseOfEnumerable(LatentMean), LatentCovariance, count, seed);
}
