using CMM.Gpu.Data;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Memory;
using CMM.Gpu.Metrics;
using CMM.Gpu.Sampling;
using CMM.Gpu.Sinkhorn;

namespace CMM.Gpu.Fitting;

/// <summary>
/// Evaluates a fitted model against held-out data (docs/maths.md section 6): debiased Sinkhorn divergence
/// and energy distance with their noise floors, 1-D W1, k-NN precision and recall, the off-support share, moment
/// errors, the mode coverage of data with known modes, for Gaussian targets the closed-form errors of the Hessian and
/// of the gradient of the potential, and the held-out log-likelihood beside a Gaussian baseline
/// (<see cref="Density.HeldOutLikelihood"/>).
/// </summary>
public static class ModelEvaluation
{
    /// <summary>Draws <paramref name="count"/> samples (data coordinates) and their latents (fitting coordinates).</summary>
    /// <param name="model">The model.</param>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed of the chains.</param>
    /// <returns>Samples and latents, row-major.</returns>
    public static (float[] Samples, float[] Latents, GenerationResult Result) Generate(FittedModel model, int count, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        int d = model.Dimension;
        var samples = new float[(long)count * d];
        var latents = new float[(long)count * d];
        var result = model.Sample(new GenerationOptions { Count = count, Seed = seed, ChunkSize = Math.Max(1, count), TuningChains = Math.Clamp(count, 1, 1024) }, chunk =>
        {
            chunk.Samples.AsSpan(0, chunk.Count * d).CopyTo(samples.AsSpan((int)chunk.FirstIndex * d));
            chunk.Latents.AsSpan(0, chunk.Count * d).CopyTo(latents.AsSpan((int)chunk.FirstIndex * d));
        });
        return (samples, latents, result);
    }

    /// <summary>
    /// The metrics of <paramref name="model"/> against <paramref name="heldOut"/> (data coordinates), using
    /// as many generated samples as held-out points.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="heldOut">Held-out data, row-major.</param>
    /// <param name="dataName">Name for the report.</param>
    /// <param name="truth">The data's closed form when known (Gaussian targets get Hessian and gradient errors).</param>
    /// <param name="seed">Seed for sampling and splits.</param>
    /// <param name="splits">Held-out splits the metrics are averaged over; null for <see cref="MetricsOptions.Splits"/>'s default.</param>
    /// <param name="modes">The data's known modes (<see cref="DatasetModes.For"/> for a built-in dataset) for the mode coverage; null skips it.</param>
    /// <returns>The report and the generated samples.</returns>
    public static (MetricsReport Report, float[] Samples, float[] Latents) Evaluate(FittedModel model, float[] heldOut, string? dataName, DatasetTruth? truth, int seed = 12345, int? splits = null, ModeStructure? modes = null) =>
        Evaluate(model, heldOut, new MetricsOptions
        {
            Seed = seed,
            Splits = splits ?? MetricsOptions.Default.Splits,
            DataName = dataName,
            TrueMean = truth?.Mean,
            TrueCovariance = truth?.Covariance,
            Modes = modes,
        }, truth);

    /// <summary>
    /// The metrics of <paramref name="model"/> against <paramref name="heldOut"/> (data coordinates) with the given options
    /// (training points and labels add the near-copy share and the class balance), using as many generated samples as
    /// held-out points, drawn with <see cref="MetricsOptions.Seed"/>. The Sinkhorn divergence runs on the model's accelerator
    /// unless the options bring their own.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="heldOut">Held-out data, row-major.</param>
    /// <param name="options">The metrics' options.</param>
    /// <param name="truth">The data's closed form when known (Gaussian targets get Hessian and gradient errors).</param>
    /// <returns>The report and the generated samples.</returns>
    public static (MetricsReport Report, float[] Samples, float[] Latents) Evaluate(FittedModel model, float[] heldOut, MetricsOptions options, DatasetTruth? truth = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(heldOut);
        ArgumentNullException.ThrowIfNull(options);
        int d = model.Dimension;
        if (heldOut.Length % d != 0 || heldOut.Length / d < 4)
        {
            throw new ArgumentException($"held-out data must hold at least 4 points of dimension {d}", nameof(heldOut));
        }

        options = WithSinkhorn(options, model.Potential.Context);
        options.ThrowIfInvalid();
        var (samples, latents, _) = Generate(model, heldOut.Length / d, (ulong)options.Seed);
        bool quantised = model.IntegerData;
        if (quantised)
        {
            // A model of y + U[0, w)^d: its samples floored are samples of the integer data it was fitted to (docs/metrics.md).
            for (int i = 0; i < samples.Length; i++)
            {
                samples[i] = MathF.Floor(samples[i]);
            }
        }

        var report = MetricsEvaluator.Evaluate(samples, heldOut, d, options);
        if (truth is not null && truth.Name == "gaussian")
        {
            report = AddGaussianErrors(report, model, heldOut, truth);
        }

        // The likelihood of a dequantised model is that of the held-out points plus one seeded draw of the same noise: the
        // usual dequantised log-likelihood, a lower bound on the log-probability of the integer points.
        var likelihoodPoints = quantised ? Dequantized(heldOut, model.DequantizationWidth, options.Seed) : heldOut;
        report = Density.HeldOutLikelihood.AddTo(report, model, likelihoodPoints, latents, options.Seed); // docs/density.md
        if (quantised)
        {
            report = report with { SampleTreatment = "samples floored: the model was fitted to integer data plus U[0, 1) noise; log-likelihood of the held-out points plus one draw of that noise" };
        }

        return (report, samples, latents);
    }

