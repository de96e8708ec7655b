using CMM.Gpu.Kernels.Sampling;

namespace CMM.Gpu.Tests.Sampling;

public sealed class PhiloxTests
{
    // Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors), also reproduced
    // by an independent Python implementation while writing this test.
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void MatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint r0, uint r1, uint r2, uint r3)
    {
        var r = Philox.Generate(new UInt4(c0, c1, c2, c3), k0, k1);
        Assert.Equal(new UInt4(r0, r1, r2, r3), r);
    }

    [Fact]
    public void UniformsLieInHalfOpenUnitIntervalAndNeverZero()
    {
        Assert.Equal(1f / 16777216f, Philox.Uniform(0u));
        Assert.Equal(1f / 16777216f, Philox.Uniform(255u));
        Assert.Equal(1f, Philox.Uniform(uint.MaxValue));
        for (uint b = 0; b < 1u << 20; b++)
        {
            float u = Philox.Uniform(b * 4099u);
            Assert.True(u > 0f && u <= 1f, $"uniform {u} from bits {b * 4099u}");
        }
    }

    [Fact]
    public void BoxMullerIsFiniteAtTheExtremes()
    {
        foreach (var a in new[] { 0u, 255u, uint.MaxValue })
        {
            foreach (var b in new[] { 0u, uint.MaxValue / 2, uint.MaxValue })
            {
                Philox.BoxMuller(a, b, out float z0, out float z1);
                Assert.True(float.IsFinite(z0) && float.IsFinite(z1));
            }
        }
    }

    [Fact]
    public void NormalsHaveStandardMomentsAndDistinctStreams()
    {
        const int n = 40000;
        double s = 0, s2 = 0, s4 = 0, cross = 0;
        for (int i = 0; i < n; i++)
        {
            double z = Philox.Normal(7, i, 3, Philox.PurposeNoise, i % 5);
            double z2 = Philox.Normal(7, i, 4, Philox.PurposeNoise, i % 5);
            s += z;
            s2 += z * z;
            s4 += z * z * z * z;
            cross += z * z2;
        }

        Assert.InRange(s / n, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(s2 / n, 1 - (5 * Math.Sqrt(2.0 / n)), 1 + (5 * Math.Sqrt(2.0 / n)));
        Assert.InRange(s4 / n, 3 - (5 * Math.Sqrt(96.0 / n)), 3 + (5 * Math.Sqrt(96.0 / n)));
        Assert.InRange(cross / n, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
    }
}
