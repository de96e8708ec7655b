using System.Globalization;

namespace CMM.Gpu.Fitting;

/// <summary>Checks of row-major point spans [n, d] with one-line messages that say exactly what is wrong and where.</summary>
internal static class PointChecks
{
    /// <summary>
    /// Throws an <see cref="ArgumentException"/> unless <paramref name="data"/> is a whole number of points of dimension
    /// <paramref name="dimension"/>, at least <paramref name="minPoints"/> of them, all finite. The message names the
    /// length that is not a multiple of d, or the first non-finite value by point index and coordinate (both 0-based).
    /// </summary>
    /// <param name="data">Row-major points.</param>
    /// <param name="dimension">d (positive).</param>
    /// <param name="what">What the points are, to start the message ("training data").</param>
    /// <param name="paramName">The argument's name.</param>
    /// <param name="minPoints">The fewest points accepted.</param>
    public static void Require(ReadOnlySpan<float> data, int dimension, string what, string paramName, int minPoints = 1)
    {
        var ci = CultureInfo.InvariantCulture;
        if (data.Length % dimension != 0)
        {
            throw new ArgumentException(string.Create(ci, $"{what}: {data.Length} values is not a multiple of d = {dimension}"), paramName);
        }

        int n = data.Length / dimension;
        if (n < minPoints)
        {
            throw new ArgumentException(string.Create(ci,
                $"{what}: {n} point{(n == 1 ? "" : "s")} of dimension d = {dimension}; at least {minPoints} {(minPoints == 1 ? "is" : "are")} needed"), paramName);
        }

        for (int i = 0; i < data.Length; i++)
        {
            float v = data[i];
            if (!float.IsFinite(v))
            {
                string name = float.IsNaN(v) ? "NaN" : v > 0 ? "+infinity" : "-infinity";
                throw new ArgumentException(string.Create(ci,
                    $"{what}: point {i / dimension}, coordinate {i % dimension} (0-based) is {name}; only finite values can be used"), paramName);
            }
        }
    }
}