    /// <summary>
    /// The metrics of samples from any source (another model, a baseline) against <paramref name="heldOut"/>, with the
    /// Sinkhorn divergence on <paramref name="context"/>'s accelerator unless the options bring their own.
    /// </summary>
    /// <param name="context">The accelerator for the Sinkhorn divergence.</param>
    /// <param name="samples">Row-major [n, d], n &gt;= 2.</param>
    /// <param name="heldOut">Row-major [m, d], m &gt;= 4.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">The metrics' options.</param>
    /// <returns>The report.</returns>
    public static MetricsReport EvaluateSamples(CmmContext context, float[] samples, float[] heldOut, int dimension, MetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        return MetricsEvaluator.Evaluate(samples, heldOut, dimension, WithSinkhorn(options, context));
    }

    /// <summary>The points plus U[0, <paramref name="width"/>) noise from a generator seeded with <paramref name="seed"/>.</summary>
    private static float[] Dequantized(float[] points, double width, int seed)
    {
        var rng = new Random(unchecked(seed + 31));
        return points.Select(v => (float)(v + (width * rng.NextDouble()))).ToArray();
    }

    /// <summary>The options with the debiased Sinkhorn divergence (relative epsilon 0.05) on <paramref name="ctx"/>, unless they have one.</summary>
    private static MetricsOptions WithSinkhorn(MetricsOptions options, CmmContext ctx) => options.SinkhornDivergence is not null ? options : options with
    {
        SinkhornDivergence = (x, y, dim) =>
        {
            using var solver = new SinkhornSolver(ctx, new SinkhornOptions { RelativeEpsilon = 0.05, Tolerance = 1e-4, MaxIterations = 5000 });
            using var dx = DevicePoints.Upload(ctx, x, dim);
            using var dy = DevicePoints.Upload(ctx, y, dim);
            return solver.Divergence(dx, dy).Value;
        },
    };

    /// <summary>
    /// Hessian and gradient errors of the fitted potential against the closed form of the Gaussian target N(m, S), at up
    /// to 256 held-out points, in the model's fitting coordinates: the data's own for CMM models of format version 2; the
    /// centred data N(0, S) for MM; for version-1 models the normalised target N((m - mean)/s, S/s^2) they were fitted to.
    /// </summary>
    private static MetricsReport AddGaussianErrors(MetricsReport report, FittedModel model, float[] heldOut, DatasetTruth truth)
    {
        int d = model.Dimension;
        var norm = model.Normalization;
        double s2 = (double)norm.Scale * norm.Scale;
        var mean = truth.Mean.Select((m, k) => (m - norm.Mean[k]) / norm.Scale).ToArray();
        var cov = truth.Covariance.Select(c => c / s2).ToArray();
        int n = Math.Min(256, heldOut.Length / d);
        var z = heldOut.AsSpan(0, n * d).ToArray();
        norm.Forward(z);
        var ctx = model.Potential.Context;
        using var p = DevicePoints.Upload(ctx, z, d);
        using var h = DeviceVector.Allocate(ctx, (long)n * d * d);
        using var g = DevicePoints.Allocate(ctx, n, d);
        model.Potential.Hessian(p, h);
        model.Potential.Gradient(p, g);
        double[] reference;
        float[] expectedGradient;
        if (model.Method == FitMethod.Cmm)
        {
            var cf = GaussianClosedForm.Cmm(mean, cov);
            reference = SymmetricMatrix.ToRowMajor(cf.A);
            expectedGradient = cf.GradW(z);
        }
        else
        {
            var mm = GaussianClosedForm.Mm(cov);
            reference = SymmetricMatrix.ToRowMajor(mm.Hessian);
            // grad u(x) = S x is a map from latents; at data points compare the Hessian only.
            expectedGradient = [];
        }

        var errors = SampleMetrics.HessianRelativeErrors(h.ToArray(), reference, d);
        return report with
        {
            HessianRelativeError = errors.Average(),
            HessianRelativeErrorMax = errors.Max(),
            GradientRelativeError = expectedGradient.Length > 0 ? SampleMetrics.RelativeL2Error(g.ToArray(), expectedGradient) : null,
        };
    }
}
