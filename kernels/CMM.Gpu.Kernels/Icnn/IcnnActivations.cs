using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// A convex, non-decreasing activation of the ICNN, with its first three derivatives (Hessians and the loss
/// gradient need the second; the parameter gradient of log det Hess w, in the likelihood objective, the third).
/// </summary>
public interface IIcnnActivation
{
    /// <summary>act(s).</summary>
    /// <param name="s">Pre-activation.</param>
    /// <returns>The activation.</returns>
    float Value(float s);

    /// <summary>act'(s) (non-negative).</summary>
    /// <param name="s">Pre-activation.</param>
    /// <returns>The first derivative.</returns>
    float D1(float s);

    /// <summary>act''(s) (non-negative).</summary>
    /// <param name="s">Pre-activation.</param>
    /// <returns>The second derivative.</returns>
    float D2(float s);

    /// <summary>act'''(s) (any sign; where act'' jumps, the derivative on either side, not the jump's delta).</summary>
    /// <param name="s">Pre-activation.</param>
    /// <returns>The third derivative.</returns>
    float D3(float s);
}

/// <summary>softplus(s) = log(1 + e^s): smooth, convex, increasing (the default).</summary>
public struct SoftplusActivation : IIcnnActivation
{
    /// <inheritdoc />
    public readonly float Value(float s) => DeviceMath.Softplus(s);

    /// <inheritdoc />
    public readonly float D1(float s) => DeviceMath.Sigmoid(s);

    /// <inheritdoc />
    public readonly float D2(float s)
    {
        float g = DeviceMath.Sigmoid(s);
        return g * (1f - g);
    }

    /// <inheritdoc />
    public readonly float D3(float s)
    {
        float g = DeviceMath.Sigmoid(s);
        return g * (1f - g) * (1f - (2f * g));
    }
}

/// <summary>
/// ELU(s) = s for s &gt; 0, e^s - 1 otherwise: convex, non-decreasing, continuously differentiable;
/// its second derivative (e^s for s &lt;= 0, 0 for s &gt; 0) jumps at 0, so <see cref="D3"/> is the derivative on
/// either side (e^s, 0) and misses the jump's delta at 0.
/// </summary>
public struct EluActivation : IIcnnActivation
{
    /// <inheritdoc />
    public readonly float Value(float s) => s > 0f ? s : XMath.Exp(s) - 1f;

    /// <inheritdoc />
    public readonly float D1(float s) => s > 0f ? 1f : XMath.Exp(s);

    /// <inheritdoc />
    public readonly float D2(float s) => s > 0f ? 0f : XMath.Exp(s);

    /// <inheritdoc />
    public readonly float D3(float s) => s > 0f ? 0f : XMath.Exp(s);
}
