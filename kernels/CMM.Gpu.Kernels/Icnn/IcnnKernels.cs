using CMM.Gpu.Kernels.Linalg;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace CMM.Gpu.Kernels.Icnn;

/// <summary>
/// Sizes, offsets and launch geometry of one ICNN kernel launch (see docs/icnn.md for the layouts).
/// Built by the host (<c>IcnnPotential</c>); passed by value to every ICNN kernel.
/// </summary>
public struct IcnnDims
{
    /// <summary>Input dimension d.</summary>
    public int Dim { get; set; }

    /// <summary>Number of hidden layers L (at least 1).</summary>
    public int Layers { get; set; }

    /// <summary>Rank r of the low-rank factor R [d, r] (0 allowed).</summary>
    public int Rank { get; set; }

    /// <summary>Sum of the hidden widths H.</summary>
    public int Hidden { get; set; }

    /// <summary>Largest hidden width M.</summary>
    public int MaxWidth { get; set; }

    /// <summary>Number of parameters P (the extra partial column is at index P). The effective-parameter buffer is P + d
    /// long: the input centre m (d floats) follows the parameters, and every point x enters the network as x - m.</summary>
    public int ParamCount { get; set; }

    /// <summary>Offset of the output weights p (length h_L) in the parameter vector.</summary>
    public int OffOut { get; set; }

    /// <summary>Offset of the diagonal D (length d).</summary>
    public int OffDiag { get; set; }

    /// <summary>Offset of R (d x r, row-major).</summary>
    public int OffLowRank { get; set; }

    /// <summary>Offset of the linear term c (length d).</summary>
    public int OffLinear { get; set; }

    /// <summary>Fixed strong-convexity constant alpha.</summary>
    public float Alpha { get; set; }

    /// <summary>Number of points n of this launch.</summary>
    public int Count { get; set; }

    /// <summary>Number of threads (slots) G; slot s handles points s, s + G, ...</summary>
    public int Slots { get; set; }

    /// <summary>Scratch address of element e of slot s is s * ScratchSlotStride + e * ScratchElemStride.</summary>
    public long ScratchSlotStride { get; set; }

    /// <summary>See <see cref="ScratchSlotStride"/>.</summary>
    public long ScratchElemStride { get; set; }

    /// <summary>Partial-gradient address of column j of slot s is s * PartialSlotStride + j * PartialParamStride.</summary>
    public long PartialSlotStride { get; set; }

    /// <summary>See <see cref="PartialSlotStride"/>.</summary>
    public long PartialParamStride { get; set; }

    /// <summary>Offset of the activations z (H); the pre-activations s (H) are at offset 0.</summary>
    public readonly int RZ => Hidden;

    /// <summary>Offset of the tangent pre-activations (H).</summary>
    public readonly int RT => 2 * Hidden;

    /// <summary>Offset of the reverse adjoints u_l = dw/dz_l (H).</summary>
    public readonly int RU => 3 * Hidden;

    /// <summary>Offset of ping-pong adjoint buffer A0 (M).</summary>
    public readonly int RA0 => 4 * Hidden;

    /// <summary>Offset of A1 (M).</summary>
    public readonly int RA1 => 4 * Hidden + MaxWidth;

    /// <summary>Offset of B0 (M).</summary>
    public readonly int RB0 => 4 * Hidden + 2 * MaxWidth;

    /// <summary>Offset of B1 (M).</summary>
    public readonly int RB1 => 4 * Hidden + 3 * MaxWidth;

    /// <summary>Offset of the tangent activations of one layer (M).</summary>
    public readonly int RE => 4 * Hidden + 4 * MaxWidth;

    /// <summary>Offset of R'x then R'v (2 r).</summary>
    public readonly int RQ => 4 * Hidden + 5 * MaxWidth;

    /// <summary>Offset of the input gradient (d).</summary>
    public readonly int RG => RQ + 2 * Rank;

    /// <summary>Offset of the direction v (d).</summary>
    public readonly int RV => RG + Dim;

    /// <summary>Offset of the Hessian-vector product (d).</summary>
    public readonly int RH => RV + Dim;

    /// <summary>Floats of scratch per slot.</summary>
    public readonly int ScratchPerSlot => RH + Dim;

    /// <summary>Likelihood kernel only: offset of the second-order tangent pre-activations s'' (H), after the common scratch.</summary>
    public readonly int RSD => ScratchPerSlot;

    /// <summary>Likelihood kernel only: offset of ping-pong adjoint buffer C0 (M), the adjoints of the second-order tangent activations.</summary>
    public readonly int RC0 => RSD + Hidden;

    /// <summary>Likelihood kernel only: offset of C1 (M).</summary>
    public readonly int RC1 => RC0 + MaxWidth;

    /// <summary>Likelihood kernel only: offset of the second-order tangent activations z'' of one layer (M).</summary>
    public readonly int RF => RC1 + MaxWidth;

    /// <summary>Likelihood kernel only: offset of the d x d Hessian, then its Cholesky factor (row-major, d^2).</summary>
    public readonly int RM => RF + MaxWidth;

    /// <summary>Likelihood kernel only: offset of the two layer-Jacobian buffers of <see cref="IcnnKernels.HessianJacobian{TAct, TF, TO}"/> (<see cref="JacobianFloats"/>), after the Hessian.</summary>
    public readonly int RLJ => RM + (Dim * Dim);

    /// <summary>Floats of scratch per slot of the likelihood kernel (<see cref="ScratchPerSlot"/> + H + 3 M + d^2 + 2 M d).</summary>
    public readonly int LikelihoodScratchPerSlot => RLJ + JacobianFloats;

    /// <summary>Floats of the two layer-Jacobian buffers (M x d each) that <see cref="IcnnKernels.HessianJacobian{TAct, TF, TO}"/> needs.</summary>
    public readonly int JacobianFloats => 2 * MaxWidth * Dim;

    /// <summary>Hessian kernel and fused conjugate solve: offset of the two layer-Jacobian buffers (<see cref="JacobianFloats"/>), after the common scratch.</summary>
    public readonly int RJ => ScratchPerSlot;

    /// <summary>Floats of scratch per slot of the Hessian kernel and the fused conjugate solve (<see cref="ScratchPerSlot"/> + 2 M d).</summary>
    public readonly int HessianScratchPerSlot => RJ + JacobianFloats;
}

/// <summary>Strided access to one slot's row of a global buffer (scratch or partial gradients); also an <see cref="IFloats"/>
/// indexed by element, so device helpers written for contiguous buffers (the Cholesky factorisation) run on a scratch region.</summary>
/// <typeparam name="TF">The buffer accessor (<see cref="ViewFloats"/> or <see cref="PointerFloats"/>).</typeparam>
internal struct StridedRow<TF> : IFloats
    where TF : struct, IFloats
{
    private TF buffer;
    private readonly long start;
    private readonly long step;

    public StridedRow(TF buffer, long start, long step)
    {
        this.buffer = buffer;
        this.start = start;
        this.step = step;
    }

    public float Get(int e) => buffer[start + e * step];

    public void Set(int e, float value) => buffer[start + e * step] = value;

    public void Add(int e, float value) => buffer[start + e * step] += value;

    /// <inheritdoc />
    public float this[long index]
    {
        readonly get => buffer[start + index * step];
        set => buffer[start + index * step] = value;
    }
}

