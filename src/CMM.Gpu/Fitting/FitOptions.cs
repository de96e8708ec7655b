using System.Globalization;
using System.Text;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;

namespace CMM.Gpu;

/// <summary>Which generative model to fit.</summary>
public enum FitMethod
{
    /// <summary>Conjugate moment measure: rho = (grad w*) # exp(-w).</summary>
    Cmm,

    /// <summary>Moment measure baseline: rho = (grad u) # exp(-u) (needs centred data).</summary>
    MomentMeasure,
}

/// <summary>What the ICNN of a CMM fit represents (docs/fitting.md, "The conjugate parametrisation").</summary>
public enum FitNetwork
{
    /// <summary>The ICNN is w: the latent's energy is explicit, samples y = grad w*(x) need a conjugate solve.</summary>
    Potential,

    /// <summary>The ICNN is u = w*: samples y = grad u(x) are explicit (and can be as sharp as the network's kinks), the
    /// latent's energy w = u* needs a conjugate solve at every Langevin step.</summary>
    Conjugate,
}

/// <summary>The training objective of the outer loop (docs/maths.md section 3).</summary>
public enum FitObjective
{
    /// <summary>Semi-dual: Adam on E_data[w] - E_model[w(grad w*(x))], conjugate solves instead of Sinkhorn.</summary>
    SemiDual,

    /// <summary>Map regression: grad w(y_i) onto the Sinkhorn entropic map from data to the particles.</summary>
    Map,

    /// <summary>Maximum likelihood: Adam on minus the data's mean log q_w(y) = -w(grad w(y)) + log det Hess w(y) - log Z_w, with
    /// d log Z_w = -E_latent[d w] on the particles; no conjugate solve, no Sinkhorn (docs/fitting.md, "Maximum likelihood").
    /// CMM with the network w only (<see cref="FitNetwork.Potential"/>).</summary>
    Likelihood,

    /// <summary>CMFMA (docs/cmfma.md): fit to a target known through its energy V, with no samples. Adam on the variance over
    /// points y (held fixed) of the Monge-Ampere residual r(y) = w(grad w(y)) - log det Hess w(y) - V(y), which is constant
    /// exactly when the model's density is proportional to exp(-V). CMM with the network w only; fitted by
    /// <see cref="Fitting.CmmFitter.CreateForEnergy"/>.</summary>
    Residual,
}

/// <summary>What a fit does with quantised data (every value an integer: pixel intensities, counts).</summary>
public enum Dequantization
{
    /// <summary>Dequantise when every training value is an integer (default); leave other data as they are.</summary>
    Auto,

    /// <summary>Never: fit the data as given (a density on a lattice has no smooth CMM; expect a stiff latent).</summary>
    Off,

    /// <summary>Always add uniform noise of width 1, whatever the values.</summary>
    Uniform,
}

/// <summary>
/// The support a fit may declare for its data (docs/fitting.md, "Bounded data"): none (the default, the model lives on R^d),
/// the data's own range, or an explicit interval in every coordinate. A bounded fit models the data in the logit coordinates
/// of the box (<see cref="LogitBox"/>), so its samples stay inside it: pixel intensities, proportions.
/// </summary>
public sealed record DataBounds
{
    /// <summary>No bounds: the model lives on R^d.</summary>
    public static DataBounds None { get; } = new();

    /// <summary>The data's range: the smallest and largest training value over all coordinates (the largest plus the
    /// dequantisation width when the data are dequantised), widened by <see cref="Margin"/> of its width.</summary>
    public static DataBounds FromData { get; } = new() { UseDataRange = true };

    /// <summary>The interval [lower, upper] in every coordinate, widened by <see cref="Margin"/> of its width; every
    /// training value (plus its dequantisation noise) must lie in it.</summary>
    /// <param name="lower">Lower end.</param>
    /// <param name="upper">Upper end.</param>
    /// <returns>The bounds.</returns>
    public static DataBounds Interval(double lower, double upper) => new() { Lower = lower, Upper = upper };

    /// <summary>The widening of the range on either side, as a fraction of its width, in (0, 1] (default
    /// <see cref="LogitBox.DefaultMargin"/>): the model's support is the widened box. A smaller margin leaves less room for
    /// mass beyond the data's range and stretches the edge values further out in logit coordinates.</summary>
    public double Margin { get; init; } = LogitBox.DefaultMargin;

    /// <summary>Whether the bounds are the data's range.</summary>
    public bool UseDataRange { get; private init; }

