using System.Globalization;

namespace CMM.Gpu.Icnn;

/// <summary>
/// Shape of an input-convex neural network potential (docs/icnn.md):
/// z_1 = act(W_0 x + b_0); z_(k+1) = act(P_k z_k + W_k x + b_k), P_k &gt;= 0;
/// w(x) = p' z_L + 1/2 x'(alpha I + D + R R')x + c'x, p &gt;= 0, D &gt;= 0 diagonal, R [d, r].
/// </summary>
/// <param name="Dimension">Input dimension d (at least 1).</param>
public sealed record IcnnArchitecture(int Dimension)
{
    /// <summary>Hidden widths h_1..h_L (default three layers of 64).</summary>
    public IReadOnlyList<int> HiddenWidths { get; init; } = [64, 64, 64];

    /// <summary>Hidden activation (default softplus).</summary>
    public IcnnActivation Activation { get; init; } = IcnnActivation.Softplus;

    /// <summary>
    /// Sharpness beta &gt; 0 of the activation (default 1): the hidden units compute act(beta s) / beta, whose bend is beta
    /// times narrower (ELU with beta is CELU with alpha 1/beta). Implemented as parameter scales (W_l and b_l times beta, p
    /// divided by beta; <see cref="IcnnLayout.ParameterScales"/>), so the kernels are the same for every beta.
    /// </summary>
    public float Sharpness { get; init; } = 1f;

    /// <summary>Rank r of the low-rank quadratic factor R [d, r]; 0 disables it (default 2, capped at d by <see cref="Validate"/>).</summary>
    public int Rank { get; init; } = 2;

    /// <summary>Fixed strong-convexity constant alpha &gt; 0 (default 0.1), in the input's own units: Hess w &gt;= alpha I everywhere.</summary>
    public float Alpha { get; init; } = 0.1f;

    /// <summary>
    /// The fixed affine preconditioning of the parametrisation (input centre and scales, output scale); null is the
    /// identity. It changes which parameter values represent a given w, never the family of functions.
    /// </summary>
    public IcnnPreconditioner? Preconditioner { get; init; }

    /// <summary><see cref="Preconditioner"/>, or the identity when it is null.</summary>
    public IcnnPreconditioner EffectivePreconditioner => Preconditioner ?? IcnnPreconditioner.Identity(Dimension);

    /// <summary>Every problem with this architecture, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (Dimension < 1)
        {
            p.Add($"Dimension must be at least 1 (got {Dimension}): set it to the data dimension d");
        }

        if (HiddenWidths is null || HiddenWidths.Count == 0)
        {
            p.Add("HiddenWidths must list at least one hidden layer width, e.g. [64, 64, 64]");
        }
        else
        {
            for (int i = 0; i < HiddenWidths.Count; i++)
            {
                if (HiddenWidths[i] < 1 || HiddenWidths[i] > 65536)
                {
                    p.Add($"HiddenWidths[{i}] = {HiddenWidths[i]} is out of range: use a width between 1 and 65536");
                }
            }
        }

        if (Rank < 0 || (Dimension >= 1 && Rank > Dimension))
        {
            p.Add($"Rank = {Rank} is out of range: use 0 (no low-rank term) up to the dimension {Dimension}");
        }

