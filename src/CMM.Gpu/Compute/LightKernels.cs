using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace CMM.Gpu.Compute;

/// <summary>How the host form of a light kernel runs its indices.</summary>
internal enum HostLoop
{
    /// <summary>One index per parameter or element, each a few operations: a plain loop (split over cores only for long
    /// vectors).</summary>
    PerElement,

    /// <summary>One index per block of points (<see cref="PointLaunch.Plan"/>): the blocks run in parallel.</summary>
    PerBlock,
}

/// <summary>
/// Launchers of the light kernels: those whose work per index is a few operations (Adam and SGD steps, the effective
/// parameters, gradient norms, slot reductions; Langevin proposals and acceptance, conjugate starts and Legendre values,
/// packing an iteration's figures). On GPUs each is an ordinary launch. On ILGPU's CPU accelerator a launch costs about
/// 200 microseconds plus about a microsecond per simulated thread, which for these kernels is 10-100 times their work, so
/// there (<see cref="PointLaunch.HostForm"/>) the same kernel method is called from the host over the accelerator's buffers
/// (host memory; its launches are synchronous, so earlier work has landed): every index once, as a launch would, so the
/// results are those of the launched kernel (the kernels write disjoint outputs per index and add integers atomically).
/// Each call still counts as one launch in <see cref="CmmContext.Counters"/>. The launched kernel is compiled on first use.
/// </summary>
internal sealed class LightKernels
{
    /// <summary>Elements per task of a parallel <see cref="HostLoop.PerElement"/> loop (shorter loops run on one thread).</summary>
    private const int ElementsPerTask = 1 << 15;

    private readonly CmmContext context;
    private readonly PointLaunch launch;

    private LightKernels(CmmContext context)
    {
        this.context = context;
        launch = PointLaunch.For(context);
    }

    /// <summary>The instance of a context.</summary>
    /// <param name="context">The device.</param>
    /// <returns>The loader.</returns>
    public static LightKernels For(CmmContext context) => context.GetComponent(c => new LightKernels(c));

    /// <summary>A light kernel of 3 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3> Load<T1, T2, T3>(Action<Index1D, T1, T2, T3> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3>(
            (n, a1, a2, a3) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3));
                }
                else
                {
                    launched.Value(n, a1, a2, a3);
                }
            },
            source);
    }

    /// <summary>A light kernel of 4 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4> Load<T1, T2, T3, T4>(Action<Index1D, T1, T2, T3, T4> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4>(
            (n, a1, a2, a3, a4) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3, a4));
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4);
                }
            },
            source);
    }

    /// <summary>A light kernel of 5 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4, T5> Load<T1, T2, T3, T4, T5>(Action<Index1D, T1, T2, T3, T4, T5> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4, T5>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4, T5>(
            (n, a1, a2, a3, a4, a5) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3, a4, a5));
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4, a5);
                }
            },
            source);
    }

    /// <summary>A light kernel of 6 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4, T5, T6> Load<T1, T2, T3, T4, T5, T6>(Action<Index1D, T1, T2, T3, T4, T5, T6> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4, T5, T6>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4, T5, T6>(
            (n, a1, a2, a3, a4, a5, a6) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3, a4, a5, a6));
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4, a5, a6);
                }
            },
            source);
    }

    /// <summary>A light kernel of 7 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7> Load<T1, T2, T3, T4, T5, T6, T7>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4, T5, T6, T7>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4, T5, T6, T7>(
            (n, a1, a2, a3, a4, a5, a6, a7) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3, a4, a5, a6, a7));
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4, a5, a6, a7);
                }
            },
            source);
    }

    /// <summary>A light kernel of 9 arguments after its index whose host form is its own loop over all indices (a pointer
    /// form of the same body, for kernels whose ArrayView accesses dominate their host time).</summary>
    /// <param name="body">The kernel method (GPUs and forced forms).</param>
    /// <param name="host">The host form: called with the index count.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9> body,
        Action<int, T1, T2, T3, T4, T5, T6, T7, T8, T9> host, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9>(
            (n, a1, a2, a3, a4, a5, a6, a7, a8, a9) =>
            {
                if (launch.HostForm)
                {
                    host(n.X, a1, a2, a3, a4, a5, a6, a7, a8, a9);
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4, a5, a6, a7, a8, a9);
                }
            },
            source);
    }

    /// <summary>A light kernel of 13 arguments after its index (see the class remarks).</summary>
    /// <param name="body">The kernel method.</param>
    /// <param name="loop">How the host form runs its indices.</param>
    /// <param name="source">The kernel expression (its name in profiles).</param>
    /// <returns>The launcher, counted as one launch per call.</returns>
    public Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>(Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13> body, HostLoop loop, [CallerArgumentExpression(nameof(body))] string source = "")
        where T1 : struct
        where T2 : struct
        where T3 : struct
        where T4 : struct
        where T5 : struct
        where T6 : struct
        where T7 : struct
        where T8 : struct
        where T9 : struct
        where T10 : struct
        where T11 : struct
        where T12 : struct
        where T13 : struct
    {
        var launched = new Lazy<Action<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>>(() => context.Accelerator.LoadAutoGroupedStreamKernel(body));
        return context.Tally.Counted<Index1D, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13>(
            (n, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) =>
            {
                if (launch.HostForm)
                {
                    Run(n.X, loop, i => body(i, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13));
                }
                else
                {
                    launched.Value(n, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13);
                }
            },
            source);
    }

    /// <summary>Calls <paramref name="body"/> for indices 0 .. n - 1 on the host.</summary>
    private static void Run(int n, HostLoop loop, Action<int> body)
    {
        if (loop == HostLoop.PerBlock && n > 1)
        {
            Parallel.For(0, n, body);
        }
        else if (loop == HostLoop.PerElement && n > 2 * ElementsPerTask)
        {
            Parallel.For(0, (n + ElementsPerTask - 1) / ElementsPerTask, c =>
            {
                int end = Math.Min(n, (c + 1) * ElementsPerTask);
                for (int i = c * ElementsPerTask; i < end; i++)
                {
                    body(i);
                }
            });
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                body(i);
            }
        }
    }
}