    /// <summary>The explicit lower end, or null.</summary>
    public double? Lower { get; private init; }

    /// <summary>The explicit upper end, or null.</summary>
    public double? Upper { get; private init; }

    /// <summary>Whether the fit is bounded.</summary>
    public bool IsBounded => UseDataRange || Lower is not null;

    /// <summary>How the command line and model files write it: off, data, or LO,HI.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => UseDataRange ? "data" : Lower is { } lo && Upper is { } hi
        ? string.Create(CultureInfo.InvariantCulture, $"{lo:R},{hi:R}")
        : "off";
}

/// <summary>
/// Every hyper-parameter of the fitting loop, with defaults meant to work on all built-in datasets
/// without tuning. Immutable; <see cref="Validate"/> reports every problem at once.
/// </summary>
public sealed record FitOptions
{
    /// <summary>CMM (default) or the moment-measure baseline.</summary>
    public FitMethod Method { get; init; } = FitMethod.Cmm;

    /// <summary>Semi-dual (default; measured more accurate, see docs/fitting.md), map regression, or maximum likelihood
    /// (CMM with the network w only).</summary>
    public FitObjective Objective { get; init; } = FitObjective.SemiDual;

    /// <summary>
    /// Quantised data (docs/fitting.md, "Quantised data"): with <see cref="Dequantization.Auto"/> (default) data whose values
    /// are all integers are fitted as y + u, u ~ U[0, 1)^d drawn afresh for every batch, so the model is a continuous density
    /// (flooring its samples gives integers back). A lattice has no smooth CMM: fitted as given, the latent becomes stiff
    /// and its Langevin chains stop moving.
    /// </summary>
    public Dequantization Dequantization { get; init; } = Dequantization.Auto;

    /// <summary>
    /// The data's support (docs/fitting.md, "Bounded data"): <see cref="DataBounds.None"/> (default) fits on R^d;
    /// <see cref="DataBounds.FromData"/> or <see cref="DataBounds.Interval"/> fit the CMM of the data's logit coordinates
    /// in a box, so that samples stay inside it. On the 8x8 digits (values 0-16, seeds 1-3) the box raised k-NN precision
    /// from 0.42 to 0.67 and the held-out log-likelihood by 30 nats per digit (docs/experiments.md section 6).
    /// </summary>
    public DataBounds Bounds { get; init; } = DataBounds.None;

    /// <summary>A method's name on the command line and in model files: cmm or mm.</summary>
    /// <param name="method">The method.</param>
    /// <returns>Its name.</returns>
    public static string NameOf(FitMethod method) => method == FitMethod.Cmm ? "cmm" : "mm";

    /// <summary>A network's name on the command line and in model files: w or conjugate.</summary>
    /// <param name="network">The parametrisation.</param>
    /// <returns>Its name.</returns>
    public static string NameOf(FitNetwork network) => network == FitNetwork.Conjugate ? "conjugate" : "w";

    /// <summary>The objective's name on the command line and in model files: semidual, map or likelihood.</summary>
    public string ObjectiveName => Objective switch
    {
        FitObjective.SemiDual => "semidual",
        FitObjective.Map => "map",
        FitObjective.Residual => "residual",
        _ => "likelihood",
    };

    /// <summary>
    /// Residual objective only (fits to an energy): the share of each iteration's points drawn afresh from the start's Gaussian
    /// (the moment-matched mixture of Laplace approximations at the energy's local minima) instead of the model's own samples.
    /// Points the model does not visit still count in the residual's variance, so it cannot drop a mode it has not found.
    /// Default 0.5 (docs/cmfma.md); 0 uses the model's samples only.
    /// </summary>
    public double ProposalShare { get; init; } = 0.5;

    /// <summary>
    /// Residual objective only: how much of the residual's variance is taken under the target rho rather than under the law p
    /// the points come from (the model's samples and the proposals). Each point weighs (1 - lambda) / n + lambda pi_i, pi the
    /// self-normalised importance weights exp(-V) / p (docs/cmfma.md). At 0 (equal weights) a mode the points rarely visit
    /// weighs little and the model drops mass from it; at 1 every mode of rho counts by its mass, but mass the model puts where
    /// rho has none costs nothing. Default 0.8 (measured on two 2-D mixtures, docs/cmfma.md).
    /// </summary>
    public double TargetWeight { get; init; } = 0.8;