        if (!(Alpha > 0f) || !float.IsFinite(Alpha))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"Alpha = {Alpha} must be a finite number > 0 (it is the strong-convexity constant; e.g. 0.1)"));
        }

        if (!(Sharpness > 0f) || !float.IsFinite(Sharpness))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"Sharpness = {Sharpness} must be a finite number > 0 (1 is the plain activation)"));
        }

        if (Preconditioner is not null && Dimension >= 1)
        {
            p.AddRange(Preconditioner.Problems(Dimension));
        }

        if (!Enum.IsDefined(Activation))
        {
            p.Add($"Activation {(int)Activation} is unknown: use Softplus or Elu");
        }

        if (p.Count == 0 && new IcnnLayout(this).ParameterCount > int.MaxValue / 2)
        {
            p.Add("the network has too many parameters: reduce HiddenWidths");
        }

        return p;
    }

    /// <summary>Throws if <see cref="Problems"/> is not empty, listing every problem at once.</summary>
    /// <exception cref="ArgumentException">The architecture is invalid.</exception>
    public void Validate()
    {
        var p = Problems();
        if (p.Count > 0)
        {
            throw new ArgumentException("invalid ICNN architecture: " + string.Join("; ", p));
        }
    }

    /// <summary>Value equality including the widths (records compare lists by reference otherwise).</summary>
    /// <param name="other">The other architecture.</param>
    /// <returns>True when every field is equal.</returns>
    public bool Equals(IcnnArchitecture? other) =>
        other is not null && Dimension == other.Dimension && Activation == other.Activation && Rank == other.Rank &&
        Alpha.Equals(other.Alpha) && Sharpness.Equals(other.Sharpness) && HiddenWidths.SequenceEqual(other.HiddenWidths) &&
        EffectivePreconditioner.Equals(other.EffectivePreconditioner);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Dimension, Activation, Rank, Alpha, HiddenWidths.Count);
}

/// <summary>
/// Where each parameter block lives in the flat parameter vector (docs/icnn.md, "Parameter layout"):
/// for each hidden layer l = 0..L-1 in order, W_l [h_l, d] row-major, b_l [h_l], then for l &gt;= 1
/// P_l [h_l, h_(l-1)] row-major; then p [h_L], D [d], R [d, r] row-major, c [d].
/// P_l, p and D are stored as free parameters theta and used as softplus(theta) (non-negative by construction).
/// </summary>
public sealed class IcnnLayout
{
    /// <summary>Computes the layout of an architecture (not validated here).</summary>
    /// <param name="architecture">The architecture.</param>
    public IcnnLayout(IcnnArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        int d = architecture.Dimension;
        var layers = new List<IcnnLayerOffsets>();
        long o = 0;
        int prev = 0, hidden = 0, maxWidth = 0;
        foreach (int h in architecture.HiddenWidths)
        {
            long w = o;
            o += (long)h * d;
            long b = o;
            o += h;
            long p = -1;
            if (layers.Count > 0)
            {
                p = o;
                o += (long)h * prev;
            }

            layers.Add(new IcnnLayerOffsets(h, ToInt(w), ToInt(b), ToInt(p), hidden));
            hidden += h;
            maxWidth = Math.Max(maxWidth, h);
            prev = h;
        }

        Layers = layers;
        OutputOffset = ToInt(o);
        o += prev;
        DiagonalOffset = ToInt(o);
        o += d;
        LowRankOffset = ToInt(o);
        o += (long)d * architecture.Rank;
        LinearOffset = ToInt(o);
        o += d;
        ParameterCount = o;
        TotalHidden = hidden;
        MaxWidth = maxWidth;
    }

    /// <summary>Per hidden layer offsets.</summary>
    public IReadOnlyList<IcnnLayerOffsets> Layers { get; }

    /// <summary>Offset of the output weights p (length h_L).</summary>
    public int OutputOffset { get; }

    /// <summary>Offset of the diagonal D (length d).</summary>
    public int DiagonalOffset { get; }

    /// <summary>Offset of R (d x r, row-major).</summary>
    public int LowRankOffset { get; }

    /// <summary>Offset of c (length d).</summary>
    public int LinearOffset { get; }

    /// <summary>Total number of parameters.</summary>
    public long ParameterCount { get; }

    /// <summary>Sum of the hidden widths.</summary>
    public int TotalHidden { get; }

    /// <summary>Largest hidden width.</summary>
    public int MaxWidth { get; }

    /// <summary>1 for parameters used through softplus (P_l, p, D), 0 for the others.</summary>
    /// <returns>The mask, one entry per parameter.</returns>
    public int[] NonNegativeMask()
    {
        var mask = new int[ParameterCount];
        for (int l = 1; l < Layers.Count; l++)
        {
            Array.Fill(mask, 1, Layers[l].Passthrough, Layers[l].Width * Layers[l - 1].Width);
        }

        // p and D are adjacent: [OutputOffset, LowRankOffset).
        Array.Fill(mask, 1, OutputOffset, LowRankOffset - OutputOffset);
        return mask;
    }

