using CMM.Gpu.Icnn;

namespace CMM.Gpu.Bench.Compare;

/// <summary>
/// Plain-C# baseline of the ICNN potential (docs/icnn.md), softplus activation: scalar per-point loops in a Parallel.For,
/// one scratch set per worker, reading the effective parameters (P, p, D already passed through softplus) in the library's
/// layout. Forward w(x), input gradient, and the gradient-matching loss with its parameter gradient (free parameters,
/// softplus chain rule applied at the end). Written independently of the kernels; it is a timing baseline, not a test reference.
/// The conjugate solve (damped Newton per point) is in PlainIcnnSolve.cs.
/// </summary>
internal sealed partial class PlainIcnn
{
    private readonly float[] e;   // effective parameters
    private readonly float[] theta; // free parameters (for the softplus chain rule)
    private readonly int[] mask;
    private readonly IcnnLayout lay;
    private readonly int d, r, layers, hidden, maxWidth;
    private readonly float alpha;
    private readonly int[] width, wOff, bOff, pOff, hOff;
    private readonly float[] centre; // the preconditioner's input centre m (the solve evaluates w at y - m; the passes above take centred points)

    public PlainIcnn(IcnnArchitecture arch, float[] freeParameters, float[] effectiveParameters)
    {
        lay = new IcnnLayout(arch);
        e = effectiveParameters;
        theta = freeParameters;
        mask = lay.NonNegativeMask();
        d = arch.Dimension;
        r = arch.Rank;
        alpha = arch.Alpha;
        layers = lay.Layers.Count;
        hidden = lay.TotalHidden;
        maxWidth = lay.MaxWidth;
        width = lay.Layers.Select(l => l.Width).ToArray();
        wOff = lay.Layers.Select(l => l.Weights).ToArray();
        bOff = lay.Layers.Select(l => l.Bias).ToArray();
        pOff = lay.Layers.Select(l => l.Passthrough).ToArray();
        hOff = lay.Layers.Select(l => l.HiddenOffset).ToArray();
        centre = arch.EffectivePreconditioner.Centre.ToArray();
    }

    public int ParameterCount => (int)lay.ParameterCount;

    private static float Softplus(float s) => s > 20 ? s : MathF.Log(1 + MathF.Exp(s));

    private static float Sigmoid(float s) => 1 / (1 + MathF.Exp(-s));

    private sealed class Scratch(int hidden, int maxWidth, int d, int r, int p)
    {
        public readonly float[] S = new float[hidden], Z = new float[hidden], Sig = new float[hidden];
        public readonly float[] Sdot = new float[hidden], Zdot = new float[hidden];
        public readonly float[] U = new float[maxWidth], Un = new float[maxWidth], Ub = new float[maxWidth], Ubn = new float[maxWidth];
        public readonly float[] G = new float[d], V = new float[d], Ry = new float[r], Rv = new float[r];
        public readonly float[]? Grad = p > 0 ? new float[p] : null;
        public double Loss;
    }

    /// <summary>Forward pass of one point: fills S, Z, Sig; returns w(x) (needValue) or 0.</summary>
    private float Forward(float[] x, int o, Scratch t, bool needValue)
    {
        for (int l = 0; l < layers; l++)
        {
            int h = width[l], ho = hOff[l];
            for (int j = 0; j < h; j++)
            {
                float s = e[bOff[l] + j];
                int wr = wOff[l] + (j * d);
                for (int k = 0; k < d; k++)
                {
                    s += e[wr + k] * x[o + k];
                }

                if (l > 0)
                {
                    int hp = width[l - 1], po = hOff[l - 1], pr = pOff[l] + (j * hp);
                    for (int k = 0; k < hp; k++)
                    {
                        s += e[pr + k] * t.Z[po + k];
                    }
                }

                t.S[ho + j] = s;
                t.Z[ho + j] = Softplus(s);
                t.Sig[ho + j] = Sigmoid(s);
            }
        }

        if (!needValue)
        {
            return 0;
        }

        int last = layers - 1;
        float w = 0;
        for (int j = 0; j < width[last]; j++)
        {
            w += e[lay.OutputOffset + j] * t.Z[hOff[last] + j];
        }

        float q = 0;
        for (int k = 0; k < d; k++)
        {
            float xk = x[o + k];
            q += (alpha + e[lay.DiagonalOffset + k]) * xk * xk;
            w += e[lay.LinearOffset + k] * xk;
        }

        for (int a = 0; a < r; a++)
        {
            float s = 0;
            for (int k = 0; k < d; k++)
            {
                s += e[lay.LowRankOffset + (k * r) + a] * x[o + k];
            }

            q += s * s;
        }

        return w + (0.5f * q);
    }

