namespace CMM.Gpu.Kernels;

/// <summary>
/// Marks a public static method over <c>ArrayView</c> buffers that is host code over the CPU accelerator's (host) buffers,
/// called directly rather than loaded as an ILGPU kernel (the host forms of light kernels). The kernel catalog and its PTX
/// check leave such methods out.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class HostCodeAttribute : Attribute
{
}
