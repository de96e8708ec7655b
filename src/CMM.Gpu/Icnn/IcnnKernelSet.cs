using CMM.Gpu.Compute;
using CMM.Gpu.Kernels.Icnn;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Icnn;

/// <summary>
/// The ICNN kernels of one activation, loaded once per context. The point kernels (Evaluate, Hessian,
/// HessianVector and the three parameter gradients) come in two forms with the same signatures and bit-identical
/// results: <see cref="IcnnKernels"/> (ArrayView accesses; the GPU form) and <see cref="IcnnCpuKernels"/> (pointer
/// accesses; 3-5x faster on ILGPU's CPU accelerator, where they are the default). The staged kernels exist in
/// the ArrayView form only.
/// </summary>
internal sealed class IcnnActivationKernels
{
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> likelihood;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings>> solveLbfgs;

    private IcnnActivationKernels(Accelerator acc, DeviceTally tally, bool pointerForm, Type activation)
    {
        var point = pointerForm ? typeof(IcnnCpuKernels) : typeof(IcnnKernels);
        Evaluate = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(point, nameof(IcnnKernels.Evaluate), activation)));
        Hessian = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.Hessian), activation)));
        HessianVector = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.HessianVector), activation)));
        ValueParameterGradient = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.ValueParameterGradient), activation)));
        LossParameterGradient = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.LossParameterGradient), activation)));
        // Compiled on first use: only the likelihood objective needs it (on GPUs it is the largest ICNN kernel to compile).
        likelihood = new(() => tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(point, nameof(IcnnKernels.LikelihoodParameterGradient), activation))));
        var solve = pointerForm ? typeof(IcnnCpuKernels) : typeof(IcnnSolveKernels);
        SolveNewton = tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings>>(solve, nameof(IcnnSolveKernels.SolveNewton), activation)));
        // The SIMD forms (CPU accelerator only): host code over the CPU accelerator's buffers, not kernels, each counted as one
        // launch. Null in the ArrayView (GPU) form; callers use them only where IcnnSimdSolver says they run.
        if (pointerForm)
        {
            SolveNewtonSimd = SimdSolve<NewtonSettings>(tally, activation, nameof(IcnnSimdSolver.TrySolveNewton), "Newton solve");
            SolveLbfgsSimd = SimdSolve<LbfgsSettings>(tally, activation, nameof(IcnnSimdSolver.TrySolveLbfgs), "L-BFGS solve");
            var simdGrad = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int, bool>>(
                typeof(IcnnSimdSolver), nameof(IcnnSimdSolver.TryValueParameterGradient), activation);
            ValueParameterGradientSimd = tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int>(
                (eff, lay, dm, x, part, blocks) => Ran(simdGrad(eff, lay, dm, x, part, blocks), "value parameter gradient", dm), "IcnnSimdSolver.TryValueParameterGradient");
            var simdLoss = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, bool>>(
                typeof(IcnnSimdSolver), nameof(IcnnSimdSolver.TryLossParameterGradient), activation);
            LossParameterGradientSimd = tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(
                (eff, lay, dm, y, targets, part, blocks) => Ran(simdLoss(eff, lay, dm, y, targets, part, blocks), "loss parameter gradient", dm), "IcnnSimdSolver.TryLossParameterGradient");
            var simdEval = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, bool>>(
                typeof(IcnnSimdSolver), nameof(IcnnSimdSolver.TryEvaluate), activation);
            EvaluateSimd = tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                (eff, lay, dm, x, values, grads, mode, blocks) => Ran(simdEval(eff, lay, dm, x, values, grads, mode, blocks), "evaluation", dm), "IcnnSimdSolver.TryEvaluate");
        }

        // Compiled on first use: only L-BFGS conjugate solves (d > 16 by default) not run in SIMD form need it.
        var lbfgs = pointerForm ? typeof(IcnnLbfgsCpuKernels) : typeof(IcnnLbfgsKernels);
        solveLbfgs = new(() => tally.Counted(acc.LoadAutoGroupedStreamKernel(Delegate<Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings>>(lbfgs, nameof(IcnnLbfgsKernels.SolveLbfgs), activation))));
        EvaluateStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>(typeof(IcnnKernels), nameof(IcnnKernels.EvaluateStaged), activation)));
        ValueParameterGradientStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(typeof(IcnnKernels), nameof(IcnnKernels.ValueParameterGradientStaged), activation)));
        LossParameterGradientStaged = tally.Counted(acc.LoadStreamKernel(Delegate<Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>>(typeof(IcnnKernels), nameof(IcnnKernels.LossParameterGradientStaged), activation)));
    }

    /// <summary>Loads the kernels of <paramref name="activation"/>.</summary>
    /// <param name="acc">The accelerator.</param>
    /// <param name="tally">The context's counters (every kernel is wrapped to count its launches).</param>
    /// <param name="activation">The activation.</param>
    /// <param name="pointerForm">Use the pointer form of the point kernels (CPU accelerator only).</param>
    /// <returns>The kernels.</returns>
    public static IcnnActivationKernels Load(Accelerator acc, DeviceTally tally, IcnnActivation activation, bool pointerForm)
    {
        if (pointerForm && acc.AcceleratorType != AcceleratorType.CPU)
        {
            throw new InvalidOperationException("the pointer form of the ICNN kernels runs on the CPU accelerator only");
        }

        return new IcnnActivationKernels(acc, tally, pointerForm, activation == IcnnActivation.Elu ? typeof(EluActivation) : typeof(SoftplusActivation));
    }

    /// <summary>
    /// A SIMD conjugate solve of <see cref="IcnnSimdSolver"/> (<paramref name="method"/>: TrySolveNewton or TrySolveLbfgs, whose
    /// arguments differ only in the settings) for <paramref name="activation"/>, counted as one launch and profiled under the
    /// method's name; it throws where it does not run.
    /// </summary>
    private static Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, TSettings, int> SimdSolve<TSettings>(
        DeviceTally tally, Type activation, string method, string what)
    {
        var simd = Delegate<Func<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, TSettings, int, bool>>(
            typeof(IcnnSimdSolver), method, activation);
        return tally.Counted<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, TSettings, int>(
            (eff, lay, dm, x, y, ints, res, settings, blocks) => Ran(simd(eff, lay, dm, x, y, ints, res, settings, blocks), what, dm), $"{nameof(IcnnSimdSolver)}.{method}");
    }

    /// <summary>Throws when a SIMD form did not run (its caller checked that it would).</summary>
    private static void Ran(bool ran, string what, IcnnDims dm)
    {
        if (!ran)
        {
            throw new InvalidOperationException($"the SIMD {what} does not run here (d = {dm.Dim})");
        }
    }

    private static TDelegate Delegate<TDelegate>(Type kernels, string name, Type activation)
        where TDelegate : Delegate =>
        kernels.GetMethod(name)!.MakeGenericMethod(activation).CreateDelegate<TDelegate>();

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> Evaluate { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> Hessian { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> HessianVector { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradient { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradient { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LikelihoodParameterGradient => likelihood.Value;

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings> SolveNewton { get; }

    /// <summary>The SIMD form of <see cref="SolveNewton"/> (<see cref="IcnnSimdSolver.TrySolveNewton{TAct}"/>; pointer form only), counted as one launch.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, NewtonSettings, int>? SolveNewtonSimd { get; }

    /// <summary>The SIMD form of <see cref="ValueParameterGradient"/> (<see cref="IcnnSimdSolver.TryValueParameterGradient{TAct}"/>; pointer form only),
    /// counted as one launch: writes <see cref="IcnnSimdSolver.GradientBlocks"/> partial rows.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, int>? ValueParameterGradientSimd { get; }

    /// <summary>The SIMD form of <see cref="LossParameterGradient"/> (<see cref="IcnnSimdSolver.TryLossParameterGradient{TAct}"/>; pointer form only),
    /// counted as one launch: writes <see cref="IcnnSimdSolver.GradientBlocks"/> partial rows.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? LossParameterGradientSimd { get; }

    /// <summary>The SIMD form of <see cref="Evaluate"/> (<see cref="IcnnSimdSolver.TryEvaluate{TAct}"/>; pointer form only), counted as one launch.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? EvaluateSimd { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings> SolveLbfgs => solveLbfgs.Value;

    /// <summary>The SIMD form of <see cref="SolveLbfgs"/> (<see cref="IcnnSimdSolver.TrySolveLbfgs{TAct}"/>; pointer form only), counted as one launch.</summary>
    public Action<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, LbfgsSettings, int>? SolveLbfgsSimd { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> EvaluateStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradientStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradientStaged { get; }
}

/// <summary>All ICNN kernels for a context (per-activation and per-form sets are compiled on first use).</summary>
internal sealed class IcnnKernelSet
{
    private readonly Accelerator acc;
    private readonly DeviceTally tally;
    private readonly Dictionary<(IcnnActivation, bool), IcnnActivationKernels> sets = [];

    private IcnnKernelSet(CmmContext context)
    {
        acc = context.Accelerator;
        tally = context.Tally;
        // Light per-parameter kernels: on the CPU accelerator they run as host loops over the same kernel bodies (LightKernels).
        var light = LightKernels.For(context);
        Materialize = light.Load<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(IcnnKernels.Materialize, HostLoop.PerElement);
        ReduceSlots = light.Load<ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, float, float, ArrayView<float>, ArrayView<float>>(IcnnKernels.ReduceSlots, IcnnCpuKernels.ReduceSlotsHost);
        ReduceSlotsWeighted = light.Load<ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ReduceSlotsWeighted, HostLoop.PerElement);
        SlotColumn = light.Load<ArrayView<float>, IcnnDims, int, ArrayView<float>>(IcnnKernels.SlotColumn, HostLoop.PerElement);
        AddScaled = light.Load<ArrayView<float>, ArrayView<float>, float>(IcnnKernels.AddScaled, HostLoop.PerElement);
        SumSquaresPartial = light.Load<ArrayView<float>, int, int, ArrayView<float>>(IcnnKernels.SumSquaresPartial, HostLoop.PerElement);
        ClipFactor = light.Load<ArrayView<float>, int, float, ArrayView<float>>(IcnnKernels.ClipFactor, HostLoop.PerElement);
        AdamStep = light.Load<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients>(IcnnKernels.AdamStep, IcnnCpuKernels.AdamStepHost);
        SgdStep = light.Load<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(IcnnKernels.SgdStep, HostLoop.PerElement);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>> Materialize { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, float, float, ArrayView<float>, ArrayView<float>> ReduceSlots { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>> ReduceSlotsWeighted { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, int, ArrayView<float>> SlotColumn { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, float> AddScaled { get; }

    public Action<Index1D, ArrayView<float>, int, int, ArrayView<float>> SumSquaresPartial { get; }

    public Action<Index1D, ArrayView<float>, int, float, ArrayView<float>> ClipFactor { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients> AdamStep { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float> SgdStep { get; }

    public static IcnnKernelSet For(CmmContext context) => context.GetComponent(c => new IcnnKernelSet(c));

    /// <summary>The kernels of an activation, compiled on first use.</summary>
    /// <param name="activation">The activation.</param>
    /// <param name="pointerForm">The pointer form of the point kernels (CPU accelerator only).</param>
    /// <returns>The kernels.</returns>
    public IcnnActivationKernels For(IcnnActivation activation, bool pointerForm)
    {
        lock (sets)
        {
            if (!sets.TryGetValue((activation, pointerForm), out var k))
            {
                k = IcnnActivationKernels.Load(acc, tally, activation, pointerForm);
                sets.Add((activation, pointerForm), k);
            }

            return k;
        }
    }
}
