using ILGPU;

namespace CMM.Gpu.Kernels;

/// <summary>
/// Element access to a float buffer inside a kernel. Kernel bodies are written once, generic over the
/// accessor, and instantiated twice: with <see cref="ViewFloats"/> (an ArrayView, for CUDA and OpenCL)
/// and with <see cref="PointerFloats"/> (a raw pointer, for ILGPU's CPU accelerator only).
/// Why two: on the CPU accelerator ILGPU runs the kernel's own .NET code, and every ArrayView element
/// access there evaluates two <c>Trace.Assert</c> checks (bounds, and that the buffer is a CPU buffer)
/// and loads the buffer's base pointer anew. A 32 x 32 matrix-vector loop over ArrayViews ran 4-5x
/// slower than the same loop over plain arrays, and over a pointer taken once per launch as fast as the
/// arrays (docs/performance.md).
/// </summary>
internal interface IFloats
{
    /// <summary>The element at <paramref name="index"/> (no bounds check on the pointer form).</summary>
    /// <param name="index">Element index.</param>
    float this[long index] { get; set; }
}

/// <summary>An ArrayView as an <see cref="IFloats"/> (the GPU form).</summary>
internal readonly struct ViewFloats : IFloats
{
    private readonly ArrayView<float> view;

    /// <summary>Wraps a view.</summary>
    /// <param name="view">The view.</param>
    public ViewFloats(ArrayView<float> view) => this.view = view;

    /// <inheritdoc />
    public float this[long index]
    {
        get => view[index];
        set => view[index] = value;
    }
}

/// <summary>
/// A raw pointer as an <see cref="IFloats"/>: the CPU accelerator's form. Only valid inside a kernel that
/// runs on ILGPU's CPU accelerator, whose buffers are unmanaged host memory that never moves; such kernels take
/// the pointer of element 0 of each view once (<c>fixed</c>). They compile to PTX as well (the catalog check), but the
/// library launches them on the CPU accelerator only.
/// </summary>
internal readonly unsafe struct PointerFloats : IFloats
{
    private readonly float* pointer;

    /// <summary>Wraps the address of element 0.</summary>
    /// <param name="pointer">The address.</param>
    public PointerFloats(float* pointer) => this.pointer = pointer;

    /// <inheritdoc />
    public float this[long index]
    {
        get => pointer[index];
        set => pointer[index] = value;
    }
}

/// <summary>Element access to a double buffer inside a kernel (the double counterpart of <see cref="IFloats"/>).</summary>
internal interface IDoubles
{
    /// <summary>The element at <paramref name="index"/> (no bounds check on the pointer form).</summary>
    /// <param name="index">Element index.</param>
    double this[long index] { get; set; }
}

/// <summary>An ArrayView as an <see cref="IDoubles"/> (the GPU form).</summary>
internal readonly struct ViewDoubles : IDoubles
{
    private readonly ArrayView<double> view;

    /// <summary>Wraps a view.</summary>
    /// <param name="view">The view.</param>
    public ViewDoubles(ArrayView<double> view) => this.view = view;

    /// <inheritdoc />
    public double this[long index]
    {
        get => view[index];
        set => view[index] = value;
    }
}

/// <summary>A raw pointer as an <see cref="IDoubles"/>: the CPU accelerator's form (as <see cref="PointerFloats"/>).</summary>
internal readonly unsafe struct PointerDoubles : IDoubles
{
    private readonly double* pointer;

    /// <summary>Wraps the address of element 0.</summary>
    /// <param name="pointer">The address.</param>
    public PointerDoubles(double* pointer) => this.pointer = pointer;

    /// <inheritdoc />
    public double this[long index]
    {
        get => pointer[index];
        set => pointer[index] = value;
    }
}
