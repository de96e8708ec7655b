namespace CMM.Gpu.Fitting;

/// <summary>
/// The map between data coordinates and the coordinates the potential is fitted in:
/// z = (y - Mean) / Scale with one scalar scale (the root-mean-square standard deviation over
/// coordinates), so that the fitted geometry stays isotropic. Generation maps back y = Mean + Scale z.
/// A bounded fit (<see cref="Box"/>) first takes y to the logit coordinates of its box, then applies the affine part.
/// </summary>
/// <param name="Mean">Per-coordinate mean.</param>
/// <param name="Scale">The scalar scale (positive).</param>
public sealed record Normalization(IReadOnlyList<float> Mean, float Scale)
{
    /// <summary>Identity normalisation (no change) for dimension <paramref name="dimension"/>.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>The identity.</returns>
    public static Normalization Identity(int dimension) => new(new float[dimension], 1f);

    /// <summary>The box of a bounded fit, whose logit map comes before the affine part; null for the affine map alone.</summary>
    public LogitBox? Box { get; init; }

    /// <summary>Estimates the mean and the RMS standard deviation of row-major data (double accumulation).</summary>
    /// <param name="data">Row-major [n, d].</param>
    /// <param name="dimension">d.</param>
    /// <returns>The normalisation; scale 1 when the data have no spread.</returns>
    public static Normalization Fit(ReadOnlySpan<float> data, int dimension)
    {
        int n = data.Length / dimension;
        var mean = new double[dimension];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < dimension; k++)
            {
                mean[k] += data[i * dimension + k];
            }
        }

        for (int k = 0; k < dimension; k++)
        {
            mean[k] /= n;
        }

        double ss = 0;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < dimension; k++)
            {
                double c = data[i * dimension + k] - mean[k];
                ss += c * c;
            }
        }

        double scale = n > 1 ? Math.Sqrt(ss / ((n - 1.0) * dimension)) : 1.0;
        if (!(scale > 1e-12) || double.IsInfinity(scale))
        {
            scale = 1.0;
        }

        return new Normalization(mean.Select(m => (float)m).ToArray(), (float)scale);
    }

    /// <summary>
    /// log |det dz/dy| of the affine part z = (y - Mean) / Scale: -d log Scale (0 for the identity). With no
    /// <see cref="Box"/> it is the whole map's, the same at every point: a density of z becomes one of y by adding it,
    /// log q(y) = log q_z((y - Mean) / Scale) + LogAbsJacobian (docs/density.md). With a box use <see cref="LogAbsJacobianAt"/>.
    /// </summary>
    public double LogAbsJacobian => -Mean.Count * Math.Log(Scale);

    /// <summary>log |det dz/dy| of the whole map at one point y in data coordinates: <see cref="LogAbsJacobian"/> plus, for a
    /// bounded fit, the logit map's (<see cref="LogitBox.LogAbsJacobian"/>; NaN outside the box).</summary>
    /// <param name="row">y [d].</param>
    /// <returns>The log-Jacobian.</returns>
    public double LogAbsJacobianAt(ReadOnlySpan<float> row) => LogAbsJacobian + (Box?.LogAbsJacobian(row) ?? 0);

    /// <summary>Maps data coordinates to fitting coordinates, in place.</summary>
    /// <param name="data">Row-major [n, d].</param>
    public void Forward(Span<float> data)
    {
        Box?.Forward(data);
        int d = Mean.Count;
        float inv = 1f / Scale;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (data[i] - Mean[i % d]) * inv;
        }
    }

    /// <summary>Maps fitting coordinates back to data coordinates, in place.</summary>
    /// <param name="data">Row-major [n, d].</param>
    public void Backward(Span<float> data)
    {
        int d = Mean.Count;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = Mean[i % d] + Scale * data[i];
        }

        Box?.Backward(data);
    }
}
