using CMM.Gpu.Conjugate;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sampling;

[Collection(AcceleratorTestGroup.Name)]
public sealed class SampleGeneratorTests(AcceleratorFixture fixture)
{
    private static GenerationOptions Options(int chunk, Shard shard) => new()
    {
        Count = 23,
        Seed = 42,
        ChunkSize = chunk,
        Shard = shard,
        TuningChains = 32,
        Langevin = new LangevinOptions
        {
            Sampler = LangevinSampler.Mala, StepSize = 0.4, AdaptStepSize = true, BurnIn = 20, Samples = 2, Thin = 3, DiagnosticChains = 4,
        },
        Conjugate = new ConjugateOptions { AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 },
    };

    private static (List<SampleChunk> Chunks, GenerationResult Result) Run(IPotential w, GenerationOptions options, IProgress<GenerationProgress>? progress = null)
    {
        var chunks = new List<SampleChunk>();
        var result = SampleGenerator.Generate(w, options, chunks.Add, progress);
        return (chunks, result);
    }

    [Fact]
    public void ChunkSizeDoesNotChangeTheStreamAndShardsConcatenateToIt()
    {
        var w = new SeparableQuarticPotential(fixture.Context, 2, 1, 0.5);
        var (whole, wholeResult) = Run(w, Options(100, Shard.All));
        Assert.Equal(SamplingStatus.Ok, wholeResult.Status);
        Assert.Equal(23, wholeResult.Generated);
        Assert.Equal(1.0, wholeResult.ConjugateConvergedFraction);
        var latents = whole.SelectMany(c => c.Latents).ToArray();
        var samples = whole.SelectMany(c => c.Samples).ToArray();
        Assert.Equal(46, latents.Length);
        Assert.All(latents, v => Assert.True(float.IsFinite(v)));

        // Different chunk sizes (odd, so chunks cut chains' draws apart from the stream's end).
        var progressReports = new List<GenerationProgress>();
        var (chunked, chunkedResult) = Run(w, Options(5, Shard.All), new SyncProgress(progressReports));
        Assert.True(chunked.Count > 3);
        Assert.Equal(wholeResult.StepSize, chunkedResult.StepSize);
        Assert.Equal(latents, chunked.SelectMany(c => c.Latents).ToArray());
        Assert.Equal(samples, chunked.SelectMany(c => c.Samples).ToArray());
        Assert.Equal(Enumerable.Range(0, chunked.Count).Select(i => chunked.Take(i).Sum(c => (long)c.Count)), chunked.Select(c => c.FirstIndex));
        Assert.Equal(23, progressReports[^1].Done);
        Assert.Equal(23, progressReports[^1].Total);

        // Shards 0/3, 1/3, 2/3 concatenated equal the unsharded run.
        var sharded = Enumerable.Range(0, 3).Select(k => Run(w, Options(4, new Shard(k, 3)))).ToList();
        Assert.Equal(latents, sharded.SelectMany(s => s.Chunks.SelectMany(c => c.Latents)).ToArray());
        Assert.Equal(samples, sharded.SelectMany(s => s.Chunks.SelectMany(c => c.Samples)).ToArray());
        Assert.Equal(23, sharded.Sum(s => s.Result.Generated));
        Assert.Equal(sharded.Select(s => s.Result.FirstIndex), new long[] { 0, sharded[0].Result.Generated, sharded[0].Result.Generated + sharded[1].Result.Generated });

        // The mapped samples solve grad w(y) = x.
        for (int i = 0; i < latents.Length; i++)
        {
            double y = samples[i];
            Approx.Equal(latents[i], (y * y * y) + (0.5 * y), 1e-4, 1e-4, $"grad w(y)[{i}]");
        }

        // Another seed gives another stream.
        var (other, _) = Run(w, Options(100, Shard.All) with { Seed = 43 });
        Assert.NotEqual(latents, other.SelectMany(c => c.Latents).ToArray());
    }

    [Fact]
    public void GradientMappingAndNoMapping()
    {
        var ctx = fixture.Context;
        using var w = new QuadraticPotential(ctx, new double[,] { { 2 } }, [1.0]);
        var options = Options(8, Shard.All) with { Mapping = SampleMapping.Gradient, Langevin = new LangevinOptions { BurnIn = 5, DiagnosticChains = 0 } };
        var (chunks, _) = Run(w, options);
        foreach (var c in chunks)
        {
            for (int i = 0; i < c.Count; i++)
            {
                Approx.Equal((2.0 * c.Latents[i]) + 1, c.Samples[i], 1e-5, 1e-5);
            }
        }

        var (plain, _) = Run(w, options with { Mapping = SampleMapping.None });
        Assert.Equal(chunks.SelectMany(c => c.Latents), plain.SelectMany(c => c.Samples));
    }

    [Fact]
    public void MoreShardsThanChainsGivesEmptyShardsAndTheSameStream()
    {
        var w = new SeparableQuarticPotential(fixture.Context, 1, 1, 1);
        var options = new GenerationOptions
        {
            Count = 2, Seed = 9, ChunkSize = 1, Mapping = SampleMapping.None,
            Langevin = new LangevinOptions { BurnIn = 3, DiagnosticChains = 0 },
        };
        var (whole, _) = Run(w, options);
        var shards = Enumerable.Range(0, 5).Select(k => Run(w, options with { Shard = new Shard(k, 5) })).ToList();
        Assert.Equal(3, shards.Count(s => s.Result.Generated == 0 && s.Chunks.Count == 0));
        Assert.Equal(whole.SelectMany(c => c.Latents), shards.SelectMany(s => s.Chunks.SelectMany(c => c.Latents)));
    }

    [Fact]
    public void ShardParsingAndOptionValidation()
    {
        Assert.Equal(new Shard(2, 5), Shard.Parse("2/5"));
        Assert.Throws<FormatException>(() => Shard.Parse("5/5"));
        Assert.Throws<FormatException>(() => Shard.Parse("1-2"));
        Assert.Throws<FormatException>(() => Shard.Parse("-1/2"));
        Assert.Equal((0L, 3L), new Shard(0, 3).Range(10));
        Assert.Equal((6L, 10L), new Shard(2, 3).Range(10));
        var bad = new GenerationOptions { Count = 0, ChunkSize = 0, Langevin = new LangevinOptions { Thin = 0 } };
        Assert.Equal(3, bad.Validate().Count);
    }

    /// <summary>An IProgress that records synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(List<GenerationProgress> reports) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => reports.Add(value);
    }
}