    /// <summary>
    /// The fixed scale of each parameter under a preconditioner (docs/icnn.md, "Preconditioning"): effective = scale *
    /// (softplus of) free. With w(y) = kappa v((y - m) / s): W_l[j, k] 1/s_k; b_l, P_l 1; p kappa; D_k q^2 kappa/s_k^2;
    /// R[k, :] q sqrt(kappa)/s_k, with q the preconditioner's <see cref="IcnnPreconditioner.QuadraticScale"/>; with the
    /// architecture's sharpness beta, W_l and b_l are also multiplied by beta and p divided by beta. The linear
    /// term c_k gets l sqrt(kappa)/s_k (l the <see cref="IcnnPreconditioner.LinearScale"/>), not kappa/s_k: it sets where the latent exp(-w) sits, which must be resolved to a
    /// fraction of the latent's spread, not of the data's; for data of scale s the two differ by s^(2/3) (docs/icnn.md).
    /// </summary>
    /// <param name="preconditioner">The preconditioner (its dimension must be the layout's).</param>
    /// <param name="sharpness">The activation's sharpness beta.</param>
    /// <returns>One scale per parameter.</returns>
    public float[] ParameterScales(IcnnPreconditioner preconditioner, double sharpness = 1)
    {
        ArgumentNullException.ThrowIfNull(preconditioner);
        int d = preconditioner.Dimension;
        var scale = new float[ParameterCount];
        Array.Fill(scale, 1f);
        double kappa = preconditioner.OutputScale;
        foreach (var layer in Layers)
        {
            for (int j = 0; j < layer.Width; j++)
            {
                for (int k = 0; k < d; k++)
                {
                    scale[layer.Weights + (j * d) + k] = (float)(sharpness / preconditioner.InputScale[k]);
                }
            }

            Array.Fill(scale, (float)sharpness, layer.Bias, layer.Width);
        }

        Array.Fill(scale, (float)(kappa / sharpness), OutputOffset, DiagonalOffset - OutputOffset);
        int rank = (LinearOffset - LowRankOffset) / Math.Max(1, d);
        double fq = preconditioner.QuadraticScale;
        for (int k = 0; k < d; k++)
        {
            double sk = preconditioner.InputScale[k];
            scale[DiagonalOffset + k] = (float)(fq * fq * kappa / (sk * sk));
            scale[LinearOffset + k] = (float)(preconditioner.LinearScale * Math.Sqrt(kappa) / sk);
            for (int m = 0; m < rank; m++)
            {
                scale[LowRankOffset + (k * rank) + m] = (float)(fq * Math.Sqrt(kappa) / sk);
            }
        }

        return scale;
    }

    /// <summary>The layer table the kernels read: 5 ints per layer (width, W, b, P, scratch offset).</summary>
    /// <returns>The table.</returns>
    internal int[] KernelTable()
    {
        var t = new int[5 * Layers.Count];
        for (int l = 0; l < Layers.Count; l++)
        {
            t[5 * l] = Layers[l].Width;
            t[5 * l + 1] = Layers[l].Weights;
            t[5 * l + 2] = Layers[l].Bias;
            t[5 * l + 3] = Layers[l].Passthrough;
            t[5 * l + 4] = Layers[l].HiddenOffset;
        }

        return t;
    }

    private static int ToInt(long v) => v > int.MaxValue ? int.MaxValue : (int)v;
}

/// <summary>Offsets of one hidden layer's blocks in the parameter vector.</summary>
/// <param name="Width">h_l.</param>
/// <param name="Weights">Offset of W_l [h_l, d] (row-major).</param>
/// <param name="Bias">Offset of b_l [h_l].</param>
/// <param name="Passthrough">Offset of the free parameters of P_l [h_l, h_(l-1)] (row-major), -1 for the first layer.</param>
/// <param name="HiddenOffset">Sum of the widths of the layers before this one.</param>
public sealed record IcnnLayerOffsets(int Width, int Weights, int Bias, int Passthrough, int HiddenOffset);
