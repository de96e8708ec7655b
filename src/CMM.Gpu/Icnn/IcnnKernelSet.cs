using CMM.Gpu.Compute;
using CMM.Gpu.Kernels.Icnn;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Icnn;

/// <summary>The ICNN kernels of one activation, loaded once per context.</summary>
internal sealed class IcnnActivationKernels
{
    public IcnnActivationKernels(Accelerator acc, bool elu)
    {
        if (elu)
        {
            Evaluate = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IcnnKernels.Evaluate<EluActivation>);
            Hessian = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.Hessian<EluActivation>);
            HessianVector = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.HessianVector<EluActivation>);
            ValueParameterGradient = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ValueParameterGradient<EluActivation>);
            LossParameterGradient = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.LossParameterGradient<EluActivation>);
            EvaluateStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IcnnKernels.EvaluateStaged<EluActivation>);
            ValueParameterGradientStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ValueParameterGradientStaged<EluActivation>);
            LossParameterGradientStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.LossParameterGradientStaged<EluActivation>);
        }
        else
        {
            Evaluate = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IcnnKernels.Evaluate<SoftplusActivation>);
            Hessian = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.Hessian<SoftplusActivation>);
            HessianVector = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.HessianVector<SoftplusActivation>);
            ValueParameterGradient = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ValueParameterGradient<SoftplusActivation>);
            LossParameterGradient = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.LossParameterGradient<SoftplusActivation>);
            EvaluateStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IcnnKernels.EvaluateStaged<SoftplusActivation>);
            ValueParameterGradientStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.ValueParameterGradientStaged<SoftplusActivation>);
            LossParameterGradientStaged = acc.LoadStreamKernel<ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(IcnnKernels.LossParameterGradientStaged<SoftplusActivation>);
        }
    }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> Evaluate { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> Hessian { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> HessianVector { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradient { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradient { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> EvaluateStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>> ValueParameterGradientStaged { get; }

    public Action<KernelConfig, ArrayView<float>, ArrayView<int>, IcnnDims, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LossParameterGradientStaged { get; }
}

/// <summary>All ICNN kernels for a context (per-activation sets are compiled on first use).</summary>
internal sealed class IcnnKernelSet
{
    private readonly Accelerator acc;
    private readonly Lazy<IcnnActivationKernels> softplus;
    private readonly Lazy<IcnnActivationKernels> elu;

    private IcnnKernelSet(CmmContext context)
    {
        acc = context.Accelerator;
        softplus = new Lazy<IcnnActivationKernels>(() => new IcnnActivationKernels(acc, elu: false));
        elu = new Lazy<IcnnActivationKernels>(() => new IcnnActivationKernels(acc, elu: true));
        Materialize = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>>(IcnnKernels.Materialize);
        ReduceSlots = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, float, float, ArrayView<float>, ArrayView<float>>(IcnnKernels.ReduceSlots);
        AddScaled = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(IcnnKernels.AddScaled);
        SumSquaresPartial = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>>(IcnnKernels.SumSquaresPartial);
        ClipFactor = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float, ArrayView<float>>(IcnnKernels.ClipFactor);
        AdamStep = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients>(IcnnKernels.AdamStep);
        SgdStep = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, float>(IcnnKernels.SgdStep);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>> Materialize { get; }

    public Action<Index1D, ArrayView<float>, IcnnDims, ArrayView<float>, ArrayView<int>, float, float, ArrayView<float>, ArrayView<float>> ReduceSlots { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, float> AddScaled { get; }

    public Action<Index1D, ArrayView<float>, int, int, ArrayView<float>> SumSquaresPartial { get; }

    public Action<Index1D, ArrayView<float>, int, float, ArrayView<float>> ClipFactor { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamCoefficients> AdamStep { get; }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, float> SgdStep { get; }

    public static IcnnKernelSet For(CmmContext context) => context.GetComponent(c => new IcnnKernelSet(c));

    public IcnnActivationKernels For(IcnnActivation activation) =>
        activation == IcnnActivation.Elu ? elu.Value : softplus.Value;
}
