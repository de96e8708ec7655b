using CMM.Gpu.Kernels;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Compute;

/// <summary>The scalar device helpers, called on the host against double-precision references.</summary>
public sealed class DeviceMathTests
{
    private static double ReferenceLse(IEnumerable<double> v)
    {
        var a = v.Where(x => !double.IsNegativeInfinity(x)).ToArray();
        if (a.Length == 0)
        {
            return double.NegativeInfinity;
        }

        double m = a.Max();
        return m + Math.Log(a.Sum(x => Math.Exp(x - m)));
    }

    [Theory]
    [InlineData(new float[] { float.NegativeInfinity, 1f, 2f })]
    [InlineData(new float[] { 3f, float.NegativeInfinity, -1f })]
    [InlineData(new float[] { 500f, 499f, -500f })]
    [InlineData(new float[] { -1000f, -1001f })]
    [InlineData(new float[] { float.NegativeInfinity })]
    public void StreamingLogSumExpIgnoresZeroTermsAndNeverOverflows(float[] values)
    {
        float max = float.NegativeInfinity, sum = 0f;
        foreach (var v in values)
        {
            DeviceMath.LogSumExpAccumulate(ref max, ref sum, v);
        }

        Approx.Equal(ReferenceLse(values.Select(v => (double)v)), DeviceMath.LogSumExpResult(max, sum), 1e-5, 1e-6);
    }

    [Fact]
    public void MergingPartialStatesEqualsOneStream()
    {
        var values = TestData.Normal(37, 5, scale: 30);
        float m1 = float.NegativeInfinity, s1 = 0f, m2 = float.NegativeInfinity, s2 = 0f, me = float.NegativeInfinity, se = 0f;
        for (int i = 0; i < values.Length; i++)
        {
            if (i % 3 == 0)
            {
                DeviceMath.LogSumExpAccumulate(ref m1, ref s1, values[i]);
            }
            else
            {
                DeviceMath.LogSumExpAccumulate(ref m2, ref s2, values[i]);
            }
        }

        DeviceMath.LogSumExpMerge(ref m1, ref s1, m2, s2);
        DeviceMath.LogSumExpMerge(ref m1, ref s1, me, se); // merging an empty state changes nothing
        Approx.Equal(ReferenceLse(values.Select(v => (double)v)), DeviceMath.LogSumExpResult(m1, s1), 1e-4, 1e-6);
    }

    [Theory]
    [InlineData(-50.0)]
    [InlineData(-3.0)]
    [InlineData(0.0)]
    [InlineData(2.5)]
    [InlineData(60.0)]
    public void SoftplusAndSigmoidMatchReference(double x)
    {
        double softplus = Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));
        double sigmoid = 1 / (1 + Math.Exp(-x));
        Approx.Equal(softplus, DeviceMath.Softplus((float)x), 1e-6, 1e-6);
        Approx.Equal(sigmoid, DeviceMath.Sigmoid((float)x), 1e-7, 1e-6);
    }
}
