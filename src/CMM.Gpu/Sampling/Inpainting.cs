using System.Globalization;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Sampling;

/// <summary>Options of conditional sampling (<see cref="Inpainting.Run"/>).</summary>
public sealed record InpaintOptions
{
    /// <summary>Completions drawn per data row (independent chains).</summary>
    public int Completions { get; init; } = 4;

    /// <summary>The observation noise s in data units; null for 0.05 times the data rows' RMS spread per coordinate (or,
    /// with a single row, 0.05 times the RMS of its observed values, at least 10^-3).</summary>
    public double? Noise { get; init; }

    /// <summary>MALA steps per chain (the step size adapts during them); the last state is the completion.</summary>
    public int Steps { get; init; } = 1000;

    /// <summary>The seed of every random number.</summary>
    public ulong Seed { get; init; }

    /// <summary>Every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (Completions < 1)
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"completions must be at least 1 (got {Completions})"));
        }

        if (Noise is { } s && (!(s > 0) || double.IsInfinity(s)))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the observation noise must be positive and finite (got {s})"));
        }

        if (Steps < 10)
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"steps must be at least 10 (got {Steps})"));
        }

        return p;
    }
}

/// <summary>The completions of <see cref="Inpainting.Run"/>.</summary>
/// <param name="Samples">Row-major [Rows * PerRow, d], data coordinates, grouped by row: the completions of row r are rows
/// r * PerRow .. r * PerRow + PerRow - 1. Observed coordinates hold the observed values.</param>
/// <param name="Rows">Data rows.</param>
/// <param name="PerRow">Completions per row.</param>
/// <param name="Dimension">d.</param>
/// <param name="Noise">The observation noise s used.</param>
/// <param name="Status">How the chains ended (Diverged: not trustworthy).</param>
/// <param name="StepSize">The adapted MALA step size.</param>
/// <param name="AcceptanceRate">MALA acceptance over the run.</param>
/// <param name="ObservedMismatch">RMS over observed coordinates of (generated - observed) / s before the observed values were
/// put back: about 1 when the chains respect the observations as the model says, far above 1 when they could not.</param>
public sealed record InpaintResult(float[] Samples, int Rows, int PerRow, int Dimension, double Noise, SamplingStatus Status,
    double StepSize, double AcceptanceRate, double ObservedMismatch);

/// <summary>
/// Conditional sampling (inpainting, docs/sampling.md "Conditional sampling"): completions of partly observed points drawn
/// from the model's conditional. Chains on the latent sample exp(-L(z) - |m * (grad u(z) - o)|^2 / (2 s^2)) (m: 1 where
/// observed, 0 where free; for a bounded model the weight that keeps s in data units)
/// (<see cref="ConditionedPotential"/>) by MALA; the completion is grad u(z) with the observed values put back. Needs an
/// explicit generator: a CMM whose network is u = w* (the default) or an MM model.
/// </summary>
public static class Inpainting
{
    /// <summary>Draws <see cref="InpaintOptions.Completions"/> completions of every row of <paramref name="data"/>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">Row-major [n, d] points, data coordinates (values at free coordinates are ignored).</param>
    /// <param name="mask">0/1 values, 1 = observed: one row [d] for every point, or one per point [n, d].</param>
    /// <param name="options">Options.</param>
    /// <param name="cancellationToken">Checked between Langevin checks.</param>
    /// <returns>The completions.</returns>
    /// <exception cref="ArgumentException">Data or mask of the wrong size, a mask value other than 0/1, or a row that observes nothing or everything.</exception>
    /// <exception cref="NotSupportedException">A CMM whose network is w (its samples need a conjugate solve per step).</exception>
    public static InpaintResult Run(FittedModel model, ReadOnlySpan<float> data, ReadOnlySpan<float> mask, InpaintOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid inpainting options: " + string.Join("; ", problems), nameof(options));
        }

        if (model.Method == FitMethod.Cmm && model.NetworkRole != FitNetwork.Conjugate)
        {
            throw new NotSupportedException("inpainting needs a model whose generator is explicit: a CMM fitted with --network conjugate (the default) or an MM model; this one has the network w");
        }

        int d = model.Dimension;
        PointChecks.Require(data, d, "data", nameof(data));
        int rows = data.Length / d;
        var rowMask = ExpandMask(mask, rows, d);
        int k = options.Completions;
        int chains = checked(rows * k);
        var observed = new float[chains * d];
        var chainMask = new float[chains * d];
        // A model of integer data plus U[0, w) noise sees an observed integer v as the cell [v, v + w): condition on its centre.
        var centred = data.ToArray();
        for (int j = 0; j < centred.Length; j++)
        {
            centred[j] += (float)(model.DequantizationWidth / 2);
        }

        var fitting = centred.ToArray();
        model.Normalization.Forward(fitting);
        for (int j = 0; j < fitting.Length; j++)
        {
            // Free values are ignored, but the energy multiplies them by a zero weight: a bounded model maps one outside its box
            // to NaN, and 0 * NaN would poison the chain. Any finite value will do.
            if (rowMask[j] == 0)
            {
                fitting[j] = 0;
            }
        }

        var weights = ObservationWeights(model.Normalization.Box, centred, rowMask, d);
        for (int c = 0; c < chains; c++)
        {
            Array.Copy(fitting, (c / k) * d, observed, c * d, d);
            Array.Copy(weights, (c / k) * d, chainMask, c * d, d);
        }

