using CMM.Gpu.Icnn;

namespace CMM.Gpu;

/// <summary>The convex, non-decreasing activation of the ICNN's hidden layers (used as act(beta s) / beta, beta = <see cref="IcnnArchitecture.Sharpness"/>).</summary>
public enum IcnnActivation
{
    /// <summary>softplus(s) = log(1 + e^s) (default; smooth).</summary>
    Softplus = 0,

    /// <summary>ELU(s) = s for s &gt; 0, e^s - 1 otherwise (C^1; second derivative jumps at 0).</summary>
    Elu = 1,
}
