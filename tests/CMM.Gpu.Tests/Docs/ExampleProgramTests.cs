using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.Docs;

/// <summary>
/// The example programs of docs/examples run as a user runs them (<c>dotnet Example.dll args</c>, built with the solution), on
/// tiny inputs, and their outputs are checked: they cannot rot. The quick start, whose code is README's first C# block, runs
/// against the installed package in <see cref="PackageInstallTests"/>.
/// </summary>
public sealed class ExampleProgramTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-examples-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private (int Code, string Out, string Err) RunExample(string name, params string[] args)
    {
        string dll = Repository.PathOf("docs", "examples", name, "bin", Repository.Configuration, "net10.0", name + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the examples are built with the solution");
        return Repository.Dotnet(dir, [dll, .. args], Timeout, new Dictionary<string, string> { ["CMM_ACCELERATOR"] = "cpu" });
    }

    [Fact]
    public void QuickStartIsReadmesFirstCSharpBlock()
    {
        var readme = Repository.CSharpBlocks(Repository.PathOf("README.md"));
        Assert.NotEmpty(readme);
        string program = File.ReadAllText(Repository.PathOf("docs", "examples", "QuickStart", "Program.cs"));
        Assert.Equal(program.ReplaceLineEndings().Trim(), readme[0].Code.ReplaceLineEndings().Trim());
        Assert.True(program.Trim().Split('\n').Length <= 15, "README's C# quick start is at most 15 lines");
    }

    [Fact]
    public void FitCsvThenStreamSamplesGivesTheLibrarysSamples()
    {
        string csv = Path.Combine(dir, "mine.csv");
        PointFile.Write(csv, CMM.Gpu.Data.Datasets.Create("moons", 64, 2).Points, 2);
        var (code, stdout, stderr) = RunExample("FitCsv", csv, "mine.cmm", "3");
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("Completed: 3 iterations", stdout, StringComparison.Ordinal);
        Assert.Contains("iteration 3/3: loss", stdout, StringComparison.Ordinal);
        string model = Path.Combine(dir, "mine.cmm");

        (code, stdout, stderr) = RunExample("StreamSamples", model, "s.npy", "200", "4");
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("200 samples written", stdout, StringComparison.Ordinal);
        using var cpu = CmmContext.Create(AcceleratorKind.Cpu);
        using var loaded = CmmModel.Load(model, cpu);
        Assert.Equal(loaded.Sample(200, seed: 4).Cast<float>(), PointFile.Read(Path.Combine(dir, "s.npy")).Data.ToArray());
    }

    [Fact]
    public void FitCsvRefusesABadFileInOneLine()
    {
        string bad = Path.Combine(dir, "ragged.csv");
        File.WriteAllText(bad, "1,2\n3\n");
        var (code, stdout, stderr) = RunExample("FitCsv", bad, "x.cmm");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(Path.Combine(dir, "x.cmm")));
    }

    [Fact]
    public void SpecificDeviceFitsAndSamplesOnTheChosenDevice()
    {
        var (code, stdout, stderr) = RunExample("SpecificDevice", "cpu", "0");
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("using cpu", stdout, StringComparison.Ordinal);
        Assert.Contains("100 samples of d = 3 drawn on Cpu", stdout, StringComparison.Ordinal);
        (code, _, stderr) = RunExample("SpecificDevice", "cpu", "5");
        Assert.Equal(1, code);
        Assert.Contains("device 5 asked for", stderr, StringComparison.Ordinal);
    }
}
