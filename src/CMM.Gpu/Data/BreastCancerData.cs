using System.Globalization;

namespace CMM.Gpu.Data;

/// <summary>
/// The Wisconsin diagnostic breast-cancer data (UCI, W. H. Wolberg, O. L. Mangasarian, N. Street and W. N. Street, 1995,
/// CC BY 4.0; the 569-row copy scikit-learn ships as <c>load_breast_cancer</c>), embedded in this assembly: 30 real
/// features per row and a binary class (0 = malignant, 1 = benign). The Bayesian logistic-regression energy
/// (<see cref="Energies.LogisticRegressionEnergy"/>, <c>"data": "breast-cancer"</c>) uses it. Source, citation and licence:
/// src/CMM.Gpu/Data/Resources/BREAST-CANCER-LICENSE.md.
/// </summary>
public sealed class BreastCancerData
{
    /// <summary>Rows in the set.</summary>
    public const int Count = 569;

    /// <summary>Features per row.</summary>
    public const int Features = 30;

    /// <summary>SHA-256 (lower-case hex) of the embedded <c>breast_cancer.csv</c>, checked before it is parsed.</summary>
    public const string Sha256 = "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed";

    /// <summary>The name the energy file gives the embedded data.</summary>
    public const string BuiltInName = "breast-cancer";

    internal const string ResourceName = "CMM.Gpu.Data.breast_cancer.csv";

    private static readonly Lazy<BreastCancerData> Cached = new(Parse, LazyThreadSafetyMode.ExecutionAndPublication);

    private BreastCancerData(double[] x, int[] labels)
    {
        X = x;
        Labels = labels;
    }

    /// <summary>The features, row-major <c>[Count, Features]</c>, as in the file (not standardised).</summary>
    public double[] X { get; }

    /// <summary>The class of each row: 0 malignant, 1 benign.</summary>
    public int[] Labels { get; }

    /// <summary>All rows, in the order of the file (a fresh copy on every call).</summary>
    /// <returns>The data.</returns>
    /// <exception cref="InvalidDataException">The embedded file is missing or damaged (a broken build).</exception>
    public static BreastCancerData Load()
    {
        var all = Cached.Value;
        return new BreastCancerData((double[])all.X.Clone(), (int[])all.Labels.Clone());
    }

    /// <summary>The embedded file's bytes, as shipped.</summary>
    internal static byte[] ResourceBytes() => EmbeddedData.Bytes(ResourceName);

    private static BreastCancerData Parse()
    {
        var bytes = EmbeddedData.Verified(ResourceName, Sha256);

        var x = new double[Count * Features];
        var labels = new int[Count];
        using var reader = new StreamReader(new MemoryStream(bytes));
        _ = reader.ReadLine(); // "569,30,malignant,benign": rows, features, class names
        for (int row = 0; row < Count; row++)
        {
            var line = reader.ReadLine() ?? throw new InvalidDataException($"the embedded {ResourceName} ends at row {row + 1}");
            var fields = line.Split(',');
            if (fields.Length != Features + 1)
            {
                throw new InvalidDataException($"the embedded {ResourceName}: row {row + 1} has {fields.Length} values, not {Features + 1}");
            }

            for (int k = 0; k < Features; k++)
            {
                x[(row * Features) + k] = double.Parse(fields[k], NumberStyles.Float, CultureInfo.InvariantCulture);
            }

            labels[row] = int.Parse(fields[Features], NumberStyles.None, CultureInfo.InvariantCulture);
        }

        return new BreastCancerData(x, labels);
    }
}