        double rowSpread = Spread(data, rows, d);
        double noise = options.Noise ?? DefaultNoise(data, rowMask, rowSpread);
        double spread = rowSpread > 0 ? rowSpread : noise / 0.05;
        double curvature = model.LatentCurvature;
        using var energy = new ConditionedPotential(model.Potential, model.Network, observed, chainMask, noise);
        using var particles = new LangevinChains(model.Potential.Context, chains, d, options.Seed, 0, 1.0 / Math.Sqrt(curvature), model.LatentMode);
        // The observations stiffen the latent by about (data spread / s)^2: start the adaptation from a step that small.
        double ratio = Math.Min(1.0, noise / spread);
        var langevin = GenerationOptions.DefaultLangevin with
        {
            StepSize = GenerationOptions.DefaultLangevin.StepSize / curvature * ratio * ratio,
            BurnIn = options.Steps,
            Samples = 0,
            DiagnosticChains = 0,
        };
        var run = particles.Run(energy, langevin, cancellationToken);
        var samples = Generated(model, particles);
        double mismatch = 0;
        long seen = 0;
        for (int j = 0; j < samples.Length; j++)
        {
            if (chainMask[j] != 0)
            {
                double r = chainMask[j] * (samples[j] - observed[j]) / noise;
                mismatch += r * r;
                seen++;
            }
        }

        model.Normalization.Backward(samples);
        for (int j = 0; j < samples.Length; j++)
        {
            if (chainMask[j] != 0)
            {
                samples[j] = data[((j / d / k) * d) + (j % d)];
            }
        }

        return new InpaintResult(samples, rows, k, d, noise, run.Status, run.StepSize, run.AcceptanceRate, Math.Sqrt(mismatch / Math.Max(1, seen)));
    }

    /// <summary>
    /// The weights of the observed coordinates in the conditioned energy (0 where free). 1 for a model fitted on R^d. A bounded
    /// model is fitted in logit coordinates t, where a miss of (y - o) in data units is about (t - t(o)) / slope(o): the weight
    /// 1 / slope(o) keeps the observation noise s in data units (to first order at the observed value).
    /// </summary>
    private static float[] ObservationWeights(LogitBox? box, float[] centred, float[] rowMask, int d)
    {
        var weights = rowMask.ToArray();
        if (box is null)
        {
            return weights;
        }

        for (int j = 0; j < weights.Length; j++)
        {
            if (weights[j] != 0)
            {
                double slope = box.Slope(j % d, centred[j]);
                if (!double.IsFinite(slope))
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"row {j / d}, coordinate {j % d}: the observed value {centred[j]} lies outside the model's box ({box.Lower[j % d]}, {box.Upper[j % d]})"), nameof(centred));
                }

                weights[j] = (float)(1 / slope);
            }
        }

        return weights;
    }

    /// <summary>grad u at the chains' states (the generator's output, fitting coordinates).</summary>
    private static float[] Generated(FittedModel model, LangevinChains particles)
    {
        using var g = Memory.DevicePoints.Allocate(particles.Context, particles.Count, particles.Dimension);
        model.Network.Gradient(particles.States, g);
        return g.ToArray();
    }

    private static float[] ExpandMask(ReadOnlySpan<float> mask, int rows, int d)
    {
        if (mask.Length != d && mask.Length != rows * d)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"the mask has {mask.Length} values: give one row of d = {d} values for every point, or one row per point ({rows} x {d})"), nameof(mask));
        }

        var full = new float[rows * d];
        for (int r = 0; r < rows; r++)
        {
            var row = mask.Length == d ? mask : mask.Slice(r * d, d);
            int on = 0;
            for (int c = 0; c < d; c++)
            {
                float v = row[c];
                if (v is not (0f or 1f))
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"mask row {(mask.Length == d ? 0 : r)}, coordinate {c}: {v} is not 0 (free) or 1 (observed)"), nameof(mask));
                }

                on += (int)v;
                full[(r * d) + c] = v;
            }

            if (on == 0 || on == d)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"mask row {(mask.Length == d ? 0 : r)} observes {(on == 0 ? "nothing" : "everything")}: there is {(on == 0 ? "no evidence; use cmm sample" : "nothing to complete")}"), nameof(mask));
            }
        }

        return full;
    }

    private static double Spread(ReadOnlySpan<float> data, int rows, int d)
    {
        if (rows < 2)
        {
            return 0;
        }

        double total = 0;
        for (int c = 0; c < d; c++)
        {
            double mean = 0, sq = 0;
            for (int r = 0; r < rows; r++)
            {
                mean += data[(r * d) + c];
            }

            mean /= rows;
            for (int r = 0; r < rows; r++)
            {
                double e = data[(r * d) + c] - mean;
                sq += e * e;
            }

            total += sq / (rows - 1);
        }

        return Math.Sqrt(total / d);
    }

    private static double DefaultNoise(ReadOnlySpan<float> data, float[] mask, double spread)
    {
        if (spread > 0)
        {
            return 0.05 * spread;
        }

        double sq = 0;
        int n = 0;
        for (int j = 0; j < mask.Length; j++)
        {
            if (mask[j] != 0)
            {
                sq += (double)data[j] * data[j];
                n++;
            }
        }

        return Math.Max(1e-3, 0.05 * Math.Sqrt(sq / Math.Max(1, n)));
    }
}
