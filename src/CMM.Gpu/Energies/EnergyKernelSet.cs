using System.Runtime.CompilerServices;
using CMM.Gpu.Compute;
using CMM.Gpu.Kernels;
using CMM.Gpu.Kernels.Energies;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Energies;

/// <summary>
/// The energy kernels of one device (<see cref="EnergyKernels"/>), and the device copies of each energy's parameters, made
/// on first use and kept while the energy lives.
/// </summary>
internal sealed class EnergyKernelSet
{
    private readonly CmmContext context;
    private readonly PointLaunch launch;
    private readonly ConditionalWeakTable<object, MemoryBuffer1D<double, Stride1D.Dense>[]> parameters = [];
    private readonly object outputLock = new();
    private MemoryBuffer1D<double, Stride1D.Dense>? energyOutput;
    private MemoryBuffer1D<double, Stride1D.Dense>? gradientOutput;

    private readonly Lazy<Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>> mixtureView;

    private readonly Lazy<Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int>> logisticView;

    private readonly Lazy<Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>>? mixturePointer;

    private readonly Lazy<Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int>>? logisticPointer;

    private EnergyKernelSet(CmmContext context)
    {
        this.context = context;
        launch = PointLaunch.For(context);
        // The CPU accelerator runs the pointer form (EnergyCpuKernels: the same bodies, bit-identical, without its slow ArrayView
        // accesses); the ArrayView form is compiled there only when a test asks for it.
        var acc = context.Accelerator;
        mixtureView = new(() => context.Tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>(
            EnergyKernels.GaussianMixture)));
        logisticView = new(() => context.Tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int>(
            EnergyKernels.LogisticRegression)));
        mixturePointer = context.IsGpu ? null : new(() => context.Tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>(
            EnergyCpuKernels.GaussianMixture)));
        logisticPointer = context.IsGpu ? null : new(() => context.Tally.Counted(acc.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int>(
            EnergyCpuKernels.LogisticRegression)));
    }

    /// <summary>Test seam: on the CPU accelerator, launch the ArrayView (GPU) form instead of the pointer form, so that tests can
    /// check the two give identical results. Ignored on GPUs.</summary>
    internal bool ArrayViewKernelsOnCpu { get; set; }

    /// <summary>The kernels of <paramref name="context"/>.</summary>
    public static EnergyKernelSet For(CmmContext context) => context.GetComponent(c => new EnergyKernelSet(c));

    /// <summary>A Gaussian mixture's V (and grad V) at points on the device; results copied to the host.</summary>
    /// <param name="owner">The energy (its parameters are uploaded once per device).</param>
    /// <param name="upload">Means [k d], precisions [k d d] and constants [k], made on first use.</param>
    /// <param name="components">k.</param>
    /// <param name="points">Points [n, d] on this device.</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d], or empty.</param>
    public void GaussianMixture(object owner, Func<double[][]> upload, int components, DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        var p = Parameters(owner, upload);
        Run(points, energies, gradients, (threads, range, e, g, withGradient) =>
            (mixturePointer is null || ArrayViewKernelsOnCpu ? mixtureView.Value : mixturePointer.Value)(threads, range, points.View, p[0].View, p[1].View, p[2].View, e, g, points.Dimension, components, withGradient));
    }

    /// <summary>The logistic-regression posterior's V (and grad V) at points on the device; results copied to the host.</summary>
    /// <param name="owner">The energy.</param>
    /// <param name="upload">The design [rows d] and the targets [rows], made on first use.</param>
    /// <param name="rows">Observations.</param>
    /// <param name="priorVariance">sigma^2.</param>
    /// <param name="points">Points [n, d] on this device.</param>
    /// <param name="energies">Output [n].</param>
    /// <param name="gradients">Output [n, d], or empty.</param>
    public void LogisticRegression(object owner, Func<double[][]> upload, int rows, double priorVariance, DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        var p = Parameters(owner, upload);
        Run(points, energies, gradients, (threads, range, e, g, withGradient) =>
            (logisticPointer is null || ArrayViewKernelsOnCpu ? logisticView.Value : logisticPointer.Value)(threads, range, points.View, p[0].View, p[1].View, e, g, points.Dimension, rows, priorVariance, withGradient));
    }

    private MemoryBuffer1D<double, Stride1D.Dense>[] Parameters(object owner, Func<double[][]> upload)
    {
        lock (parameters)
        {
            if (!parameters.TryGetValue(owner, out var buffers))
            {
                buffers = upload().Select(values =>
                {
                    var buffer = context.Accelerator.Allocate1D<double>(Math.Max(1, values.Length));
                    context.Tally.Write(buffer.View.BaseView.SubView(0, values.Length), values);
                    return buffer;
                }).ToArray();
                parameters.Add(owner, buffers);
            }

            return buffers;
        }
    }

    private void Run(DevicePoints points, Span<double> energies, Span<double> gradients,
        Action<int, PointRange, ArrayView<double>, ArrayView<double>, int> launchKernel)
    {
        int n = points.Count, d = points.Dimension;
        if (energies.Length != n || (!gradients.IsEmpty && gradients.Length != (long)n * d))
        {
            throw new ArgumentException($"expected {n} energies and {(long)n * d} gradient values (or none) for {n} points of dimension {d}");
        }

        // The output buffers are kept between calls (grown when a call needs more): allocating two per call cost more than the
        // kernel itself for a thousand points on the CPU accelerator. One call at a time per device.
        lock (outputLock)
        {
            var e = Output(ref energyOutput, n);
            var g = Output(ref gradientOutput, gradients.IsEmpty ? 1 : (long)n * d);
            var range = launch.Plan(n, out int threads);
            launchKernel(threads, range, e, g, gradients.IsEmpty ? 0 : 1);
            context.Tally.Read(e.SubView(0, n), energies);
            if (!gradients.IsEmpty)
            {
                context.Tally.Read(g.SubView(0, (long)n * d), gradients);
            }
        }
    }

    private ArrayView<double> Output(ref MemoryBuffer1D<double, Stride1D.Dense>? buffer, long length)
    {
        length = Math.Max(1, length);
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = context.Accelerator.Allocate1D<double>(length);
        }

        return buffer.View.BaseView;
    }
}
