using System.Collections.Concurrent;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Sampling;

/// <summary>Three independent CPU accelerators standing in for three GPUs (this machine has none).</summary>
public sealed class CpuDevicesFixture : IDisposable
{
    public CpuDevicesFixture() => Devices = CmmContext.CreateAll(AcceleratorKind.Cpu, 3);

    public IReadOnlyList<CmmContext> Devices { get; }

    public void Dispose()
    {
        foreach (var d in Devices)
        {
            d.Dispose();
        }
    }
}

/// <summary>
/// Multi-device generation on several CPU accelerators: the output, step size and summary equal the
/// single-device run bit for bit for 2 and 3 devices and with shards; failures stop every device; copies are disposed.
/// </summary>
[Collection(AcceleratorTestGroup.Name)]
public sealed class MultiDeviceGenerationTests(CpuDevicesFixture fixture) : IClassFixture<CpuDevicesFixture>
{
    private static readonly TimeSpan NoDeadlock = TimeSpan.FromMinutes(2);

    private IReadOnlyList<CmmContext> D => fixture.Devices;

    /// <summary>N = 1000 + 7 in chunks of 128 (64 chains of 2 draws): 8 chunks, the last chain cut at N.</summary>
    private static GenerationOptions Options(Shard shard) => new()
    {
        Count = 1007,
        Seed = 2024,
        ChunkSize = 128,
        Shard = shard,
        TuningChains = 64,
        Langevin = new LangevinOptions
        {
            Sampler = LangevinSampler.Mala, StepSize = 0.3, AdaptStepSize = true, BurnIn = 8, Samples = 2, Thin = 2, DiagnosticChains = 16,
        },
        Conjugate = new ConjugateOptions { AbsoluteTolerance = 1e-5, RelativeTolerance = 1e-5 },
    };

    private static (List<SampleChunk> Chunks, GenerationResult Result, List<long> Progress) Run(
        IPotential w, IReadOnlyList<CmmContext>? devices, GenerationOptions options, CancellationTokenSource? cancelAfterTwo = null)
    {
        var chunks = new List<SampleChunk>();
        var progress = new List<long>();
        int caller = Environment.CurrentManagedThreadId;
        void OnChunk(SampleChunk c)
        {
            Assert.Equal(caller, Environment.CurrentManagedThreadId); // callback on the calling thread
            chunks.Add(c);
            if (chunks.Count == 2)
            {
                cancelAfterTwo?.Cancel();
            }
        }

        var sink = new SyncProgress(p => progress.Add(p.Done));
        var token = cancelAfterTwo?.Token ?? default;
        var result = devices is null
            ? SampleGenerator.Generate(w, options, OnChunk, sink, token)
            : SampleGenerator.Generate(w, devices, options, OnChunk, sink, token);
        return (chunks, result, progress);
    }

    private static void AssertSameRun(
        (List<SampleChunk> Chunks, GenerationResult Result, List<long> Progress) expected,
        (List<SampleChunk> Chunks, GenerationResult Result, List<long> Progress) actual)
    {
        Assert.Equal(expected.Chunks.Select(c => (c.FirstIndex, c.Count)), actual.Chunks.Select(c => (c.FirstIndex, c.Count)));
        Assert.Equal(expected.Chunks.SelectMany(c => c.Latents), actual.Chunks.SelectMany(c => c.Latents));
        Assert.Equal(expected.Chunks.SelectMany(c => c.Samples), actual.Chunks.SelectMany(c => c.Samples));
        Assert.Equal(expected.Progress, actual.Progress);
        var (e, a) = (expected.Result, actual.Result);
        Assert.Equal(
            (e.Status, e.FirstIndex, e.Generated, e.StepSize, e.AcceptanceRate, e.DivergentChains, e.ConjugateConvergedFraction),
            (a.Status, a.FirstIndex, a.Generated, a.StepSize, a.AcceptanceRate, a.DivergentChains, a.ConjugateConvergedFraction));
        if (e.FirstChunkDiagnostics is { } ed)
        {
            var ad = a.FirstChunkDiagnostics!;
            Assert.Equal((ed.Chains, ed.MaxSplitRHat, ed.SteinInnerMean, ed.SteinInnerStandardError), (ad.Chains, ad.MaxSplitRHat, ad.SteinInnerMean, ad.SteinInnerStandardError));
            Assert.Equal(ed.SplitRHat, ad.SplitRHat);
            Assert.Equal(ed.SteinGradientMean, ad.SteinGradientMean);
            Assert.Equal(ed.SteinGradientStandardError, ad.SteinGradientStandardError);
        }
        else
        {
            Assert.Null(a.FirstChunkDiagnostics);
        }
    }

