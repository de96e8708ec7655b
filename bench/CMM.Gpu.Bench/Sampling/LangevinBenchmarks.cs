using BenchmarkDotNet.Attributes;
using CMM.Gpu.Compute;
using CMM.Gpu.Conjugate;
using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;
using CMM.Gpu.Sampling;

namespace CMM.Gpu.Bench.Sampling;

/// <summary>
/// One Langevin step (ULA: gradient + proposal + update; MALA: adds value and gradient at the proposal) on
/// N chains of a separable quartic, including the run's bookkeeping (counter resets, one divergence check,
/// acceptance download). Allocation and kernel compilation happen in setup; each call synchronises.
/// </summary>
[MemoryDiagnoser(false)]
public class LangevinStepBenchmarks
{
    private CmmContext context = null!;
    private SeparableQuarticPotential potential = null!;
    private LangevinChains chains = null!;
    private LangevinOptions step = null!;

    /// <summary>Chains.</summary>
    [Params(10_000, 65_537)]
    public int N { get; set; }

    /// <summary>Dimension.</summary>
    [Params(2, 17)]
    public int D { get; set; }

    /// <summary>Sampler.</summary>
    [Params(LangevinSampler.Ula, LangevinSampler.Mala)]
    public LangevinSampler Sampler { get; set; }

    /// <summary>Allocates and warms up.</summary>
    [GlobalSetup]
    public void Setup()
    {
        context = CmmContext.Create(AcceleratorChoice.Resolve(null));
        potential = new SeparableQuarticPotential(context, D, 0.5, 1);
        chains = new LangevinChains(context, N, D, seed: 1);
        step = new LangevinOptions { Sampler = Sampler, StepSize = 0.1, BurnIn = 1, Samples = 0, DiagnosticChains = 0, CheckEvery = 1 };
        chains.Run(potential, step);
        context.Synchronize();
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        chains.Dispose();
        context.Dispose();
    }

    /// <summary>One Langevin step on every chain.</summary>
    [Benchmark(Description = "Langevin step")]
    public void LangevinStep()
    {
        chains.Run(potential, step);
        context.Synchronize();
    }
}

/// <summary>
/// A cold batched conjugate solve y = grad w*(x) of N points of a separable quartic to the default tolerance:
/// Newton at d = 2, L-BFGS at d = 17 (chosen automatically). Allocation and compilation in setup.
/// </summary>
[MemoryDiagnoser(false)]
public class ConjugateSolveBenchmarks
{
    private CmmContext context = null!;
    private SeparableQuarticPotential potential = null!;
    private ConjugateSolver solver = null!;
    private DevicePoints x = null!;
    private DevicePoints y = null!;
    private ConjugateOptions options = null!;

    /// <summary>Points.</summary>
    [Params(10_000, 65_537)]
    public int N { get; set; }

    /// <summary>Dimension.</summary>
    [Params(2, 17)]
    public int D { get; set; }

    /// <summary>Allocates and warms up.</summary>
    [GlobalSetup]
    public void Setup()
    {
        context = CmmContext.Create(AcceleratorChoice.Resolve(null));
        potential = new SeparableQuarticPotential(context, D, 0.5, 1);
        solver = new ConjugateSolver(context);
        var rng = new Random(2);
        x = DevicePoints.Upload(context, Enumerable.Range(0, N * D).Select(_ => (float)((rng.NextDouble() * 4) - 2)).ToArray(), D);
        y = DevicePoints.Allocate(context, N, D);
        options = new ConjugateOptions();
        solver.Solve(potential, x, y, options);
        context.Synchronize();
    }

    /// <summary>Frees everything.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        y.Dispose();
        x.Dispose();
        solver.Dispose();
        context.Dispose();
    }

    /// <summary>A cold solve (y0 = x); synchronises (the solver checks convergence on the host).</summary>
    [Benchmark(Description = "conjugate solve")]
    public void ConjugateSolve() => solver.Solve(potential, x, y, options);
}
