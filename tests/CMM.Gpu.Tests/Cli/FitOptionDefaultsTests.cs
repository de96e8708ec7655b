using System.CommandLine;
using CMM.Gpu.Cli;
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
    public void SharpnessDefaultsToTheNetworksOwnUnlessGiven()
    {
        // u = w* needs a sharp activation to separate modes; the network w does not gain from one and loses recall.
        Assert.Equal(4, Build("--out", "m.cmm", "--dataset", "gaussian").EffectiveSharpness);
        var w = Build("--out", "m.cmm", "--dataset", "gaussian", "--network", "w");
        Assert.Null(w.Sharpness);
        Assert.Equal(1, w.EffectiveSharpness);
        Same(new FitOptions { Network = FitNetwork.Potential }, w);
        Assert.Equal(3, Build("--out", "m.cmm", "--dataset", "gaussian", "--network", "w", "--sharpness", "3").EffectiveSharpness);
        Assert.Contains("sharpness=1", new FitOptions { Network = FitNetwork.Potential }.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryFittingOptionReachesFitOptions()
    {
        var built = Build("--out", "m.cmm", "--dataset", "gaussian", "--sampler", "ula", "--method", "mm", "--objective", "map",
            "--iterations", "7", "--particles", "33", "--batch", "44", "--langevin-steps", "3", "--step-size", "0.05",
            "--epsilon-rel", "0.02", "--sinkhorn-tolerance", "0.005", "--inner-steps", "2", "--learning-rate", "0.004",
            "--final-learning-rate", "0.0004", "--hidden", "5,6", "--alpha", "0.2", "--rank", "1", "--network", "w", "--activation", "elu", "--sharpness", "3", "--seed", "9",
            "--checkpoint-every", "3", "--health-window", "4", "--min-acceptance", "0.1", "--min-converged", "0.25", "--step-halvings", "2");
        var expected = new FitOptions
        {
            Sampler = LangevinSampler.Ula, Method = FitMethod.MomentMeasure, Objective = FitObjective.Map, Iterations = 7,
            Particles = 33, BatchSize = 44, LangevinSteps = 3, LangevinStepSize = 0.05, EpsilonRelative = 0.02,
            SinkhornTolerance = 0.005, InnerSteps = 2, LearningRate = 0.004, FinalLearningRate = 0.0004, HiddenWidths = [5, 6],
            StrongConvexity = 0.2, QuadraticRank = 1, Network = FitNetwork.Potential, Activation = IcnnActivation.Elu, Sharpness = 3, Seed = 9, CheckpointEvery = 3,
            HealthWindow = 4, MinLangevinAcceptance = 0.1, MinConjugateConverged = 0.25, MaxStepHalvings = 2,
        };
        Same(expected, built);
    }

    private static void Same(FitOptions expected, FitOptions actual)
    {
        Assert.Equal(expected.Describe(), actual.Describe());
        Assert.Equal(expected.Iterations, actual.Iterations);
        Assert.Equal(expected.CheckpointEvery, actual.CheckpointEvery);
    }

    [Fact]
    public void OptionsThatNoLongerMeanWhatTheySaidAreRefusedAndBadValuesNamed()
    {
        // --no-normalize went with the normalisation (fits are the CMM of the data as given): an error, not silently ignored.
        var (code, _, stderr) = CliTests.Run("fit", "--dataset", "moons", "--out", "x.cmm", "--no-normalize");
        Assert.Equal(2, code);
        Assert.Contains("--no-normalize", stderr, StringComparison.Ordinal);
        var cli = new FitCliOptions();
        var cmd = new Command("fit") { new Option<string>("--out") };
        cli.AddTo(cmd);
        var e = Assert.Throws<CliException>(() => cli.Build(cmd.Parse(["--out", "m.cmm", "--dataset", "moons", "--network", "v"])));
        Assert.Contains("--network 'v'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<CliException>(() => cli.Build(cmd.Parse(["--out", "m.cmm", "--dataset", "moons", "--activation", "relu"])));
        Assert.Contains("--activation 'relu'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<CliException>(() => cli.Build(cmd.Parse(["--out", "m.cmm", "--dataset", "moons", "--sharpness", "0"])));
        Assert.Contains("sharpness", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LikelihoodObjectiveParsesWithTheNetworkWAndIsRefusedWithOneLineOtherwise()
    {
        Assert.Equal(FitObjective.Likelihood, Build("--out", "m.cmm", "--dataset", "moons", "--objective", "likelihood", "--network", "w").Objective);
        foreach (var extra in new[] { Array.Empty<string>(), ["--network", "conjugate"], ["--network", "w", "--method", "mm"] })
        {
            var (code, stdout, stderr) = CliTests.Run(["fit", "--dataset", "moons", "--n", "50", "--out", "x.cmm", "--objective", "likelihood", .. extra]);
            Assert.Equal(2, code);
            Assert.Empty(stdout);
            var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--objective likelihood works only with --method cmm --network w", line, StringComparison.Ordinal);
            Assert.Contains("use --objective semidual or map", line, StringComparison.Ordinal);
        }
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
