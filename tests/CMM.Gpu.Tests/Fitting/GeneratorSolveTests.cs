using CMM.Gpu.Fitting;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Fitting;

/// <summary>
/// The generator's conjugate solves on ill-conditioned data (issue 18: the MM baseline on the digits failed every solve with
/// L-BFGS at d = 64): an ill-conditioned start solves by Newton up to d = 64, a well-conditioned one keeps the default, and an
/// MM fit of a 24-d Gaussian with variances from 0.03 to 100 (condition number about 3,000) converges every solve, in the fit
/// and when the model, loaded, encodes data.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class GeneratorSolveTests(AcceleratorFixture fixture)
{
    private const int D = 24;

    /// <summary>n points of N(0, diag(s_k^2)) with s_k from 0.18 to 10 (log-spaced).</summary>
    private static float[] IllConditioned(int n, int seed)
    {
        var x = TestData.Normal(n * D, seed);
        for (int i = 0; i < x.Length; i++)
        {
            x[i] *= (float)Math.Pow(10, -0.75 + (1.75 * (i % D) / (D - 1.0)));
        }

        return x;
    }

    [Fact]
    public void AnIllConditionedMmFitSolvesByNewtonAndConverges()
    {
        var options = new FitOptions { Method = FitMethod.MomentMeasure, Iterations = 4, Particles = 64, BatchSize = 64, HiddenWidths = [8], CheckpointEvery = 0, Seed = 3 };
        using var f = CmmFitter.Create(fixture.Context, IllConditioned(2000, 1), D, options);
        Assert.Equal(CmmFitter.IllConditionedNewtonMaxDimension, CmmFitter.GeneratorSolveOptions(f.Potential, f.Start).NewtonMaxDimension);
        var converged = new List<double>();
        var result = f.Run(new Recorder(converged));
        Assert.Equal(FitStatus.Completed, result.Status);
        Assert.All(converged, c => Assert.Equal(1.0, c));

        // The model as loaded encodes (u*'s solves) the way the fit solved, which its file records: every solve converges.
        var model = f.ToModel();
        Assert.Contains(model.Metadata.Options, kv => kv.Key == CmmFitter.GeneratorNewtonKey && kv.Value == "64");
        using (var loaded = new FittedModel(fixture.Context, model))
        {
            Assert.Equal(CmmFitter.IllConditionedNewtonMaxDimension, loaded.GeneratorSolveOptions!.NewtonMaxDimension);
            loaded.Encode(IllConditioned(200, 9), out var solve);
            Assert.Equal(1.0, solve!.ConvergedFraction);
        }

        // The recorded choice wins over the trained network's conditioning; a file without it (written before the key) judges
        // the network's Hessian at the preconditioner's centre, ill-conditioned here, so Newton up to d = 64.
        var recordedDefault = model with { Metadata = model.Metadata with { Options = [.. model.Metadata.Options.Where(kv => kv.Key != CmmFitter.GeneratorNewtonKey), new(CmmFitter.GeneratorNewtonKey, "16")] } };
        using (var loaded = new FittedModel(fixture.Context, recordedDefault))
        {
            Assert.Equal(16, loaded.GeneratorSolveOptions!.NewtonMaxDimension);
        }

        var older = model with { Metadata = model.Metadata with { Options = [.. model.Metadata.Options.Where(kv => kv.Key != CmmFitter.GeneratorNewtonKey)] } };
        using (var loaded = new FittedModel(fixture.Context, older))
        {
            Assert.Equal(CmmFitter.IllConditionedNewtonMaxDimension, loaded.GeneratorSolveOptions!.NewtonMaxDimension);
        }

        // The CMM's u = w* has the cube root of the conditioning (about 14 here): it keeps L-BFGS above d = 16.
        using var cmm = CmmFitter.Create(fixture.Context, IllConditioned(2000, 1), D, options with { Method = FitMethod.Cmm });
        Assert.Equal(new CMM.Gpu.Conjugate.ConjugateOptions().NewtonMaxDimension, CmmFitter.GeneratorSolveOptions(cmm.Potential, cmm.Start).NewtonMaxDimension);
        Assert.Contains(cmm.ToModel().Metadata.Options, kv => kv.Key == CmmFitter.GeneratorNewtonKey && kv.Value == "16");
    }

    private sealed class Recorder(List<double> converged) : IFitObserver
    {
        public void OnIteration(FitProgress progress) => converged.Add(progress.ConjugateConvergedFraction);

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
        }
    }
}