    /// <summary>
    /// Residual objective only: start from the mean and covariance of a MALA pilot run on the energy
    /// (<see cref="Energies.EnergyStart.Pilot"/>) instead of the Laplace approximations at its minima. The Laplace start sees
    /// only the curvature at the mode and misses mass that curves away from it (a banana's arms); the pilot's chains do not
    /// cross between separated modes, so keep the default (false) for multimodal targets.
    /// </summary>
    public bool PilotStart { get; init; }

    /// <summary>Outer iterations (1200: moons reached 1.7x its Sinkhorn noise floor, 400 left it at 4.8x; docs/experiments.md).</summary>
    public int Iterations { get; init; } = 1200;

    /// <summary>Persistent Langevin particles P.</summary>
    public int Particles { get; init; } = 512;

    /// <summary>Data points per outer iteration B.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Langevin steps per outer iteration K.</summary>
    public int LangevinSteps { get; init; } = 5;

    /// <summary>Langevin step size, relative to the inverse of the largest curvature of the data's Gaussian start (tau = this /
    /// lambda_max(A), A = S^(-1/3) for CMM, S for MM; docs/fitting.md), so that it means the same at any scale of the data.</summary>
    public double LangevinStepSize { get; init; } = 0.3;

    /// <summary>Sinkhorn epsilon relative to the mean cost (map objective).</summary>
    public double EpsilonRelative { get; init; } = 0.01;

    /// <summary>Sinkhorn L1 marginal tolerance (map objective).</summary>
    public double SinkhornTolerance { get; init; } = 1e-3;

    /// <summary>Optimiser steps per outer iteration.</summary>
    public int InnerSteps { get; init; } = 1;

    /// <summary>Adam learning rate at the start (0.1: the multimodal fits need their first-layer bends to move far; at 1e-2 the
    /// 1-D bimodal target stayed at W1 ~12x its noise floor, see docs/experiments.md).</summary>
    public double LearningRate { get; init; } = 0.1;

    /// <summary>Learning rate at the end, reached by cosine decay (equal to <see cref="LearningRate"/> for a constant rate).</summary>
    public double FinalLearningRate { get; init; } = 1e-3;

    /// <summary>Hidden layer widths of the ICNN.</summary>
    public IReadOnlyList<int> HiddenWidths { get; init; } = [32, 32];

    /// <summary>What the ICNN represents for CMM: u = w* (default) or w (ignored by the moment-measure baseline, whose ICNN is u).
    /// u = w* with a sharp activation is what separates multimodal targets' modes: on eight-gaussians the mass between the modes
    /// fell from 6 % (w, any setting tried) to 2 % (docs/experiments.md, "Sharp, separated modes").</summary>
    public FitNetwork Network { get; init; } = FitNetwork.Conjugate;

    /// <summary>The ICNN's hidden activation.</summary>
    public IcnnActivation Activation { get; init; } = IcnnActivation.Softplus;

    /// <summary>The activation's sharpness beta: units compute act(beta s) / beta (ELU with beta is CELU with alpha 1/beta).
    /// Null (the default) takes <see cref="DefaultSharpness"/> of the network: 4 for u = w* (the generator grad u then bends
    /// within a quarter of a unit, sharp enough to jump between modes, where with beta 1 they stayed bridged; beta 8 separated
    /// eight-gaussians no better and put the samples of thin targets in clumps), 1 for the network w (sharpness did not
    /// separate modes there and cost recall; docs/experiments.md). <see cref="EffectiveSharpness"/> is the value used.</summary>
    public double? Sharpness { get; init; }

    /// <summary>The sharpness a network gets when <see cref="Sharpness"/> is null: 4 for <see cref="FitNetwork.Conjugate"/>, 1 for
    /// <see cref="FitNetwork.Potential"/>.</summary>
    /// <param name="network">The parametrisation.</param>
    /// <returns>The default sharpness.</returns>
    public static double DefaultSharpness(FitNetwork network) => network == FitNetwork.Conjugate ? 4 : 1;

    /// <summary>The sharpness the fit uses: <see cref="Sharpness"/>, or the network's <see cref="DefaultSharpness"/>.</summary>
    public double EffectiveSharpness => Sharpness ?? DefaultSharpness(Network);

    /// <summary>
    /// Rank r of the ICNN's low-rank quadratic term 1/2 x'RR'x, capped at d; null (the default) takes min(d, 16).
    /// A Gaussian target's potential is a full quadratic form, which the softplus layers represent only
    /// approximately: with r = 2 the d = 8 Gaussian ended 14 % off its closed-form Hessian (docs/experiments.md).
    /// </summary>
    public int? QuadraticRank { get; init; }

