using System.Runtime.ExceptionServices;

namespace CMM.Gpu.Sampling;

/// <summary>
/// Deals jobs 0 .. count-1 to one thread per worker (each takes the next index from a shared counter) and hands
/// the results to a consumer on the calling thread in job order (a reorder buffer). At most
/// <c>maxInFlight</c> jobs are taken but not yet consumed, so memory stays independent of the number of jobs:
/// a worker takes a slot before it takes an index, and the consumer frees the slot once it has consumed the job.
/// Since indices are taken in increasing order, the job the consumer waits for is always taken by some worker,
/// so the bound cannot deadlock. A worker that throws stops all workers (through a cancellation token given to
/// the jobs); its exception is rethrown on the calling thread after every worker thread has ended.
/// </summary>
internal static class OrderedDealer
{
    /// <summary>Runs the jobs.</summary>
    /// <typeparam name="TWorker">Per-thread state, created and disposed on its thread.</typeparam>
    /// <typeparam name="TResult">A job's result.</typeparam>
    /// <param name="workers">Number of worker threads (at least 1).</param>
    /// <param name="createWorker">Creates worker i's state, on its thread.</param>
    /// <param name="compute">Computes job k with a worker's state; the token is cancelled when the run stops.</param>
    /// <param name="count">Number of jobs.</param>
    /// <param name="maxInFlight">Most jobs taken but not yet consumed (at least 1).</param>
    /// <param name="consume">Consumes a result, in job order, on the calling thread; false stops the run.</param>
    /// <param name="onCancelled">Called on the calling thread when <paramref name="cancellationToken"/> stops the run before all jobs are consumed.</param>
    /// <param name="threadName">Prefix of the worker threads' names.</param>
    /// <param name="cancellationToken">The caller's token, checked before each job is consumed and passed to the jobs.</param>
    public static void Run<TWorker, TResult>(
        int workers,
        Func<int, TWorker> createWorker,
        Func<TWorker, int, CancellationToken, TResult> compute,
        int count,
        int maxInFlight,
        Func<TResult, bool> consume,
        Action onCancelled,
        string threadName,
        CancellationToken cancellationToken)
        where TWorker : IDisposable
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        var gate = new object();
        var done = new Dictionary<int, TResult>();
        ExceptionDispatchInfo? failure = null;
        int next = -1;
        int alive = workers;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var slots = new SemaphoreSlim(maxInFlight, maxInFlight);
        var token = stop.Token;

        void Work(int i)
        {
            try
            {
                using var worker = createWorker(i);
                while (!token.IsCancellationRequested)
                {
                    slots.Wait(token);
                    int k = Interlocked.Increment(ref next);
                    if (k >= count)
                    {
                        slots.Release();
                        break;
                    }

                    var result = compute(worker, k, token);
                    lock (gate)
                    {
                        done[k] = result;
                        Monitor.PulseAll(gate);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Stopped while waiting for a slot: nothing to report.
            }
#pragma warning disable CA1031 // Any failure of a worker must reach the calling thread, whatever its type.
            catch (Exception e)
#pragma warning restore CA1031
            {
                lock (gate)
                {
                    failure ??= ExceptionDispatchInfo.Capture(e);
                }

                stop.Cancel();
            }
            finally
            {
                lock (gate)
                {
                    alive--;
                    Monitor.PulseAll(gate);
                }
            }
        }

        var threads = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            int index = i;
            threads[i] = new Thread(() => Work(index)) { IsBackground = true, Name = threadName + index };
        }

        try
        {
            foreach (var t in threads)
            {
                t.Start();
            }

            for (int k = 0; k < count; k++)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    onCancelled();
                    break;
                }

                bool got;
                TResult? result;
                lock (gate)
                {
                    while (!(got = done.Remove(k, out result)) && failure is null && alive > 0)
                    {
                        Monitor.Wait(gate);
                    }
                }

                if (failure is not null)
                {
                    break;
                }

                if (!got)
                {
                    // Every worker ended without job k: only a cancellation of the caller's token does that.
                    if (!cancellationToken.IsCancellationRequested)
                    {
                        throw new InvalidOperationException($"internal error: job {k} of {count} was never computed");
                    }

                    onCancelled();
                    break;
                }

                slots.Release();
                if (!consume(result!))
                {
                    break;
                }
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var t in threads)
            {
                if (t.ThreadState != ThreadState.Unstarted)
                {
                    t.Join();
                }
            }
        }

        failure?.Throw();
    }
}
