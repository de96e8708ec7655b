using CMM.Gpu.Data;
using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Memory;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

[Collection(AcceleratorTestGroup.Name)]
public sealed class FittingTests(AcceleratorFixture fixture) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-fit-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static FitOptions Tiny(FitObjective objective, FitMethod method = FitMethod.Cmm, FitNetwork network = FitNetwork.Potential) => new()
    {
        Objective = objective,
        Method = method,
        Network = network,
        Iterations = 6,
        Particles = 48,
        BatchSize = 40,
        LangevinSteps = 2,
        HiddenWidths = [8],
        CheckpointEvery = 3,
        Seed = 7,
    };

    [Fact]
    public void OptionsValidationListsEveryProblem()
    {
        var o = new FitOptions { Iterations = 0, Particles = -1, LearningRate = double.NaN, HiddenWidths = [], LangevinStepSize = 2 };
        var problems = o.Validate();
        Assert.Contains(problems, p => p.Contains("iterations", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("particles", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("learning rate", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("hidden widths", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("too large", StringComparison.Ordinal));
        Assert.Empty(new FitOptions().Validate());
        Assert.Throws<ArgumentException>(() => o.ThrowIfInvalid());
    }

    [Fact]
    public void LearningRateScheduleRunsFromStartToEnd()
    {
        var o = new FitOptions { Iterations = 11, LearningRate = 1e-2, FinalLearningRate = 1e-3 };
        Approx.Equal(1e-2, o.LearningRateAt(0), 1e-12, 1e-9);
        Approx.Equal(1e-3, o.LearningRateAt(10), 1e-12, 1e-9);
        Approx.Equal(5.5e-3, o.LearningRateAt(5), 1e-12, 1e-9);
    }

    [Fact]
    public void NonFiniteDataIsRejected()
    {
        var data = new float[] { 1, 2, float.NaN, 4 };
        Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, data, 1, Tiny(FitObjective.SemiDual)));
        Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, new float[] { 1 }, 1, Tiny(FitObjective.SemiDual)));
    }

    public static TheoryData<FitObjective, FitMethod, FitNetwork> Combinations() => new()
    {
        { FitObjective.SemiDual, FitMethod.Cmm, FitNetwork.Potential },
        { FitObjective.Map, FitMethod.Cmm, FitNetwork.Potential },
        { FitObjective.SemiDual, FitMethod.Cmm, FitNetwork.Conjugate },
        { FitObjective.Map, FitMethod.Cmm, FitNetwork.Conjugate },
        { FitObjective.SemiDual, FitMethod.MomentMeasure, FitNetwork.Potential },
        { FitObjective.Map, FitMethod.MomentMeasure, FitNetwork.Potential },
        { FitObjective.Likelihood, FitMethod.Cmm, FitNetwork.Potential },
    };

    [Fact]
    public void LikelihoodObjectiveIsRefusedWhereItIsNotImplemented()
    {
        // The default network is u = w*, so `--objective likelihood` alone is refused, naming what works.
        foreach (var bad in new[]
                 {
                     new FitOptions { Objective = FitObjective.Likelihood },
                     new FitOptions { Objective = FitObjective.Likelihood, Network = FitNetwork.Conjugate },
                     new FitOptions { Objective = FitObjective.Likelihood, Method = FitMethod.MomentMeasure, Network = FitNetwork.Potential },
                 })
        {
            var problem = Assert.Single(bad.Validate());
            Assert.Contains("--objective likelihood works only with --method cmm --network w", problem, StringComparison.Ordinal);
            Assert.Contains("use --objective semidual or map", problem, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', problem);
            Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, Datasets.Create("moons", 20, 1).Points, 2, bad));
        }

        var good = new FitOptions { Objective = FitObjective.Likelihood, Network = FitNetwork.Potential };
        Assert.Empty(good.Validate());
        Assert.Contains("objective=likelihood", good.Describe(), StringComparison.Ordinal);
        Assert.Equal("likelihood", good.ObjectiveName);
    }

    [Fact]
    public void LikelihoodFitMovesAPerturbedGaussianStartTowardsTheClosedForm()
    {
        // rho = N(m, S): the fit starts from the closed form of the sample's Gaussian with its quadratic term's factor R
        // scaled by 1.15 (Hessian about 30 % too curved); maximum likelihood must bring the Hessian of w back towards
        // S^(-1/3) and the held-out log-likelihood up, to no worse than the unperturbed Gaussian start's.
        double[] mean = [0.5, -0.25];
        double[] cov = [2.0, 0.3, 0.3, 0.5];
        var truth = GaussianClosedForm.Cmm(mean, cov);
        var gaussian = new DatasetOptions { Mean = mean, Covariance = cov };
        var data = Datasets.Create("gaussian", 2000, 11, gaussian).Points;
        var heldOut = Datasets.Create("gaussian", 2000, 12, gaussian).Points;
        var options = new FitOptions
        {
            Objective = FitObjective.Likelihood, Network = FitNetwork.Potential, Sharpness = 8, Iterations = 150, HiddenWidths = [8], Particles = 256, BatchSize = 256, Seed = 3,
        };
        using var f = CmmFitter.Create(fixture.Context, data, 2, options);
        var gaussianStart = f.ToModel();
        var theta = f.Potential.GetParameters();
        var layout = f.Potential.Layout;
        for (int i = layout.LowRankOffset; i < layout.LinearOffset; i++)
        {
            theta[i] *= 1.15f;
        }

        f.Potential.SetParameters(theta);
        var perturbed = f.ToModel();
        var r = f.Run();
        Assert.Equal(FitStatus.Completed, r.Status);
        Assert.All(r.LossHistory, l => Assert.True(double.IsFinite(l)));
        var (hStart, llStart) = Assess(perturbed);
        var (hGaussian, llGaussian) = Assess(gaussianStart);
        var (hEnd, llEnd) = Assess(r.Model);
        string report = $"Hessian error {hStart:P1} -> {hEnd:P1} (Gaussian start {hGaussian:P1}); held-out log-likelihood {llStart:F4} -> {llEnd:F4} (Gaussian start {llGaussian:F4})";
        // Measured: 19.4 % -> 1.7 % (Gaussian start 0.6 %); -2.9848 -> -2.8249 (Gaussian start -2.8254). The 0.01 nats allow for the
        // two log Z estimates (standard errors about 0.001-0.002 each) and the fit's small network following its 2,000 points.
        Assert.True(hEnd < 0.04 && hEnd < hStart / 4, report);
        Assert.True(llEnd > llStart && llEnd > llGaussian - 0.01, report);

        (double HessianError, double LogLikelihood) Assess(CMM.Gpu.Icnn.IcnnModel model)
        {
            using var fitted = new FittedModel(fixture.Context, model);
            var probe = TestData.Normal(64 * 2, 5);
            using var p = DevicePoints.Upload(fixture.Context, probe, 2);
            using var h = DeviceVector.Allocate(fixture.Context, 64 * 4);
            fitted.Potential.Hessian(p, h);
            var errors = CMM.Gpu.Metrics.SampleMetrics.HessianRelativeErrors(h.ToArray(), SymmetricMatrix.ToRowMajor(truth.A), 2);
            var (_, latents, _) = ModelEvaluation.Generate(fitted, 2000, 17);
            var ll = CMM.Gpu.Density.HeldOutLikelihood.Evaluate(fitted, heldOut, latents, 19);
            Assert.NotNull(ll);
            Assert.Equal(0, ll.Undefined);
            return (errors.Average(), ll.Mean);
        }
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void ResumedFitEqualsUninterruptedFit(FitObjective objective, FitMethod method, FitNetwork network)
    {
        var data = Datasets.Create("moons", 90, 3).Points;
        var options = Tiny(objective, method, network);
        float[] expected;
        var ckpt = Path.Combine(dir, "fit.ckpt");
        var first = new KeepCheckpoint(3, ckpt);
        using (var f = CmmFitter.Create(fixture.Context, data, 2, options))
        {
            // The uninterrupted run checkpoints every 3 iterations; the copy made at iteration 3 is what a
            // process killed between iterations 3 and 6 would leave behind.
            var r = f.Run(first, Path.Combine(dir, "running.ckpt"));
            Assert.Equal(FitStatus.Completed, r.Status);
            Assert.Equal(6, r.Iterations);
            Assert.All(r.LossHistory, l => Assert.True(double.IsFinite(l)));
            expected = f.Potential.GetParameters();
        }

        var c = FitCheckpoint.Load(ckpt);
        Assert.Equal(3, c.Iteration);
        using (var f = CmmFitter.Resume(fixture.Context, data, 2, options, c))
        {
            Assert.Equal(3, f.Iteration);
            var r = f.Run();
            Assert.Equal(6, r.Iterations);
            Assert.Equal(expected, f.Potential.GetParameters());
        }
    }

    [Fact]
    public void EarlyStoppingHoldsOutValidationPointsAndKeepsTheBestValidatedModel()
    {
        var data = Datasets.Create("moons", 100, 3).Points;
        var options = Tiny(FitObjective.SemiDual) with { Iterations = 40, ValidationFraction = 0.2, ValidateEvery = 1, Patience = 2, CheckpointEvery = 0 };
        using var f = CmmFitter.Create(fixture.Context, data, 2, options);
        Assert.Equal(80, f.TrainingCount);
        Assert.Equal(20, f.ValidationCount);
        var observer = new RecordValidations(f);
        var r = f.Run(observer);

        // The loop stopped after Patience validations without a new best, and returned that best's parameters.
        Assert.Equal(FitStatus.EarlyStopped, r.Status);
        Assert.True(r.Iterations < options.Iterations);
        Assert.Equal(r.Iterations, observer.Validations.Count); // one validation per iteration
        var lastBest = observer.Validations.FindLastIndex(v => v.Improved);
        Assert.Equal(options.Patience, observer.Validations.Count - 1 - lastBest);
        Assert.Equal(observer.Validations[lastBest].Iteration, r.BestIteration);
        Assert.Equal(observer.Validations[lastBest].Energy, r.BestValidation);
        Assert.Equal(observer.Validations.Min(v => v.Energy), r.BestValidation);
        Assert.Equal(observer.BestParameters, r.Model.Parameters.ToArray());
        Assert.Equal((long)r.BestIteration!.Value, r.Model.Metadata.Iterations);
        Assert.NotEqual(observer.BestParameters, f.Potential.GetParameters()); // the fitter keeps its own state

        // The reported value is the metric: recomputed at the same state it is the same number.
        Assert.All(observer.Validations, v => Assert.Equal(v.Energy, v.Recomputed));
        Assert.All(observer.Validations, v => Assert.True(v.Energy > 0 && double.IsFinite(v.Energy)));
    }

    [Fact]
    public void EarlyStoppingStateSurvivesAResume()
    {
        var data = Datasets.Create("moons", 90, 3).Points;
        var options = Tiny(FitObjective.SemiDual) with { ValidationFraction = 0.25, ValidateEvery = 2, Patience = 50 };
        var ckpt = Path.Combine(dir, "es.ckpt");
        FitResult whole;
        using (var f = CmmFitter.Create(fixture.Context, data, 2, options))
        {
            whole = f.Run(new KeepCheckpoint(3, ckpt), Path.Combine(dir, "es-running.ckpt"));
        }

        var c = FitCheckpoint.Load(ckpt);
        Assert.Equal(3, c.Iteration);
        Assert.Equal(2, c.BestIteration);
        Assert.Equal(0, c.ValidationsSinceBest);
        Assert.True(double.IsFinite(c.BestValidation));
        using (var f = CmmFitter.Resume(fixture.Context, data, 2, options, c))
        {
            var resumed = f.Run();
            Assert.Equal(whole.Status, resumed.Status);
            Assert.Equal(whole.BestIteration, resumed.BestIteration);
            Assert.Equal(whole.BestValidation, resumed.BestValidation);
            Assert.Equal(whole.Model.Parameters.ToArray(), resumed.Model.Parameters.ToArray());
        }

        // Without early stopping the options' fingerprint is what it was before early stopping existed.
        Assert.DoesNotContain("validation", new FitOptions().Describe(), StringComparison.Ordinal);
        Assert.Contains("validation_fraction=0.25", options.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void EarlyStoppingOptionsAreChecked()
    {
        var problems = new FitOptions { ValidationFraction = 0.6, ValidateEvery = 0, Patience = 0 }.Validate();
        Assert.Contains(problems, p => p.Contains("validation fraction", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("validation interval", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("patience", StringComparison.Ordinal));
        Assert.Contains(new FitOptions { ValidationFraction = double.NaN }.Validate(), p => p.Contains("validation fraction", StringComparison.Ordinal));
        var few = Datasets.Create("moons", 6, 3).Points;
        var e = Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, few, 2, Tiny(FitObjective.SemiDual) with { ValidationFraction = 0.1 }));
        Assert.Contains("at least 2", e.Message, StringComparison.Ordinal);
        using var off = CmmFitter.Create(fixture.Context, few, 2, Tiny(FitObjective.SemiDual));
        Assert.Equal(0, off.ValidationCount);
        Assert.Throws<InvalidOperationException>(() => off.ValidationEnergy());
    }

    [Fact]
    public void OneDimensionalDataFit()
    {
        // d = 1 caps the low-rank quadratic term at rank 1 (the default rank 2 would be invalid).
        var data = Datasets.Create("bimodal", 80, 2).Points;
        using var f = CmmFitter.Create(fixture.Context, data, 1, Tiny(FitObjective.SemiDual));
        Assert.Equal(1, f.Potential.Architecture.Rank);
        var r = f.Run();
        Assert.Equal(FitStatus.Completed, r.Status);
        Assert.All(r.LossHistory, l => Assert.True(double.IsFinite(l)));
    }

    [Fact]
    public void CancellationStopsAndCheckpoints()
    {
        var data = Datasets.Create("moons", 60, 3).Points;
        var ckpt = Path.Combine(dir, "cancel.ckpt");
        using var cts = new CancellationTokenSource();
        using var f = CmmFitter.Create(fixture.Context, data, 2, Tiny(FitObjective.SemiDual) with { CheckpointEvery = 0 });
        var observer = new CancelAfter(2, cts);
        var r = f.Run(observer, ckpt, cts.Token);
        Assert.Equal(FitStatus.Cancelled, r.Status);
        Assert.Equal(2, r.Iterations);
        Assert.Equal(2, FitCheckpoint.Load(ckpt).Iteration);
        Assert.Equal(2, observer.Seen);
    }

    [Fact]
    public void ResumeRefusesOtherDataOrOptions()
    {
        var data = Datasets.Create("moons", 60, 3).Points;
        var ckpt = Path.Combine(dir, "other.ckpt");
        var options = Tiny(FitObjective.SemiDual) with { Iterations = 2 };
        using (var f = CmmFitter.Create(fixture.Context, data, 2, options))
        {
            f.Run(checkpointPath: ckpt);
            f.SaveCheckpoint(ckpt);
        }

        var c = FitCheckpoint.Load(ckpt);
        var other = Datasets.Create("moons", 60, 4).Points;
        var e1 = Assert.Throws<InvalidDataException>(() => CmmFitter.Resume(fixture.Context, other, 2, options, c));
        Assert.Contains("other training data", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<InvalidDataException>(() => CmmFitter.Resume(fixture.Context, data, 2, options with { LearningRate = 0.5 }, c));
        Assert.Contains("other fitting options", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckpointFilesRejectTruncationCorruptionAndNewerVersions()
    {
        var c = new FitCheckpoint { Iteration = 5, Particles = [1, 2, 3], AdamM = [0.5f], AdamV = [0.25f], Model = [1, 2, 3, 4], OptionsFingerprint = "o", DataFingerprint = "d" };
        var bytes = c.Serialize();
        var back = FitCheckpoint.Deserialize(bytes, "c");
        Assert.Equal(c.Iteration, back.Iteration);
        Assert.Equal(c.Particles, back.Particles);
        Assert.Equal(c.Model, back.Model);
        Assert.Equal("d", back.DataFingerprint);
        foreach (int cut in new[] { 0, 7, 19, bytes.Length / 2, bytes.Length - 1 })
        {
            var e = Assert.Throws<InvalidDataException>(() => FitCheckpoint.Deserialize(bytes.AsSpan(0, cut), "c"));
            Assert.StartsWith("c: ", e.Message, StringComparison.Ordinal);
        }

        var corrupt = bytes.ToArray();
        corrupt[30] ^= 0x40;
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => FitCheckpoint.Deserialize(corrupt, "c")).Message, StringComparison.Ordinal);
        var newer = bytes.ToArray();
        newer[8] = 99;
        Assert.Contains("newer", Assert.Throws<InvalidDataException>(() => FitCheckpoint.Deserialize(newer, "c")).Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => FitCheckpoint.Load(Path.Combine(dir, "missing.ckpt")));
    }

    [Fact]
    public void CheckpointsKeepTheEarlyStoppingStateAndVersionOneFilesStillLoad()
    {
        var c = new FitCheckpoint { Iteration = 5, Particles = [1, 2], Model = [1, 2, 3], OptionsFingerprint = "o", DataFingerprint = "d",
            BestValidation = 0.125, BestIteration = 4, ValidationsSinceBest = 1, BestParameters = [3, 4, 5] };
        var back = FitCheckpoint.Deserialize(c.Serialize(), "c");
        Assert.Equal(0.125, back.BestValidation);
        Assert.Equal(4, back.BestIteration);
        Assert.Equal(1, back.ValidationsSinceBest);
        Assert.Equal([3f, 4f, 5f], back.BestParameters);

        // A version-2 file is a version-3 payload without its last 20 bytes (the health state: two empty double arrays, two
        // ints, an empty float array); a version-1 file lacks 20 more (double, two ints, an empty float array) too. Each sits
        // under its own header version and that payload's own checksum.
        var v3 = (c with { BestValidation = double.NaN, BestIteration = 0, ValidationsSinceBest = 0, BestParameters = [] }).Serialize();
        var two = FitCheckpoint.Deserialize(Downgrade(v3, 2, 20), "v2");
        Assert.Equal(5, two.Iteration);
        Assert.Empty(two.HealthAcceptance);
        Assert.Empty(two.HealthyParameters);
        var old = FitCheckpoint.Deserialize(Downgrade(v3, 1, 40), "v1");
        Assert.Equal(5, old.Iteration);
        Assert.Equal("d", old.DataFingerprint);
        Assert.True(double.IsNaN(old.BestValidation));
        Assert.Empty(old.BestParameters);
        Assert.Equal(0, old.BestIteration);

        static byte[] Downgrade(byte[] current, int version, int cut)
        {
            long length = BitConverter.ToInt64(current, 12);
            var payload = current.AsSpan(20, (int)length - cut).ToArray();
            var bytes = new List<byte>();
            bytes.AddRange(current.AsSpan(0, 8).ToArray());
            bytes.AddRange(BitConverter.GetBytes(version));
            bytes.AddRange(BitConverter.GetBytes((long)payload.Length));
            bytes.AddRange(payload);
            bytes.AddRange(System.Security.Cryptography.SHA256.HashData(payload));
            return bytes.ToArray();
        }
    }

    [Theory]
    [InlineData(FitNetwork.Conjugate)]
    [InlineData(FitNetwork.Potential)]
    public void GaussianFitRecoversTheClosedFormHessian(FitNetwork network)
    {
        // rho = N(m, S) with S anisotropic, fitted in the data's coordinates: the Hessian of w must approach S^(-1/3)
        // (docs/maths.md section 2), whether the ICNN is w or u = w* (then Hess w = Hess u^-1). A small network and few
        // iterations keep this under a few seconds here; it measured 1.2 % with the defaults of 2026-11-29 (issue 6's target
        // is 5 %; 1/2|x|^2 would be 24.8 % off).
        double[] mean = [0.5, -0.25];
        double[] cov = [2.0, 0.3, 0.3, 0.5];
        var truth = GaussianClosedForm.Cmm(mean, cov);
        var data = Datasets.Create("gaussian", 2000, 11, new DatasetOptions { Mean = mean, Covariance = cov }).Points;
        var options = new FitOptions { Iterations = 150, HiddenWidths = [8], Particles = 256, BatchSize = 256, Seed = 3, Network = network };
        using var f = CmmFitter.Create(fixture.Context, data, 2, options);
        var r = f.Run();
        Assert.Equal(FitStatus.Completed, r.Status);
        using var model = new FittedModel(fixture.Context, r.Model);
        Assert.Equal(network, model.NetworkRole);
        var probe = TestData.Normal(64 * 2, 5);
        using var p = DevicePoints.Upload(fixture.Context, probe, 2);
        using var h = DeviceVector.Allocate(fixture.Context, 64 * 4);
        model.Potential.Hessian(p, h);
        var errors = CMM.Gpu.Metrics.SampleMetrics.HessianRelativeErrors(h.ToArray(), SymmetricMatrix.ToRowMajor(truth.A), 2);
        Assert.True(errors.Average() < 0.04, $"mean Hessian error {errors.Average():P1} (initial model: 1/2|x|^2 would be {InitialError(truth):P1})");
    }

    private static double InitialError(CmmGaussian truth)
    {
        var a = SymmetricMatrix.ToRowMajor(truth.A);
        double num = 0, den = 0;
        for (int i = 0; i < 4; i++)
        {
            double id = i is 0 or 3 ? 1 : 0;
            num += (a[i] - id) * (a[i] - id);
            den += a[i] * a[i];
        }

        return Math.Sqrt(num / den);
    }

    [Fact]
    public void NonFiniteStepsRollBackHalveTheRateAndFinallyStop()
    {
        var data = Datasets.Create("moons", 60, 3).Points;
        var log = new RecoveryLog();
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny(FitObjective.SemiDual)))
        {
            f.InjectNonFiniteStep = it => it == 3 && f.Recoveries == 0;
            var r = f.Run(log);
            Assert.Equal(FitStatus.Completed, r.Status);
            Assert.Equal(6, r.Iterations);
            Assert.Equal(1, r.Recoveries);
            Assert.Equal([(3, 0.5)], log.Events);
        }

        var always = new RecoveryLog();
        using (var f = CmmFitter.Create(fixture.Context, data, 2, Tiny(FitObjective.SemiDual)))
        {
            f.InjectNonFiniteStep = it => it >= 4;
            var r = f.Run(always);
            Assert.Equal(FitStatus.Diverged, r.Status);
            Assert.Equal(3, r.Iterations);
            Assert.Equal(7, r.Recoveries);
            Assert.Equal([0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0], always.Events.Select(e => e.Scale));
            Assert.All(f.Potential.GetParameters(), v => Assert.True(float.IsFinite(v)));
        }
    }

    private sealed class RecoveryLog : IFitObserver
    {
        public List<(int Iteration, double Scale)> Events { get; } = [];

        public void OnIteration(FitProgress progress)
        {
        }

        public void OnRecovery(int iteration, double learningRateScale) => Events.Add((iteration, learningRateScale));

        public void OnCheckpoint(string path, int iteration)
        {
        }
    }

    private sealed class KeepCheckpoint(int iteration, string copy) : IFitObserver
    {
        public void OnIteration(FitProgress progress)
        {
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int at)
        {
            if (at == iteration)
            {
                File.Copy(path, copy, overwrite: true);
            }
        }
    }

    private sealed class RecordValidations(CmmFitter fitter) : IFitObserver
    {
        public List<(int Iteration, double Energy, double Recomputed, bool Improved)> Validations { get; } = [];

        public float[]? BestParameters { get; private set; }

        public void OnIteration(FitProgress progress)
        {
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
        }

        public void OnValidation(int iteration, double energyDistance, double best, bool improved)
        {
            Validations.Add((iteration, energyDistance, fitter.ValidationEnergy(), improved));
            if (improved)
            {
                BestParameters = fitter.Potential.GetParameters();
            }
        }
    }

    private sealed class CancelAfter(int count, CancellationTokenSource cts) : IFitObserver
    {
        public int Seen { get; private set; }

        public void OnIteration(FitProgress progress)
        {
            Seen++;
            Assert.True(progress.Iteration == Seen);
            if (Seen == count)
            {
                cts.Cancel();
            }
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
        }
    }
}