    /// <summary>The rank actually used in dimension <paramref name="dimension"/>: <see cref="QuadraticRank"/> or min(d, 16), capped at d.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>r.</returns>
    public int QuadraticRankFor(int dimension) => Math.Min(QuadraticRank ?? 16, dimension);

    /// <summary>Strong convexity as a fraction of the smallest curvature of the data's Gaussian start (0 &lt; alpha &lt; 1): the
    /// ICNN keeps Hess w &gt;= alpha lambda_min(A) I, A = S^(-1/3) for CMM, S for MM, so it scales with the data.</summary>
    public double StrongConvexity { get; init; } = 0.1;

    /// <summary>Langevin sampler for the particles.</summary>
    public LangevinSampler Sampler { get; init; } = LangevinSampler.Mala;

    /// <summary>Gradient-norm clipping threshold of Adam (0: off).</summary>
    public double MaxGradientNorm { get; init; } = 10;

    /// <summary>Random seed (data batches, particles, initialisation).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Write a checkpoint every this many iterations (0: never).</summary>
    public int CheckpointEvery { get; init; } = 50;

    /// <summary>
    /// Early stopping (off by default: 0). Share of the data, at most 0.5, held out of training (a seeded random subset)
    /// to validate on: every <see cref="ValidateEvery"/> iterations the energy distance between the particles mapped to
    /// data space and up to 1,024 validation points is measured; the fit stops after <see cref="Patience"/> validations
    /// without a new best, and the model returned is the best one validated (docs/fitting.md).
    /// </summary>
    public double ValidationFraction { get; init; }

    /// <summary>Iterations between validations (early stopping only).</summary>
    public int ValidateEvery { get; init; } = 50;

    /// <summary>Validations without a new best before the fit stops (early stopping only).</summary>
    public int Patience { get; init; } = 5;

    /// <summary>True when <see cref="ValidationFraction"/> is positive.</summary>
    public bool EarlyStopping => ValidationFraction > 0;

    /// <summary>Health monitoring: iterations over which the fitting particles' MALA acceptance and the share of converged
    /// conjugate solves are averaged and judged against their floors (docs/fitting.md, "Health monitoring").</summary>
    public int HealthWindow { get; init; } = 10;

    /// <summary>Health monitoring: the floor of the fitting particles' MALA acceptance, averaged over <see cref="HealthWindow"/>
    /// iterations (0 turns the check off; ULA reports no acceptance and is never judged). Below it the Langevin step is halved,
    /// up to <see cref="MaxStepHalvings"/> times, then the fit stops with <see cref="FitStatus.SamplerFailed"/>. At 5 % a
    /// particle moves about once in four iterations (5 Langevin steps each): the semi-dual gradient then sees stale particles.</summary>
    public double MinLangevinAcceptance { get; init; } = 0.05;

    /// <summary>Health monitoring: the floor of the share of conjugate solves that converged, averaged over
    /// <see cref="HealthWindow"/> iterations (0 turns the check off). Below it the fit stops with <see cref="FitStatus.SolverFailed"/>:
    /// the semi-dual gradient is then built on unconverged solutions (the objectives other than semi-dual solve nothing and report 1).</summary>
    public double MinConjugateConverged { get; init; } = 0.5;

    /// <summary>Health monitoring: how many times the Langevin step may be halved when MALA acceptance stays below
    /// <see cref="MinLangevinAcceptance"/> before the fit stops (0: stop at once).</summary>
    public int MaxStepHalvings { get; init; } = 4;

    /// <summary>True when a health option differs from its default (they then enter <see cref="ToKeyValues"/>).</summary>
    private bool HealthOptionsChanged =>
        HealthWindow != 10 || MinLangevinAcceptance != 0.05 || MinConjugateConverged != 0.5 || MaxStepHalvings != 4;

    /// <summary>Lists every problem, each with how to fix it; empty when the options are valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        void Positive(string name, double v)
        {
            if (!(v > 0) || double.IsInfinity(v))
            {
                p.Add(string.Create(CultureInfo.InvariantCulture, $"{name} must be a positive finite number (got {v})"));
            }
        }

        Positive("iterations", Iterations);
        Positive("particles", Particles);
        Positive("batch size", BatchSize);
        Positive("Langevin steps", LangevinSteps);
        Positive("Langevin step size", LangevinStepSize);
        Positive("relative epsilon", EpsilonRelative);
        Positive("Sinkhorn tolerance", SinkhornTolerance);
        Positive("inner steps", InnerSteps);
        Positive("learning rate", LearningRate);
        Positive("final learning rate", FinalLearningRate);
        if (CheckpointEvery < 0)
        {
            p.Add($"checkpoint interval must be 0 (never) or positive (got {CheckpointEvery})");
        }

