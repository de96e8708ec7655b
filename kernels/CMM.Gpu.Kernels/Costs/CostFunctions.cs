using ILGPU.Algorithms;

namespace CMM.Gpu.Kernels.Costs;

/// <summary>A ground cost expressed as a function of the squared Euclidean distance.</summary>
public interface IPointCost
{
    /// <summary>The cost for squared distance <paramref name="squaredDistance"/>.</summary>
    /// <param name="squaredDistance">|x - y|^2.</param>
    /// <returns>c(x, y).</returns>
    float FromSquaredDistance(float squaredDistance);
}

/// <summary>c(x, y) = 1/2 |x - y|^2, the cost of the CMM fitting loop.</summary>
public struct HalfSquaredEuclidean : IPointCost
{
    /// <inheritdoc />
    public readonly float FromSquaredDistance(float squaredDistance) => 0.5f * squaredDistance;
}

/// <summary>c(x, y) = |x - y|, the plain Euclidean distance.</summary>
public struct Euclidean : IPointCost
{
    /// <inheritdoc />
    public readonly float FromSquaredDistance(float squaredDistance) => XMath.Sqrt(squaredDistance);
}