/// <summary>
/// Batched ICNN kernels: value, input gradient, Hessian, Hessian-vector products, the three parameter
/// gradients (of the batch mean of w, of the gradient-matching loss and of the likelihood term), their slot reduction, and
/// the Adam/SGD updates. Every point kernel is "one slot per thread": thread s handles points
/// s, s + G, s + 2G, ... with its own scratch row in a global workspace, so there is no compile-time
/// width limit and the workspace is bounded by G. The layer table <c>lay</c> holds, for hidden layer
/// l, five ints at 5 l: width h_l, offset of W_l [h_l, d], offset of b_l [h_l], offset of P_l
/// [h_l, h_(l-1)] (-1 for l = 0), offset of the layer in the H-long scratch regions.
/// All parameter arguments named <c>eff</c> are the effective (non-negative where required) parameters.
/// </summary>
public static class IcnnKernels
{
    /// <summary>eff[j] = scale[j] * softplus(raw[j]) where mask[j] = 1, else scale[j] * raw[j] (the preconditioned
    /// reparameterisation of docs/icnn.md).</summary>
    /// <param name="j">Parameter index.</param>
    /// <param name="raw">Free parameters.</param>
    /// <param name="mask">1 for reparameterised (non-negative) entries.</param>
    /// <param name="scale">Fixed positive scale of each parameter (the preconditioner's).</param>
    /// <param name="eff">Effective parameters (output).</param>
    public static void Materialize(Index1D j, ArrayView<float> raw, ArrayView<int> mask, ArrayView<float> scale, ArrayView<float> eff) =>
        eff[j] = Effective(raw[j], mask[j], scale[j]);

    /// <summary>The effective value of one free parameter: scale * softplus(r) when masked, else scale * r.</summary>
    /// <param name="r">Free value.</param>
    /// <param name="mask">1 when reparameterised.</param>
    /// <param name="scale">Scale.</param>
    /// <returns>The effective value.</returns>
    internal static float Effective(float r, int mask, float scale) => scale * (mask != 0 ? DeviceMath.Softplus(r) : r);