        if (!(StrongConvexity > 0 && StrongConvexity < 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture,
                $"strong convexity must lie in (0, 1) (got {StrongConvexity}): it is the fraction of the data's smallest Gaussian curvature that w keeps (exp(-w) must be normalisable)"));
        }

        if (!(MaxGradientNorm >= 0) || double.IsInfinity(MaxGradientNorm))
        {
            p.Add($"gradient clipping threshold must be 0 (off) or positive (got {MaxGradientNorm})");
        }

        if (Sharpness is double beta && (!(beta > 0) || double.IsInfinity(beta)))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"activation sharpness must be a positive finite number (got {Sharpness}); 1 is the plain activation"));
        }

        if (!Enum.IsDefined(Activation) || !Enum.IsDefined(Network) || !Enum.IsDefined(Objective))
        {
            p.Add("activation must be softplus or elu, the network w or conjugate, and the objective semidual, map or likelihood");
        }

        if (!Enum.IsDefined(Dequantization))
        {
            p.Add("dequantization must be auto, off or uniform");
        }

        if (Objective == FitObjective.Likelihood && (Method != FitMethod.Cmm || Network != FitNetwork.Potential))
        {
            // With u = w* the likelihood's gradient needs implicit differentiation through two conjugate solves; MM has another density.
            p.Add($"--objective likelihood works only with --method cmm --network w (got --method {NameOf(Method)} --network {NameOf(Network)}); " +
                  "with --network conjugate or --method mm use --objective semidual or map");
        }

        if (Objective == FitObjective.Residual && (Method != FitMethod.Cmm || Network != FitNetwork.Potential))
        {
            p.Add($"the residual objective (fits to an energy) works only with --method cmm --network w (got --method {NameOf(Method)} --network {NameOf(Network)})");
        }

        if (Bounds is { Lower: { } lo, Upper: { } hi } && (!double.IsFinite(lo) || !double.IsFinite(hi) || !(hi > lo)))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"bounds need finite ends with the upper above the lower (got {lo}, {hi})"));
        }

        if (Bounds.IsBounded && !(Bounds.Margin > 0 && Bounds.Margin <= 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the bounds' margin must be in (0, 1] (got {Bounds.Margin})"));
        }

        if (Bounds.IsBounded && Objective == FitObjective.Residual)
        {
            p.Add("bounds apply to fits from data, not to fits to an energy");
        }

        if (!(TargetWeight is >= 0 and <= 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the target weight must be between 0 and 1 (got {TargetWeight})"));
        }

        if (!(ProposalShare >= 0 && ProposalShare < 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the proposal share must be at least 0 and below 1 (got {ProposalShare})"));
        }

        if (HiddenWidths is null || HiddenWidths.Count == 0 || HiddenWidths.Any(w => w <= 0))
        {
            p.Add("hidden widths must be a non-empty list of positive integers, e.g. 64,64,64");
        }

        if (QuadraticRank < 0)
        {
            p.Add($"quadratic rank must be 0 (no low-rank term) or positive (got {QuadraticRank})");
        }

        if (!(ValidationFraction >= 0 && ValidationFraction <= 0.5))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"validation fraction must be between 0 (no early stopping) and 0.5 (got {ValidationFraction})"));
        }

        if (ValidateEvery < 1)
        {
            p.Add($"validation interval must be at least 1 iteration (got {ValidateEvery})");
        }

        if (Patience < 1)
        {
            p.Add($"patience must be at least 1 validation (got {Patience})");
        }

        if (HealthWindow < 1)
        {
            p.Add($"health window must be at least 1 iteration (got {HealthWindow})");
        }

        if (!(MinLangevinAcceptance >= 0 && MinLangevinAcceptance <= 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"minimum MALA acceptance must be between 0 (check off) and 1 (got {MinLangevinAcceptance}); default 0.05"));
        }

        if (!(MinConjugateConverged >= 0 && MinConjugateConverged <= 1))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"minimum converged share of conjugate solves must be between 0 (check off) and 1 (got {MinConjugateConverged}); default 0.5"));
        }

        if (MaxStepHalvings is < 0 or > 30)
        {
            p.Add($"Langevin step halvings must be between 0 and 30 (got {MaxStepHalvings}); default 4");
        }

        if (LangevinStepSize >= 1)
        {
            p.Add($"Langevin step size {LangevinStepSize} is too large: it is relative to the inverse of the start's largest curvature, use a value below 1 (default 0.3)");
        }

        return p;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            var sb = new StringBuilder("invalid fit options: ");
            sb.AppendJoin("; ", problems);
            throw new ArgumentException(sb.ToString());
        }
    }

    /// <summary>Every option as a key/value string, in a fixed order (stored in model files and checkpoints).</summary>
    /// <returns>The pairs.</returns>
    public IReadOnlyList<KeyValuePair<string, string>> ToKeyValues()
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        List<KeyValuePair<string, string>> pairs =
        [
            new("method", NameOf(Method)),
            new("objective", ObjectiveName),
            new("particles", Particles.ToString(CultureInfo.InvariantCulture)),
            new("batch", BatchSize.ToString(CultureInfo.InvariantCulture)),
            new("langevin_steps", LangevinSteps.ToString(CultureInfo.InvariantCulture)),
            new("step_size", F(LangevinStepSize)),
            new("sampler", Sampler.ToString().ToLowerInvariant()),
            new("epsilon_rel", F(EpsilonRelative)),
            new("sinkhorn_tolerance", F(SinkhornTolerance)),
            new("inner_steps", InnerSteps.ToString(CultureInfo.InvariantCulture)),
            new("learning_rate", F(LearningRate)),
            new("final_learning_rate", F(FinalLearningRate)),
            new("max_gradient_norm", F(MaxGradientNorm)),
            new("hidden", string.Join(",", HiddenWidths)),
            new("network", NameOf(Network)),
            new("activation", Activation.ToString().ToLowerInvariant()),
            new("sharpness", F(EffectiveSharpness)),
            new("alpha", F(StrongConvexity)),
            new("rank", QuadraticRank?.ToString(CultureInfo.InvariantCulture) ?? "auto"),
            // The fit is in data coordinates from the Gaussian start (2026-12-04); older checkpoints fingerprint differently.
            new("start", "gaussian"),
            new("seed", Seed.ToString(CultureInfo.InvariantCulture)),
        ];
        if (Objective == FitObjective.Residual)
        {
            pairs.Add(new("proposal_share", F(ProposalShare)));
            pairs.Add(new("target_weight", F(TargetWeight)));
            if (PilotStart)
            {
                pairs.Add(new("energy_start", "pilot"));
            }
        }

        if (Bounds.IsBounded)
        {
            // Only when bounded, so that unbounded fits keep the fingerprints they had before bounds existed.
            pairs.Add(new("bounds", Bounds.ToString()));
            pairs.Add(new("bounds_margin", F(Bounds.Margin)));
        }

        if (EarlyStopping)
        {
            // Only when on, so that fits without early stopping keep the fingerprints they had before it existed.
            pairs.Add(new("validation_fraction", F(ValidationFraction)));
            pairs.Add(new("validate_every", ValidateEvery.ToString(CultureInfo.InvariantCulture)));
            pairs.Add(new("patience", Patience.ToString(CultureInfo.InvariantCulture)));
        }

        if (HealthOptionsChanged)
        {
            // Only when changed, so that fits with the default monitoring keep the fingerprints they had before it existed.
            pairs.Add(new("health_window", HealthWindow.ToString(CultureInfo.InvariantCulture)));
            pairs.Add(new("min_acceptance", F(MinLangevinAcceptance)));
            pairs.Add(new("min_converged", F(MinConjugateConverged)));
            pairs.Add(new("step_halvings", MaxStepHalvings.ToString(CultureInfo.InvariantCulture)));
        }

        return pairs;
    }

    /// <summary>The options that define the fit's trajectory (everything but the iteration count and checkpoint interval), as one line.</summary>
    /// <returns>The description.</returns>
    public string Describe() => string.Join(";", ToKeyValues().Select(kv => kv.Key + "=" + kv.Value));

    /// <summary>The learning rate at outer iteration <paramref name="iteration"/> (cosine decay).</summary>
    /// <param name="iteration">0-based iteration.</param>
    /// <returns>The rate.</returns>
    public double LearningRateAt(int iteration)
    {
        double t = Iterations <= 1 ? 1 : Math.Clamp(iteration / (double)(Iterations - 1), 0, 1);
        return FinalLearningRate + 0.5 * (LearningRate - FinalLearningRate) * (1 + Math.Cos(Math.PI * t));
    }
}
