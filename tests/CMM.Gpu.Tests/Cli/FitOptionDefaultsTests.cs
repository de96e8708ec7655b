using System.CommandLine;
using CMM.Gpu.Cli.Commands;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Tests.Cli;

/// <summary>
/// <c>cmm fit</c> without options must fit with exactly the library's <see cref="FitOptions"/> defaults. It once
/// defaulted to ULA while the library used MALA: every CLI fit then came out ~12 % too curved.
/// </summary>
public sealed class FitOptionDefaultsTests
{
    [Fact]
    public void CliDefaultsAreTheLibraryDefaults()
    {
        var built = Build("--out", "m.cmm", "--dataset", "gaussian");
        Same(new FitOptions(), built);
    }

    [Fact]
    public void EveryFittingOptionReachesFitOptions()
    {
        var built = Build("--out", "m.cmm", "--dataset", "gaussian", "--sampler", "ula", "--method", "mm", "--objective", "map",
            "--iterations", "7", "--particles", "33", "--batch", "44", "--langevin-steps", "3", "--step-size", "0.05",
            "--epsilon-rel", "0.02", "--sinkhorn-tolerance", "0.005", "--inner-steps", "2", "--learning-rate", "0.004",
            "--final-learning-rate", "0.0004", "--hidden", "5,6", "--alpha", "0.2", "--rank", "1", "--seed", "9",
            "--checkpoint-every", "3");
        var expected = new FitOptions
        {
            Sampler = CMM.Gpu.Sampling.LangevinSampler.Ula, Method = FitMethod.MomentMeasure, Objective = FitObjective.Map, Iterations = 7,
            Particles = 33, BatchSize = 44, LangevinSteps = 3, LangevinStepSize = 0.05, EpsilonRelative = 0.02,
            SinkhornTolerance = 0.005, InnerSteps = 2, LearningRate = 0.004, FinalLearningRate = 0.0004, HiddenWidths = [5, 6],
            StrongConvexity = 0.2, QuadraticRank = 1, Seed = 9, CheckpointEvery = 3,
        };
        Same(expected, built);
    }

    private static void Same(FitOptions expected, FitOptions actual)
    {
        Assert.Equal(expected.Describe(), actual.Describe());
        Assert.Equal(expected.Iterations, actual.Iterations);
        Assert.Equal(expected.CheckpointEvery, actual.CheckpointEvery);
    }

    private static FitOptions Build(params string[] args)
    {
        var cli = new FitCliOptions();
        var cmd = new Command("fit") { new Option<string>("--out") };
        cli.AddTo(cmd);
        var parse = cmd.Parse(args);
        Assert.Empty(parse.Errors);
        return cli.Build(parse);
    }
}
