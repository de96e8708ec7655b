using System.Globalization;

namespace CMM.Gpu.IO;

/// <summary>
/// The height and width of images stored as points: a point of dimension <c>Height * Width</c> is the image's
/// pixels row by row (row-major, as NumPy stores an (n, h, w) array). Written and parsed as <c>HxW</c>, e.g. <c>28x28</c>.
/// </summary>
public readonly record struct ImageShape
{
    /// <summary>Creates a shape.</summary>
    /// <param name="height">Rows of pixels, at least 1.</param>
    /// <param name="width">Pixels per row, at least 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A side below 1, or more than <see cref="int.MaxValue"/> pixels.</exception>
    public ImageShape(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if ((long)height * width > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"{height} x {width} images have more than {int.MaxValue} pixels");
        }

        Height = height;
        Width = width;
    }

    /// <summary>Rows of pixels.</summary>
    public int Height { get; }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }

    /// <summary>Pixels per image, <c>Height * Width</c>: the dimension of the points.</summary>
    public int Pixels => Height * Width;

    /// <summary>Parses <c>HxW</c> (e.g. <c>28x28</c>; <c>x</c> or <c>X</c>, spaces around the numbers allowed).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The shape.</returns>
    /// <exception cref="FormatException">Anything else; the one-line message quotes the text and gives an example.</exception>
    public static ImageShape Parse(string text) =>
        TryParse(text, out var shape)
            ? shape
            : throw new FormatException($"image shape {Text.Quote(text ?? string.Empty)} is not HEIGHTxWIDTH with positive integers, e.g. 28x28");

    /// <summary>Parses <c>HxW</c> without throwing.</summary>
    /// <param name="text">The text (null gives false).</param>
    /// <param name="shape">The shape when the text is valid.</param>
    /// <returns>Whether the text is a valid shape.</returns>
    public static bool TryParse(string? text, out ImageShape shape)
    {
        shape = default;
        if (text is null)
        {
            return false;
        }

        int x = text.IndexOfAny(['x', 'X']);
        if (x < 0
            || !int.TryParse(text.AsSpan(0, x).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int h)
            || !int.TryParse(text.AsSpan(x + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            || h < 1 || w < 1 || (long)h * w > int.MaxValue)
        {
            return false;
        }

        shape = new ImageShape(h, w);
        return true;
    }

    /// <summary>
    /// Checks that points of <paramref name="dimension"/> values are images of this shape, for an option or a file
    /// that declares the shape.
    /// </summary>
    /// <param name="dimension">Values per point.</param>
    /// <param name="label">What declared the shape, for the message (an option name such as <c>--image-shape</c>).</param>
    /// <param name="source">The file or dataset the points come from; null leaves it out of the message.</param>
    /// <exception cref="PointFileException"><see cref="PointFileError.ImageShapeMismatch"/> when
    /// <c>Height * Width != dimension</c>; the message is one line, e.g.
    /// <c>--image-shape 8x9: 64 values per point are not 8 x 9</c> (prefixed by <c>source: </c> when given).</exception>
    public void RequireFits(int dimension, string label = "image shape", string? source = null)
    {
        if (Pixels == dimension)
        {
            return;
        }

        var values = dimension == 1 ? "1 value per point is" : $"{dimension} values per point are";
        var prefix = string.IsNullOrEmpty(source) ? string.Empty : source + ": ";
        throw new PointFileException(source ?? string.Empty, PointFileError.ImageShapeMismatch, $"{prefix}{label} {this}: {values} not {Height} x {Width}");
    }

    /// <summary>The shape as <c>HxW</c>, the form <see cref="Parse"/> reads.</summary>
    /// <returns>E.g. <c>28x28</c>.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Height}x{Width}");
}
