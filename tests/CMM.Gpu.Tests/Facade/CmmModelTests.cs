using CMM.Gpu.IO;
using CMM.Gpu.Tests.Cli;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Facade;

/// <summary>
/// The facade (<see cref="CmmModel"/>): every input form fits the same model, save and load round-trip, the library samples
/// what <c>cmm sample</c> writes for the same model and seed, bad input is a clear ArgumentException, and cancellation and
/// progress behave as .NET callers expect. Tiny fits on the CPU accelerator (a few iterations, 8 hidden units).
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class CmmModelTests(AcceleratorFixture fixture) : IDisposable
{
    private static readonly FitOptions Tiny = new() { Iterations = 3, Particles = 32, BatchSize = 32, LangevinSteps = 2, HiddenWidths = [8], Seed = 5 };

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-facade-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static float[,] Points(int n = 64)
    {
        var flat = CMM.Gpu.Data.Datasets.Create("moons", n, 3).Points;
        var rows = new float[n, 2];
        Buffer.BlockCopy(flat, 0, rows, 0, flat.Length * sizeof(float));
        return rows;
    }

    private static float[][] Jagged(float[,] rows) =>
        Enumerable.Range(0, rows.GetLength(0)).Select(i => new[] { rows[i, 0], rows[i, 1] }).ToArray();

    [Fact]
    public void EveryInputFormFitsTheSameModel()
    {
        var rows = Points();
        var flat = Jagged(rows).SelectMany(r => r).ToArray();
        using var a = CmmModel.Fit(rows, Tiny, fixture.Context);
        using var b = CmmModel.Fit(Jagged(rows), Tiny, fixture.Context);
        using var c = CmmModel.Fit(flat, 2, Tiny, fixture.Context);
        string csv = Path.Combine(dir, "data.csv");
        PointFile.Write(csv, flat, 2);
        using var e = CmmModel.FitFile(csv, Tiny, fixture.Context);
        Assert.Equal(FitStatus.Completed, a.FitResult!.Status);
        Assert.Equal(3, a.FitResult.Iterations);
        var reference = a.Potential(rows);
        Assert.Equal(reference, b.Potential(rows));
        Assert.Equal(reference, c.Potential(rows));
        Assert.Equal(reference, e.Potential(rows));
    }

    [Fact]
    public void SaveLoadAndTheCliSampleTheSameAsTheLibrary()
    {
        using var model = CmmModel.Fit(Points(), Tiny, fixture.Context);
        string path = Path.Combine(dir, "m.cmm");
        model.Save(path);
        var direct = model.Sample(40, seed: 3);
        using var loaded = CmmModel.Load(path, fixture.Context);
        Assert.Null(loaded.FitResult);
        Assert.Equal(direct, loaded.Sample(40, seed: 3));
        Assert.NotEqual(direct, loaded.Sample(40, seed: 4));

        // cmm sample with its defaults writes exactly the library's default samples.
        string npy = Path.Combine(dir, "s.npy");
        var (code, _, stderr) = CliTests.Run("sample", "--model", path, "--n", "40", "--seed", "3", "--out", npy, "--accelerator", "cpu");
        Assert.True(code == 0, stderr);
        var cli = PointFile.Read(npy);
        Assert.Equal(2, cli.Dimension);
        Assert.Equal(direct.Cast<float>(), cli.Data.ToArray());
    }

    [Fact]
    public void StreamingToAFileGivesTheArraySamplesInConstantMemoryChunks()
    {
        using var model = CmmModel.Fit(Points(), Tiny, fixture.Context);
        string npy = Path.Combine(dir, "stream.npy");
        string lat = Path.Combine(dir, "latents.npy");
        var result = model.SampleToFile(npy, CmmModel.DefaultSampling(50, 7) with { ChunkSize = 8 }, lat);
        Assert.Equal(SamplingStatus.Ok, result.Status);
        Assert.Equal(50, result.Generated);
        Assert.Equal(model.Sample(50, 7).Cast<float>(), PointFile.Read(npy).Data.ToArray());
        var latents = PointFile.Read(lat);
        Assert.Equal(50, latents.Count);

        int chunks = 0;
        model.Sample(CmmModel.DefaultSampling(50, 7) with { ChunkSize = 8 }, c =>
        {
            Assert.InRange(c.Count, 1, 8);
            chunks++;
        });
        Assert.Equal(7, chunks);
    }

    [Fact]
    public void EncodeDecodePotentialAndDensityWorkInDataCoordinates()
    {
        var rows = Points();
        using var model = CmmModel.Fit(rows, Tiny, fixture.Context);
        var latents = model.Encode(rows);
        var back = model.Decode(latents);
        for (int i = 0; i < rows.GetLength(0); i++)
        {
            for (int k = 0; k < 2; k++)
            {
                Assert.True(Math.Abs(back[i, k] - rows[i, k]) < 1e-3, $"point {i}: {back[i, k]} vs {rows[i, k]}");
            }
        }

        Assert.Equal(rows.GetLength(0), model.Potential(rows).Length);
        var logq = model.LogDensity(rows);
        Assert.All(logq, v => Assert.True(double.IsFinite(v)));
        Assert.True(double.IsFinite(model.LogNormalizer.LogZ));
        var wrong = new float[3, 3];
        Assert.Contains("d = 3", Assert.Throws<ArgumentException>(() => model.Encode(wrong)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InpaintKeepsTheObservedCoordinatesAndGroupsByRow()
    {
        using var model = CmmModel.Fit(Points(), Tiny, fixture.Context);
        var rows = new float[,] { { 0.5f, 0f }, { -0.5f, 0f } };
        var completions = model.Inpaint(rows, [true, false], completions: 3, seed: 2);
        Assert.Equal(6, completions.GetLength(0));
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(rows[i / 3, 0], completions[i, 0]);
            Assert.True(float.IsFinite(completions[i, 1]));
        }

        Assert.Throws<ArgumentException>(() => model.Inpaint(rows, [true, true]));
    }

    [Fact]
    public void BadInputNamesTheProblem()
    {
        var rows = Points(8);
        var jagged = Jagged(rows);
        jagged[5] = [1f];
        Assert.Contains("point 5 has 1 values", Assert.Throws<ArgumentException>(() => CmmModel.Fit(jagged, Tiny, fixture.Context)).Message, StringComparison.Ordinal);
        rows[6, 1] = float.NaN;
        Assert.Contains("point 6, coordinate 1", Assert.Throws<ArgumentException>(() => CmmModel.Fit(rows, Tiny, fixture.Context)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CmmModel.Fit(new float[0, 2], Tiny, fixture.Context));
        Assert.Contains("Iterations", Assert.Throws<ArgumentException>(() => CmmModel.Fit(Points(8), Tiny with { Iterations = 0 }, fixture.Context)).Message, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<FileNotFoundException>(() => CmmModel.Load(Path.Combine(dir, "missing.cmm"), fixture.Context));
        string junk = Path.Combine(dir, "junk.cmm");
        File.WriteAllText(junk, "not a model");
        Assert.Throws<InvalidDataException>(() => CmmModel.Load(junk, fixture.Context));
    }

    [Fact]
    public async Task AsyncCallsReportProgressAndHonourCancellation()
    {
        var reports = new List<FitProgress>();
        using var model = await CmmModel.FitAsync(Points(), Tiny, fixture.Context, new SyncProgress<FitProgress>(reports.Add));
        Assert.Equal([1, 2, 3], reports.Select(r => r.Iteration));
        Assert.Equal(model.Sample(20, 1), await model.SampleAsync(20, 1));

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CmmModel.FitAsync(Points(), Tiny, fixture.Context, cancellationToken: cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => CmmModel.Fit(Points(), Tiny, fixture.Context, cancellationToken: cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => model.Sample(20, 1, cancellationToken: cancelled.Token));
    }

    [Fact]
    public void ACompletedFitRemovesItsCheckpointUnlessAskedToKeepIt()
    {
        var flat = Jagged(Points()).SelectMany(r => r).ToArray();
        string ckpt = Path.Combine(dir, "fit.ckpt");
        var options = Tiny with { CheckpointEvery = 1 };
        using (var kept = CmmModel.Fit(flat, 2, options, new FitRun { Device = fixture.Context, CheckpointPath = ckpt, KeepCheckpoint = true }))
        {
            Assert.True(File.Exists(ckpt));
        }

        // Extending the kept fit by two iterations resumes from iteration 3, then removes the checkpoint.
        var resumedAt = new List<int>();
        using var extended = CmmModel.Fit(flat, 2, options with { Iterations = 5 },
            new FitRun { Device = fixture.Context, CheckpointPath = ckpt, Resume = true, Observer = new ResumeRecorder(resumedAt) });
        Assert.Equal([3], resumedAt);
        Assert.Equal(5, extended.FitResult!.Iterations);
        Assert.False(File.Exists(ckpt));
        Assert.Throws<FileNotFoundException>(() => CmmModel.Fit(flat, 2, options, new FitRun { Device = fixture.Context, CheckpointPath = ckpt, Resume = true }));
    }

    [Fact]
    public void WithoutADeviceTheModelOpensAndOwnsOne()
    {
        using var model = CmmModel.Fit(Points(32), Tiny with { Iterations = 1 });
        Assert.False(model.Device.IsDisposed);
        var device = model.Device;
        model.Dispose();
        Assert.True(device.IsDisposed);
    }

    /// <summary>An IProgress that records synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    private sealed class ResumeRecorder(List<int> resumedAt) : IFitObserver
    {
        public void OnIteration(FitProgress progress)
        {
        }

        public void OnRecovery(int iteration, double learningRateScale)
        {
        }

        public void OnCheckpoint(string path, int iteration)
        {
        }

        public void OnResumed(int iteration) => resumedAt.Add(iteration);
    }
}