    /// <summary>values[i] = w(x_i) (mode bit 1) and grads[i, :] = grad w(x_i) (mode bit 2).</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="values">Output [n] (any length when bit 1 is clear).</param>
    /// <param name="grads">Output [n, d] (any length when bit 2 is clear).</param>
    /// <param name="mode">1 = values, 2 = gradients, 3 = both.</param>
    public static void Evaluate<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> values, ArrayView<float> grads, int mode)
        where TAct : struct, IIcnnActivation =>
        EvaluateSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(ws), new ViewFloats(values), new ViewFloats(grads), mode);

    /// <summary>
    /// <see cref="Evaluate{TAct}"/> with the effective parameters first copied into dynamic shared memory by the
    /// whole group (P floats), then read from there. Launch with grid ceil(G / T), group T and P floats of
    /// dynamic shared memory; thread Grid.GlobalIndex.X is slot s (threads with s &gt;= G only help stage).
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="values">Output [n].</param>
    /// <param name="grads">Output [n, d].</param>
    /// <param name="mode">1 = values, 2 = gradients, 3 = both.</param>
    public static void EvaluateStaged<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> values, ArrayView<float> grads, int mode)
        where TAct : struct, IIcnnActivation
    {
        var sh = Stage(eff, dm.ParamCount + dm.Dim);
        int slot = Grid.GlobalIndex.X;
        if (slot < dm.Slots)
        {
            EvaluateSlot<TAct, ViewFloats>(slot, new ViewFloats(sh), lay, dm, new ViewFloats(x), new ViewFloats(ws), new ViewFloats(values), new ViewFloats(grads), mode);
        }
    }

    /// <summary>
    /// <see cref="ValueParameterGradient{TAct}"/> with the parameters staged in shared memory (launch as
    /// <see cref="EvaluateStaged{TAct}"/>).
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void ValueParameterGradientStaged<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation
    {
        var sh = Stage(eff, dm.ParamCount + dm.Dim);
        int slot = Grid.GlobalIndex.X;
        if (slot < dm.Slots)
        {
            ValueGradientSlot<TAct, ViewFloats>(slot, new ViewFloats(sh), lay, dm, new ViewFloats(x), new ViewFloats(ws), new ViewFloats(partial));
        }
    }

    /// <summary>
    /// <see cref="LossParameterGradient{TAct}"/> with the parameters staged in shared memory (launch as
    /// <see cref="EvaluateStaged{TAct}"/>).
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="targets">Targets [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void LossParameterGradientStaged<TAct>(ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> y, ArrayView<float> targets, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation
    {
        var sh = Stage(eff, dm.ParamCount + dm.Dim);
        int slot = Grid.GlobalIndex.X;
        if (slot < dm.Slots)
        {
            LossGradientSlot<TAct, ViewFloats>(slot, new ViewFloats(sh), lay, dm, new ViewFloats(y), new ViewFloats(targets), new ViewFloats(ws), new ViewFloats(partial));
        }
    }

    /// <summary>Copies eff[0, count) into the group's dynamic shared memory (all threads, then a barrier).</summary>
    internal static ArrayView<float> Stage(ArrayView<float> eff, int count)
    {
        var sh = SharedMemory.GetDynamic<float>();
        for (int j = Group.IdxX; j < count; j += Group.DimX)
        {
            sh[j] = eff[j];
        }

        Group.Barrier();
        return sh;
    }

    internal static void EvaluateSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm,
        TF x, TF ws, TF values, TF grads, int mode)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        int d = dm.Dim;
        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            long xb = (long)i * d;
            float w = Forward<TAct, TF>(eff, lay, dm, x, xb, row);
            if ((mode & 1) != 0)
            {
                values[i] = w;
            }

            if ((mode & 2) != 0)
            {
                Backward<TAct, TF>(eff, lay, dm, x, xb, row);
                for (int k = 0; k < d; k++)
                {
                    grads[xb + k] = row.Get(dm.RG + k);
                }
            }
        }
    }

    /// <summary>hess[i d^2 + r d + c] = d^2 w / dx_r dx_c at x_i.</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="hess">Output [n, d, d].</param>
    public static void Hessian<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> hess)
        where TAct : struct, IIcnnActivation =>
        HessianSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(ws), new ViewFloats(hess));

    internal static void HessianSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm, TF x, TF ws, TF hess)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        int d = dm.Dim;
        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            long xb = (long)i * d;
            Forward<TAct, TF>(eff, lay, dm, x, xb, row);
            Backward<TAct, TF>(eff, lay, dm, x, xb, row);
            HessianJacobian<TAct, TF, TF>(eff, lay, dm, row, dm.RJ, hess, (long)i * d * d);
        }
    }

    /// <summary>
    /// hess[hb + r d + c] = d^2 w / dx_r dx_c at the point of the last <see cref="Forward{TAct, TF}"/> and
    /// <see cref="Backward{TAct, TF}"/>, from the layer Jacobians J_l = ds_l/dx (h_l x d):
    /// Hess w = diag(alpha + D) + R R' + sum over hidden units j of u_j act''(s_j) J_j J_j' (J_j the unit's row, u = dw/dz from
    /// the reverse pass, region U), with J_0 = W_0 and J_l = W_l + P_l diag(act'(s_(l-1))) J_(l-1). The preconditioner and
    /// the sharpness are in the effective parameters, as for every pass. Each layer's terms are added to the lower triangle
    /// (row &gt;= column) once its Jacobian is known, and the upper triangle is mirrored at the end. Costs
    /// d sum_l h_l h_(l-1) + H d (d + 1) / 2 multiply-adds and two activation derivatives per unit, against about
    /// d (4 sum_l h_l h_(l-1) + 4 H d) and 3 d per unit for d Hessian-vector products (the former algorithm). Scratch: two layer
    /// Jacobians, M x d each, at <paramref name="rj"/> (<see cref="IcnnDims.JacobianFloats"/>); also uses regions E, A0 and B0.
    /// </summary>
    internal static void HessianJacobian<TAct, TF, TO>(TF eff, ArrayView<int> lay, IcnnDims dm, StridedRow<TF> row, int rj, TO hess, long hb)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
        where TO : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim, r = dm.Rank, L = dm.Layers;
        int cur = rj, prev = rj + (dm.MaxWidth * d);

        // diag(alpha + D) + R R' (lower triangle).
        for (int k = 0; k < d; k++)
        {
            for (int c = 0; c <= k; c++)
            {
                float v = k == c ? dm.Alpha + eff[dm.OffDiag + k] : 0f;
                for (int m = 0; m < r; m++)
                {
                    v += eff[dm.OffLowRank + k * r + m] * eff[dm.OffLowRank + c * r + m];
                }

                hess[hb + ((long)k * d) + c] = v;
            }
        }

        int hp = 0;
        for (int l = 0; l < L; l++)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offP = lay[5 * l + 3], so = lay[5 * l + 4];

            // J_l = W_l + P_l K_(l-1), K_(l-1) = diag(act'(s_(l-1))) J_(l-1) (in buffer prev).
            for (int j = 0; j < h; j++)
            {
                int wr = offW + j * d, pr = offP + j * hp, jr = cur + j * d;
                for (int c = 0; c < d; c++)
                {
                    float t = eff[wr + c];
                    for (int k = 0; k < hp; k++)
                    {
                        t += eff[pr + k] * row.Get(prev + k * d + c);
                    }

                    row.Set(jr + c, t);
                }
            }

            // Per unit: act'(s) in E, u act''(s) in A0.
            for (int j = 0; j < h; j++)
            {
                float s = row.Get(so + j);
                row.Set(dm.RE + j, act.D1(s));
                row.Set(dm.RA0 + j, row.Get(dm.RU + so + j) * act.D2(s));
            }

            // Lower triangle += sum_j u_j act''(s_j) J_j J_j'; row k: B0 = (u act'') * J[., k], then dot products with J[., c].
            for (int k = 0; k < d; k++)
            {
                for (int j = 0; j < h; j++)
                {
                    row.Set(dm.RB0 + j, row.Get(dm.RA0 + j) * row.Get(cur + j * d + k));
                }

                for (int c = 0; c <= k; c++)
                {
                    float t = 0f;
                    for (int j = 0; j < h; j++)
                    {
                        t += row.Get(dm.RB0 + j) * row.Get(cur + j * d + c);
                    }

                    hess[hb + ((long)k * d) + c] += t;
                }
            }

            if (l + 1 < L)
            {
                // K_l = diag(act'(s_l)) J_l, in place; it becomes the next layer's prev.
                for (int j = 0; j < h; j++)
                {
                    float a1 = row.Get(dm.RE + j);
                    for (int c = 0; c < d; c++)
                    {
                        row.Set(cur + j * d + c, a1 * row.Get(cur + j * d + c));
                    }
                }

                (cur, prev) = (prev, cur);
            }

            hp = h;
        }

        for (int k = 0; k < d; k++)
        {
            for (int c = k + 1; c < d; c++)
            {
                hess[hb + ((long)k * d) + c] = hess[hb + ((long)c * d) + k];
            }
        }
    }

    /// <summary>output[i, :] = Hess w(x_i) v_i.</summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="directions">Directions v [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="output">Output [n, d].</param>
    public static void HessianVector<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> directions, ArrayView<float> ws, ArrayView<float> output)
        where TAct : struct, IIcnnActivation =>
        HessianVectorSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(directions), new ViewFloats(ws), new ViewFloats(output));

    internal static void HessianVectorSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm, TF x, TF directions, TF ws, TF output)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        int d = dm.Dim;
        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            long xb = (long)i * d;
            Forward<TAct, TF>(eff, lay, dm, x, xb, row);
            Backward<TAct, TF>(eff, lay, dm, x, xb, row);
            for (int k = 0; k < d; k++)
            {
                row.Set(dm.RV + k, directions[xb + k]);
            }

            Tangent<TAct, TF>(eff, lay, dm, row);
            TangentBackward<TAct, TF>(eff, lay, dm, row);
            for (int k = 0; k < d; k++)
            {
                output[xb + k] = row.Get(dm.RH + k);
            }
        }
    }

    /// <summary>
    /// Per-slot partial sums over this slot's points of d w(x_i) / d theta (effective parameters),
    /// with the sum of w(x_i) in column P.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="x">Points [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1] (strided as <paramref name="dm"/> says).</param>
    public static void ValueParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> x, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation =>
        ValueGradientSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(x), new ViewFloats(ws), new ViewFloats(partial));

    internal static void ValueGradientSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm,
        TF x, TF ws, TF partial)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        var prt = ClearedPartialRow(partial, slot, dm);

        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            long xb = (long)i * dm.Dim;
            float w = Forward<TAct, TF>(eff, lay, dm, x, xb, row);
            AccumulateValueGradient<TAct, TF>(eff, lay, dm, x, xb, row, prt, w);
        }
    }

    /// <summary>
    /// Per-slot partial sums of d/d theta [v_i' grad w(y_i)] with v_i = grad w(y_i) - t_i held fixed,
    /// and of |v_i|^2 in column P.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="y">Points [n, d].</param>
    /// <param name="targets">Targets t [n, d].</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void LossParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> y, ArrayView<float> targets, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation =>
        LossGradientSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(y), new ViewFloats(targets), new ViewFloats(ws), new ViewFloats(partial));

    internal static void LossGradientSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, TF targets, TF ws, TF partial)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        var prt = ClearedPartialRow(partial, slot, dm);

        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            long yb = (long)i * dm.Dim;
            AccumulateLossGradient<TAct, TF>(eff, lay, dm, y, targets, yb, row, prt);
        }
    }

    /// <summary>
    /// Per-slot partial sums, over this slot's data points y_i, of d/d theta of l_i = w(grad w(y_i)) - log det Hess w(y_i)
    /// (minus the model's log-likelihood up to log Z_w; docs/fitting.md, "Maximum likelihood"), and of l_i in column P.
    /// The path through grad w is included: d/d theta w(grad w(y)) = (d_theta w)(x) + v' d/d theta grad w(y) at x = grad w(y),
    /// v = grad w(x). The log-determinant term is tr(H^-1 d_theta H) = sum_c d/d theta [u_c' Hess w(y) u_c] with u_c the columns of
    /// L^-T (H = L L' by Cholesky, held fixed): a second-order tangent (jet) pass along u_c and its reverse, exact up to rounding
    /// (it needs the activation's third derivative). A point whose Hessian is not numerically positive definite adds NaN to
    /// column P and to column 0, so the gradient's norm is NaN and the optimiser leaves the parameters unchanged.
    /// Writes x_i = grad w(y_i) to <paramref name="encoded"/>. Scratch: <see cref="IcnnDims.LikelihoodScratchPerSlot"/> floats per slot.
    /// </summary>
    /// <typeparam name="TAct">Activation.</typeparam>
    /// <param name="slot">Slot index.</param>
    /// <param name="eff">Effective parameters.</param>
    /// <param name="lay">Layer table.</param>
    /// <param name="dm">Dimensions.</param>
    /// <param name="y">Data points [n, d].</param>
    /// <param name="encoded">Output [n, d]: grad w(y_i) (also read back as the points where w is evaluated).</param>
    /// <param name="ws">Workspace.</param>
    /// <param name="partial">Partials [G, P + 1].</param>
    public static void LikelihoodParameterGradient<TAct>(Index1D slot, ArrayView<float> eff, ArrayView<int> lay, IcnnDims dm,
        ArrayView<float> y, ArrayView<float> encoded, ArrayView<float> ws, ArrayView<float> partial)
        where TAct : struct, IIcnnActivation =>
        LikelihoodGradientSlot<TAct, ViewFloats>(slot, new ViewFloats(eff), lay, dm, new ViewFloats(y), new ViewFloats(encoded), new ViewFloats(ws), new ViewFloats(partial));

    internal static void LikelihoodGradientSlot<TAct, TF>(int slot, TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, TF encoded, TF ws, TF partial)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var row = new StridedRow<TF>(ws, slot * dm.ScratchSlotStride, dm.ScratchElemStride);
        var prt = ClearedPartialRow(partial, slot, dm);

        for (int i = slot; i < dm.Count; i += dm.Slots)
        {
            AccumulateLikelihoodGradient<TAct, TF>(eff, lay, dm, y, encoded, (long)i * dm.Dim, row, prt);
        }
    }

    /// <summary>
    /// Sums the slot partials column by column (no atomics): grad[j] = scaleGrad * sum_s partial[s, j] * scale[j] *
    /// (sigmoid(raw[j]) where mask[j] = 1): the chain rule of the scaled softplus reparameterisation, and
    /// extra[0] = scaleExtra * sum_s partial[s, P].
    /// </summary>
    /// <param name="j">Column index, 0..P.</param>
    /// <param name="partial">Partials.</param>
    /// <param name="dm">Dimensions (Slots, strides, ParamCount).</param>
    /// <param name="raw">Free parameters.</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale of the reparameterisation (chain rule: times scale[j]).</param>
    /// <param name="scaleGrad">Scale of the gradient columns.</param>
    /// <param name="scaleExtra">Scale of column P.</param>
    /// <param name="grad">Output gradient [P] with respect to the free parameters.</param>
    /// <param name="extra">Output [1]: the scaled column-P sum (mean w or the loss).</param>
    public static void ReduceSlots(Index1D j, ArrayView<float> partial, IcnnDims dm, ArrayView<float> raw,
        ArrayView<int> mask, ArrayView<float> scale, float scaleGrad, float scaleExtra, ArrayView<float> grad, ArrayView<float> extra) =>
        ReduceSlotsAt(j, new ViewFloats(partial), dm, new ViewFloats(raw), mask, new ViewFloats(scale), scaleGrad, scaleExtra, new ViewFloats(grad), new ViewFloats(extra));

    /// <summary>The body of <see cref="ReduceSlots"/> for column j, generic over the accessor (the host form uses pointers).</summary>
    internal static void ReduceSlotsAt<TF>(long j, TF partial, IcnnDims dm, TF raw, ArrayView<int> mask, TF scale, float scaleGrad, float scaleExtra, TF grad, TF extra)
        where TF : struct, IFloats
    {
        double s = 0;
        long b = j * dm.PartialParamStride;
        for (int slot = 0; slot < dm.Slots; slot++)
        {
            s += partial[b + slot * dm.PartialSlotStride];
        }

        if (j == dm.ParamCount)
        {
            extra[0] = (float)(s * scaleExtra);
        }
        else
        {
            float g = (float)(s * scaleGrad) * scale[j];
            grad[j] = mask[j] != 0 ? g * DeviceMath.Sigmoid(raw[j]) : g;
        }
    }

    /// <summary>
    /// The weighted sum of slot partials when each slot holds one point's parameter gradient: grad[j] = sum_s weights[s] *
    /// partial[s, j] * scale[j] * (sigmoid(raw[j]) where mask[j] = 1), the chain rule of <see cref="ReduceSlots"/>, for
    /// j &lt; P. It serves objectives that weigh points differently, such as the residual variance of CMFMA (weights
    /// 2 (r_s - mean r) / n). A NaN weight or partial makes the component NaN (the optimiser then skips the step).
    /// </summary>
    /// <param name="j">Parameter index, 0..P-1.</param>
    /// <param name="partial">Partials, one point per slot.</param>
    /// <param name="dm">Dimensions (Slots, strides).</param>
    /// <param name="raw">Free parameters.</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale of the reparameterisation.</param>
    /// <param name="weights">One weight per slot.</param>
    /// <param name="grad">Output gradient [P] with respect to the free parameters.</param>
    public static void ReduceSlotsWeighted(Index1D j, ArrayView<float> partial, IcnnDims dm, ArrayView<float> raw,
        ArrayView<int> mask, ArrayView<float> scale, ArrayView<float> weights, ArrayView<float> grad)
    {
        double s = 0;
        long b = j * dm.PartialParamStride;
        for (int slot = 0; slot < dm.Slots; slot++)
        {
            s += weights[slot] * partial[b + slot * dm.PartialSlotStride];
        }

        float g = (float)s * scale[j];
        grad[j] = mask[j] != 0 ? g * DeviceMath.Sigmoid(raw[j]) : g;
    }

    /// <summary>output[s] = partial[s, column]: one column of the slot partials (with one point per slot and column P, each
    /// point's objective term).</summary>
    /// <param name="s">Slot index.</param>
    /// <param name="partial">Partials.</param>
    /// <param name="dm">Dimensions (strides).</param>
    /// <param name="column">The column, 0..P.</param>
    /// <param name="output">Output [Slots].</param>
    public static void SlotColumn(Index1D s, ArrayView<float> partial, IcnnDims dm, int column, ArrayView<float> output) =>
        output[s] = partial[((long)column * dm.PartialParamStride) + ((long)(int)s * dm.PartialSlotStride)];

    /// <summary>y[j] += a * x[j] (combines parameter gradients, e.g. E_data - E_model in the semi-dual objective).</summary>
    /// <param name="j">Index.</param>
    /// <param name="y">Accumulator (updated).</param>
    /// <param name="x">Added vector.</param>
    /// <param name="a">Scale.</param>
    public static void AddScaled(Index1D j, ArrayView<float> y, ArrayView<float> x, float a) => y[j] += a * x[j];

    /// <summary>partials[t] = sum of grad[j]^2 over j = t, t + parts, ...</summary>
    /// <param name="t">Part index.</param>
    /// <param name="grad">Gradient.</param>
    /// <param name="count">Gradient length.</param>
    /// <param name="parts">Number of parts.</param>
    /// <param name="partials">Output [parts].</param>
    public static void SumSquaresPartial(Index1D t, ArrayView<float> grad, int count, int parts, ArrayView<float> partials)
    {
        float s = 0f;
        for (int j = t; j < count; j += parts)
        {
            float g = grad[j];
            s += g * g;
        }

        partials[t] = s;
    }

    /// <summary>
    /// One thread: scalars[0] = |grad| = sqrt(sum partials); scalars[1] = clip factor
    /// min(1, maxNorm / |grad|) (1 when maxNorm &lt;= 0; 0 when the norm is not finite: the update kernels then leave the parameters unchanged).
    /// </summary>
    /// <param name="t">Thread index (only 0 works).</param>
    /// <param name="partials">Partial sums of squares.</param>
    /// <param name="parts">Number of partials.</param>
    /// <param name="maxNorm">Clipping threshold (&lt;= 0: no clipping).</param>
    /// <param name="scalars">Output [2].</param>
    public static void ClipFactor(Index1D t, ArrayView<float> partials, int parts, float maxNorm, ArrayView<float> scalars)
    {
        if (t != 0)
        {
            return;
        }

        double s = 0;
        for (int p = 0; p < parts; p++)
        {
            s += partials[p];
        }

        float norm = (float)Math.Sqrt(s);
        scalars[0] = norm;
        scalars[1] = !float.IsFinite(norm) ? 0f : (maxNorm > 0f && norm > maxNorm ? maxNorm / norm : 1f);
    }

    /// <summary>
    /// Adam on the free parameters, gradient scaled by the clip factor scalars[1]; writes the effective
    /// parameters (softplus where masked, so positivity holds by construction).
    /// </summary>
    /// <param name="j">Parameter index.</param>
    /// <param name="raw">Free parameters (updated).</param>
    /// <param name="eff">Effective parameters (output).</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale of the reparameterisation.</param>
    /// <param name="grad">Gradient with respect to the free parameters.</param>
    /// <param name="m">First moment (updated).</param>
    /// <param name="v">Second moment (updated).</param>
    /// <param name="scalars">[norm, clip factor].</param>
    /// <param name="c">Step coefficients.</param>
    public static void AdamStep(Index1D j, ArrayView<float> raw, ArrayView<float> eff, ArrayView<int> mask, ArrayView<float> scale,
        ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v, ArrayView<float> scalars, AdamCoefficients c) =>
        AdamStepAt(j, new ViewFloats(raw), new ViewFloats(eff), mask, new ViewFloats(scale), new ViewFloats(grad), new ViewFloats(m), new ViewFloats(v), new ViewFloats(scalars), c);

    /// <summary>The body of <see cref="AdamStep"/> for parameter j, generic over the accessor (the host form uses pointers).</summary>
    internal static void AdamStepAt<TF>(long j, TF raw, TF eff, ArrayView<int> mask, TF scale, TF grad, TF m, TF v, TF scalars, AdamCoefficients c)
        where TF : struct, IFloats
    {
        float f = scalars[1];
        if (f == 0f)
        {
            return;
        }

        float g = grad[j] * f;
        float mj = c.Beta1 * m[j] + (1f - c.Beta1) * g;
        float vj = c.Beta2 * v[j] + (1f - c.Beta2) * g * g;
        m[j] = mj;
        v[j] = vj;
        float mh = mj * c.Correction1;
        float vh = vj * c.Correction2;
        float r = raw[j] - c.LearningRate * mh / (XMath.Sqrt(vh) + c.Epsilon);
        raw[j] = r;
        eff[j] = Effective(r, mask[j], scale[j]);
    }

    /// <summary>Plain SGD on the free parameters with the clip factor scalars[1]; writes the effective parameters.</summary>
    /// <param name="j">Parameter index.</param>
    /// <param name="raw">Free parameters (updated).</param>
    /// <param name="eff">Effective parameters (output).</param>
    /// <param name="mask">Reparameterisation mask.</param>
    /// <param name="scale">Per-parameter scale of the reparameterisation.</param>
    /// <param name="grad">Gradient.</param>
    /// <param name="scalars">[norm, clip factor].</param>
    /// <param name="learningRate">Step size.</param>
    public static void SgdStep(Index1D j, ArrayView<float> raw, ArrayView<float> eff, ArrayView<int> mask, ArrayView<float> scale,
        ArrayView<float> grad, ArrayView<float> scalars, float learningRate)
    {
        float f = scalars[1];
        if (f == 0f)
        {
            return;
        }

        float r = raw[j] - learningRate * grad[j] * f;
        raw[j] = r;
        eff[j] = Effective(r, mask[j], scale[j]);
    }

    // ---- device helpers (not kernels) ----

    /// <summary>Primal forward: stores s, z and R'x; returns w(x).</summary>
    internal static float Forward<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF x, long xb, StridedRow<TF> ws)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim;
        int rz = dm.RZ;
        int hp = 0, soPrev = 0;
        for (int l = 0; l < dm.Layers; l++)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offB = lay[5 * l + 2], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            for (int j = 0; j < h; j++)
            {
                float s = eff[offB + j];
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    s += eff[wr + k] * Centred(eff, dm, x, xb, k);
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        s += eff[pr + k] * ws.Get(rz + soPrev + k);
                    }
                }

                ws.Set(so + j, s);
                ws.Set(rz + so + j, act.Value(s));
            }

            hp = h;
            soPrev = so;
        }

        float w = 0f;
        for (int j = 0; j < hp; j++)
        {
            w += eff[dm.OffOut + j] * ws.Get(rz + soPrev + j);
        }

        float quad = 0f, lin = 0f;
        for (int k = 0; k < d; k++)
        {
            float xk = Centred(eff, dm, x, xb, k);
            quad += (dm.Alpha + eff[dm.OffDiag + k]) * xk * xk;
            lin += eff[dm.OffLinear + k] * xk;
        }

        for (int m = 0; m < dm.Rank; m++)
        {
            float q = 0f;
            for (int k = 0; k < d; k++)
            {
                q += eff[dm.OffLowRank + k * dm.Rank + m] * Centred(eff, dm, x, xb, k);
            }

            ws.Set(dm.RQ + m, q);
            quad += q * q;
        }

        return w + 0.5f * quad + lin;
    }

    /// <summary>Primal reverse after <see cref="Forward{TAct, TF}"/> at the same x: stores u_l = dw/dz_l (region U) and grad w(x) (region G).</summary>
    internal static void Backward<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF x, long xb, StridedRow<TF> ws)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim;
        int L = dm.Layers;
        InitGradient(eff, dm, x, xb, ws);
        int hTop = lay[5 * (L - 1)], soTop = lay[5 * (L - 1) + 4];
        for (int j = 0; j < hTop; j++)
        {
            ws.Set(dm.RU + soTop + j, eff[dm.OffOut + j]);
        }

        for (int l = L - 1; l >= 0; l--)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            int hp = l > 0 ? lay[5 * (l - 1)] : 0;
            int soPrev = l > 0 ? lay[5 * (l - 1) + 4] : 0;
            for (int k = 0; k < hp; k++)
            {
                ws.Set(dm.RU + soPrev + k, 0f);
            }

            for (int j = 0; j < h; j++)
            {
                float delta = ws.Get(dm.RU + so + j) * act.D1(ws.Get(so + j));
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    ws.Add(dm.RG + k, eff[wr + k] * delta);
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        ws.Add(dm.RU + soPrev + k, eff[pr + k] * delta);
                    }
                }
            }
        }
    }

    /// <summary>Tangent forward along v (region V): stores the tangent pre-activations T; region E ends with the top layer's tangent activations.</summary>
    internal static void Tangent<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm, StridedRow<TF> ws)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim;
        int hp = 0;
        for (int l = 0; l < dm.Layers; l++)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            for (int j = 0; j < h; j++)
            {
                float t = 0f;
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    t += eff[wr + k] * ws.Get(dm.RV + k);
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        t += eff[pr + k] * ws.Get(dm.RE + k);
                    }
                }

                ws.Set(dm.RT + so + j, t);
            }

            for (int j = 0; j < h; j++)
            {
                ws.Set(dm.RE + j, act.D1(ws.Get(so + j)) * ws.Get(dm.RT + so + j));
            }

            hp = h;
        }
    }

    /// <summary>Reverse of the tangent pass after <see cref="Backward{TAct, TF}"/> and <see cref="Tangent{TAct, TF}"/>: region H = Hess w v. Also stores R'v.</summary>
    internal static void TangentBackward<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm, StridedRow<TF> ws)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim, r = dm.Rank;
        LowRankOfDirection(eff, dm, ws);

        for (int k = 0; k < d; k++)
        {
            float hv = (dm.Alpha + eff[dm.OffDiag + k]) * ws.Get(dm.RV + k);
            for (int m = 0; m < r; m++)
            {
                hv += eff[dm.OffLowRank + k * r + m] * ws.Get(dm.RQ + r + m);
            }

            ws.Set(dm.RH + k, hv);
        }

        int L = dm.Layers;
        int cur = dm.RB0, nxt = dm.RB1;
        int hTop = lay[5 * (L - 1)];
        for (int j = 0; j < hTop; j++)
        {
            ws.Set(cur + j, 0f);
        }

        for (int l = L - 1; l >= 0; l--)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            int hp = l > 0 ? lay[5 * (l - 1)] : 0;
            for (int k = 0; k < hp; k++)
            {
                ws.Set(nxt + k, 0f);
            }

            for (int j = 0; j < h; j++)
            {
                float s = ws.Get(so + j);
                float dd = ws.Get(cur + j) * act.D1(s) + ws.Get(dm.RU + so + j) * act.D2(s) * ws.Get(dm.RT + so + j);
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    ws.Add(dm.RH + k, eff[wr + k] * dd);
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        ws.Add(nxt + k, eff[pr + k] * dd);
                    }
                }
            }

            (cur, nxt) = (nxt, cur);
        }
    }

    /// <summary>Adds d w(x) / d theta (effective parameters) and w to the slot's partial row.</summary>
    internal static void AccumulateValueGradient<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF x, long xb, StridedRow<TF> ws, StridedRow<TF> prt, float w)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim, r = dm.Rank, L = dm.Layers;
        prt.Add(dm.ParamCount, w);
        int cur = dm.RA0, nxt = dm.RA1;
        int hTop = lay[5 * (L - 1)], soTop = lay[5 * (L - 1) + 4];
        for (int j = 0; j < hTop; j++)
        {
            ws.Set(cur + j, eff[dm.OffOut + j]);
            prt.Add(dm.OffOut + j, ws.Get(dm.RZ + soTop + j));
        }

        for (int l = L - 1; l >= 0; l--)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offB = lay[5 * l + 2], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            int hp = l > 0 ? lay[5 * (l - 1)] : 0;
            int soPrev = l > 0 ? lay[5 * (l - 1) + 4] : 0;
            for (int k = 0; k < hp; k++)
            {
                ws.Set(nxt + k, 0f);
            }

            for (int j = 0; j < h; j++)
            {
                float delta = ws.Get(cur + j) * act.D1(ws.Get(so + j));
                prt.Add(offB + j, delta);
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    prt.Add(wr + k, delta * Centred(eff, dm, x, xb, k));
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        prt.Add(pr + k, delta * ws.Get(dm.RZ + soPrev + k));
                        ws.Add(nxt + k, eff[pr + k] * delta);
                    }
                }
            }

            (cur, nxt) = (nxt, cur);
        }

        for (int k = 0; k < d; k++)
        {
            float xk = Centred(eff, dm, x, xb, k);
            prt.Add(dm.OffDiag + k, 0.5f * xk * xk);
            prt.Add(dm.OffLinear + k, xk);
            for (int m = 0; m < r; m++)
            {
                prt.Add(dm.OffLowRank + k * r + m, xk * ws.Get(dm.RQ + m));
            }
        }
    }

    /// <summary>
    /// For one point y with target t: v = grad w(y) - t; adds |v|^2 to column P and
    /// d/d theta [v' grad w(y)] (v fixed) to the partial row, by a tangent forward pass then a reverse pass.
    /// </summary>
    internal static void AccumulateLossGradient<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, TF targets, long yb, StridedRow<TF> ws, StridedRow<TF> prt)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        int d = dm.Dim;
        Forward<TAct, TF>(eff, lay, dm, y, yb, ws);
        Backward<TAct, TF>(eff, lay, dm, y, yb, ws);
        float loss = 0f;
        for (int k = 0; k < d; k++)
        {
            float v = ws.Get(dm.RG + k) - targets[yb + k];
            ws.Set(dm.RV + k, v);
            loss += v * v;
        }

        prt.Add(dm.ParamCount, loss);
        AccumulateMixedGradient<TAct, TF>(eff, lay, dm, y, yb, ws, prt);
    }

    /// <summary>
    /// Adds d/d theta [v' grad w(y)] with v (region V) held fixed to the partial row: a tangent forward pass along v, then
    /// the reverse pass over primal and tangent together. Call after <see cref="Forward{TAct, TF}"/> at y.
    /// </summary>
    internal static void AccumulateMixedGradient<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, long yb, StridedRow<TF> ws, StridedRow<TF> prt)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim, r = dm.Rank, L = dm.Layers;
        Tangent<TAct, TF>(eff, lay, dm, ws);

        // Adjoints: zbar (primal activations) in A, zdbar (tangent activations) in B.
        int aCur = dm.RA0, aNxt = dm.RA1, bCur = dm.RB0, bNxt = dm.RB1;
        int hTop = lay[5 * (L - 1)];
        for (int j = 0; j < hTop; j++)
        {
            ws.Set(aCur + j, 0f);
            ws.Set(bCur + j, eff[dm.OffOut + j]);
            prt.Add(dm.OffOut + j, ws.Get(dm.RE + j));
        }

        for (int l = L - 1; l >= 0; l--)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offB = lay[5 * l + 2], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            int hp = l > 0 ? lay[5 * (l - 1)] : 0;
            int soPrev = l > 0 ? lay[5 * (l - 1) + 4] : 0;
            for (int k = 0; k < hp; k++)
            {
                ws.Set(aNxt + k, 0f);
                ws.Set(bNxt + k, 0f);
                ws.Set(dm.RE + k, act.D1(ws.Get(soPrev + k)) * ws.Get(dm.RT + soPrev + k));
            }

            for (int j = 0; j < h; j++)
            {
                float s = ws.Get(so + j);
                float a1 = act.D1(s);
                float zdb = ws.Get(bCur + j);
                float sd = zdb * a1;
                float sb = ws.Get(aCur + j) * a1 + zdb * act.D2(s) * ws.Get(dm.RT + so + j);
                prt.Add(offB + j, sb);
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    prt.Add(wr + k, sb * Centred(eff, dm, y, yb, k) + sd * ws.Get(dm.RV + k));
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        float pjk = eff[pr + k];
                        prt.Add(pr + k, sb * ws.Get(dm.RZ + soPrev + k) + sd * ws.Get(dm.RE + k));
                        ws.Add(aNxt + k, pjk * sb);
                        ws.Add(bNxt + k, pjk * sd);
                    }
                }
            }

            (aCur, aNxt) = (aNxt, aCur);
            (bCur, bNxt) = (bNxt, bCur);
        }

        LowRankOfDirection(eff, dm, ws);

        for (int k = 0; k < d; k++)
        {
            float vk = ws.Get(dm.RV + k);
            float yk = Centred(eff, dm, y, yb, k);
            prt.Add(dm.OffDiag + k, vk * yk);
            prt.Add(dm.OffLinear + k, vk);
            for (int m = 0; m < r; m++)
            {
                prt.Add(dm.OffLowRank + k * r + m, vk * ws.Get(dm.RQ + m) + yk * ws.Get(dm.RQ + r + m));
            }
        }
    }

    /// <summary>
    /// For one data point y (at <paramref name="yb"/>): adds l = w(x) - log det Hess w(y), x = grad w(y), to column P and
    /// d l / d theta to the partial row (see <see cref="LikelihoodParameterGradient{TAct}"/>); writes x to
    /// <paramref name="encoded"/>. The scratch row must hold <see cref="IcnnDims.LikelihoodScratchPerSlot"/> floats.
    /// </summary>
    internal static void AccumulateLikelihoodGradient<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, TF encoded, long yb, StridedRow<TF> ws, StridedRow<TF> prt)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        int d = dm.Dim;
        Forward<TAct, TF>(eff, lay, dm, y, yb, ws);
        Backward<TAct, TF>(eff, lay, dm, y, yb, ws);
        for (int k = 0; k < d; k++)
        {
            encoded[yb + k] = ws.Get(dm.RG + k);
        }

        // -log det H: H = Hess w(y) = L L' in region M; -d/dtheta log det H = -sum_c d/dtheta [u_c' H u_c], u_c = L^-T e_c fixed.
        HessianJacobian<TAct, TF, StridedRow<TF>>(eff, lay, dm, ws, dm.RLJ, ws, dm.RM);
        float logDet = float.NaN;
        if (DeviceCholesky.Factor(ws, dm.RM, d))
        {
            logDet = DeviceCholesky.LogDeterminant(ws, dm.RM, d);
            for (int c = 0; c < d; c++)
            {
                for (int k = 0; k < d; k++)
                {
                    ws.Set(dm.RV + k, k == c ? 1f : 0f);
                }

                DeviceCholesky.SolveTransposed(ws, dm.RM, d, ws, dm.RV);
                SubtractCurvatureGradient<TAct, TF>(eff, lay, dm, y, yb, ws, prt);
            }
        }
        else
        {
            prt.Add(0, float.NaN);
        }

        // w(x) and (d_theta w)(x), then v' d/dtheta grad w(y) with v = grad w(x): the path of w(grad w(y)) through grad w.
        float wx = Forward<TAct, TF>(eff, lay, dm, encoded, yb, ws);
        AccumulateValueGradient<TAct, TF>(eff, lay, dm, encoded, yb, ws, prt, wx);
        Backward<TAct, TF>(eff, lay, dm, encoded, yb, ws);
        for (int k = 0; k < d; k++)
        {
            ws.Set(dm.RV + k, ws.Get(dm.RG + k));
        }

        Forward<TAct, TF>(eff, lay, dm, y, yb, ws);
        AccumulateMixedGradient<TAct, TF>(eff, lay, dm, y, yb, ws, prt);
        prt.Add(dm.ParamCount, -logDet);
    }

    /// <summary>
    /// Subtracts d/d theta [u' Hess w(y) u] with u (region V) held fixed from the partial row. u' Hess w u is the second
    /// derivative of w along the line y + t u: a jet forward pass carries s, s' = W u + P z' and s'' = P z''
    /// (z' = act'(s) s', z'' = act''(s) s'^2 + act'(s) s''), output p' z''_L + u'(alpha I + D + R R')u; its reverse pass
    /// carries the adjoints of z, z', z'' (regions A, B, C) and needs act'''. Call after <see cref="Forward{TAct, TF}"/> at y.
    /// </summary>
    internal static void SubtractCurvatureGradient<TAct, TF>(TF eff, ArrayView<int> lay, IcnnDims dm,
        TF y, long yb, StridedRow<TF> ws, StridedRow<TF> prt)
        where TAct : struct, IIcnnActivation
        where TF : struct, IFloats
    {
        var act = default(TAct);
        int d = dm.Dim, r = dm.Rank, L = dm.Layers;
        Tangent<TAct, TF>(eff, lay, dm, ws);

        // Second-order tangents: s''_l = P_l z''_(l-1) (s''_0 = 0: the line is straight); region F ends with the top layer's z''.
        int hp = 0;
        for (int l = 0; l < L; l++)
        {
            int h = lay[5 * l], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            for (int j = 0; j < h; j++)
            {
                float t = 0f;
                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        t += eff[pr + k] * ws.Get(dm.RF + k);
                    }
                }

                ws.Set(dm.RSD + so + j, t);
            }

            for (int j = 0; j < h; j++)
            {
                float s = ws.Get(so + j), sd = ws.Get(dm.RT + so + j);
                ws.Set(dm.RF + j, (act.D2(s) * sd * sd) + (act.D1(s) * ws.Get(dm.RSD + so + j)));
            }

            hp = h;
        }

        // Reverse: adjoints of z (A), z' (B), z'' (C); at the top 0, 0 and p.
        int aCur = dm.RA0, aNxt = dm.RA1, bCur = dm.RB0, bNxt = dm.RB1, cCur = dm.RC0, cNxt = dm.RC1;
        int hTop = lay[5 * (L - 1)];
        for (int j = 0; j < hTop; j++)
        {
            ws.Set(aCur + j, 0f);
            ws.Set(bCur + j, 0f);
            ws.Set(cCur + j, eff[dm.OffOut + j]);
            prt.Add(dm.OffOut + j, -ws.Get(dm.RF + j));
        }

        for (int l = L - 1; l >= 0; l--)
        {
            int h = lay[5 * l], offW = lay[5 * l + 1], offB = lay[5 * l + 2], offP = lay[5 * l + 3], so = lay[5 * l + 4];
            hp = l > 0 ? lay[5 * (l - 1)] : 0;
            int soPrev = l > 0 ? lay[5 * (l - 1) + 4] : 0;
            for (int k = 0; k < hp; k++)
            {
                ws.Set(aNxt + k, 0f);
                ws.Set(bNxt + k, 0f);
                ws.Set(cNxt + k, 0f);
                float sp = ws.Get(soPrev + k), sdp = ws.Get(dm.RT + soPrev + k);
                ws.Set(dm.RE + k, act.D1(sp) * sdp);
                ws.Set(dm.RF + k, (act.D2(sp) * sdp * sdp) + (act.D1(sp) * ws.Get(dm.RSD + soPrev + k)));
            }

            for (int j = 0; j < h; j++)
            {
                float s = ws.Get(so + j), sd = ws.Get(dm.RT + so + j), sdd = ws.Get(dm.RSD + so + j);
                float a1 = act.D1(s), a2 = act.D2(s), a3 = act.D3(s);
                float zb = ws.Get(aCur + j), zdb = ws.Get(bCur + j), zddb = ws.Get(cCur + j);
                float sddb = zddb * a1;
                float sdb = (zdb * a1) + (2f * zddb * a2 * sd);
                float sb = (zb * a1) + (zdb * a2 * sd) + (zddb * ((a3 * sd * sd) + (a2 * sdd)));
                prt.Add(offB + j, -sb);
                int wr = offW + j * d;
                for (int k = 0; k < d; k++)
                {
                    prt.Add(wr + k, -((sb * Centred(eff, dm, y, yb, k)) + (sdb * ws.Get(dm.RV + k))));
                }

                if (l > 0)
                {
                    int pr = offP + j * hp;
                    for (int k = 0; k < hp; k++)
                    {
                        float pjk = eff[pr + k];
                        prt.Add(pr + k, -((sb * ws.Get(dm.RZ + soPrev + k)) + (sdb * ws.Get(dm.RE + k)) + (sddb * ws.Get(dm.RF + k))));
                        ws.Add(aNxt + k, pjk * sb);
                        ws.Add(bNxt + k, pjk * sdb);
                        ws.Add(cNxt + k, pjk * sddb);
                    }
                }
            }

            (aCur, aNxt) = (aNxt, aCur);
            (bCur, bNxt) = (bNxt, bCur);
            (cCur, cNxt) = (cNxt, cCur);
        }

        // u'(alpha I + D + R R')u: d/dD_k = u_k^2, d/dR_km = 2 u_k (R'u)_m.
        LowRankOfDirection(eff, dm, ws);

        for (int k = 0; k < d; k++)
        {
            float uk = ws.Get(dm.RV + k);
            prt.Add(dm.OffDiag + k, -(uk * uk));
            for (int m = 0; m < r; m++)
            {
                prt.Add(dm.OffLowRank + k * r + m, -(2f * uk * ws.Get(dm.RQ + r + m)));
            }
        }
    }

    /// <summary>The slot's row of the partial-gradient buffer, set to zero (P + 1 columns).</summary>
    internal static StridedRow<TF> ClearedPartialRow<TF>(TF partial, int slot, IcnnDims dm)
        where TF : struct, IFloats
    {
        var prt = new StridedRow<TF>(partial, slot * dm.PartialSlotStride, dm.PartialParamStride);
        for (int j = 0; j <= dm.ParamCount; j++)
        {
            prt.Set(j, 0f);
        }

        return prt;
    }

    /// <summary>Region Q + r = R'v for the direction v in region V.</summary>
    internal static void LowRankOfDirection<TF>(TF eff, IcnnDims dm, StridedRow<TF> ws)
        where TF : struct, IFloats
    {
        int d = dm.Dim, r = dm.Rank;
        for (int m = 0; m < r; m++)
        {
            float q = 0f;
            for (int k = 0; k < d; k++)
            {
                q += eff[dm.OffLowRank + k * r + m] * ws.Get(dm.RV + k);
            }

            ws.Set(dm.RQ + r + m, q);
        }
    }

    /// <summary>Region G = (alpha I + D) x + R (R'x) + c (the quadratic and linear part of grad w); call after <see cref="Forward{TAct, TF}"/>.</summary>
    internal static void InitGradient<TF>(TF eff, IcnnDims dm, TF x, long xb, StridedRow<TF> ws)
        where TF : struct, IFloats
    {
        int d = dm.Dim, r = dm.Rank;
        for (int k = 0; k < d; k++)
        {
            float g = (dm.Alpha + eff[dm.OffDiag + k]) * Centred(eff, dm, x, xb, k) + eff[dm.OffLinear + k];
            for (int m = 0; m < r; m++)
            {
                g += eff[dm.OffLowRank + k * r + m] * ws.Get(dm.RQ + m);
            }

            ws.Set(dm.RG + k, g);
        }
    }

    /// <summary>x_k - m_k: coordinate k of point x (at <paramref name="xb"/>) minus the input centre m, which the effective
    /// parameter buffer holds after the P parameters (docs/icnn.md, "Preconditioning").</summary>
    internal static float Centred<TF>(TF eff, IcnnDims dm, TF x, long xb, int k)
        where TF : struct, IFloats => x[xb + k] - eff[dm.ParamCount + k];

    /// <summary>The six point kernels of <paramref name="t"/> (this class, or its CPU form <see cref="IcnnCpuKernels"/>, which has the same names) for both activations.</summary>
    internal static IEnumerable<KernelEntry> PointKernelEntries(Type t)
    {
        foreach (var a in new[] { typeof(SoftplusActivation), typeof(EluActivation) })
        {
            foreach (var name in new[] { nameof(Evaluate), nameof(Hessian), nameof(HessianVector), nameof(ValueParameterGradient), nameof(LossParameterGradient),
                         nameof(LikelihoodParameterGradient) })
            {
                yield return KernelCatalog.Entry(t, name, KernelGrouping.Implicit, a);
            }
        }
    }

    internal static IEnumerable<KernelEntry> CatalogEntries()
    {
        var t = typeof(IcnnKernels);
        foreach (var e in PointKernelEntries(t))
        {
            yield return e;
        }

        foreach (var a in new[] { typeof(SoftplusActivation), typeof(EluActivation) })
        {
            yield return KernelCatalog.Entry(t, nameof(EvaluateStaged), KernelGrouping.Explicit, a);
            yield return KernelCatalog.Entry(t, nameof(ValueParameterGradientStaged), KernelGrouping.Explicit, a);
            yield return KernelCatalog.Entry(t, nameof(LossParameterGradientStaged), KernelGrouping.Explicit, a);
        }

        yield return KernelCatalog.Entry(t, nameof(Materialize), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(ReduceSlots), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(ReduceSlotsWeighted), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(SlotColumn), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(AddScaled), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(SumSquaresPartial), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(ClipFactor), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(AdamStep), KernelGrouping.Implicit);
        yield return KernelCatalog.Entry(t, nameof(SgdStep), KernelGrouping.Implicit);
    }
}

/// <summary>Coefficients of one Adam step (bias corrections precomputed on the host).</summary>
public struct AdamCoefficients
{
    /// <summary>Step size.</summary>
    public float LearningRate { get; set; }

    /// <summary>First-moment decay.</summary>
    public float Beta1 { get; set; }

    /// <summary>Second-moment decay.</summary>
    public float Beta2 { get; set; }

    /// <summary>Denominator epsilon.</summary>
    public float Epsilon { get; set; }

    /// <summary>1 / (1 - beta1^t).</summary>
    public float Correction1 { get; set; }

    /// <summary>1 / (1 - beta2^t).</summary>
    public float Correction2 { get; set; }
}
