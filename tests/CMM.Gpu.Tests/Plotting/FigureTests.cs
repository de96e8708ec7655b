using System.Buffers.Binary;
using CMM.Gpu.Cli.Plotting;
using CMM.Gpu.Data;
using CMM.Gpu.Gaussian;
using CMM.Gpu.Tests.Infrastructure;

namespace CMM.Gpu.Tests.Plotting;

public sealed class FigureTests : IDisposable
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private readonly string dir = Directory.CreateTempSubdirectory("cmm-plot-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.True(png.Length > 100, $"PNG of {png.Length} bytes");
        Assert.Equal(PngSignature, png[..8]);
        Assert.Equal("IHDR"u8.ToArray(), png[12..16]);
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
    }

    [Fact]
    public void OneDimensionalFigureIsAValidPngOfTheExpectedSize()
    {
        var cf = GaussianClosedForm.Cmm([0.0], [4.0]);
        var latent = cf.SampleLatent(2000, 1);
        var fig = new Figure1D
        {
            Data = Datasets.Create("bimodal", 2000, 1).Points,
            Generated = Datasets.Create("bimodal", 2000, 2).Points,
            Latent = latent,
            Potential = x => cf.Potential(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(1, x)),
            Title = "bimodal",
            PanelWidth = 500,
            Height = 400,
        };
        var png = Figures.Render1D(fig);
        Assert.Equal((1000, 400), PngSize(png));

        var path = Path.Combine(dir, "fit1d.png");
        Figures.Save(path, png);
        Assert.Equal(png, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir));

        // Data only: one panel.
        Assert.Equal((500, 400), PngSize(Figures.Render1D(fig with { Generated = null, Latent = null, Potential = null })));
    }

    [Fact]
    public void TwoDimensionalFigureIsAValidPngOfTheExpectedSize()
    {
        var cf = GaussianClosedForm.Cmm([1.0, -0.5], [2.0, 0.6, 0.6, 0.5]);
        var grid = PotentialGrid.Evaluate((x, y) => cf.Potential(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray([x, y])), -3, 3, -3, 3, 61, 61);
        var fig = new Figure2D
        {
            Data = Datasets.Create("moons", 1500, 1).Points,
            Generated = Datasets.Create("moons", 1500, 2).Points,
            Latent = cf.SampleLatent(1500, 3),
            Potential = grid,
            PanelWidth = 450,
            Height = 420,
        };
        var png = Figures.Render2D(fig);
        Assert.Equal((1350, 420), PngSize(png)); // data, generated, latent with level sets
        Figures.Save(Path.Combine(dir, "fit2d.png"), png);
        Assert.True(new FileInfo(Path.Combine(dir, "fit2d.png")).Length == png.Length);

        Assert.Equal((450, 420), PngSize(Figures.Render2D(new Figure2D { Data = fig.Data, PanelWidth = 450, Height = 420 })));
        Assert.Throws<ArgumentException>(() => Figures.Render2D(new Figure2D { Data = [1f, 2f, 3f] }));
    }

    [Fact]
    public void BatchedGridMatchesThePointwiseGrid()
    {
        Func<double, double, double> f = (x, y) => (x * x) + (3 * y);
        var a = PotentialGrid.Evaluate(f, -1, 2, 0, 1, 7, 5);
        var b = PotentialGrid.EvaluateBatched(p => p.Chunk(2).Select(q => (float)f(q[0], q[1])).ToArray(), -1, 2, 0, 1, 7, 5);
        Assert.Equal(a.Xs, b.Xs);
        Assert.Equal(a.Ys, b.Ys);
        for (int iy = 0; iy < 5; iy++)
        {
            for (int ix = 0; ix < 7; ix++)
            {
                Approx.Equal(f(a.Xs[ix], a.Ys[iy]), a.Values[iy, ix], 0, 0);
                Approx.Equal(a.Values[iy, ix], b.Values[iy, ix], 1e-6, 1e-6);
            }
        }
    }

    [Fact]
    public void MarchingSquaresTracesACircleAsOneClosedLoop()
    {
        var grid = PotentialGrid.Evaluate((x, y) => (x * x) + (y * y), -2, 2, -2, 2, 81, 81);
        var lines = MarchingSquares.Trace(grid, 1.0);
        var loop = Assert.Single(lines);
        Assert.True(loop.Count > 40);
        Assert.Equal(loop[0], loop[^1]);
        Assert.All(loop, p => Approx.Equal(1.0, Math.Sqrt((p.X * p.X) + (p.Y * p.Y)), 2e-3, 0, "radius"));

        // A level outside the range has no line; a plane gives one straight open line.
        Assert.Empty(MarchingSquares.Trace(grid, 100));
        var plane = PotentialGrid.Evaluate((x, _) => x, 0, 1, 0, 1, 11, 6);
        var line = Assert.Single(MarchingSquares.Trace(plane, 0.33));
        Assert.Equal(6, line.Count);
        Assert.All(line, p => Approx.Equal(0.33, p.X, 1e-12, 0));
        Assert.NotEqual(line[0], line[^1]);
    }

    [Fact]
    public void MarchingSquaresResolvesSaddlesWithoutCrossingLines()
    {
        // f = x y has a saddle at 0: level 0.05 gives two hyperbola branches, each an open line.
        var grid = PotentialGrid.Evaluate((x, y) => x * y, -1, 1, -1, 1, 20, 20);
        var lines = MarchingSquares.Trace(grid, 0.05);
        Assert.Equal(2, lines.Count);
        Assert.All(lines.SelectMany(l => l), p => Assert.True(p.X * p.Y > 0));
        var levels = Figures.AutoLevels(grid, 4);
        Assert.Equal(4, levels.Count);
        Assert.True(levels.Zip(levels.Skip(1)).All(p => p.First < p.Second));
    }

    [Fact]
    public void DegenerateInputsStillRender()
    {
        // constant 1-D data, non-finite values, and a 2-D set whose points are all non-finite except one
        Assert.Equal((300, 200), PngSize(Figures.Render1D(new Figure1D { Data = [1f, 1f, 1f, float.NaN], Generated = [], PanelWidth = 300, Height = 200 })));
        var png = Figures.Render2D(new Figure2D { Data = [0f, 0f, float.NaN, 1f], Latent = [float.PositiveInfinity, 0f], PanelWidth = 300, Height = 200 });
        Assert.Equal((600, 200), PngSize(png));
        Assert.Throws<ArgumentException>(() => Figures.Render1D(new Figure1D { Data = [float.NaN] }));
    }

    [Fact]
    public void GeneratedSamplesAloneRenderWithoutADataPanel()
    {
        // cmm plot without --data: no data panel (it used to show the generated samples labelled "data").
        var gen = Datasets.Create("moons", 200, 4).Points;
        Assert.Equal((300, 200), PngSize(Figures.Render2D(new Figure2D { Generated = gen, PanelWidth = 300, Height = 200 })));
        Assert.Equal((600, 200), PngSize(Figures.Render2D(new Figure2D { Generated = gen, Latent = gen, PanelWidth = 300, Height = 200 })));
        Assert.Equal((300, 200), PngSize(Figures.Render1D(new Figure1D { Generated = [1f, 2f, 2.5f], PanelWidth = 300, Height = 200 })));
        Assert.Throws<ArgumentException>(() => Figures.Render2D(new Figure2D { Latent = gen }));
        Assert.Throws<ArgumentException>(() => Figures.Render1D(new Figure1D { Latent = [1f, 2f] }));
    }
}