    [Fact]
    public void CreateAllOpensIndependentDevices()
    {
        Assert.Equal(3, D.Count);
        Assert.All(D, c => Assert.Equal(AcceleratorKind.Cpu, c.Kind));
        Assert.Equal(Enumerable.Range(0, 3), D.Select(c => c.DeviceIndex));
        Assert.Equal(3, D.Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => CmmContext.CreateAll(AcceleratorKind.Cpu, 0));

        var one = Assert.Single(CmmContext.CreateAll(AcceleratorKind.Cpu));
        one.Dispose();
        Assert.Throws<ObjectDisposedException>(one.Synchronize);

        // Auto: every GPU of the first usable backend, else exactly one CPU accelerator.
        var auto = CmmContext.CreateAll(AcceleratorKind.Auto);
        try
        {
            Assert.NotEmpty(auto);
            Assert.All(auto, c => Assert.Equal(auto[0].Kind, c.Kind));
            Assert.NotEqual(AcceleratorKind.Auto, auto[0].Kind);
            if (auto[0].Kind == AcceleratorKind.Cpu)
            {
                Assert.Single(auto);
            }
        }
        finally
        {
            foreach (var c in auto)
            {
                c.Dispose();
            }
        }

        // An explicit CUDA request either opens every CUDA device or says why it cannot.
        try
        {
            var cuda = CmmContext.CreateAll(AcceleratorKind.Cuda);
            Assert.All(cuda, c => Assert.Equal(AcceleratorKind.Cuda, c.Kind));
            Assert.Equal(Enumerable.Range(0, cuda.Count), cuda.Select(c => c.DeviceIndex));
            foreach (var c in cuda)
            {
                c.Dispose();
            }
        }
        catch (AcceleratorUnavailableException e)
        {
            Assert.Equal(AcceleratorKind.Cuda, e.Kind);
            Assert.False(string.IsNullOrWhiteSpace(e.Reason));
        }
    }

    [Fact]
    public void ReplicasComputeWhatTheOriginalsCompute()
    {
        var (a, b) = (D[0], D[1]);
        var points = TestData.Normal(29 * 3, seed: 5);
        using var quadratic = new QuadraticPotential(a, new double[,] { { 2, 0.3, 0 }, { 0.3, 1, 0.1 }, { 0, 0.1, 0.5 } }, [0.5, -1, 0.25], 0.75);
        var quartic = new SeparableQuarticPotential(a, 3, 0.5, 1.5);
        var arch = new IcnnArchitecture(3) { HiddenWidths = [5, 4] };
        using var icnn = IcnnPotential.FromParameters(a, arch, IcnnPotential.InitialParameters(arch, 7));
        foreach (var original in new IPotential[] { quadratic, quartic, icnn })
        {
            Assert.True(PotentialReplicas.CanReplicate(original));
            var copy = PotentialReplicas.Replicate(original, b);
            try
            {
                Assert.Same(b, copy.Context);
                Assert.Equal(original.GetType(), copy.GetType());
                Assert.Equal(Evaluate(original, points), Evaluate(copy, points));
            }
            finally
            {
                (copy as IDisposable)?.Dispose();
            }
        }

        var plain = new PlainPotential(quartic);
        Assert.False(PotentialReplicas.CanReplicate(plain));
        Assert.Throws<NotSupportedException>(() => PotentialReplicas.Replicate(plain, b));
    }

    private static float[] Evaluate(IPotential w, float[] points)
    {
        int d = w.Dimension;
        using var x = DevicePoints.Upload(w.Context, points, d);
        using var v = DeviceVector.Allocate(w.Context, x.Count);
        using var g = DevicePoints.Allocate(w.Context, x.Count, d);
        using var h = DeviceVector.Allocate(w.Context, x.Count * d * d);
        w.Value(x, v);
        w.Gradient(x, g);
        w.Hessian(x, h);
        return [.. v.ToArray(), .. g.ToArray(), .. h.ToArray()];
    }

    [Fact]
    public void TwoAndThreeDevicesGiveTheSingleDeviceStreamBitForBit()
    {
        var w = new SeparableQuarticPotential(D[0], 2, 1, 0.5);
        var single = Run(w, null, Options(Shard.All));
        Assert.Equal(8, single.Chunks.Count);
        Assert.Equal(1007, single.Result.Generated);
        Assert.Equal(1, single.Result.Devices);
        Assert.Equal(SamplingStatus.Ok, single.Result.Status);
        Assert.NotEqual(0.3, single.Result.StepSize); // tuned once, then shared

        var two = Run(w, [D[0], D[1]], Options(Shard.All));
        Assert.Equal(2, two.Result.Devices);
        AssertSameRun(single, two);

        var three = Run(w, D, Options(Shard.All));
        Assert.Equal(3, three.Result.Devices);
        AssertSameRun(single, three);

        // The potential's own device need not be among them (every device then gets a copy), even alone.
        AssertSameRun(single, Run(w, [D[2], D[1]], Options(Shard.All)));
        AssertSameRun(single, Run(w, [D[1]], Options(Shard.All)));
    }

