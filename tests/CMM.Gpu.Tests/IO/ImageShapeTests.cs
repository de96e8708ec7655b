using CMM.Gpu.Cli;
using CMM.Gpu.Cli.Commands;
using CMM.Gpu.IO;

namespace CMM.Gpu.Tests.IO;

public sealed class ImageShapeTests
{
    [Theory]
    [InlineData("8x8", 8, 8)]
    [InlineData("28X28", 28, 28)]
    [InlineData(" 3 x 4 ", 3, 4)]
    [InlineData("1x64", 1, 64)]
    public void ParsesHeightByWidth(string text, int height, int width)
    {
        var shape = ImageShape.Parse(text);
        Assert.Equal(height, shape.Height);
        Assert.Equal(width, shape.Width);
        Assert.Equal(height * width, shape.Pixels);
        Assert.Equal($"{height}x{width}", shape.ToString());
        Assert.Equal(shape, ImageShape.Parse(shape.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("8")]
    [InlineData("x8")]
    [InlineData("8x")]
    [InlineData("0x5")]
    [InlineData("-1x2")]
    [InlineData("+2x2")]
    [InlineData("8x8x8")]
    [InlineData("a x b")]
    [InlineData("8*8")]
    [InlineData("65536x65536")]
    [InlineData("99999999999x1")]
    public void RejectsAnythingElse(string text)
    {
        Assert.False(ImageShape.TryParse(text, out _));
        var e = Assert.Throws<FormatException>(() => ImageShape.Parse(text));
        Assert.StartsWith($"image shape \"{text}\" is not HEIGHTxWIDTH with positive integers, e.g. 28x28", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void NullDoesNotParse()
    {
        Assert.False(ImageShape.TryParse(null, out var shape));
        Assert.Equal(default, shape);
    }

    [Fact]
    public void ConstructorRefusesEmptyAndOverflowingShapes()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageShape(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageShape(3, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageShape(65536, 65536));
    }

    [Fact]
    public void AShapeThatDoesNotDivideTheRowIsAOneLineError()
    {
        new ImageShape(8, 8).RequireFits(64); // fits: nothing thrown
        var e = Assert.Throws<PointFileException>(() => new ImageShape(8, 9).RequireFits(64, "--image-shape"));
        Assert.Equal(PointFileError.ImageShapeMismatch, e.Error);
        Assert.Equal("--image-shape 8x9: 64 values per point are not 8 x 9", e.Message);

        var one = Assert.Throws<PointFileException>(() => new ImageShape(2, 2).RequireFits(1, source: "labels.idx"));
        Assert.Equal("labels.idx: image shape 2x2: 1 value per point is not 2 x 2", one.Message);
        Assert.Equal("labels.idx", one.Path);
    }

    [Fact]
    public void CliParsesAndChecksTheOption()
    {
        Assert.Null(CliIO.ParseImageShape(null, 64));
        Assert.Equal(new ImageShape(8, 8), CliIO.ParseImageShape("8x8", 64));
        var mismatch = Assert.Throws<CliException>(() => CliIO.ParseImageShape("8x9", 64));
        Assert.Equal("--image-shape 8x9: 64 values per point are not 8 x 9", mismatch.Message);
        var bad = Assert.Throws<CliException>(() => CliIO.ParseImageShape("8by8", 64));
        Assert.Equal("--image-shape '8by8': expected HEIGHTxWIDTH with positive integers, e.g. 28x28", bad.Message);
    }

    [Fact]
    public void PointCloudsCanBeDeclaredImages()
    {
        var plain = new PointCloud(new float[12], 6, "x.csv");
        Assert.Null(plain.ImageShape);
        var images = plain.WithImageShape(new ImageShape(2, 3));
        Assert.Equal(new ImageShape(2, 3), images.ImageShape);
        Assert.Equal(2, images.Count);
        Assert.Equal("x.csv", images.Source);
        Assert.Null(images.WithImageShape(null).ImageShape);

        var e = Assert.Throws<PointFileException>(() => plain.WithImageShape(new ImageShape(4, 2)));
        Assert.Equal("x.csv: image shape 4x2: 6 values per point are not 4 x 2", e.Message);
    }
}
