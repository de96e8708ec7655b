using CMM.Gpu.IO;
using static CMM.Gpu.Tests.IO.PointFiles;

namespace CMM.Gpu.Tests.IO;

public sealed class PointFileCsvTests
{
    [Fact]
    public void ReadsRowsColumnsAndNumberForms()
    {
        var c = Csv("1,2.5,-3\n1e3, +4 ,-2.5E-3\n0.125,-0,7\n");
        Assert.Equal(3, c.Count);
        Assert.Equal(3, c.Dimension);
        Assert.Equal("in.csv", c.Source);
        AssertBitsEqual([1f, 2.5f, -3f, 1000f, 4f, -0.0025f, 0.125f, -0f, 7f], c.Data.Span);
        AssertBitsEqual([1000f, 4f, -0.0025f], c.Row(1));
    }

    [Fact]
    public void SingleColumnIsDimensionOne()
    {
        var c = Csv("3\n1\n2");
        Assert.Equal(1, c.Dimension);
        Assert.Equal(3, c.Count);
        AssertBitsEqual([3f, 1f, 2f], c.Data.Span);
    }

    [Theory]
    [InlineData("x,y\n1,2\n3,4\n")]
    [InlineData("\"x\",\"y\"\r\n1,2\r\n3,4\r\n")]
    [InlineData("# made by a script\n\nx , y\n# comment\n1,2\n3,4\n\n\n")]
    [InlineData("\uFEFFx,y\n1,2\n3,4")]
    public void HeaderCommentsBlankLinesAndBomAreSkipped(string text)
    {
        var c = Csv(text);
        Assert.Equal(2, c.Count);
        Assert.Equal(2, c.Dimension);
        AssertBitsEqual([1f, 2f, 3f, 4f], c.Data.Span);
    }

    [Theory]
    [InlineData("1,2\r\n3,4\r\n")]
    [InlineData("1,2\r\n3,4")]
    [InlineData("1,2\r3,4\r")]
    [InlineData("1,2\n3,4\r\n\r\n")]
    public void AnyLineEndingWorks(string text)
    {
        var c = Csv(text);
        AssertBitsEqual([1f, 2f, 3f, 4f], c.Data.Span);
    }

    [Theory]
    [InlineData("1,2\n3,nan\n", "line 2, column 2: NaN value")]
    [InlineData("1,2\n3,NaN\n", "line 2, column 2: NaN value")]
    [InlineData("1,-inf\n", "line 1, column 2: infinite value")]
    [InlineData("x,y\nInfinity,1\n", "line 2, column 1: infinite value")]
    public void NonFiniteValuesNameLineAndColumn(string text, string expected)
    {
        var e = CsvError(text, PointFileError.NonFinite);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.NotNull(e.Line);
        Assert.NotNull(e.Column);
    }

    [Fact]
    public void RaggedRowSaysExpectedAndGot()
    {
        var e = CsvError("1,2,3\n4,5,6\n7,8\n", PointFileError.Ragged);
        Assert.Equal("in.csv: line 3: expected 3 columns (as on line 1), got 2", e.Message);
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void RaggedRowAgainstHeader()
    {
        var e = CsvError("a,b\n1,2,3\n", PointFileError.Ragged);
        Assert.Equal("in.csv: line 2: expected 2 columns (as in the header on line 1), got 3", e.Message);
    }

    [Theory]
    [InlineData("", "no data rows (the file is empty)")]
    [InlineData("x,y\n", "no data rows (only a header line)")]
    [InlineData("# nothing\n\n   \n", "no data rows (only blank or comment lines)")]
    public void EmptyInputsAreNamed(string text, string expected)
    {
        var e = CsvError(text, PointFileError.Empty);
        Assert.Equal("in.csv: " + expected, e.Message);
    }

    [Fact]
    public void NonNumericTextNamesLineColumnAndText()
    {
        var e = CsvError("1,2\n3,abc\n", PointFileError.NonNumeric);
        Assert.Equal("in.csv: line 2, column 2: not a number: \"abc\"", e.Message);
        Assert.Equal(2, e.Line);
        Assert.Equal(2, e.Column);
    }

    [Fact]
    public void SecondHeaderLineIsNonNumeric()
    {
        var e = CsvError("x,y\nx,y\n1,2\n", PointFileError.NonNumeric);
        Assert.Contains("line 2, column 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MixedFirstLineIsNotAHeaderAndSaysSo()
    {
        var e = CsvError("x,1\n2,3\n", PointFileError.NonNumeric);
        Assert.Contains("line 1, column 1: not a number: \"x\" (a header line must have no numeric fields)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LineOfEmptyFieldsIsNotAHeader()
    {
        var e = CsvError(",\n1,2\n", PointFileError.NonNumeric);
        Assert.Equal("in.csv: line 1, column 1: empty value", e.Message);
    }

    [Fact]
    public void WrongSeparatorGetsAHint()
    {
        var e = CsvError("1;2\n3;4\n", PointFileError.NonNumeric);
        Assert.Contains("(fields must be separated by commas)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyFieldIsNamed()
    {
        var e = CsvError("1,2\n3,\n", PointFileError.NonNumeric);
        Assert.Equal("in.csv: line 2, column 2: empty value", e.Message);
    }

    [Fact]
    public void ControlCharactersAreEscapedSoTheMessageStaysOneLine()
    {
        var e = CsvError("1,2\n3,4\u000b5\n", PointFileError.NonNumeric);
        Assert.Contains("\\u000B", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecimalCommaCultureIsNotUsed()
    {
        // "1,5" is two fields in invariant CSV, so a one-column file with a decimal comma is ragged, not 1.5.
        var e = CsvError("1.5\n1,5\n", PointFileError.Ragged);
        Assert.Contains("expected 1 columns", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValueBeyondFloat32IsOutOfRange()
    {
        var e = CsvError("1,2\n1e39,0\n", PointFileError.OutOfRange);
        Assert.Equal("in.csv: line 2, column 1: value \"1e39\" is outside the float32 range (|v| <= 3.4e38)", e.Message);
    }

    [Fact]
    public void HugeFiniteValuesAreFlaggedForSquaredCostOverflow()
    {
        var big = Csv("1e19,0\n0,1\n");
        Assert.True(big.SquaredCostsMayOverflow);
        Assert.Equal(1e19f, big.MaxAbsValue);
        Assert.StartsWith("in.csv: values up to 1E+19 in d = 2: squared costs can overflow float32", big.OverflowWarning, StringComparison.Ordinal);

        // 2 d m^2 <= float.MaxValue: m = 1e18, d = 2 gives 4e36, fine.
        var ok = Csv("1e18,0\n0,1\n");
        Assert.False(ok.SquaredCostsMayOverflow);
        Assert.Null(ok.OverflowWarning);
    }

    [Fact]
    public void OverflowThresholdScalesWithDimension()
    {
        // m = 1e18: 2 d m^2 = 2e36 d exceeds 3.4e38 once d > 170.
        var row = string.Join(",", Enumerable.Repeat("1e18", 171));
        Assert.True(Csv(row + "\n").SquaredCostsMayOverflow);
        var shorter = string.Join(",", Enumerable.Repeat("1e18", 170));
        Assert.False(Csv(shorter + "\n").SquaredCostsMayOverflow);
    }
}
