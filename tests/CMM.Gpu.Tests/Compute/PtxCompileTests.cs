using System.Reflection;
using CMM.Gpu.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace CMM.Gpu.Tests.Compute;

/// <summary>
/// Every kernel must compile to PTX for sm_80 and sm_90 through ILGPU's PTX backend, with no GPU
/// present, so a kernel that cannot run on CUDA fails CI on any machine.
/// </summary>
public sealed class PtxCompileTests
{
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var k in KernelCatalog.All)
        {
            data.Add(k.DisplayName);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompilesForSm80AndSm90(string kernel)
    {
        var entry = KernelCatalog.All.Single(k => k.DisplayName == kernel);
        using var context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        foreach (var (arch, isa) in new[] { (CudaArchitecture.SM_80, CudaInstructionSet.ISA_70), (CudaArchitecture.SM_90, CudaInstructionSet.ISA_78) })
        {
            using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, isa, null!);
            var description = entry.Grouping == KernelGrouping.Implicit
                ? EntryPointDescription.FromImplicitlyGroupedKernel(entry.Method)
                : EntryPointDescription.FromExplicitlyGroupedKernel(entry.Method);
            var compiled = (PTXCompiledKernel)backend.Compile(description, KernelSpecialization.Empty);
            Assert.Contains(".entry", compiled.PTXAssembly, StringComparison.Ordinal);
            // ILGPU 1.5.3 emits ".target sm_80" for both (PTX ISA 7.0 / 7.8); the driver JIT-compiles it for sm_90.
            Assert.Contains(".target sm_80", compiled.PTXAssembly, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CatalogCoversEveryKernelMethod()
    {
        // A kernel method is a static void method taking an ArrayView (ILGPU kernels return nothing; device
        // helpers such as DeviceMath.SquaredDistance return a value) and not marked as host code; each must appear in the catalog.
        var kernelMethods = typeof(KernelCatalog).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType == typeof(void) && m.GetParameters().Any(p => p.ParameterType.IsGenericType &&
                                                   p.ParameterType.GetGenericTypeDefinition() == typeof(ArrayView<>)) &&
                        m.GetCustomAttribute<HostCodeAttribute>() is null)
            .ToList();
        Assert.NotEmpty(kernelMethods);
        var catalogued = KernelCatalog.All.Select(e => e.Method.IsGenericMethod ? e.Method.GetGenericMethodDefinition() : e.Method).ToHashSet();
        var missing = kernelMethods.Where(m => !catalogued.Contains(m)).Select(m => m.DeclaringType!.Name + "." + m.Name).ToList();
        Assert.True(missing.Count == 0, "kernels missing from KernelCatalog (so from the PTX check): " + string.Join(", ", missing));
    }
}
