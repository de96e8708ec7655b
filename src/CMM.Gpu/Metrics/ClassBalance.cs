using System.Globalization;
using System.Text;

namespace CMM.Gpu.Metrics;

/// <summary>
/// Class balance of generated samples of labelled data (docs/metrics.md): a <see cref="LabelClassifier"/> trained on real
/// labelled training points labels the generated and the held-out points. A model that covers every class generates each
/// about as often as the held-out data hold it; one that drops or favours classes does not. The mean confidence (the
/// classifier's probability of its label) is low for samples that look like no class.
/// </summary>
public sealed record ClassBalanceReport
{
    /// <summary>The labels, ascending.</summary>
    public IReadOnlyList<int> Classes { get; init; } = [];

    /// <summary>Share of generated points given each label.</summary>
    public IReadOnlyList<double> GeneratedShare { get; init; } = [];

    /// <summary>Share of held-out points given each label by the same classifier (the reference).</summary>
    public IReadOnlyList<double> HeldOutShare { get; init; } = [];

    /// <summary>Smallest share of a class among the generated points.</summary>
    public double MinGeneratedShare { get; init; }

    /// <summary>Largest share of a class among the generated points.</summary>
    public double MaxGeneratedShare { get; init; }

    /// <summary>Largest |generated share - held-out share| over the classes.</summary>
    public double LargestShareDifference { get; init; }

    /// <summary>Mean confidence of the classifier on the generated points.</summary>
    public double GeneratedConfidence { get; init; }

    /// <summary>Mean confidence of the classifier on the held-out points.</summary>
    public double HeldOutConfidence { get; init; }

    /// <summary>The classifier's accuracy on the held-out points when their labels were given (how far to trust it), else null.</summary>
    public double? HeldOutAccuracy { get; init; }

    /// <summary>Labels <paramref name="generated"/> and <paramref name="heldOut"/> with <paramref name="classifier"/>.</summary>
    /// <param name="classifier">A classifier trained on real labelled points.</param>
    /// <param name="generated">Row-major [n, d].</param>
    /// <param name="heldOut">Row-major [m, d].</param>
    /// <param name="heldOutLabels">The held-out points' labels for the classifier's accuracy, or null.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">Misshapen inputs or a label count other than m.</exception>
    public static ClassBalanceReport Evaluate(LabelClassifier classifier, float[] generated, float[] heldOut, IReadOnlyList<int>? heldOutLabels = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var (gen, genConfidence) = classifier.Predict(generated);
        var (held, heldConfidence) = classifier.Predict(heldOut);
        if (heldOutLabels is not null && heldOutLabels.Count != held.Length)
        {
            throw new ArgumentException($"{heldOutLabels.Count} held-out labels for {held.Length} held-out points: give one label per point", nameof(heldOutLabels));
        }

        var genShare = Shares(gen, classifier.Classes);
        var heldShare = Shares(held, classifier.Classes);
        return new ClassBalanceReport
        {
            Classes = classifier.Classes,
            GeneratedShare = genShare,
            HeldOutShare = heldShare,
            MinGeneratedShare = genShare.Min(),
            MaxGeneratedShare = genShare.Max(),
            LargestShareDifference = genShare.Zip(heldShare, (a, b) => Math.Abs(a - b)).Max(),
            GeneratedConfidence = genConfidence.Average(),
            HeldOutConfidence = heldConfidence.Average(),
            HeldOutAccuracy = heldOutLabels is null ? null : held.Zip(heldOutLabels, (p, t) => p == t ? 1.0 : 0.0).Average(),
        };
    }

    /// <summary>Share of <paramref name="labels"/> equal to each of <paramref name="classes"/>.</summary>
    /// <param name="labels">Labels.</param>
    /// <param name="classes">The classes to count.</param>
    /// <returns>One share per class.</returns>
    public static double[] Shares(int[] labels, IReadOnlyList<int> classes) =>
        classes.Select(c => labels.Count(l => l == c) / (double)labels.Length).ToArray();

    /// <summary>A plain-text table: per class the generated and held-out shares, then the confidences.</summary>
    /// <returns>The table.</returns>
    public string ToTable()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("class balance (linear classifier trained on the labelled training points):\n");
        sb.Append(ci, $"  {"class",6}  {"generated",9}  {"held-out",9}\n");
        for (int j = 0; j < Classes.Count; j++)
        {
            sb.Append(ci, $"  {Classes[j],6}  {GeneratedShare[j],9:P1}  {HeldOutShare[j],9:P1}\n");
        }

        sb.Append(ci, $"  generated shares {MinGeneratedShare:P1} to {MaxGeneratedShare:P1}; largest difference from held-out {LargestShareDifference:P1}\n");
        sb.Append(ci, $"  mean confidence: generated {GeneratedConfidence:P1}, held-out {HeldOutConfidence:P1}");
        sb.Append(HeldOutAccuracy is { } a ? string.Create(ci, $"; classifier accuracy on held-out {a:P1}\n") : "\n");
        return sb.ToString();
    }
}
