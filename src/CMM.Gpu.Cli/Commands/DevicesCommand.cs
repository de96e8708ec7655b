using System.CommandLine;
using System.Text.Json;
using CMM.Gpu.Compute;

namespace CMM.Gpu.Cli.Commands;

/// <summary><c>cmm devices</c>: every device found, the <c>auto</c> choice, and why unusable backends are unusable.</summary>
internal static class DevicesCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var json = CommonOptions.Json();
        var cmd = new Command("devices", "List the accelerators found, which one 'auto' picks, and why the others cannot be used.") { json };
        cmd.SetAction(parse =>
        {
            var report = DeviceReport.Probe();
            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(new
                {
                    devices = report.Devices,
                    auto = new { report.AutoChoice.Backend, report.AutoChoice.Index, report.AutoChoice.Name },
                    unusable_backends = report.Problems,
                    environment_variable = AcceleratorChoice.EnvironmentVariable,
                    environment_value = Environment.GetEnvironmentVariable(AcceleratorChoice.EnvironmentVariable),
                }, CliIO.Json));
                return ExitCodes.Ok;
            }

            foreach (var d in report.Devices)
            {
                var mark = ReferenceEquals(d, report.AutoChoice) ? "*" : " ";
                stdout.WriteLine($"{mark} [{d.Backend} {d.Index}] {d.Name}");
                stdout.WriteLine($"      memory {d.MemoryBytes / (1024.0 * 1024 * 1024):0.##} GiB, {d.Multiprocessors} multiprocessors, warp {d.WarpSize}, max group {d.MaxThreadsPerGroup}, shared/group {d.MaxSharedMemoryPerGroup / 1024.0:0.#} KiB");
                stdout.WriteLine($"      {d.Details}" + (d.Usable ? "" : $"; unusable: {d.Reason}"));
            }

            stdout.WriteLine($"auto picks: [{report.AutoChoice.Backend} {report.AutoChoice.Index}] {report.AutoChoice.Name}");
            foreach (var p in report.Problems)
            {
                stdout.WriteLine($"{p.Backend}: unusable: {p.Reason}");
            }

            return ExitCodes.Ok;
        });
        _ = stderr;
        return cmd;
    }
}
