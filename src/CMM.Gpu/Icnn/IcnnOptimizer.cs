using System.Globalization;
using CMM.Gpu.Kernels.Icnn;
using CMM.Gpu.Memory;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Icnn;

/// <summary>The update rule of an <see cref="IcnnOptimizer"/>.</summary>
public enum IcnnOptimizerMethod
{
    /// <summary>Adam (Kingma and Ba), bias-corrected.</summary>
    Adam = 0,

    /// <summary>Plain gradient descent theta -= lr g.</summary>
    Sgd = 1,
}

/// <summary>Options of an <see cref="IcnnOptimizer"/>.</summary>
public sealed record IcnnOptimizerOptions
{
    /// <summary>Update rule (default Adam).</summary>
    public IcnnOptimizerMethod Method { get; init; } = IcnnOptimizerMethod.Adam;

    /// <summary>Step size (default 1e-3).</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>Adam first-moment decay (default 0.9).</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>Adam second-moment decay (default 0.999).</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>Adam denominator epsilon (default 1e-8).</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>Gradients with a Euclidean norm above this are scaled down to it before the step; 0 disables clipping (default 0).</summary>
    public float MaxGradientNorm { get; init; }

    /// <summary>Every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        if (!Enum.IsDefined(Method))
        {
            p.Add($"Method {(int)Method} is unknown: use Adam or Sgd");
        }

        if (!(LearningRate > 0f) || !float.IsFinite(LearningRate))
        {
            p.Add(string.Create(inv, $"LearningRate = {LearningRate} must be a finite number > 0 (e.g. 1e-3)"));
        }

        if (!(Beta1 >= 0f && Beta1 < 1f))
        {
            p.Add(string.Create(inv, $"Beta1 = {Beta1} must be in [0, 1) (e.g. 0.9)"));
        }

        if (!(Beta2 >= 0f && Beta2 < 1f))
        {
            p.Add(string.Create(inv, $"Beta2 = {Beta2} must be in [0, 1) (e.g. 0.999)"));
        }

        if (!(Epsilon > 0f) || !float.IsFinite(Epsilon))
        {
            p.Add(string.Create(inv, $"Epsilon = {Epsilon} must be a finite number > 0 (e.g. 1e-8)"));
        }

        if (!(MaxGradientNorm >= 0f) || !float.IsFinite(MaxGradientNorm))
        {
            p.Add(string.Create(inv, $"MaxGradientNorm = {MaxGradientNorm} must be 0 (no clipping) or a finite positive norm"));
        }

        return p;
    }

    /// <summary>Throws if <see cref="Problems"/> is not empty.</summary>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    public void Validate()
    {
        var p = Problems();
        if (p.Count > 0)
        {
            throw new ArgumentException("invalid optimiser options: " + string.Join("; ", p));
        }
    }
}

/// <summary>
/// Adam or SGD on the device for an <see cref="IcnnPotential"/>'s free parameters, with gradient-norm
/// clipping. The non-negative blocks (P_l, p, D) are softplus of free parameters, so every step keeps
/// them non-negative by construction. Steps are asynchronous (no host synchronisation). A non-finite
/// gradient norm makes the step a no-op for the parameters (the clip factor is 0) and is visible in
/// <see cref="LastGradientNorm"/>. Owns its moment buffers; dispose it before the context.
/// </summary>
public sealed class IcnnOptimizer : IDisposable
{
    private const int NormParts = 256;
    private readonly IcnnPotential potential;
    private readonly IcnnKernelSet kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> m;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> v;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> partials;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> scalars;
    private bool disposed;

    /// <summary>Creates an optimiser with zero moments.</summary>
    /// <param name="potential">The potential whose parameters it updates.</param>
    /// <param name="options">Options (validated), or null for defaults.</param>
    public IcnnOptimizer(IcnnPotential potential, IcnnOptimizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(potential);
        Options = options ?? new IcnnOptimizerOptions();
        Options.Validate();
        this.potential = potential;
        kernels = IcnnKernelSet.For(potential.Context);
        var acc = potential.Context.Accelerator;
        m = acc.Allocate1D<float>(potential.ParameterCount);
        v = acc.Allocate1D<float>(potential.ParameterCount);
        partials = acc.Allocate1D<float>(NormParts);
        scalars = acc.Allocate1D<float>(2);
        Reset();
    }

    /// <summary>The options.</summary>
    public IcnnOptimizerOptions Options { get; }

