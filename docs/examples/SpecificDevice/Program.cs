using System.Globalization;
using CMM.Gpu;

// Fits and samples on a device of your choice:
//   dotnet run -- [cuda|opencl|cpu|auto] [DEVICE INDEX]
// Every CmmModel call takes an optional device; without one the model opens the best available (CMM_ACCELERATOR or auto).
var kind = args.Length > 0 ? AcceleratorChoice.Resolve(args[0]) : AcceleratorKind.Cuda;
int index = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 0;
IReadOnlyList<CmmContext> devices;
try
{
    devices = CmmContext.CreateAll(kind);
}
catch (AcceleratorUnavailableException e)
{
    Console.Error.WriteLine($"no {kind} device here: {e.Reason}");
    return 1;
}

try
{
    if (index >= devices.Count)
    {
        Console.Error.WriteLine($"device {index} asked for, but {kind} has {devices.Count}");
        return 1;
    }

    var device = devices[index];
    Console.WriteLine($"using {device.Description}");
    var random = new Random(2);
    var data = new float[500, 3];
    for (int i = 0; i < 500; i++)
    {
        for (int k = 0; k < 3; k++)
        {
            data[i, k] = (float)((k + 1) * (random.NextDouble() - 0.5));
        }
    }

    using var model = CmmModel.Fit(data, new FitOptions { Iterations = 20, Particles = 128, BatchSize = 128 }, device);
    var samples = model.Sample(100, seed: 3);
    Console.WriteLine($"{model.FitResult!.Status}: {samples.GetLength(0)} samples of d = {samples.GetLength(1)} drawn on {device.Kind}");
    return 0;
}
finally
{
    foreach (var d in devices)
    {
        d.Dispose();
    }
}
