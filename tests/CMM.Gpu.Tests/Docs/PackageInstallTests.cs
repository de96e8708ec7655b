using System.Reflection;

namespace CMM.Gpu.Tests.Docs;

/// <summary>
/// What a new user does, following README: pack the library and the tool, install the tool <c>cmm</c> from the local packages
/// into a tool path, run <c>cmm --version</c> and a tiny fit with it; create a console project, add the CMM.Gpu package, put
/// README's C# quick start in Program.cs, run it and get samples. NuGet restores into a private folder, so a package of the
/// same version from an earlier run is never reused; packages already on the machine serve as a local feed.
/// </summary>
public sealed class PackageInstallTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-package-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void TheToolAndTheQuickStartWorkFromTheLocalPackages()
    {
        string version = typeof(CmmModel).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        string packages = Path.Combine(dir, "packages");
        foreach (var project in new[] { Repository.PathOf("src", "CMM.Gpu", "CMM.Gpu.csproj"), Repository.PathOf("src", "CMM.Gpu.Cli", "CMM.Gpu.Cli.csproj") })
        {
            Check(Repository.Dotnet(dir, ["pack", project, "-c", Repository.Configuration, "-o", packages], Timeout), "dotnet pack " + project);
        }

        Assert.True(File.Exists(Path.Combine(packages, $"CMM.Gpu.{version}.nupkg")), "the library package");
        Assert.True(File.Exists(Path.Combine(packages, $"CMM.Gpu.{version}.snupkg")), "the library's symbol package");
        Assert.True(File.Exists(Path.Combine(packages, $"CMM.Gpu.Cli.{version}.nupkg")), "the tool package");
        Assert.False(File.Exists(Path.Combine(packages, $"CMM.Gpu.Kernels.{version}.nupkg")), "the kernels travel inside CMM.Gpu");

        // Restores go to a private folder; the machine's package cache is a read-only local feed beside the packed packages, and
        // CMM.Gpu* come only from the packages just packed (source mapping), never from a copy of the same version cached earlier.
        string globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
                <add key="machine-cache" value="{globalPackages}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local"><package pattern="CMM.Gpu" /><package pattern="CMM.Gpu.*" /></packageSource>
                <packageSource key="machine-cache"><package pattern="*" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(dir, "restored"), ["CMM_ACCELERATOR"] = "cpu" };

        // The tool.
        string tools = Path.Combine(dir, "tools");
        Check(Repository.Dotnet(dir, ["tool", "install", "CMM.Gpu.Cli", "--tool-path", tools, "--version", version, "--configfile", Path.Combine(dir, "nuget.config")], Timeout, env),
            "dotnet tool install");
        string cmm = Path.Combine(tools, OperatingSystem.IsWindows() ? "cmm.exe" : "cmm");
        var (code, stdout, stderr) = Run(cmm, ["--version"], env);
        Assert.True(code == 0, stderr);
        Assert.StartsWith(version, stdout.Trim(), StringComparison.Ordinal);
        (code, stdout, stderr) = Run(cmm, ["fit", "--dataset", "moons", "--n", "64", "--iterations", "3", "--particles", "32", "--batch", "32", "--hidden", "6", "--out", "tiny.cmm"], env);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("Completed: 3 iterations", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "tiny.cmm")));

        // README's quick start in a new console project that references the package.
        string app = Path.Combine(dir, "app");
        Check(Repository.Dotnet(dir, ["new", "console", "-o", app, "--framework", "net10.0"], Timeout, env), "dotnet new console");
        Check(Repository.Dotnet(app, ["add", "package", "CMM.Gpu", "--version", version], Timeout, env), "dotnet add package");
        File.WriteAllText(Path.Combine(app, "Program.cs"), Repository.CSharpBlocks(Repository.PathOf("README.md"))[0].Code);
        (code, stdout, stderr) = Repository.Dotnet(app, ["run", "-c", "Release"], Timeout, env);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("1000 samples, the first at (", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(app, "ring.cmm")));
    }

    private static void Check((int Code, string Out, string Err) result, string what) =>
        Assert.True(result.Code == 0, $"{what} failed ({result.Code}):\n{result.Out}\n{result.Err}");

    private (int Code, string Out, string Err) Run(string program, string[] args, Dictionary<string, string> env)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(program) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(Timeout), $"{program} did not finish");
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }
}
