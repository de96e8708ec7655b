using System.Globalization;
using System.Text;

namespace CMM.Gpu.Conjugate;

/// <summary>The per-point minimiser of phi(y) = w(y) - &lt;x, y&gt;.</summary>
public enum ConjugateMethod
{
    /// <summary><see cref="Newton"/> when d &lt;= <see cref="ConjugateOptions.NewtonMaxDimension"/>, else <see cref="Lbfgs"/>.</summary>
    Auto,

    /// <summary>Damped Newton with backtracking, the d x d Hessian solved per point by Cholesky (falls back to the gradient step when not positive definite).</summary>
    Newton,

    /// <summary>L-BFGS with backtracking, history kept per point on the device; only Value and Gradient are called.</summary>
    Lbfgs,
}

/// <summary>Options of the conjugate solve. Immutable; <see cref="Validate"/> reports every problem at once.</summary>
public sealed record ConjugateOptions
{
    /// <summary>The minimiser.</summary>
    public ConjugateMethod Method { get; init; } = ConjugateMethod.Auto;

    /// <summary>Largest d for which <see cref="ConjugateMethod.Auto"/> chooses Newton.</summary>
    public int NewtonMaxDimension { get; init; } = 16;

    /// <summary>Iteration cap per point.</summary>
    public int MaxIterations { get; init; } = 100;

    /// <summary>A point converges when |grad w(y) - x| &lt;= AbsoluteTolerance + RelativeTolerance * |x|.</summary>
    public double AbsoluteTolerance { get; init; } = 1e-4;

    /// <summary>See <see cref="AbsoluteTolerance"/>. Float32 limits both to about 1e-6 times the scale of grad w.</summary>
    public double RelativeTolerance { get; init; } = 1e-4;

    /// <summary>L-BFGS history length m.</summary>
    public int History { get; init; } = 8;

    /// <summary>Backtracking halvings before a point is declared stalled.</summary>
    public int MaxLineSearchSteps { get; init; } = 30;

    /// <summary>Armijo sufficient-decrease constant.</summary>
    public double Armijo { get; init; } = 1e-4;

    /// <summary>Start from the values already in the output buffer (warm start) instead of y0 = x.</summary>
    public bool WarmStart { get; init; }

    /// <summary>The method used for dimension <paramref name="dimension"/>.</summary>
    /// <param name="dimension">d.</param>
    /// <returns>Newton or L-BFGS.</returns>
    public ConjugateMethod Resolve(int dimension) =>
        Method != ConjugateMethod.Auto ? Method : dimension <= NewtonMaxDimension ? ConjugateMethod.Newton : ConjugateMethod.Lbfgs;

    /// <summary>Lists every problem, each with how to fix it; empty when valid.</summary>
    /// <returns>The problems.</returns>
    public IReadOnlyList<string> Validate()
    {
        var p = new List<string>();
        if (MaxIterations < 1)
        {
            p.Add($"maximum iterations must be at least 1 (got {MaxIterations})");
        }

        if (!(AbsoluteTolerance >= 0) || !(RelativeTolerance >= 0) || AbsoluteTolerance + RelativeTolerance <= 0 ||
            double.IsInfinity(AbsoluteTolerance) || double.IsInfinity(RelativeTolerance))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture,
                $"tolerances must be finite, non-negative and not both 0 (got absolute {AbsoluteTolerance}, relative {RelativeTolerance}); try 1e-4 and 1e-4"));
        }

        if (History < 1)
        {
            p.Add($"L-BFGS history must be at least 1 pair (got {History}); 8 is typical");
        }

        if (MaxLineSearchSteps < 1 || MaxLineSearchSteps > 60)
        {
            p.Add($"line-search halvings must be between 1 and 60 (got {MaxLineSearchSteps})");
        }

        if (!(Armijo > 0 && Armijo < 0.5))
        {
            p.Add(string.Create(CultureInfo.InvariantCulture, $"the Armijo constant must lie in (0, 0.5) (got {Armijo}); 1e-4 is usual"));
        }

        if (NewtonMaxDimension < 0)
        {
            p.Add($"the Newton dimension limit must be 0 or more (got {NewtonMaxDimension})");
        }

        return p;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when invalid.</summary>
    public void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(new StringBuilder("invalid conjugate-solve options: ").AppendJoin("; ", problems).ToString());
        }
    }
}

/// <summary>How one point's solve ended.</summary>
public enum ConjugatePointStatus
{
    /// <summary>Hit the iteration cap without meeting the tolerance.</summary>
    MaxIterations = 0,

    /// <summary>|grad w(y) - x| met the tolerance.</summary>
    Converged = 1,

    /// <summary>The line search could not decrease phi any more (usually float32 precision just above the tolerance).</summary>
    Stalled = 2,

    /// <summary>w or grad w was not finite.</summary>
    NonFinite = 3,
}

/// <summary>How a batched solve ended.</summary>
public enum ConjugateStatus
{
    /// <summary>Every point converged.</summary>
    Converged,

    /// <summary>Some points hit the iteration cap.</summary>
    MaxIterations,

    /// <summary>Some points stalled in the line search (none hit the cap or went non-finite).</summary>
    Stalled,

    /// <summary>Some points met non-finite values.</summary>
    NonFinite,
}

/// <summary>The outcome of a batched conjugate solve.</summary>
/// <param name="Status">Overall status (the worst of the points').</param>
/// <param name="Method">The method used.</param>
/// <param name="Iterations">Iterations of the batch (the slowest point).</param>
/// <param name="ConvergedFraction">Fraction of points that converged.</param>
/// <param name="MaxResidual">Largest |grad w(y) - x| over the points.</param>
/// <param name="PointStatus">Per-point status.</param>
/// <param name="PointIterations">Per-point iterations (Newton or L-BFGS steps taken).</param>
/// <param name="Residuals">Per-point |grad w(y) - x| at the returned y.</param>
public sealed record ConjugateResult(
    ConjugateStatus Status,
    ConjugateMethod Method,
    int Iterations,
    double ConvergedFraction,
    double MaxResidual,
    IReadOnlyList<ConjugatePointStatus> PointStatus,
    IReadOnlyList<int> PointIterations,
    IReadOnlyList<float> Residuals);
