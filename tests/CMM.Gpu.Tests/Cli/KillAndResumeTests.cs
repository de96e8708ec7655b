using System.Diagnostics;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Tests.Cli;

/// <summary>
/// Crash safety (issue 8): a real <c>cmm fit</c> process is killed with SIGKILL mid-run; the checkpoint it
/// leaves is valid, and <c>--resume</c> finishes with a model byte-identical to an uninterrupted run.
/// </summary>
public sealed class KillAndResumeTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cmm-kill-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static string[] Fit(string output, int iterations) =>
    [
        "fit", "--dataset", "moons", "--n", "128", "--out", output, "--iterations", iterations.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--particles", "32", "--batch", "32", "--langevin-steps", "2", "--hidden", "6", "--checkpoint-every", "1", "--accelerator", "cpu",
    ];

    [Fact]
    public void KilledFitResumesToTheUninterruptedModel()
    {
        const int iterations = 150;
        string reference = Path.Combine(dir, "reference.cmm");
        var (code, _, err) = CliTests.Run(Fit(reference, iterations));
        Assert.True(code == 0, err);

        string killed = Path.Combine(dir, "killed.cmm");
        string checkpoint = killed + ".ckpt";
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cmm.dll"));
        foreach (var a in Fit(killed, iterations))
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        int seen = 0;
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            if (File.Exists(checkpoint))
            {
                seen = FitCheckpoint.Load(checkpoint).Iteration; // never corrupt, even while being replaced
                if (seen >= 3)
                {
                    break;
                }
            }

            Thread.Sleep(20);
        }

        Assert.False(process.HasExited, "the fit finished before it could be killed; raise the iteration count");
        process.Kill(entireProcessTree: true); // SIGKILL on Linux
        process.WaitForExit();
        Assert.False(File.Exists(killed), "the model file is written only at the end");
        var left = FitCheckpoint.Load(checkpoint);
        Assert.InRange(left.Iteration, 3, iterations - 1);

        var (code2, _, err2) = CliTests.Run([.. Fit(killed, iterations), "--resume"]);
        Assert.True(code2 == 0, err2);
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(killed));
    }
}
