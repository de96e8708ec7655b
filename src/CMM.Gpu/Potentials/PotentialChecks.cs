using CMM.Gpu.Memory;

namespace CMM.Gpu.Potentials;

/// <summary>The argument checks every <see cref="IPotential"/> call makes, in one place.</summary>
internal static class PotentialChecks
{
    /// <summary>Points exist, live on the potential's context and have its dimension.</summary>
    public static void Points(IPotential potential, DevicePoints points)
    {
        ArgumentNullException.ThrowIfNull(points);
        Shape.RequireSameContext(potential.Context, points.Context, nameof(points));
        Shape.RequireSameDimension(potential.Dimension, points.Dimension, "the potential", nameof(points));
    }

    /// <summary>As <see cref="Points"/>, and one value per point.</summary>
    public static void Values(IPotential potential, DevicePoints points, DeviceVector values)
    {
        Points(potential, points);
        ArgumentNullException.ThrowIfNull(values);
        Shape.RequireSameContext(potential.Context, values.Context, nameof(values));
        Shape.RequireLength(values.Length, points.Count, nameof(values), $"values of {points.Count} points");
    }

    /// <summary>As <see cref="Points"/>, and an [n, d] gradient buffer that does not alias the points.</summary>
    public static void Gradients(IPotential potential, DevicePoints points, DevicePoints gradients)
    {
        Points(potential, points);
        ArgumentNullException.ThrowIfNull(gradients);
        Shape.RequireSameContext(potential.Context, gradients.Context, nameof(gradients));
        Shape.RequireLength(gradients.Length, points.Length, nameof(gradients), $"gradients [{points.Count}, {potential.Dimension}]");
        if (ReferenceEquals(points, gradients))
        {
            throw new ArgumentException("gradients may not alias points", nameof(gradients));
        }
    }

    /// <summary>As <see cref="Points"/>, and n * d * d Hessian entries.</summary>
    public static void Hessians(IPotential potential, DevicePoints points, DeviceVector hessians)
    {
        Points(potential, points);
        ArgumentNullException.ThrowIfNull(hessians);
        Shape.RequireSameContext(potential.Context, hessians.Context, nameof(hessians));
        int d = potential.Dimension;
        Shape.RequireLength(hessians.Length, (long)points.Count * d * d, nameof(hessians), $"{points.Count} Hessians of size {d} x {d}");
    }
}
