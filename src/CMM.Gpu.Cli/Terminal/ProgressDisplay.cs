using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace CMM.Gpu.Cli.Terminal;

/// <summary>Receives progress from long work: how much is done (out of the total) and a short status.</summary>
internal interface IProgressSink
{
    /// <summary>Reports progress.</summary>
    /// <param name="done">Work done so far, in the units of the total.</param>
    /// <param name="status">A short status (loss, acceptance, ...), plain text.</param>
    void Report(double done, string status);

    /// <summary>Prints a line that must not be lost in the status (a warning), above a live bar or as its own line.</summary>
    /// <param name="line">Plain text, one line.</param>
    void Message(string line);
}

/// <summary>
/// Shows progress of long work on stderr: a live Spectre.Console bar with elapsed time and ETA when
/// stderr is an interactive terminal, otherwise a plain line at most every few seconds (logs, CI,
/// redirected output). Results never go to stderr, so stdout stays machine-readable.
/// </summary>
internal static class ProgressDisplay
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);

    public static T Run<T>(TextWriter stderr, string title, double total, Func<IProgressSink, T> work)
    {
        bool live = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!live)
        {
            var sink = new LineSink(stderr, title, total);
            var result = work(sink);
            sink.Finish();
            return result;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        return console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), autoStart: true, maxValue: Math.Max(total, 1e-9));
                var result = work(new LiveSink(console, task, title));
                task.Value = task.MaxValue;
                return result;
            });
    }

    private sealed class LiveSink(IAnsiConsole console, ProgressTask task, string title) : IProgressSink
    {
        public void Message(string line) => console.MarkupLine(Markup.Escape(line));

        public void Report(double done, string status)
        {
            task.Value = Math.Min(done, task.MaxValue);
            task.Description = Markup.Escape(string.IsNullOrEmpty(status) ? title : $"{title} {status}");
        }
    }

    private sealed class LineSink(TextWriter stderr, string title, double total) : IProgressSink
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private TimeSpan? last;
        private double done;
        private string status = "";

        public void Report(double doneNow, string statusNow)
        {
            done = doneNow;
            status = statusNow;
            if (last is null || clock.Elapsed - last.Value >= LineInterval)
            {
                last = clock.Elapsed;
                Write();
            }
        }

        public void Message(string line) => stderr.WriteLine(line);

        public void Finish()
        {
            if (done > 0)
            {
                Write();
            }
        }

        private void Write()
        {
            var elapsed = clock.Elapsed;
            double fraction = total > 0 ? Math.Clamp(done / total, 0, 1) : 1;
            string eta = fraction > 0 && fraction < 1
                ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (1 - fraction) / fraction).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture)
                : "--:--:--";
            string spent = elapsed.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{title}: {done:0.##}/{total:0.##} ({100 * fraction:0}%) {status} elapsed {spent} ETA {eta}"));
        }
    }
}
