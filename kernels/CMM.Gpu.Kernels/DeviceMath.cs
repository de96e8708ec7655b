using ILGPU;
using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels;

/// <summary>Scalar device math shared by the kernels (usable on every ILGPU backend).</summary>
public static class DeviceMath
{
    /// <summary>Numerically stable softplus: log(1 + exp(x)).</summary>
    /// <param name="x">The argument.</param>
    /// <returns>softplus(x).</returns>
    public static float Softplus(float x) =>
        x > 20f ? x : (x < -20f ? XMath.Exp(x) : XMath.Log(1f + XMath.Exp(x)));

    /// <summary>Logistic sigmoid 1 / (1 + exp(-x)), the derivative of softplus.</summary>
    /// <param name="x">The argument.</param>
    /// <returns>sigmoid(x).</returns>
    public static float Sigmoid(float x) =>
        x >= 0f ? 1f / (1f + XMath.Exp(-x)) : XMath.Exp(x) / (1f + XMath.Exp(x));

    /// <summary>
    /// Merges a running log-sum-exp state (<paramref name="max"/>, <paramref name="sum"/>), meaning
    /// log(sum) + max, with one more term <paramref name="value"/>. Never overflows; -inf terms are ignored.
    /// </summary>
    /// <param name="max">Running maximum (start at -inf).</param>
    /// <param name="sum">Running sum of exp(term - max) (start at 0).</param>
    /// <param name="value">The new term.</param>
    public static void LogSumExpAccumulate(ref float max, ref float sum, float value)
    {
        if (value == float.NegativeInfinity)
        {
            return; // a zero term: exp(-inf - max) would be NaN while max is still -inf
        }

        if (value <= max)
        {
            sum += XMath.Exp(value - max);
        }
        else
        {
            sum = sum * XMath.Exp(max - value) + 1f;
            max = value;
        }
    }

    /// <summary>Merges the running log-sum-exp state (m2, s2) into (m1, s1); empty states have max = -inf.</summary>
    /// <param name="m1">Running maximum, updated.</param>
    /// <param name="s1">Running sum, updated.</param>
    /// <param name="m2">Other maximum.</param>
    /// <param name="s2">Other sum.</param>
    public static void LogSumExpMerge(ref float m1, ref float s1, float m2, float s2)
    {
        if (m2 == float.NegativeInfinity)
        {
            return;
        }

        if (m1 == float.NegativeInfinity)
        {
            m1 = m2;
            s1 = s2;
            return;
        }

        if (m2 > m1)
        {
            s1 = s1 * XMath.Exp(m1 - m2) + s2;
            m1 = m2;
        }
        else
        {
            s1 += s2 * XMath.Exp(m2 - m1);
        }
    }

    /// <summary>|a_i - b_j|^2 for row-major points: d floats of <paramref name="a"/> from
    /// <paramref name="aOffset"/> against d floats of <paramref name="b"/> from <paramref name="bOffset"/>.</summary>
    /// <param name="a">First point set.</param>
    /// <param name="aOffset">Offset of the first point's row.</param>
    /// <param name="b">Second point set.</param>
    /// <param name="bOffset">Offset of the second point's row.</param>
    /// <param name="d">Dimension.</param>
    /// <returns>The squared Euclidean distance.</returns>
    public static float SquaredDistance(ArrayView<float> a, long aOffset, ArrayView<float> b, long bOffset, int d) =>
        SquaredDistance(new ViewFloats(a), aOffset, new ViewFloats(b), bOffset, d);

    /// <summary>|a[aOffset..aOffset+d) - b[bOffset..bOffset+d)|^2 through any accessor (see <see cref="IFloats"/>).</summary>
    internal static float SquaredDistance<TF>(TF a, long aOffset, TF b, long bOffset, int d)
        where TF : struct, IFloats
    {
        float s = 0f;
        for (int k = 0; k < d; k++)
        {
            float diff = a[aOffset + k] - b[bOffset + k];
            s += diff * diff;
        }

        return s;
    }

    /// <summary>Final value of a running log-sum-exp state: max + log(sum); -inf when empty.</summary>
    /// <param name="max">Running maximum.</param>
    /// <param name="sum">Running sum.</param>
    /// <returns>The log-sum-exp.</returns>
    public static float LogSumExpResult(float max, float sum) =>
        sum > 0f ? max + XMath.Log(sum) : float.NegativeInfinity;
}
