using CMM.Gpu.Compute;
using CMM.Gpu.Fitting;

namespace CMM.Gpu.Cli.Commands;

/// <summary>Model loading shared by the commands that use a fitted model.</summary>
internal static class ModelCommands
{
    /// <summary>Loads a model through the library's facade; a missing, truncated, corrupted or newer file, or a dimension
    /// mismatch, is a one-line error.</summary>
    public static CmmModel Load(CmmContext ctx, string path, int? expectedDimension = null)
    {
        CmmModel model;
        try
        {
            model = CmmModel.Load(path, ctx);
        }
        catch (FileNotFoundException)
        {
            throw new CliException($"--model '{path}' does not exist");
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message);
        }

        if (expectedDimension is { } d && d != model.Dimension)
        {
            model.Dispose();
            throw DimensionMismatch(path, d, model.Dimension);
        }

        return model;
    }

    /// <summary>The engine-level model of <see cref="Load"/> (the model was given the device, so it owns nothing else;
    /// disposing the engine frees everything).</summary>
    public static FittedModel LoadModel(CmmContext ctx, string path, int? expectedDimension = null) => Load(ctx, path, expectedDimension).Fitted;

    /// <summary>The one-line error for data of another dimension than the model's, naming both.</summary>
    public static CliException DimensionMismatch(string path, int dataDimension, int modelDimension) =>
        new($"dimension mismatch: the data have d = {dataDimension} but the model '{path}' was fitted with d = {modelDimension}");
}
