namespace CMM.Gpu.Metrics;

/// <summary>Computes a <see cref="MetricsReport"/> for generated samples against held-out data.</summary>
public static class MetricsEvaluator
{
    /// <summary>Neighbour rank of the k-NN precision and recall (3, as in Kynkaenniemi et al. 2019).</summary>
    public const int PrecisionRecallK = 3;

    /// <summary>Quantile of the held-out half's own nearest-neighbour distances beyond which a point is off the support (<see cref="SampleMetrics.OffSupportShare"/>).</summary>
    public const double OffSupportQuantile = 0.99;

    /// <summary>
    /// Evaluates generated samples. The held-out data is split (seeded) into halves A and B of h = floor(n/2)
    /// points; each distribution metric is D(G, B) with G a seeded subsample of h generated points, and its
    /// noise floor is D(A, B): both compare h against h points, so their ratio is meaningful. Both are
    /// averaged over <see cref="MetricsOptions.Splits"/> independent splits: one split's floor is itself so
    /// noisy that a perfect model's ratio exceeds 2 about one time in twenty (docs/metrics.md). The O(n^2)
    /// metrics cap h at <see cref="MetricsOptions.MaxPairwisePoints"/>. Mean and covariance errors use all
    /// generated points against the true moments when given, else against all held-out points; so do the mode shares
    /// (against all held-out points) when <see cref="MetricsOptions.Modes"/> is set.
    /// </summary>
    /// <param name="generated">Row-major [n_gen, d], n_gen &gt;= 2.</param>
    /// <param name="heldOut">Row-major [n_held, d], n_held &gt;= 4.</param>
    /// <param name="dimension">d.</param>
    /// <param name="options">Options; null for the defaults.</param>
    /// <returns>The report (Hessian and gradient errors left null: set them with <c>with</c>).</returns>
    /// <exception cref="ArgumentException">Bad shapes, invalid options, or modes of another dimension.</exception>
    public static MetricsReport Evaluate(float[] generated, float[] heldOut, int dimension, MetricsOptions? options = null)
    {
        options ??= MetricsOptions.Default;
        options.ThrowIfInvalid();

        int nGen = SampleMetrics.Rows(generated, dimension, nameof(generated));
        int nHeld = SampleMetrics.Rows(heldOut, dimension, nameof(heldOut));
        if (nGen < 2 || nHeld < 4)
        {
            throw new ArgumentException($"need at least 2 generated and 4 held-out points (got {nGen} and {nHeld})");
        }

        if (options.Modes is { } modes && modes.Dimension != dimension)
        {
            throw new ArgumentException($"the modes of '{modes.Name}' are for d = {modes.Dimension} but the data have d = {dimension}");
        }

        int d = dimension;
        int splits = options.Splits;
        int h = Math.Min(nHeld / 2, nGen);
        int hp = Math.Min(h, options.MaxPairwisePoints);
        bool hasSinkhorn = options.SinkhornDivergence is not null, hasKnn = hp > PrecisionRecallK, hasW1 = d == 1;
        var energy = new SplitMean(splits);
        var sinkhorn = new SplitMean(splits);
        var precision = new SplitMean(splits);
        var recall = new SplitMean(splits);
        var w1 = new SplitMean(splits);
        var offSupport = new SplitMean(splits);
        var classifier = new SplitMean(splits);
        bool hasClassifier = h >= 8;
        for (int r = 0; r < splits; r++)
        {
            // Split r uses seeds Seed + 2r (held-out halves) and Seed + 2r + 1 (generated subsample): split 0 is the
            // single split of Splits = 1.
            int seed = unchecked(options.Seed + (2 * r));
            var (a, b) = NoiseFloor.Split(heldOut, d, seed);
            var perm = NoiseFloor.Permutation(nGen, unchecked(seed + 1));
            var g = NoiseFloor.Gather(generated, d, perm, 0, h);
            a = a[..(h * d)];
            b = b[..(h * d)];
            float[] gp = g[..(hp * d)], ap = a[..(hp * d)], bp = b[..(hp * d)];

            energy.Add(SampleMetrics.EnergyDistance(gp, bp, d), SampleMetrics.EnergyDistance(ap, bp, d));
            if (options.SinkhornDivergence is { } sd)
            {
                sinkhorn.Add(sd(gp, bp, d), sd(ap, bp, d));
            }

            offSupport.Add(SampleMetrics.OffSupportShare(gp, bp, d, OffSupportQuantile), SampleMetrics.OffSupportShare(ap, bp, d, OffSupportQuantile));
            if (hasKnn)
            {
                precision.Add(SampleMetrics.ManifoldCoverage(gp, bp, d, PrecisionRecallK), SampleMetrics.ManifoldCoverage(ap, bp, d, PrecisionRecallK));
                recall.Add(SampleMetrics.ManifoldCoverage(bp, gp, d, PrecisionRecallK), SampleMetrics.ManifoldCoverage(bp, ap, d, PrecisionRecallK));
            }

            if (hasClassifier)
            {
                classifier.Add(ClassifierTwoSampleTest.Accuracy(g, b, d, unchecked(seed + 7)), ClassifierTwoSampleTest.Accuracy(a, b, d, unchecked(seed + 7)));
            }

            if (hasW1)
            {
                w1.Add(SampleMetrics.Wasserstein1(g, b), SampleMetrics.Wasserstein1(a, b));
            }
        }

        (double Share, double HeldOutShare, double Threshold)? nearCopies = options.TrainingPoints is { } training
            ? SampleMetrics.NearCopyShare(generated, training, heldOut, d)
            : null;
        var balance = options.TrainingLabels is { } labels
            ? ClassBalanceReport.Evaluate(LabelClassifier.Train(options.TrainingPoints!, d, labels), generated, heldOut, options.HeldOutLabels)
            : null;
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
            Splits = splits,
            EnergyDistance = energy.Model,
            EnergyDistanceNoiseFloor = energy.Floor,
            SinkhornDivergence = hasSinkhorn ? sinkhorn.Model : null,
            SinkhornDivergenceNoiseFloor = hasSinkhorn ? sinkhorn.Floor : null,
            Precision = hasKnn ? precision.Model : null,
            PrecisionNoiseFloor = hasKnn ? precision.Floor : null,
            Recall = hasKnn ? recall.Model : null,
            RecallNoiseFloor = hasKnn ? recall.Floor : null,
            Wasserstein1 = hasW1 ? w1.Model : null,
            Wasserstein1NoiseFloor = hasW1 ? w1.Floor : null,
            OffSupportShare = offSupport.Model,
            OffSupportShareNoiseFloor = offSupport.Floor,
            ClassifierAccuracy = hasClassifier ? classifier.Model : null,
            ClassifierAccuracyNoiseFloor = hasClassifier ? classifier.Floor : null,
            ModeCoverage = options.Modes is { } m ? Metrics.ModeCoverage.Evaluate(m, generated, heldOut, d) : null,
            NearCopyShare = nearCopies?.Share,
            NearCopyShareNoiseFloor = nearCopies?.HeldOutShare,
            NearCopyDistance = nearCopies?.Threshold,
            ClassBalance = balance,
            MeanError = SampleMetrics.MeanError(generated, d, refMean),
            CovarianceError = SampleMetrics.CovarianceError(generated, d, refCov),
            MomentsReference = truth ? "truth" : options.TrueMean is not null || options.TrueCovariance is not null ? "mixed" : "held_out",
        };
    }

    /// <summary>A metric and its noise floor, each summed over the splits and read as the mean.</summary>
    private sealed class SplitMean(int splits)
    {
        private double model;
        private double floor;

        public double Model => model / splits;

        public double Floor => floor / splits;

        public void Add(double modelValue, double floorValue)
        {
            model += modelValue;
            floor += floorValue;
        }
    }
}