    [Fact]
    public void ChunksAreDealtToEveryDeviceAndCopiesAreDisposed()
    {
        // Both devices get copies; the copy on D[1] waits until the copy on D[2] has worked, so both surely take chunks.
        var log = new CallLog();
        using var w = new RecordingPotential(new SeparableQuarticPotential(D[0], 2, 1, 0.5), log) { WaitForOthersOn = D[1] };
        var reference = Run(w.Inner, null, Options(Shard.All));
        var dealt = Run(w, [D[1], D[2]], Options(Shard.All));
        AssertSameRun(reference, dealt);
        Assert.True(log.Calls(D[1]) > 0 && log.Calls(D[2]) > 0, $"calls per device: {log.Calls(D[1])}, {log.Calls(D[2])}");
        Assert.Equal(2, log.Created);
        Assert.Equal(2, log.Disposed);
        Assert.False(w.IsDisposed);
    }

    [Fact]
    public void ShardsOnSeveralDevicesConcatenateToTheStream()
    {
        var w = new SeparableQuarticPotential(D[0], 2, 1, 0.5);
        var whole = Run(w, null, Options(Shard.All));
        var s0 = Run(w, D, Options(new Shard(0, 2)));
        var s1 = Run(w, [D[1], D[0]], Options(new Shard(1, 2)));
        Assert.Equal(whole.Chunks.SelectMany(c => c.Latents), s0.Chunks.Concat(s1.Chunks).SelectMany(c => c.Latents));
        Assert.Equal(whole.Chunks.SelectMany(c => c.Samples), s0.Chunks.Concat(s1.Chunks).SelectMany(c => c.Samples));
        Assert.Equal(0, s0.Result.FirstIndex);
        Assert.Equal(s0.Result.Generated, s1.Result.FirstIndex);
        Assert.Equal(1007, s0.Result.Generated + s1.Result.Generated);
        Assert.Equal(whole.Result.StepSize, s1.Result.StepSize);
    }

