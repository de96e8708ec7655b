using System.Security.Cryptography;

namespace CMM.Gpu.Data;

/// <summary>The data files embedded in this assembly (the digits, the breast-cancer data), read whole and checked against
/// their SHA-256 before they are parsed.</summary>
internal static class EmbeddedData
{
    /// <summary>The resource's bytes, as shipped.</summary>
    /// <exception cref="InvalidDataException">The resource is missing (a broken build).</exception>
    public static byte[] Bytes(string resourceName)
    {
        var assembly = typeof(EmbeddedData).Assembly;
        using var stream = assembly.GetManifestResourceStream(resourceName)
                           ?? throw new InvalidDataException($"the embedded resource {resourceName} is missing from {assembly.GetName().Name}");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>The resource's bytes after checking their SHA-256 (lower-case hex).</summary>
    /// <exception cref="InvalidDataException">The resource is missing or damaged.</exception>
    public static byte[] Verified(string resourceName, string sha256)
    {
        var bytes = Bytes(resourceName);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (hash != sha256)
        {
            throw new InvalidDataException($"the embedded {resourceName} is damaged: sha256 {hash}, expected {sha256}");
        }

        return bytes;
    }
}
