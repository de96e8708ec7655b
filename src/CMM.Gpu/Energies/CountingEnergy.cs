namespace CMM.Gpu.Energies;

/// <summary>An energy that counts its evaluations (points at which V was computed, and those with grad V too), so that a
/// fit and a sampler can be compared at the same cost. Thread-safe.</summary>
internal sealed class CountingEnergy(IEnergy inner) : IEnergy
{
    private long evaluations;
    private long gradientEvaluations;

    /// <summary>The energy counted.</summary>
    public IEnergy Inner => inner;

    /// <summary>Points at which V was evaluated (with or without its gradient).</summary>
    public long Evaluations => Interlocked.Read(ref evaluations);

    /// <summary>Points at which grad V was evaluated too.</summary>
    public long GradientEvaluations => Interlocked.Read(ref gradientEvaluations);

    public int Dimension => inner.Dimension;

    public string Name => inner.Name;

    public double? LogNormalizer => inner.LogNormalizer;

    public string Describe() => inner.Describe();

    public void Evaluate(ReadOnlySpan<float> points, Span<double> energies, Span<double> gradients)
    {
        Count(energies.Length, !gradients.IsEmpty);
        inner.Evaluate(points, energies, gradients);
    }

    public void Evaluate(Memory.DevicePoints points, Span<double> energies, Span<double> gradients)
    {
        Count(energies.Length, !gradients.IsEmpty);
        inner.Evaluate(points, energies, gradients);
    }

    public float[]? ExactSamples(int count, int seed) => inner.ExactSamples(count, seed);

    private void Count(int points, bool withGradients)
    {
        Interlocked.Add(ref evaluations, points);
        if (withGradients)
        {
            Interlocked.Add(ref gradientEvaluations, points);
        }
    }
}
