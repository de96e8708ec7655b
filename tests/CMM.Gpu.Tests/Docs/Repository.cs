using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace CMM.Gpu.Tests.Docs;

/// <summary>The repository the tests run from, its markdown code blocks, and child <c>dotnet</c> processes.</summary>
internal static partial class Repository
{
    /// <summary>The directory holding CMM.Gpu.sln (found upwards from the test assembly).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests were built with (Release in CI), read from the test assembly's path.</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The ```csharp blocks of a markdown file, each with the 1-based line of its opening fence.</summary>
    public static IReadOnlyList<(int Line, string Code)> CSharpBlocks(string markdownPath)
    {
        var blocks = new List<(int, string)>();
        var lines = File.ReadAllLines(markdownPath);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            int start = i + 1;
            var code = new StringBuilder();
            for (i = start; i < lines.Length && lines[i].Trim() != "```"; i++)
            {
                code.AppendLine(lines[i]);
            }

            blocks.Add((start, code.ToString()));
        }

        return blocks;
    }

    /// <summary>Runs <c>dotnet</c> with the given arguments; MSBuild variables of the test host are not passed on, so a
    /// child build starts clean. Throws with the output when it does not finish in time.</summary>
    public static (int Code, string Out, string Err) Dotnet(string workingDirectory, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var key in psi.Environment.Keys.Where(k => MsBuildVariable().IsMatch(k)).ToList())
        {
            psi.Environment.Remove(key);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} did not finish in {timeout.TotalSeconds:0} s:\n{stdout.Result}\n{stderr.Result}");
        }

        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "CMM.Gpu.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("CMM.Gpu.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex("^(MSBuild|MSBUILD|VSTEST|_MSDEPLOY)", RegexOptions.CultureInvariant)]
    private static partial Regex MsBuildVariable();
}