    [Fact]
    public async Task AFailingChunkStopsEveryDeviceAndIsRethrown()
    {
        var log = new CallLog();
        using var w = new RecordingPotential(new SeparableQuarticPotential(D[0], 2, 1, 0.5), log)
        {
            WaitForOthersOn = D[1], FailOn = D[2],
        };
        var run = Task.Run(() => SampleGenerator.Generate(w, [D[1], D[2]], Options(Shard.All), _ => { }));
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(NoDeadlock)));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => run);
        Assert.Contains("injected", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, log.Created);
        Assert.Equal(2, log.Disposed);

        // A throwing callback stops the devices too, and the devices stay usable afterwards.
        int seen = 0;
        var callback = Task.Run(() => SampleGenerator.Generate(w.Inner, D, Options(Shard.All), _ =>
        {
            if (++seen == 2)
            {
                throw new IOException("disk full");
            }
        }));
        Assert.Same(callback, await Task.WhenAny(callback, Task.Delay(NoDeadlock)));
        await Assert.ThrowsAsync<IOException>(() => callback);
        Assert.Equal(2, seen);

        var after = Run(w.Inner, D, Options(Shard.All));
        AssertSameRun(Run(w.Inner, null, Options(Shard.All)), after);
    }

    [Fact]
    public void CancellationStopsAfterTheChunkInHandOnAnyNumberOfDevices()
    {
        var w = new SeparableQuarticPotential(D[0], 2, 1, 0.5);
        using var c1 = new CancellationTokenSource();
        var single = Run(w, null, Options(Shard.All), c1);
        using var c3 = new CancellationTokenSource();
        var three = Run(w, D, Options(Shard.All), c3);
        Assert.Equal(SamplingStatus.Cancelled, single.Result.Status);
        Assert.Equal(2, single.Chunks.Count);
        AssertSameRun(single, three);
    }

    [Fact]
    public void TheDeviceListIsChecked()
    {
        var w = new SeparableQuarticPotential(D[0], 1, 1, 1);
        var options = Options(Shard.All) with { Count = 10 };
        Assert.Throws<ArgumentException>(() => SampleGenerator.Generate(w, [], options, _ => { }));
        Assert.Throws<ArgumentException>(() => SampleGenerator.Generate(w, [D[0], D[0]], options, _ => { }));
        Assert.Throws<ArgumentException>(() => SampleGenerator.Generate(w, [D[0], null!], options, _ => { }));
        Assert.Throws<NotSupportedException>(() => SampleGenerator.Generate(new PlainPotential(w), [D[0], D[1]], options, _ => { }));
        var closed = CmmContext.CreateAll(AcceleratorKind.Cpu)[0];
        closed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => SampleGenerator.Generate(w, [D[0], closed], options, _ => { }));

        // A potential that cannot be copied still runs on its own device alone.
        Assert.Equal(10, SampleGenerator.Generate(new PlainPotential(w), [D[0]], options with { Mapping = SampleMapping.None }, _ => { }).Generated);
    }

    [Fact]
    public void AFittedModelSamplesTheSameOnSeveralDevices()
    {
        var arch = new IcnnArchitecture(2) { HiddenWidths = [6, 5] };
        var model = new IcnnModel(arch, IcnnPotential.InitialParameters(arch, 3),
            new IcnnModelMetadata { DataDimension = 2, NormalizationMean = [0.5f, -1f], NormalizationScale = [2f, 2f] });
        using var fitted = new FittedModel(D[0], model);
        var options = Options(Shard.All) with { Count = 150, ChunkSize = 40 };
        var one = new List<SampleChunk>();
        var several = new List<SampleChunk>();
        var r1 = fitted.Sample(options, one.Add);
        var r3 = fitted.Sample(options, D, several.Add);
        Assert.Equal(150, r1.Generated);
        Assert.Equal(3, r3.Devices);
        Assert.Equal(r1.StepSize, r3.StepSize);
        Assert.Equal(one.SelectMany(c => c.Samples), several.SelectMany(c => c.Samples));
        Assert.Equal(one.SelectMany(c => c.Latents), several.SelectMany(c => c.Latents));
    }

    /// <summary>An IProgress that records synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }

    /// <summary>A potential that cannot be copied (it implements only IPotential).</summary>
    private sealed class PlainPotential(IPotential inner) : IPotential
    {
        public CmmContext Context => inner.Context;

        public int Dimension => inner.Dimension;

        public void Value(DevicePoints points, DeviceVector values) => inner.Value(points, values);

        public void Gradient(DevicePoints points, DevicePoints gradients) => inner.Gradient(points, gradients);

        public void Hessian(DevicePoints points, DeviceVector hessians) => inner.Hessian(points, hessians);
    }

    /// <summary>What the copies of a <see cref="RecordingPotential"/> did, shared by all of them.</summary>
    private sealed class CallLog
    {
        private readonly ConcurrentDictionary<CmmContext, int> calls = new(ReferenceEqualityComparer.Instance);
        private int created, disposed;

        public ManualResetEventSlim OtherDeviceWorked { get; } = new();

        public int Created => Volatile.Read(ref created);

        public int Disposed => Volatile.Read(ref disposed);

        public int Calls(CmmContext c) => calls.GetValueOrDefault(c);

        public void Call(CmmContext c) => calls.AddOrUpdate(c, 1, (_, n) => n + 1);

        public void OnCreated() => Interlocked.Increment(ref created);

        public void OnDisposed() => Interlocked.Increment(ref disposed);
    }

    /// <summary>
    /// Wraps a separable quartic: counts gradient calls per device, and on chosen devices waits until another
    /// device has worked (so dealing is observable) or throws (to test failure propagation).
    /// </summary>
    private sealed class RecordingPotential(SeparableQuarticPotential inner, CallLog log) : IReplicablePotential, IDisposable
    {
        public SeparableQuarticPotential Inner => inner;

        public CmmContext? WaitForOthersOn { get; init; }

        public CmmContext? FailOn { get; init; }

        public bool IsDisposed { get; private set; }

        public bool IsReplica { get; private init; }

        public CmmContext Context => inner.Context;

        public int Dimension => inner.Dimension;

        public IPotential Replicate(CmmContext context)
        {
            log.OnCreated();
            return new RecordingPotential(new SeparableQuarticPotential(context, inner.Dimension, inner.Quartic, inner.Quadratic), log)
            {
                WaitForOthersOn = WaitForOthersOn, FailOn = FailOn, IsReplica = true,
            };
        }

        public void Value(DevicePoints points, DeviceVector values) => inner.Value(points, values);

        public void Gradient(DevicePoints points, DevicePoints gradients)
        {
            log.Call(Context);
            if (WaitForOthersOn is { } waiting && ReferenceEquals(waiting, Context))
            {
                log.OtherDeviceWorked.Wait(NoDeadlock);
            }
            else if (IsReplica)
            {
                log.OtherDeviceWorked.Set();
            }

            if (FailOn is { } failing && ReferenceEquals(failing, Context))
            {
                throw new InvalidOperationException("injected failure on " + Context.DeviceIndex);
            }

            inner.Gradient(points, gradients);
        }

        public void Hessian(DevicePoints points, DeviceVector hessians) => inner.Hessian(points, hessians);

        public void Dispose()
        {
            if (!IsDisposed && IsReplica)
            {
                log.OnDisposed();
            }

            IsDisposed = true;
        }
    }
}