    /// <summary>Number of steps taken since creation or <see cref="Reset"/>.</summary>
    public long Steps { get; private set; }

    /// <summary>Zeroes the moments and the step count.</summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var tally = potential.Context.Tally;
        tally.Clear(m.View);
        tally.Clear(v.View);
        tally.Clear(scalars.View);
        Steps = 0;
    }

    /// <summary>One update with <paramref name="gradient"/> (with respect to the free parameters, e.g. from
    /// <see cref="IcnnPotential.LossParameterGradient(CMM.Gpu.Memory.DevicePoints, CMM.Gpu.Memory.DevicePoints, DeviceVector, DeviceVector)"/>).
    /// Asynchronous.</summary>
    /// <param name="gradient">Gradient [P].</param>
    public void Step(DeviceVector gradient) => Step(gradient, Options.LearningRate);

    /// <summary>One update as <see cref="Step(DeviceVector)"/> with learning rate <paramref name="learningRate"/>
    /// instead of the options' (for schedules). Asynchronous.</summary>
    /// <param name="gradient">Gradient [P].</param>
    /// <param name="learningRate">The learning rate of this step (positive, finite).</param>
    public void Step(DeviceVector gradient, float learningRate)
    {
        if (!(learningRate > 0) || !float.IsFinite(learningRate))
        {
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "the learning rate must be positive and finite");
        }

        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentNullException.ThrowIfNull(gradient);
        Shape.RequireSameContext(potential.Context, gradient.Context, nameof(gradient));
        Shape.RequireLength(gradient.Length, potential.ParameterCount, nameof(gradient), "the parameter gradient");
        int count = potential.ParameterCount;
        int parts = Math.Min(NormParts, count);
        kernels.SumSquaresPartial(parts, gradient.View, count, parts, partials.View);
        kernels.ClipFactor(1, partials.View, parts, Options.MaxGradientNorm, scalars.View);
        Steps++;
        var raw = potential.Parameters.View;
        var eff = potential.EffectiveParameters.View;
        if (Options.Method == IcnnOptimizerMethod.Sgd)
        {
            kernels.SgdStep(count, raw, eff, potential.Mask, potential.Scale, gradient.View, scalars.View, learningRate);
            return;
        }

        var c = new AdamCoefficients
        {
            LearningRate = learningRate,
            Beta1 = Options.Beta1,
            Beta2 = Options.Beta2,
            Epsilon = Options.Epsilon,
            Correction1 = (float)(1.0 / (1.0 - Math.Pow(Options.Beta1, Steps))),
            Correction2 = (float)(1.0 / (1.0 - Math.Pow(Options.Beta2, Steps))),
        };
        kernels.AdamStep(count, raw, eff, potential.Mask, potential.Scale, gradient.View, m.View, v.View, scalars.View, c);
    }

    /// <summary>The optimiser state (Adam moments and step count), for checkpoints. Waits for the device.</summary>
    /// <returns>First moments, second moments, steps.</returns>
    public (float[] M, float[] V, long Steps) ExportState()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return (potential.Context.Tally.Read(m.View), potential.Context.Tally.Read(v.View), Steps);
    }

    /// <summary>Restores a state written by <see cref="ExportState"/>.</summary>
    /// <param name="firstMoments">Adam first moments [P].</param>
    /// <param name="secondMoments">Adam second moments [P].</param>
    /// <param name="steps">Steps taken.</param>
    public void ImportState(ReadOnlySpan<float> firstMoments, ReadOnlySpan<float> secondMoments, long steps)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Shape.RequireLength(firstMoments.Length, potential.ParameterCount, nameof(firstMoments), "the optimiser state");
        Shape.RequireLength(secondMoments.Length, potential.ParameterCount, nameof(secondMoments), "the optimiser state");
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        potential.Context.Tally.Write(m.View.BaseView, firstMoments);
        potential.Context.Tally.Write(v.View.BaseView, secondMoments);
        Steps = steps;
    }

    /// <summary>The Euclidean norm of the last step's gradient (before clipping). Waits for the device.</summary>
    /// <returns>The norm; NaN or infinity if the gradient was not finite.</returns>
    public float LastGradientNorm()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return potential.Context.Tally.ReadFirst<float>(scalars.View);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            scalars.Dispose();
            partials.Dispose();
            v.Dispose();
            m.Dispose();
        }
    }
}
