using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace CMM.Gpu.Tests.Docs;

/// <summary>
/// Every ```csharp block in README.md and docs/ compiles, on its own, against the library (as a console program when it has
/// top-level statements, else as a library), with the implicit usings of a new console project. A block that does not
/// compile fails this test with the file, the line and the compiler's message: code shown to users cannot rot.
/// </summary>
public sealed class DocsCodeTests
{
    private static readonly Lazy<IReadOnlyList<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.Length > 0)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToList());

    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    public static TheoryData<string> MarkdownFiles()
    {
        var files = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Repository.PathOf("docs"), "*.md", SearchOption.AllDirectories)
                     .Append(Repository.PathOf("README.md"))
                     .Where(f => Repository.CSharpBlocks(f).Count > 0)
                     .Order(StringComparer.Ordinal))
        {
            files.Add(Path.GetRelativePath(Repository.Root, f));
        }

        return files;
    }

    [Fact]
    public void TheLibrarysOwnAssembliesAreAmongTheReferences()
    {
        // The blocks compile against the CMM.Gpu the tests run with, not against some other copy.
        string library = typeof(CmmModel).Assembly.Location;
        Assert.Contains(References.Value.OfType<PortableExecutableReference>(), r => r.FilePath == library);
        Assert.Contains("README.md", ((IEnumerable<object[]>)MarkdownFiles()).Select(row => (string)row[0]));
    }

    [Theory]
    [MemberData(nameof(MarkdownFiles))]
    public void EveryCSharpBlockCompiles(string relativePath)
    {
        var failures = new List<string>();
        foreach (var (line, code) in Repository.CSharpBlocks(Repository.PathOf(relativePath)))
        {
            var parse = new CSharpParseOptions(LanguageVersion.Latest);
            var tree = CSharpSyntaxTree.ParseText(code, parse, path: $"{relativePath}:{line}");
            bool program = tree.GetRoot().DescendantNodes().OfType<GlobalStatementSyntax>().Any();
            var compilation = CSharpCompilation.Create(
                "DocsBlock" + line,
                [tree, CSharpSyntaxTree.ParseText(ImplicitUsings, parse)],
                References.Value,
                new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                    nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: false));
            using var pe = new MemoryStream();
            var result = compilation.Emit(pe);
            failures.AddRange(result.Diagnostics
                .Where(d => d.Severity == DiagnosticSeverity.Error)
                .Select(d => $"{relativePath}, block at line {line}, block line {d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.Id} {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}"));
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
