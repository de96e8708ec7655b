using CMM.Gpu.Energies;
using CMM.Gpu.Fitting;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Memory;
using CMM.Gpu.Metrics;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Energies;

/// <summary>
/// CMFMA fits (docs/cmfma.md) on small problems: a Gaussian target (the closed form S^(-1/3) and the diagnostics: ESS 1,
/// log normaliser 0), a banana whose start is not exact (the residual's variance falls and the ESS rises), bit-identical
/// resume, and the refusals (data fits with the residual objective, the network u, early stopping, an energy that returns NaN).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class CmfmaFitTests(AcceleratorFixture fixture) : IDisposable
{
    private static readonly FitOptions Small = CmmModel.DefaultEnergyOptions with { Iterations = 30, Particles = 128, HiddenWidths = [8, 8], CheckpointEvery = 0, Seed = 2 };

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-cmfma-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AGaussianTargetGivesTheClosedFormAndPerfectDiagnostics()
    {
        double[] mean = [1.0, -0.5];
        double[] cov = [2.0, 0.6, 0.6, 0.5];
        var energy = new GaussianEnergy(mean, new double[,] { { 2.0, 0.6 }, { 0.6, 0.5 } });
        // The start is exact for a Gaussian, but Adam's first steps (about the learning rate per parameter, whatever the
        // gradient's size) move away from it: 100 iterations bring it back.
        using var model = CmmModel.FitEnergy(energy, Small with { Iterations = 100 }, new FitRun { Device = fixture.Context });
        Assert.Equal(FitStatus.Completed, model.FitResult!.Status);

        // Hess w = S^(-1/3) everywhere.
        var reference = SymmetricMatrix.ToRowMajor(GaussianClosedForm.Cmm(mean, cov).A);
        var y = energy.ExactSamples(32, 3)!;
        using var p = DevicePoints.Upload(fixture.Context, y, 2);
        using var h = DeviceVector.Allocate(fixture.Context, 32 * 4);
        model.Fitted.Potential.Hessian(p, h);
        var errors = SampleMetrics.HessianRelativeErrors(h.ToArray(), reference, 2);
        var dg = model.EnergyDiagnostics!;
        Assert.True(errors.Max() < 0.01, $"Hessian of w against S^(-1/3): max error {errors.Max()}, mean {errors.Average()}; ESS {dg.EffectiveSampleFraction} logZ {dg.LogNormalizer} rv {dg.ResidualVariance} loss {string.Join(",", model.FitResult!.LossHistory.Take(5))} .. {model.FitResult!.LossHistory[^1]}");

        var diagnostics = model.EnergyDiagnostics!;
        Assert.True(diagnostics.EffectiveSampleFraction > 0.99, $"ESS {diagnostics.EffectiveSampleFraction}");
        Assert.True(Math.Abs(diagnostics.LogNormalizer) < 0.02 && Math.Abs(diagnostics.LogNormalizer) < 4 * diagnostics.LogNormalizerStandardError + 0.005,
            $"log normaliser {diagnostics.LogNormalizer} +- {diagnostics.LogNormalizerStandardError}");
        Assert.True(diagnostics.ResidualVariance < 1e-3, $"residual variance {diagnostics.ResidualVariance}");
        Assert.Equal(0, diagnostics.TrueLogNormalizer);

        // The fit's cost: V at every particle of every iteration, plus the start's BFGS search (not the diagnostics' samples).
        long perIterations = 100L * Small.Particles;
        Assert.InRange(diagnostics.FitEnergyEvaluations!.Value, perIterations + 32, perIterations + 200_000);

        // Stored with the model, and the model records its energy.
        string path = Path.Combine(dir, "g.cmm");
        model.Save(path);
        using var loaded = CmmModel.Load(path, fixture.Context);
        var stored = loaded.Parameters.Metadata.Options.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.StartsWith("gaussian mean=[1,-0.5]", stored["energy"], StringComparison.Ordinal);
        Assert.Equal("residual", stored["objective"]);
        Assert.True(double.Parse(stored["cmfma_ess_fraction"], System.Globalization.CultureInfo.InvariantCulture) > 0.99);
        Assert.Equal(diagnostics.FitEnergyEvaluations.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), stored["cmfma_fit_energy_evaluations"]);
    }

    [Fact]
    public void ABananaFitLowersTheResidualAndRaisesTheEss()
    {
        // The start (a Laplace approximation) is not the target here; 150 iterations of the residual objective must improve it.
        // Equal weights over the model's own samples: the objective is then the residual variance these diagnostics measure.
        var energy = new BananaEnergy(2, curvature: 0.5, scale: 1);
        var options = Small with { Iterations = 150, Particles = 256, HiddenWidths = [16, 16], ProposalShare = 0, TargetWeight = 0 };
        EnergyDiagnostics before;
        using (var f = CmmFitter.CreateForEnergy(fixture.Context, energy, options))
        using (var start = new FittedModel(fixture.Context, f.ToModel()))
        {
            before = EnergyDiagnostics.Evaluate(start, energy, 2048, 1);
        }

        using var model = CmmModel.FitEnergy(energy, options, new FitRun { Device = fixture.Context });
        var after = model.EnergyDiagnostics!;
        Assert.True(after.ResidualVariance < 0.25 * before.ResidualVariance, $"residual variance {before.ResidualVariance} -> {after.ResidualVariance}");
        Assert.True(Math.Abs(after.LogNormalizer) < 4 * after.LogNormalizerStandardError + 0.02, $"log normaliser {after.LogNormalizer} +- {after.LogNormalizerStandardError}");
    }

    [Fact]
    public void AFitToAnEnergyResumesBitIdentically()
    {
        var energy = new BananaEnergy(2, curvature: 0.5, scale: 1);
        var options = Small with { Iterations = 6 };
        float[] expected;
        using (var f = CmmFitter.CreateForEnergy(fixture.Context, energy, options))
        {
            Assert.Equal(FitStatus.Completed, f.Run().Status);
            expected = f.Potential.GetParameters();
        }

        string ckpt = Path.Combine(dir, "e.ckpt");
        using (var cancel = new CancellationTokenSource())
        using (var f = CmmFitter.CreateForEnergy(fixture.Context, energy, options))
        {
            Assert.Equal(FitStatus.Cancelled, f.Run(new CancelAt(3, cancel), ckpt, cancel.Token).Status);
        }

        using var resumed = CmmFitter.ResumeForEnergy(fixture.Context, energy, options, FitCheckpoint.Load(ckpt));
        Assert.Equal(FitStatus.Completed, resumed.Run().Status);
        Assert.Equal(expected, resumed.Potential.GetParameters());

        // Another energy's checkpoint is refused.
        var other = new BananaEnergy(2, curvature: 0.4, scale: 1);
        Assert.Throws<InvalidDataException>(() => CmmFitter.ResumeForEnergy(fixture.Context, other, options, FitCheckpoint.Load(ckpt)));
    }

    [Fact]
    public void MisusesAreRefusedWithTheirReason()
    {
        var energy = new GaussianEnergy([0.0, 0.0], new double[,] { { 1, 0 }, { 0, 1 } });
        var data = TestData.Normal(200, 1);
        Assert.Contains("CreateForEnergy", Assert.Throws<ArgumentException>(() => CmmFitter.Create(fixture.Context, data, 2, Small)).Message, StringComparison.Ordinal);
        Assert.Contains("--network w", Assert.Throws<ArgumentException>(() => CmmFitter.CreateForEnergy(fixture.Context, energy, Small with { Network = FitNetwork.Conjugate })).Message, StringComparison.Ordinal);
        Assert.Contains("residual objective", Assert.Throws<ArgumentException>(() => CmmFitter.CreateForEnergy(fixture.Context, energy, new FitOptions())).Message, StringComparison.Ordinal);
        Assert.Contains("early stopping", Assert.Throws<ArgumentException>(() => CmmFitter.CreateForEnergy(fixture.Context, energy, Small with { ValidationFraction = 0.2 })).Message, StringComparison.Ordinal);

        // An energy that is NaN away from its mode: the fit stops with a message naming the point.
        using var f = CmmFitter.CreateForEnergy(fixture.Context, new NaNAwayFromOrigin(), Small);
        var e = Assert.Throws<EnergyException>(() => f.Run());
        Assert.Contains("returned NaN at y = (", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A standard normal energy that returns NaN beyond radius 0.5.</summary>
    private sealed class NaNAwayFromOrigin : IEnergy
    {
        public int Dimension => 2;

        public string Name => "nan-test";

        public double? LogNormalizer => null;

        public string Describe() => "nan-test";

        public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
        {
            for (int i = 0; i < energies.Length; i++)
            {
                double r2 = (points[2 * i] * points[2 * i]) + (points[(2 * i) + 1] * points[(2 * i) + 1]);
                energies[i] = r2 > 0.25 ? double.NaN : 0.5 * r2;
                if (!gradients.IsEmpty)
                {
                    gradients[2 * i] = points[2 * i];
                    gradients[(2 * i) + 1] = points[(2 * i) + 1];
                }
            }
        }

        public float[]? ExactSamples(int count, int seed) => null;
    }

    private sealed class CancelAt(int iteration, CancellationTokenSource cancel) : IFitObserver
    {
        public void OnIteration(FitProgress progress)
        {
            if (progress.Iteration == iteration)
            {
                cancel.Cancel();
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
