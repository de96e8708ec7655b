using CMM.Gpu.Compute;
using CMM.Gpu.Memory;

namespace CMM.Gpu.Potentials;

/// <summary>
/// A convex potential w on R^d evaluated in batches on the device: the contract the Langevin sampler,
/// the conjugate solver and the fitting loop program against. Implemented by the ICNN and by the
/// closed-form quadratic potential used in tests. All calls are asynchronous (queued on the
/// context's stream); outputs are written into caller-owned buffers.
/// </summary>
public interface IPotential
{
    /// <summary>The device the potential's parameters live on.</summary>
    CmmContext Context { get; }

    /// <summary>The dimension d of its argument.</summary>
    int Dimension { get; }

    /// <summary>values[i] = w(x_i).</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="values">Output of length n.</param>
    void Value(DevicePoints points, DeviceVector values);

    /// <summary>gradients[i, :] = grad w(x_i).</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="gradients">Output [n, d] (may not alias <paramref name="points"/>).</param>
    void Gradient(DevicePoints points, DevicePoints gradients);

    /// <summary>
    /// values[i] = w(x_i) and gradients[i, :] = grad w(x_i). The default calls <see cref="Value"/> then
    /// <see cref="Gradient"/>; a potential whose gradient pass computes w on the way (the ICNN) does both in one pass.
    /// </summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="values">Output of length n.</param>
    /// <param name="gradients">Output [n, d] (may not alias <paramref name="points"/>).</param>
    void ValueAndGradient(DevicePoints points, DeviceVector values, DevicePoints gradients)
    {
        Value(points, values);
        Gradient(points, gradients);
    }

    /// <summary>hessians[i*d*d + r*d + c] = d^2 w / dx_r dx_c at x_i (row-major d x d per point).</summary>
    /// <param name="points">Points [n, d].</param>
    /// <param name="hessians">Output of length n * d * d.</param>
    void Hessian(DevicePoints points, DeviceVector hessians);
}
