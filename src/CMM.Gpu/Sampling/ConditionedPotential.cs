using CMM.Gpu.Memory;
using CMM.Gpu.Potentials;

namespace CMM.Gpu.Sampling;

/// <summary>
/// The latent energy of conditional sampling (inpainting, docs/sampling.md "Conditional sampling"): chain i samples
/// E_i(z) = L(z) + |m_i * (grad u(z) - o_i)|^2 / (2 s^2), where L is the latent's energy (w = u* for a CMM whose network is
/// u, u for MM), y = grad u(z) the explicit generator, o_i the observed values of chain i, m_i its 0/1 mask and s the
/// observation noise. Its gradient is grad L(z) + Hess u(z) m_i^2 * (grad u(z) - o_i) / s^2. The pushforward by grad u of
/// exp(-E_i) is the model's density times the Gaussian likelihood of the observations: the exact conditional as s -&gt; 0.
/// The latent and generator terms run on the device; the observation term (d x d per chain) is added on the host.
/// </summary>
public sealed class ConditionedPotential : IPotential, IDisposable
{
    private readonly IPotential latent;
    private readonly IPotential generator;
    private readonly float[] observed;
    private readonly float[] mask;
    private readonly double inverseVariance;
    private DevicePoints? generated;
    private DeviceVector? hessians;

    /// <summary>Creates the energy of <paramref name="observed"/>.Length / d chains.</summary>
    /// <param name="latent">The latent's energy L.</param>
    /// <param name="generator">The generator's potential u (samples are grad u(z)); same device and dimension.</param>
    /// <param name="observed">o, row-major [chains, d] (values where the mask is 0 are ignored).</param>
    /// <param name="mask">m, row-major [chains, d]: 0 where free; where observed, 1 or a positive weight (the observation's
    /// noise at that coordinate is s / m).</param>
    /// <param name="noise">s &gt; 0, in the generator's output units.</param>
    public ConditionedPotential(IPotential latent, IPotential generator, float[] observed, float[] mask, double noise)
    {
        ArgumentNullException.ThrowIfNull(latent);
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(observed);
        ArgumentNullException.ThrowIfNull(mask);
        if (generator.Dimension != latent.Dimension || generator.Context != latent.Context)
        {
            throw new ArgumentException("the generator must live on the latent's device with the latent's dimension", nameof(generator));
        }

        if (observed.Length == 0 || observed.Length % latent.Dimension != 0 || mask.Length != observed.Length)
        {
            throw new ArgumentException($"observations ({observed.Length} values) and mask ({mask.Length}) must both be [chains, {latent.Dimension}]", nameof(observed));
        }

        if (!(noise > 0) || double.IsInfinity(noise))
        {
            throw new ArgumentOutOfRangeException(nameof(noise), noise, "the observation noise must be positive and finite");
        }

        this.latent = latent;
        this.generator = generator;
        this.observed = observed;
        this.mask = mask;
        inverseVariance = 1.0 / (noise * noise);
        Chains = observed.Length / latent.Dimension;
    }

    /// <inheritdoc />
    public CmmContext Context => latent.Context;

    /// <inheritdoc />
    public int Dimension => latent.Dimension;

    /// <summary>The number of chains (rows of the observations); every call takes exactly this many points.</summary>
    public int Chains { get; }

    /// <inheritdoc />
    public void Value(DevicePoints points, DeviceVector values)
    {
        var g = Generated(points);
        latent.Value(points, values);
        AddPenalty(g, values);
    }

    /// <inheritdoc />
    public void Gradient(DevicePoints points, DevicePoints gradients)
    {
        var g = Generated(points);
        latent.Gradient(points, gradients);
        AddPenaltyGradient(points, g, gradients);
    }

    /// <summary>Both at once (what MALA asks for): one generator gradient and one pass of the latent's energy (for w = u*, one
    /// conjugate solve instead of two).</summary>
    /// <param name="points">Points [chains, d].</param>
    /// <param name="values">Output of length chains.</param>
    /// <param name="gradients">Output [chains, d].</param>
    public void ValueAndGradient(DevicePoints points, DeviceVector values, DevicePoints gradients)
    {
        var g = Generated(points);
        latent.ValueAndGradient(points, values, gradients);
        AddPenalty(g, values);
        AddPenaltyGradient(points, g, gradients);
    }

    /// <summary>Not available: the observation term's Hessian needs the generator's third derivatives.</summary>
    /// <param name="points">Unused.</param>
    /// <param name="hessians">Unused.</param>
    /// <exception cref="NotSupportedException">Always.</exception>
    public void Hessian(DevicePoints points, DeviceVector hessians) =>
        throw new NotSupportedException("the conditioned energy has no Hessian (it would need the generator's third derivatives); sample it with Langevin");

    /// <inheritdoc />
    public void Dispose()
    {
        generated?.Dispose();
        hessians?.Dispose();
    }

    /// <summary>values[i] += |m_i * (g_i - o_i)|^2 / (2 s^2).</summary>
    private void AddPenalty(float[] g, DeviceVector values)
    {
        var v = values.ToArray();
        int d = Dimension;
        for (int i = 0; i < Chains; i++)
        {
            double sum = 0;
            for (int k = 0; k < d; k++)
            {
                int j = (i * d) + k;
                double r = mask[j] * (g[j] - observed[j]);
                sum += r * r;
            }

            v[i] += (float)(0.5 * inverseVariance * sum);
        }

        values.CopyFrom(v);
    }

    /// <summary>gradients[i] += Hess u(z_i) m_i^2 * (g_i - o_i) / s^2.</summary>
    private void AddPenaltyGradient(DevicePoints points, float[] g, DevicePoints gradients)
    {
        int d = Dimension;
        hessians ??= DeviceVector.Allocate(Context, (long)Chains * d * d);
        generator.Hessian(points, hessians);
        var h = hessians.ToArray();
        var grad = gradients.ToArray();
        var r = new double[d];
        for (int i = 0; i < Chains; i++)
        {
            for (int k = 0; k < d; k++)
            {
                int j = (i * d) + k;
                r[k] = mask[j] * mask[j] * (g[j] - observed[j]) * inverseVariance;
            }

            long hi = (long)i * d * d;
            for (int a = 0; a < d; a++)
            {
                double sum = 0;
                for (int b = 0; b < d; b++)
                {
                    sum += h[hi + (a * d) + b] * r[b];
                }

                grad[(i * d) + a] += (float)sum;
            }
        }

        gradients.CopyFrom(grad);
    }

    private float[] Generated(DevicePoints points)
    {
        if (points.Count != Chains || points.Dimension != Dimension)
        {
            throw new ArgumentException($"the conditioned energy takes its {Chains} chains of dimension {Dimension} (got {points.Count} x {points.Dimension})", nameof(points));
        }

        generated ??= DevicePoints.Allocate(Context, Chains, Dimension);
        generator.Gradient(points, generated);
        return generated.ToArray();
    }
}
