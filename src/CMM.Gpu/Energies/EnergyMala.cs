using System.Diagnostics;
using System.Globalization;
using CMM.Gpu.Metrics;
using MathNet.Numerics.LinearAlgebra;

namespace CMM.Gpu.Energies;

/// <summary>Options of the MALA baseline (<see cref="EnergyMala"/>).</summary>
public sealed record MalaOptions
{
    /// <summary>Independent chains, run side by side (each step evaluates V and grad V once per chain).</summary>
    public int Chains { get; init; } = 32;

    /// <summary>Steps per chain kept after the burn-in.</summary>
    public int Steps { get; init; } = 2000;

    /// <summary>Steps per chain before the first kept one, during which the step size adapts to
    /// <see cref="TargetAcceptance"/>; frozen afterwards, so the kept chains are exact MALA.</summary>
    public int BurnIn { get; init; } = 500;

    /// <summary>The acceptance rate the burn-in adapts the step to (0.574 is optimal for MALA in high dimension).</summary>
    public double TargetAcceptance { get; init; } = 0.574;

    /// <summary>The first step size h; null for 0.5 d^(-1/3) (in the preconditioner's units).</summary>
    public double? StepSize { get; init; }

    /// <summary>Precondition with the covariance of the Laplace start (<see cref="EnergyStart"/>), the information a CMFMA fit
    /// starts from too; false for plain MALA (identity preconditioner). The chains start from draws of the start's Gaussian
    /// either way.</summary>
    public bool Precondition { get; init; } = true;

    /// <summary>Seed.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The problems with these options, empty when they are valid.</summary>
    /// <returns>One message per problem.</returns>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Chains < 1)
        {
            problems.Add($"chains must be at least 1 (got {Chains})");
        }

        if (Steps < 4)
        {
            problems.Add($"steps must be at least 4 (got {Steps})");
        }

        if (BurnIn < 0)
        {
            problems.Add($"burn-in must be at least 0 (got {BurnIn})");
        }

        if (!(TargetAcceptance is > 0 and < 1))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"target acceptance must be in (0, 1) (got {TargetAcceptance})"));
        }

        if (StepSize is { } h && !(h > 0 && double.IsFinite(h)))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"step size must be positive (got {h})"));
        }

        return problems;
    }
}

/// <summary>What a MALA run gave (<see cref="EnergyMala.Run"/>).</summary>
/// <param name="Samples">The kept draws, row-major [Chains * Steps, d]: chain c's step t is row c * Steps + t.</param>
/// <param name="Chains">Chains.</param>
/// <param name="Steps">Kept steps per chain.</param>
/// <param name="Dimension">d.</param>
/// <param name="Acceptance">Acceptance rate over the kept steps.</param>
/// <param name="StepSize">The step size after the burn-in.</param>
/// <param name="EffectiveSamples">The effective sample size of each coordinate (<see cref="EffectiveSampleSize"/>).</param>
/// <param name="EnergyEvaluations">Points at which V (with grad V) was evaluated, burn-in and the start's search included.</param>
/// <param name="Seconds">Wall-clock time of the whole run, the start's search included.</param>
public sealed record MalaRun(float[] Samples, int Chains, int Steps, int Dimension, double Acceptance, double StepSize,
    double[] EffectiveSamples, long EnergyEvaluations, double Seconds)
{
    /// <summary>The smallest effective sample size over the coordinates (what the worst-mixed coordinate gives).</summary>
    public double MinEffectiveSamples => EffectiveSamples.Min();

    /// <summary>The median effective sample size over the coordinates.</summary>
    public double MedianEffectiveSamples
    {
        get
        {
            var s = EffectiveSamples.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[(s.Length / 2) - 1] + s[s.Length / 2]);
        }
    }
}

