using System.CommandLine;
using CMM.Gpu.Cli.Commands;

namespace CMM.Gpu.Cli;

/// <summary>An error meant for the user: printed as one line, never as a stack trace.</summary>
/// <param name="message">The message.</param>
/// <param name="exitCode">The process exit code (2 for bad usage or input, 1 for a failed run).</param>
public sealed class CliException(string message, int exitCode = ExitCodes.BadInput) : Exception(message)
{
    /// <summary>The exit code to return.</summary>
    public int ExitCode { get; } = exitCode;
}

/// <summary>Exit codes of <c>cmm</c>.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The run failed (numerical failure, device error, I/O error).</summary>
    public const int Failed = 1;

    /// <summary>Bad usage or bad input (unknown option, invalid value, unreadable file), or not implemented.</summary>
    public const int BadInput = 2;

    /// <summary>Stopped by Ctrl+C after writing a checkpoint (128 + SIGINT).</summary>
    public const int Interrupted = 130;
}

/// <summary>Builds and runs the <c>cmm</c> command tree.</summary>
public static class CliApp
{
    /// <summary>Parses <paramref name="args"/>, runs the command and returns the exit code.</summary>
    /// <param name="args">Arguments.</param>
    /// <param name="stdout">Where results go.</param>
    /// <param name="stderr">Where messages, progress and errors go.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        var root = BuildRoot(stdout, stderr);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            stderr.WriteLine("cmm: error: " + Describe(parse));
            return ExitCodes.BadInput;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (CliException e)
        {
            stderr.WriteLine("cmm: error: " + e.Message);
            return e.ExitCode;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or InvalidDataException or AcceleratorUnavailableException)
        {
            stderr.WriteLine("cmm: error: " + FirstLine(e.Message));
            return e is AcceleratorUnavailableException or IOException ? ExitCodes.Failed : ExitCodes.BadInput;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("CMM_DEBUG") is null)
        {
            // Never a stack trace for users; CMM_DEBUG=1 lets it through for developers.
            stderr.WriteLine($"cmm: error: internal error ({e.GetType().Name}): {FirstLine(e.Message)} (set CMM_DEBUG=1 for details)");
            return ExitCodes.Failed;
        }
        finally
        {
            CliIO.WriteKernelProfiles(stderr);
        }
    }

    private static RootCommand BuildRoot(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("cmm: fit and sample conjugate moment measures on GPUs (CMM.Gpu).");
        root.Subcommands.Add(DevicesCommand.Create(stdout, stderr));
        root.Subcommands.Add(DemoCommand.Create(stdout, stderr));
        root.Subcommands.Add(SinkhornCommand.Create(stdout, stderr));
        root.Subcommands.Add(FitCommand.Create(stdout, stderr));
        root.Subcommands.Add(EvalCommand.Create(stdout, stderr));
        root.Subcommands.Add(PlotCommand.Create(stdout, stderr));
        root.Subcommands.Add(SampleCommands.Sample(stdout, stderr));
        root.Subcommands.Add(SampleCommands.Map("encode", "Map data to the latent space: grad w(y) (CMM) or grad u*(y) (MM).", stdout, stderr));
        root.Subcommands.Add(SampleCommands.Map("decode", "Map latents to data: grad w*(x) (CMM) or grad u(x) (MM).", stdout, stderr));
        root.Subcommands.Add(SampleCommands.Map("potential", "Write the potential w(y) (CMM) or u(y) (MM) at data points.", stdout, stderr));
        root.Subcommands.Add(DensityCommand.Create(stdout, stderr));
        root.Subcommands.Add(MalaCommand.Create(stdout, stderr));
        root.Subcommands.Add(InpaintCommand.Create(stdout, stderr));
        root.Subcommands.Add(ClassifyCommand.Create(stdout, stderr));
        return root;
    }

    private static string Describe(ParseResult parse)
    {
        var message = FirstLine(parse.Errors[0].Message);
        var unknown = (parse.UnmatchedTokens.Count > 0 ? parse.UnmatchedTokens[0] : null)
                      ?? parse.Tokens.Select(t => t.Value).FirstOrDefault(v => message.Contains(v, StringComparison.Ordinal));
        if (unknown is null)
        {
            return message;
        }

        var command = parse.CommandResult.Command;
        var candidates = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name))
            .Concat(command.Subcommands.Select(c => c.Name))
            .Where(c => !string.IsNullOrEmpty(c))
            .Distinct();
        var best = Suggest.Closest(unknown, candidates);
        return best is null ? message : $"{message} Did you mean '{best}'?";
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}

/// <summary>Close-match suggestions for mistyped options and commands.</summary>
public static class Suggest
{
    /// <summary>The candidate closest to <paramref name="token"/> by edit distance, if close enough.</summary>
    /// <param name="token">What the user typed.</param>
    /// <param name="candidates">Known names.</param>
    /// <returns>The suggestion or null.</returns>
    public static string? Closest(string token, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(candidates);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            int dist = Distance(token, c);
            if (dist < bestDistance)
            {
                bestDistance = dist;
                best = c;
            }
        }

        return best is not null && bestDistance <= Math.Max(2, token.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int sub = prev[j - 1] + (char.ToUpperInvariant(a[i - 1]) == char.ToUpperInvariant(b[j - 1]) ? 0 : 1);
                cur[j] = Math.Min(sub, Math.Min(prev[j] + 1, cur[j - 1] + 1));
            }

            (prev, cur) = (cur, prev);
        }

        return prev[b.Length];
    }
}
