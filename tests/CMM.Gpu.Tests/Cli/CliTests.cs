using System.Text.Json;
using CMM.Gpu.Cli;

namespace CMM.Gpu.Tests.Cli;

public sealed class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void DevicesNamesTheCpuAccelerator()
    {
        var (code, stdout, _) = Run("devices");
        Assert.Equal(0, code);
        Assert.Contains("[cpu 0]", stdout, StringComparison.Ordinal);
        Assert.Contains("auto picks:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void DevicesJsonIsValid()
    {
        var (code, stdout, _) = Run("devices", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var devices = doc.RootElement.GetProperty("devices");
        Assert.Contains(devices.EnumerateArray(), d => d.GetProperty("backend").GetString() == "cpu");
        Assert.False(string.IsNullOrEmpty(doc.RootElement.GetProperty("auto").GetProperty("backend").GetString()));
    }

    [Fact]
    public void UnknownOptionSuggestsTheCloseMatch()
    {
        var (code, _, stderr) = Run("devices", "--jsn");
        Assert.Equal(2, code);
        Assert.Contains("Did you mean '--json'?", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void UnknownCommandSuggestsTheCloseMatch()
    {
        var (code, _, stderr) = Run("devics");
        Assert.Equal(2, code);
        Assert.Contains("devices", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("devices", 2)]
    [InlineData("devic", 2)]
    [InlineData("xyz", -1)]
    public void SuggestionDistance(string typed, int expectNullIfNegative)
    {
        var s = Suggest.Closest(typed, ["devices", "demo", "fit"]);
        if (expectNullIfNegative < 0)
        {
            Assert.Null(s);
        }
        else
        {
            Assert.Equal("devices", s);
        }
    }
}
