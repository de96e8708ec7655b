using System.Reflection;

namespace CMM.Gpu.Kernels;

/// <summary>How a kernel method is launched.</summary>
public enum KernelGrouping
{
    /// <summary>Implicitly grouped: the first parameter is an index (<c>Index1D</c>/<c>Index2D</c>), one thread per index.</summary>
    Implicit,

    /// <summary>Explicitly grouped: uses <c>Grid</c>/<c>Group</c> indices, shared memory and barriers; launched with a <c>KernelConfig</c>.</summary>
    Explicit,
}

/// <summary>One concrete (closed generic) kernel entry point of this assembly.</summary>
/// <param name="Method">The static kernel method, with any generic arguments bound.</param>
/// <param name="Grouping">How the method is launched.</param>
public sealed record KernelEntry(MethodInfo Method, KernelGrouping Grouping)
{
    /// <summary>A readable name such as <c>CostKernels.RowPerThread&lt;HalfSquaredEuclidean&gt;</c>.</summary>
    public string DisplayName =>
        Method.DeclaringType!.Name + "." + Method.Name +
        (Method.IsGenericMethod ? "<" + string.Join(",", Method.GetGenericArguments().Select(t => t.Name)) + ">" : "");
}

/// <summary>
/// The list of every kernel instantiation the library launches. The PTX compile test walks this
/// list, and a second test checks that every kernel method of the assembly appears in it, so a new
/// kernel cannot escape the CUDA compile check.
/// </summary>
public static class KernelCatalog
{
    /// <summary>All kernel entry points, generic ones bound to every type argument the library uses.</summary>
    public static IReadOnlyList<KernelEntry> All { get; } = Build();

    private static List<KernelEntry> Build()
    {
        var list = new List<KernelEntry>();
        foreach (var type in typeof(KernelCatalog).Assembly.GetTypes())
        {
            var provider = type.GetMethod("CatalogEntries", BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public);
            if (provider is null || provider.ReturnType != typeof(IEnumerable<KernelEntry>))
            {
                continue;
            }

            list.AddRange((IEnumerable<KernelEntry>)provider.Invoke(null, null)!);
        }

        return list;
    }

    /// <summary>Binds a kernel method of <paramref name="type"/> by name, with optional generic arguments.</summary>
    /// <param name="type">The declaring static class.</param>
    /// <param name="name">The method name.</param>
    /// <param name="grouping">How it is launched.</param>
    /// <param name="typeArguments">Generic arguments, if the method is generic.</param>
    /// <returns>The catalog entry.</returns>
    public static KernelEntry Entry(Type type, string name, KernelGrouping grouping, params Type[] typeArguments)
    {
        ArgumentNullException.ThrowIfNull(type);
        var method = type.GetMethod(name, BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
                     ?? throw new InvalidOperationException($"Kernel {type.Name}.{name} not found.");
        if (typeArguments.Length > 0)
        {
            method = method.MakeGenericMethod(typeArguments);
        }

        return new KernelEntry(method, grouping);
    }
}
