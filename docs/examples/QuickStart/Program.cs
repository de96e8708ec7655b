using CMM.Gpu;

// 2,000 points on a noisy ring, one point per row: put your own float[n, d] here.
var random = new Random(1);
var data = new float[2000, 2];
for (int i = 0; i < 2000; i++)
{
    double angle = 2 * Math.PI * random.NextDouble(), radius = 2 + (0.3 * random.NextDouble());
    (data[i, 0], data[i, 1]) = ((float)(radius * Math.Cos(angle)), (float)(radius * Math.Sin(angle)));
}

using var model = CmmModel.Fit(data, new FitOptions { Iterations = 150 });
float[,] samples = model.Sample(1000, seed: 1);
model.Save("ring.cmm");
Console.WriteLine($"{samples.GetLength(0)} samples, the first at ({samples[0, 0]:F2}, {samples[0, 1]:F2})");