/// <summary>
/// The Metropolis-adjusted Langevin baseline on an energy (docs/cmfma.md): chains y' = y - (h/2) C grad V(y) + sqrt(h) L xi,
/// C = L L^T, accepted with probability min(1, exp(V(y) - V(y') + |L^-1 (y' - y + (h/2) C grad V(y))|^2 / (2h) - |L^-1 (y - y' + (h/2) C grad V(y'))|^2 / (2h))),
/// the step h adapted during the burn-in (Robbins-Monro on log h) and then frozen. It runs on the host, in double precision,
/// one batched energy evaluation per step for all chains. CMFMA's fits are compared with it at the same number of energy
/// evaluations, by effective samples per evaluation and per second.
/// </summary>
public static class EnergyMala
{
    /// <summary>Runs the chains.</summary>
    /// <param name="energy">The target's energy.</param>
    /// <param name="options">Options; null for the defaults.</param>
    /// <param name="cancellationToken">Stops the run between steps (<see cref="OperationCanceledException"/>).</param>
    /// <returns>The draws and their diagnostics.</returns>
    /// <exception cref="ArgumentException">Invalid options, an energy without a finite minimum, or one that returns a non-finite
    /// value at a chain's start (<see cref="EnergyException"/>).</exception>
    public static MalaRun Run(IEnergy energy, MalaOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(energy);
        options ??= new MalaOptions();
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid MALA options: " + string.Join("; ", problems), nameof(options));
        }

