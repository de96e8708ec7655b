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

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int> mixture;

    private readonly Action<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int> logistic;

    private EnergyKernelSet(CmmContext context)
    {
        this.context = context;
        launch = PointLaunch.For(context);
        mixture = context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>(
            EnergyKernels.GaussianMixture));
        logistic = context.Tally.Counted(context.Accelerator.LoadAutoGroupedStreamKernel<Index1D, PointRange, ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, int>(
            EnergyKernels.LogisticRegression));
    }

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
            mixture(threads, range, points.View, p[0].View, p[1].View, p[2].View, e, g, points.Dimension, components, withGradient));
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
            logistic(threads, range, points.View, p[0].View, p[1].View, e, g, points.Dimension, rows, priorVariance, withGradient));
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

        using var e = context.Accelerator.Allocate1D<double>(Math.Max(1, n));
        using var g = context.Accelerator.Allocate1D<double>(gradients.IsEmpty ? 1 : (long)n * d);
        var range = launch.Plan(n, out int threads);
        launchKernel(threads, range, e.View, g.View, gradients.IsEmpty ? 0 : 1);
        context.Tally.Read(((ArrayView<double>)e.View).SubView(0, n), energies);
        if (!gradients.IsEmpty)
        {
            context.Tally.Read(((ArrayView<double>)g.View).SubView(0, (long)n * d), gradients);
        }
    }
}