    /// <summary>Reverse pass after Forward: t.G = grad w(x); t.Ry = R'x.</summary>
    private void Backward(float[] x, int o, Scratch t)
    {
        int last = layers - 1;
        for (int j = 0; j < width[last]; j++)
        {
            t.U[j] = e[lay.OutputOffset + j];
        }

        Array.Clear(t.G);
        for (int l = last; l >= 0; l--)
        {
            int h = width[l], ho = hOff[l];
            int hp = l > 0 ? width[l - 1] : 0;
            if (l > 0)
            {
                Array.Clear(t.Un, 0, hp);
            }

            for (int j = 0; j < h; j++)
            {
                float delta = t.U[j] * t.Sig[ho + j];
                int wr = wOff[l] + (j * d);
                for (int k = 0; k < d; k++)
                {
                    t.G[k] += e[wr + k] * delta;
                }

                if (l > 0)
                {
                    int pr = pOff[l] + (j * hp);
                    for (int k = 0; k < hp; k++)
                    {
                        t.Un[k] += e[pr + k] * delta;
                    }
                }
            }

            if (l > 0)
            {
                Array.Copy(t.Un, t.U, hp);
            }
        }

        for (int a = 0; a < r; a++)
        {
            float s = 0;
            for (int k = 0; k < d; k++)
            {
                s += e[lay.LowRankOffset + (k * r) + a] * x[o + k];
            }

            t.Ry[a] = s;
        }

        for (int k = 0; k < d; k++)
        {
            float g = ((alpha + e[lay.DiagonalOffset + k]) * x[o + k]) + e[lay.LinearOffset + k];
            for (int a = 0; a < r; a++)
            {
                g += e[lay.LowRankOffset + (k * r) + a] * t.Ry[a];
            }

            t.G[k] += g;
        }
    }

    /// <summary>values[i] = w(x_i).</summary>
    public void Value(float[] x, float[] values, int n) =>
        Parallel.For(0, n, () => new Scratch(hidden, maxWidth, d, r, 0), (i, _, t) =>
        {
            values[i] = Forward(x, i * d, t, true);
            return t;
        }, _ => { });

    /// <summary>grad[i, :] = grad w(x_i).</summary>
    public void Gradient(float[] x, float[] grad, int n) =>
        Parallel.For(0, n, () => new Scratch(hidden, maxWidth, d, r, 0), (i, _, t) =>
        {
            Forward(x, i * d, t, false);
            Backward(x, i * d, t);
            Array.Copy(t.G, 0, grad, i * d, d);
            return t;
        }, _ => { });

    /// <summary>L = mean_i |grad w(y_i) - t_i|^2 and dL/dtheta (free parameters) into <paramref name="gradient"/>; returns L.
    /// Per-worker partial gradients, summed at the end (no shared atomics).</summary>
    public float LossGradient(float[] y, float[] targets, float[] gradient, int n)
    {
        var partials = new List<Scratch>();
        object gate = new();
        Parallel.For(0, n, () => new Scratch(hidden, maxWidth, d, r, ParameterCount), (i, _, t) =>
        {
            LossPoint(y, targets, i * d, t);
            return t;
        }, t => { lock (gate) { partials.Add(t); } });

        Array.Clear(gradient);
        double loss = 0;
        foreach (var t in partials)
        {
            loss += t.Loss;
            var g = t.Grad!;
            for (int k = 0; k < gradient.Length; k++)
            {
                gradient[k] += g[k];
            }
        }

        float scale = 2f / n;
        for (int k = 0; k < gradient.Length; k++)
        {
            gradient[k] *= mask[k] == 1 ? scale * Sigmoid(theta[k]) : scale;
        }

        return (float)(loss / n);
    }

