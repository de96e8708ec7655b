namespace CMM.Gpu.Cli;

/// <summary>Entry point of the <c>cmm</c> executable.</summary>
public static class Program
{
    /// <summary>Runs the command line and returns the exit code.</summary>
    /// <param name="args">Arguments.</param>
    /// <returns>0 on success, 1 on a failed run, 2 on bad usage or input.</returns>
    public static int Main(string[] args) => CliApp.Run(args, Console.Out, Console.Error);
}
