using System.Buffers.Binary;
using System.Security.Cryptography;
using CMM.Gpu.Fitting;
using CMM.Gpu.Icnn;
using FsCheck.Xunit;

namespace CMM.Gpu.Tests.IO;

/// <summary>
/// Bounded property-based fuzzing (FsCheck) of the model and checkpoint readers: mutated and truncated files,
/// including mutations re-sealed with a valid checksum so the parser itself is exercised, must either load or
/// throw <see cref="InvalidDataException"/>; anything else fails the property.
/// </summary>
public sealed class ModelFileFuzzTests
{
    private const int Cases = 300;

    private static readonly byte[] ValidModel = IcnnModelFile.Serialize(new IcnnModel(
        new IcnnArchitecture(2) { HiddenWidths = [3, 2], Rank = 1 },
        IcnnPotential.InitialParameters(new IcnnArchitecture(2) { HiddenWidths = [3, 2], Rank = 1 }, 1),
        new IcnnModelMetadata { DataDimension = 2, NormalizationMean = [0.5f, -1], NormalizationScale = [2, 2], Options = [new("k", "v")], Iterations = 3, Seed = 4 }));

    private static readonly byte[] ValidCheckpoint = new FitCheckpoint
    {
        Iteration = 2, Particles = [1, 2, 3, 4], WarmStart = [5, 6], AdamM = [0.1f], AdamV = [0.2f], AdamSteps = 2,
        Model = ValidModel, OptionsFingerprint = "abc", DataFingerprint = "def",
    }.Serialize();

    [Property(MaxTest = Cases)]
    public void MutatedModelFiles(int[] positions, byte[] values, int cut, bool reseal)
    {
        var bytes = Mutate(ValidModel, positions, values, cut);
        if (reseal && bytes.Length >= 52)
        {
            // Fix the length field and the SHA-256 over header + payload so the payload parser sees the mutation.
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), bytes.Length - 52);
            SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)).CopyTo(bytes.AsSpan(bytes.Length - 32));
        }

        try
        {
            var m = IcnnModelFile.Deserialize(bytes, "fuzz");
            Assert.True(m.Parameters.Count > 0);
        }
        catch (InvalidDataException e)
        {
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Property(MaxTest = Cases)]
    public void MutatedCheckpoints(int[] positions, byte[] values, int cut, bool reseal)
    {
        var bytes = Mutate(ValidCheckpoint, positions, values, cut);
        if (reseal && bytes.Length >= 52)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), bytes.Length - 52);
            SHA256.HashData(bytes.AsSpan(20, bytes.Length - 52)).CopyTo(bytes.AsSpan(bytes.Length - 32));
        }

        try
        {
            var c = FitCheckpoint.Deserialize(bytes, "fuzz");
            Assert.True(c.Iteration >= int.MinValue);
        }
        catch (InvalidDataException e)
        {
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    private static byte[] Mutate(byte[] valid, int[]? positions, byte[]? values, int cut)
    {
        var bytes = (byte[])valid.Clone();
        positions ??= [];
        values ??= [];
        for (int i = 0; i < Math.Min(positions.Length, values.Length); i++)
        {
            bytes[(int)((uint)positions[i] % bytes.Length)] = values[i];
        }

        int keep = cut <= 0 ? bytes.Length : cut % (bytes.Length + 1);
        return bytes[..keep];
    }
}
