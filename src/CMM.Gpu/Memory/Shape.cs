namespace CMM.Gpu.Memory;

/// <summary>Shape checks with messages that name the offending argument.</summary>
internal static class Shape
{
    public static void RequirePositive(long value, string paramName, string what)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"{what} must be positive, got {value}");
        }
    }

    public static void RequireLength(long actual, long expected, string paramName, string what)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{paramName} has {actual} values but {what} needs {expected}", paramName);
        }
    }

    public static void RequireSameContext(CmmContext expected, CmmContext actual, string paramName)
    {
        if (!ReferenceEquals(expected, actual))
        {
            throw new ArgumentException($"{paramName} lives on another accelerator context", paramName);
        }
    }

    public static void RequireSameDimension(int a, int b, string nameA, string nameB)
    {
        if (a != b)
        {
            throw new ArgumentException($"dimension mismatch: {nameA} has d = {a} but {nameB} has d = {b}", nameB);
        }
    }
}
