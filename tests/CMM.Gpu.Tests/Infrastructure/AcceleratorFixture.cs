using CMM.Gpu.Compute;

namespace CMM.Gpu.Tests.Infrastructure;

/// <summary>
/// One accelerator for the whole test assembly: CMM_ACCELERATOR if set, else auto (the CPU
/// accelerator on machines without a GPU).
/// </summary>
public sealed class AcceleratorFixture : IDisposable
{
    public AcceleratorFixture() => Context = CmmContext.Create(AcceleratorChoice.Resolve(null));

    public CmmContext Context { get; }

    public void Dispose() => Context.Dispose();
}

[CollectionDefinition(Name)]
public sealed class AcceleratorTestGroup : ICollectionFixture<AcceleratorFixture>
{
    public const string Name = "accelerator";
}
