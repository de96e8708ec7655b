namespace CMM.Gpu.Metrics;

/// <summary>Computes a <see cref="MetricsReport"/> for generated samples against held-out data.</summary>
public static class MetricsEvaluator
{
    /// <summary>Neighbour rank of the k-NN precision and recall (3, as in Kynkaenniemi et al. 2019).</summary>
    public const int PrecisionRecallK = 3;

    /// <summary>
    /// Evaluates generated samples. The held-out data is split (seeded) into halves A and B of h = floor(n/2)
    /// points; each distribution metric is D(G, B) with G a seeded subsample of h generated points, and its
    /// noise floor is D(A, B): both compare h against h points, so their ratio is meaningful. The O(n^2)
    /// metrics cap h at <see cref="MetricsOptions.MaxPairwisePoints"/>. Mean and covariance errors use all
    /// generated points against the true moments when given, else against all held-out points.
    /// </summary>
    /// <param name="generated">Row-major [n_gen, d], n_gen &gt;= 2.</param>
    /// <param name="heldOut">Row-major [n_held, d], n_held &gt;= 4.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Options; null for the defaults.</param>
    /// <returns>The report (Hessian and gradient errors left null: set them with <c>with</c>).</returns>
    /// <exception cref="ArgumentException">Bad shapes or invalid options.</exception>
    public static MetricsReport Evaluate(float[] generated, float[] heldOut, int dimension, MetricsOptions? options = null)
    {
        options ??= MetricsOptions.Default;
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid metrics options:\n  - " + string.Join("\n  - ", problems), nameof(options));
        }

        int nGen = SampleMetrics.Rows(generated, dimension, nameof(generated));
        int nHeld = SampleMetrics.Rows(heldOut, dimension, nameof(heldOut));
        if (nGen < 2 || nHeld < 4)
        {
            throw new ArgumentException($"need at least 2 generated and 4 held-out points (got {nGen} and {nHeld})");
        }

        int d = dimension;
        var (a, b) = NoiseFloor.Split(heldOut, d, options.Seed);
        int h = Math.Min(a.Length / d, nGen);
        var perm = NoiseFloor.Permutation(nGen, unchecked(options.Seed + 1));
        var g = NoiseFloor.Gather(generated, d, perm, 0, h);
        a = a[..(h * d)];
        b = b[..(h * d)];

        int hp = Math.Min(h, options.MaxPairwisePoints);
        float[] gp = g[..(hp * d)], ap = a[..(hp * d)], bp = b[..(hp * d)];

        double? sink = null, sinkFloor = null;
        if (options.SinkhornDivergence is { } sd)
        {
            sink = sd(gp, bp, d);
            sinkFloor = sd(ap, bp, d);
        }

        double? precision = null, precisionFloor = null, recall = null, recallFloor = null;
        if (hp > PrecisionRecallK)
        {
            precision = SampleMetrics.ManifoldCoverage(gp, bp, d, PrecisionRecallK);
            precisionFloor = SampleMetrics.ManifoldCoverage(ap, bp, d, PrecisionRecallK);
            recall = SampleMetrics.ManifoldCoverage(bp, gp, d, PrecisionRecallK);
            recallFloor = SampleMetrics.ManifoldCoverage(bp, ap, d, PrecisionRecallK);
        }

        double? w1 = null, w1Floor = null;
        if (d == 1)
        {
            w1 = SampleMetrics.Wasserstein1(g, b);
            w1Floor = SampleMetrics.Wasserstein1(a, b);
        }

        bool truth = options.TrueMean is not null && options.TrueCovariance is not null;
        var refMean = options.TrueMean ?? SampleMetrics.Mean(heldOut, d);
        var refCov = options.TrueCovariance ?? SampleMetrics.Covariance(heldOut, d);
        return new MetricsReport
        {
            Data = options.DataName,
            Dimension = d,
            GeneratedCount = nGen,
            HeldOutCount = nHeld,
            ComparedCount = hp,
            EnergyDistance = SampleMetrics.EnergyDistance(gp, bp, d),
            EnergyDistanceNoiseFloor = SampleMetrics.EnergyDistance(ap, bp, d),
            SinkhornDivergence = sink,
            SinkhornDivergenceNoiseFloor = sinkFloor,
            Precision = precision,
            PrecisionNoiseFloor = precisionFloor,
            Recall = recall,
            RecallNoiseFloor = recallFloor,
            Wasserstein1 = w1,
            Wasserstein1NoiseFloor = w1Floor,
            MeanError = SampleMetrics.MeanError(generated, d, refMean),
            CovarianceError = SampleMetrics.CovarianceError(generated, d, refCov),
            MomentsReference = truth ? "truth" : options.TrueMean is not null || options.TrueCovariance is not null ? "mixed" : "held_out",
        };
    }
}