    private void LossPoint(float[] y, float[] targets, int o, Scratch t)
    {
        Forward(y, o, t, false);
        Backward(y, o, t);
        var v = t.V;
        for (int k = 0; k < d; k++)
        {
            v[k] = t.G[k] - targets[o + k];
            t.Loss += v[k] * v[k];
        }

        // Tangent forward pass along v: sdot_l = W_l v + P_l zdot_(l-1), zdot_l = act'(s_l) sdot_l.
        for (int l = 0; l < layers; l++)
        {
            int h = width[l], ho = hOff[l];
            for (int j = 0; j < h; j++)
            {
                float s = 0;
                int wr = wOff[l] + (j * d);
                for (int k = 0; k < d; k++)
                {
                    s += e[wr + k] * v[k];
                }

                if (l > 0)
                {
                    int hp = width[l - 1], po = hOff[l - 1], pr = pOff[l] + (j * hp);
                    for (int k = 0; k < hp; k++)
                    {
                        s += e[pr + k] * t.Zdot[po + k];
                    }
                }

                t.Sdot[ho + j] = s;
                t.Zdot[ho + j] = t.Sig[ho + j] * s;
            }
        }

        // Reverse over primal and tangent: zbar_L = 0, zdotbar_L = p.
        var g = t.Grad!;
        int last = layers - 1;
        for (int j = 0; j < width[last]; j++)
        {
            t.U[j] = 0;
            t.Ub[j] = e[lay.OutputOffset + j];
            g[lay.OutputOffset + j] += t.Zdot[hOff[last] + j];
        }

        for (int l = last; l >= 0; l--)
        {
            int h = width[l], ho = hOff[l];
            int hp = l > 0 ? width[l - 1] : 0, po = l > 0 ? hOff[l - 1] : 0;
            if (l > 0)
            {
                Array.Clear(t.Un, 0, hp);
                Array.Clear(t.Ubn, 0, hp);
            }

            for (int j = 0; j < h; j++)
            {
                float sig = t.Sig[ho + j];
                float sdotbar = t.Ub[j] * sig;
                float sbar = (t.U[j] * sig) + (t.Ub[j] * sig * (1 - sig) * t.Sdot[ho + j]);
                int wr = wOff[l] + (j * d);
                for (int k = 0; k < d; k++)
                {
                    g[wr + k] += (sbar * y[o + k]) + (sdotbar * v[k]);
                }

                g[bOff[l] + j] += sbar;
                if (l > 0)
                {
                    int pr = pOff[l] + (j * hp);
                    for (int k = 0; k < hp; k++)
                    {
                        g[pr + k] += (sbar * t.Z[po + k]) + (sdotbar * t.Zdot[po + k]);
                        t.Un[k] += e[pr + k] * sbar;
                        t.Ubn[k] += e[pr + k] * sdotbar;
                    }
                }
            }

            if (l > 0)
            {
                Array.Copy(t.Un, t.U, hp);
                Array.Copy(t.Ubn, t.Ub, hp);
            }
        }

        // Quadratic and linear terms: dD += v * y, dR += v (R'y)' + y (R'v)', dc += v.
        for (int a = 0; a < r; a++)
        {
            float s = 0;
            for (int k = 0; k < d; k++)
            {
                s += e[lay.LowRankOffset + (k * r) + a] * v[k];
            }

            t.Rv[a] = s;
        }

        for (int k = 0; k < d; k++)
        {
            g[lay.DiagonalOffset + k] += v[k] * y[o + k];
            g[lay.LinearOffset + k] += v[k];
            for (int a = 0; a < r; a++)
            {
                g[lay.LowRankOffset + (k * r) + a] += (v[k] * t.Ry[a]) + (y[o + k] * t.Rv[a]);
            }
        }
    }
}
