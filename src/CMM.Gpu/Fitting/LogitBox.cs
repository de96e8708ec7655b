using System.Globalization;

namespace CMM.Gpu.Fitting;

/// <summary>
/// The support of a bounded fit (docs/fitting.md, "Bounded data"): the open box (Lower, Upper) per coordinate, and the
/// coordinate-wise logit map t = log((y - Lower) / (Upper - y)) from it onto R^d, in which the model is fitted. The model's
/// samples are then y = Lower + (Upper - Lower) sigmoid(t), inside the box by construction, and its density in data
/// coordinates is the density of t times |dt/dy| = prod_k (Upper_k - Lower_k) / ((y_k - Lower_k)(Upper_k - y_k)).
/// <see cref="Around"/> builds the box from the data's range widened by a margin (default <see cref="DefaultMargin"/>) of its
/// width on either side, so that values on the range's edges (a pixel at 0) map to finite t.
/// </summary>
/// <param name="Lower">Per-coordinate lower ends [d].</param>
/// <param name="Upper">Per-coordinate upper ends [d], each above its lower end.</param>
public sealed record LogitBox(IReadOnlyList<float> Lower, IReadOnlyList<float> Upper)
{
    /// <summary>The default widening of the data's range on either side, as a fraction of its width: the range fills 1 / 1.1 of the box.</summary>
    public const double DefaultMargin = 0.05;

    /// <summary>d.</summary>
    public int Dimension => Lower.Count;

    /// <summary>The box of a data range [lo, hi] in every coordinate, widened by margin (hi - lo) on either side.</summary>
    /// <param name="lo">Lower end of the data's range.</param>
    /// <param name="hi">Upper end (above <paramref name="lo"/>).</param>
    /// <param name="dimension">d.</param>
    /// <param name="margin">The widening on either side as a fraction of hi - lo, in (0, 1].</param>
    /// <returns>The box.</returns>
    /// <exception cref="ArgumentException">Ends not finite, hi not above lo, or a margin outside (0, 1].</exception>
    public static LogitBox Around(double lo, double hi, int dimension, double margin = DefaultMargin)
    {
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || !(hi > lo))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"bounds need finite ends with the upper above the lower (got {lo}, {hi})"));
        }

        if (!(margin > 0 && margin <= 1))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the bounds' margin must be in (0, 1] (got {margin})"));
        }

        double m = margin * (hi - lo);
        return new LogitBox(Enumerable.Repeat((float)(lo - m), dimension).ToArray(), Enumerable.Repeat((float)(hi + m), dimension).ToArray());
    }

    /// <summary>Data coordinates to logit coordinates, in place (NaN outside the box).</summary>
    /// <param name="data">Row-major [n, d].</param>
    public void Forward(Span<float> data)
    {
        int d = Dimension;
        for (int i = 0; i < data.Length; i++)
        {
            double lo = Lower[i % d], hi = Upper[i % d], y = data[i];
            data[i] = y > lo && y < hi ? (float)Math.Log((y - lo) / (hi - y)) : float.NaN;
        }
    }

    /// <summary>Logit coordinates to data coordinates, in place.</summary>
    /// <param name="data">Row-major [n, d].</param>
    public void Backward(Span<float> data)
    {
        int d = Dimension;
        for (int i = 0; i < data.Length; i++)
        {
            double lo = Lower[i % d], hi = Upper[i % d];
            data[i] = (float)(lo + ((hi - lo) / (1 + Math.Exp(-(double)data[i]))));
        }
    }

    /// <summary>dt_k / dy_k at a value y in data coordinates: (Upper - Lower) / ((y - Lower)(Upper - y)); NaN outside the box.</summary>
    /// <param name="coordinate">k.</param>
    /// <param name="y">The value.</param>
    /// <returns>The slope.</returns>
    public double Slope(int coordinate, double y)
    {
        double lo = Lower[coordinate], hi = Upper[coordinate];
        return y > lo && y < hi ? (hi - lo) / ((y - lo) * (hi - y)) : double.NaN;
    }

    /// <summary>log |det dt/dy| at one point y in data coordinates (the sum of log <see cref="Slope"/>); NaN outside the box.</summary>
    /// <param name="row">y [d].</param>
    /// <returns>The log-Jacobian.</returns>
    public double LogAbsJacobian(ReadOnlySpan<float> row)
    {
        double sum = 0;
        for (int k = 0; k < row.Length; k++)
        {
            sum += Math.Log(Slope(k, row[k]));
        }

        return sum;
    }

    /// <summary>The model-file keys of the box.</summary>
    public const string LowerKey = "logit_box_lower";

    /// <inheritdoc cref="LowerKey"/>
    public const string UpperKey = "logit_box_upper";

    /// <summary>The box as model-file options (comma-separated ends, round-trip precision).</summary>
    /// <returns>Two key-value pairs.</returns>
    public IEnumerable<KeyValuePair<string, string>> ToKeyValues()
    {
        yield return new(LowerKey, string.Join(",", Lower.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        yield return new(UpperKey, string.Join(",", Upper.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
    }

    /// <summary>The box stored in a model file's options, or null when it has none.</summary>
    /// <param name="stored">The file's options by key.</param>
    /// <param name="dimension">d.</param>
    /// <returns>The box or null.</returns>
    /// <exception cref="InvalidDataException">Keys present but malformed (wrong count, not numbers, an end not above the other).</exception>
    public static LogitBox? FromKeyValues(IReadOnlyDictionary<string, string> stored, int dimension)
    {
        ArgumentNullException.ThrowIfNull(stored);
        bool hasLower = stored.TryGetValue(LowerKey, out var lower), hasUpper = stored.TryGetValue(UpperKey, out var upper);
        if (!hasLower && !hasUpper)
        {
            return null;
        }

        float[] Parse(string? text, string key)
        {
            var parts = (text ?? "").Split(',');
            var v = new float[dimension];
            for (int i = 0; i < v.Length; i++)
            {
                if (parts.Length != dimension || !float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) || !float.IsFinite(v[i]))
                {
                    throw new InvalidDataException($"the model file's {key} is not {dimension} finite numbers");
                }
            }

            return v;
        }

        var lo = Parse(lower, LowerKey);
        var hi = Parse(upper, UpperKey);
        for (int k = 0; k < dimension; k++)
        {
            if (!(hi[k] > lo[k]))
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"the model file's logit box has coordinate {k} with upper end {hi[k]} not above lower end {lo[k]}"));
            }
        }

        return new LogitBox(lo, hi);
    }
}
