using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ImageTools.Core.Sparse;

/// <summary>
/// Finding non-zero bytes fast: the copy engine scans every byte it reads. Long zero runs are the common
/// case (the unused part of a disk image), so the hot loop only ORs four vectors together per step and
/// tests once; when a step is not all zero, <see cref="MemoryExtensions.IndexOfAnyExcept{T}(ReadOnlySpan{T}, T)"/>
/// pins down the exact byte within it.
/// </summary>
public static class ZeroScan
{
    /// <summary>The index of the first non-zero byte of <paramref name="data"/>, or -1 when it is all zero.</summary>
    public static int IndexOfNonZero(ReadOnlySpan<byte> data)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = (nuint)data.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var step = (nuint)Vector256<byte>.Count * 4;
            for (; i + step <= length; i += step)
            {
                var any = Vector256.LoadUnsafe(ref start, i)
                    | Vector256.LoadUnsafe(ref start, i + (nuint)Vector256<byte>.Count)
                    | Vector256.LoadUnsafe(ref start, i + (nuint)Vector256<byte>.Count * 2)
                    | Vector256.LoadUnsafe(ref start, i + (nuint)Vector256<byte>.Count * 3);
                if (any != Vector256<byte>.Zero)
                {
                    break;
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var step = (nuint)Vector128<byte>.Count * 4;
            for (; i + step <= length; i += step)
            {
                var any = Vector128.LoadUnsafe(ref start, i)
                    | Vector128.LoadUnsafe(ref start, i + (nuint)Vector128<byte>.Count)
                    | Vector128.LoadUnsafe(ref start, i + (nuint)Vector128<byte>.Count * 2)
                    | Vector128.LoadUnsafe(ref start, i + (nuint)Vector128<byte>.Count * 3);
                if (any != Vector128<byte>.Zero)
                {
                    break;
                }
            }
        }
        var rest = data[(int)i..].IndexOfAnyExcept((byte)0);
        return rest < 0 ? -1 : (int)i + rest;
    }

    /// <summary>True when every byte of <paramref name="data"/> is zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsAllZero(ReadOnlySpan<byte> data) => IndexOfNonZero(data) < 0;
}