        var clock = Stopwatch.StartNew();
        var counted = new CountingEnergy(energy);
        var (mean, covariance, _) = EnergyStart.Estimate(counted);
        return RunFrom(counted, options, mean, covariance, clock, cancellationToken);
    }

    /// <summary>The chains from draws of N(<paramref name="mean"/>, <paramref name="covariance"/>), preconditioned by that
    /// covariance when <see cref="MalaOptions.Precondition"/> is set (the identity otherwise).</summary>
    internal static MalaRun RunFrom(CountingEnergy counted, MalaOptions options, double[] mean, double[,] covariance, Stopwatch clock, CancellationToken cancellationToken)
    {
        int d = counted.Dimension, chains = options.Chains;
        var start = new GaussianComponent(mean, covariance, "the start's covariance");
        var precondition = options.Precondition
            ? Matrix<double>.Build.DenseOfArray(covariance)
            : Matrix<double>.Build.DenseIdentity(d);
        var lower = precondition.Cholesky().Factor;
        var rng = new Random(options.Seed);

        var y = new float[chains * d];
        for (int c = 0; c < chains; c++)
        {
            start.Sample(rng, y.AsSpan(c * d, d));
        }

        var v = new double[chains];
        var g = new double[chains * d];
        counted.Evaluate(y, v, g);
        RequireFinite(counted.Name, y, v, g, d);

        var proposal = new float[chains * d];
        var vp = new double[chains];
        var gp = new double[chains * d];
        var xi = new double[chains * d];
        var samples = new float[(long)chains * options.Steps * d];
        double logH = Math.Log(options.StepSize ?? (0.5 * Math.Pow(d, -1.0 / 3)));
        long accepted = 0;
        // C grad V of each chain's current point, kept with it (the forward move and the next proposal both need it).
        var drift = new double[chains * d];
        for (int c = 0; c < chains; c++)
        {
            Multiply(precondition, g.AsSpan(c * d, d), drift.AsSpan(c * d, d));
        }

        var driftProposal = new double[d];
        var diff = new double[d];
        for (int step = 0; step < options.BurnIn + options.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double h = Math.Exp(logH), sqrtH = Math.Sqrt(h);
            for (int c = 0; c < chains; c++)
            {
                // y' = y - (h/2) C g + sqrt(h) L xi
                var cg = drift.AsSpan(c * d, d);
                for (int k = 0; k < d; k++)
                {
                    xi[(c * d) + k] = GaussianComponent.Normal(rng);
                }

                for (int a = 0; a < d; a++)
                {
                    double noise = 0;
                    for (int b = 0; b <= a; b++)
                    {
                        noise += lower[a, b] * xi[(c * d) + b];
                    }

                    proposal[(c * d) + a] = (float)(y[(c * d) + a] - (0.5 * h * cg[a]) + (sqrtH * noise));
                }
            }

            counted.Evaluate(proposal, vp, gp);
            int acceptedNow = 0;
            for (int c = 0; c < chains; c++)
            {
                double logAlpha = double.NegativeInfinity;
                if (double.IsFinite(vp[c]) && AllFinite(gp.AsSpan(c * d, d)))
                {
                    // Reverse move: L^-1 (y - y' + (h/2) C g') / sqrt(h).
                    Multiply(precondition, gp.AsSpan(c * d, d), driftProposal);
                    for (int k = 0; k < d; k++)
                    {
                        diff[k] = y[(c * d) + k] - (double)proposal[(c * d) + k] + (0.5 * h * driftProposal[k]);
                    }

                    double reverse = SolveLowerNormSquared(lower, diff) / h;

                    // Forward move from the proposal as stored (float), so that rounding cannot break detailed balance.
                    for (int k = 0; k < d; k++)
                    {
                        diff[k] = proposal[(c * d) + k] - (double)y[(c * d) + k] + (0.5 * h * drift[(c * d) + k]);
                    }

                    double forward = SolveLowerNormSquared(lower, diff) / h;

                    logAlpha = v[c] - vp[c] + (0.5 * forward) - (0.5 * reverse);
                }

                if (Math.Log(1 - rng.NextDouble()) < logAlpha)
                {
                    proposal.AsSpan(c * d, d).CopyTo(y.AsSpan(c * d, d));
                    gp.AsSpan(c * d, d).CopyTo(g.AsSpan(c * d, d));
                    driftProposal.AsSpan().CopyTo(drift.AsSpan(c * d, d));
                    v[c] = vp[c];
                    acceptedNow++;
                }
            }

            if (step < options.BurnIn)
            {
                // Robbins-Monro on log h towards the target acceptance, with a decaying gain.
                logH += (((double)acceptedNow / chains) - options.TargetAcceptance) / Math.Pow(1 + (step / 10.0), 0.6);
                continue;
            }

            accepted += acceptedNow;
            int t = step - options.BurnIn;
            for (int c = 0; c < chains; c++)
            {
                y.AsSpan(c * d, d).CopyTo(samples.AsSpan((int)((((long)c * options.Steps) + t) * d), d));
            }
        }

        clock.Stop();
        return new MalaRun(samples, chains, options.Steps, d, (double)accepted / ((long)chains * options.Steps), Math.Exp(logH),
            EffectiveSampleSize.PerCoordinate(samples, chains, d), counted.Evaluations, clock.Elapsed.TotalSeconds);
    }

    private static void RequireFinite(string name, float[] y, double[] v, double[] g, int d)
    {
        for (int c = 0; c < v.Length; c++)
        {
            if (!double.IsFinite(v[c]) || !AllFinite(g.AsSpan(c * d, d)))
            {
                throw new EnergyException(FormattableString.Invariant(
                    $"the energy '{name}' returned V = {v[c]} (or a non-finite gradient) at a chain's start y = ({string.Join(", ", y.AsSpan(c * d, d).ToArray().Select(x => x.ToString("G4", CultureInfo.InvariantCulture)))})"));
            }
        }
    }

    private static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (var x in values)
        {
            if (!double.IsFinite(x))
            {
                return false;
            }
        }

        return true;
    }

    private static void Multiply(Matrix<double> m, ReadOnlySpan<double> x, Span<double> result)
    {
        int d = x.Length;
        for (int a = 0; a < d; a++)
        {
            double s = 0;
            for (int b = 0; b < d; b++)
            {
                s += m[a, b] * x[b];
            }

            result[a] = s;
        }
    }

    /// <summary>|L^-1 x|^2 by forward substitution.</summary>
    private static double SolveLowerNormSquared(Matrix<double> lower, ReadOnlySpan<double> x)
    {
        int d = x.Length;
        Span<double> z = stackalloc double[d];
        double norm = 0;
        for (int a = 0; a < d; a++)
        {
            double s = x[a];
            for (int b = 0; b < a; b++)
            {
                s -= lower[a, b] * z[b];
            }

            z[a] = s / lower[a, a];
            norm += z[a] * z[a];
        }

        return norm;
    }
}
