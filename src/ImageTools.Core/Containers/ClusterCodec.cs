using System.IO.Compression;
using System.Runtime.InteropServices;

namespace ImageTools.Core.Containers;

/// <summary>
/// Compresses and decompresses one cluster at a time, as qcow2 stores compressed clusters: zlib as raw deflate
/// with a 4 KiB window (qemu inflates with windowBits -12, so a larger window would make clusters it cannot
/// read), zstd as one frame. Thread-safe: each call has its own state, so clusters compress in parallel.
/// </summary>
public static class ClusterCodec
{
    /// <summary>
    /// Compresses <paramref name="input"/> into <paramref name="output"/>; returns the compressed length, or -1
    /// when the result would not be smaller than <paramref name="output"/> (the caller then stores it as is).
    /// </summary>
    public static int Compress(ClusterCompression kind, ReadOnlySpan<byte> input, Span<byte> output) => kind switch
    {
        ClusterCompression.Zlib => NativeDeflate.CompressRaw(input, output, windowBits: 12),
        ClusterCompression.Zstd => CompressZstd(input, output),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// Fills <paramref name="output"/> (one cluster) from the compressed bytes; trailing bytes after the stream (the
    /// rest of its last sector) are ignored, as qemu ignores them. False when the data is not a valid stream or
    /// ends before the cluster is full.
    /// </summary>
    public static bool TryDecompress(ClusterCompression kind, byte[] input, int length, Span<byte> output)
    {
        try
        {
            using var compressed = new MemoryStream(input, 0, length, writable: false);
            using Stream unpacked = kind == ClusterCompression.Zstd
                ? new ZstdSharp.DecompressionStream(compressed, leaveOpen: true)
                : new DeflateStream(compressed, CompressionMode.Decompress, leaveOpen: true);
            var total = 0;
            while (total < output.Length)
            {
                var n = unpacked.Read(output[total..]);
                if (n == 0)
                {
                    return false;
                }
                total += n;
            }
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ZstdSharp.ZstdException or InvalidOperationException)
        {
            return false;
        }
    }

    [ThreadStatic]
    private static ZstdSharp.Compressor? _zstd;

    private static int CompressZstd(ReadOnlySpan<byte> input, Span<byte> output)
    {
        // Level 3 is zstd's default and what qemu uses (ZSTD_CLEVEL_DEFAULT).
        _zstd ??= new ZstdSharp.Compressor(3);
        return _zstd.TryWrap(input, output, out var written) ? written : -1;
    }

    /// <summary>
    /// Raw deflate with a chosen window through the zlib the .NET runtime ships (System.IO.Compression.Native,
    /// linked into Native AOT executables): DeflateStream does not let the window be set.
    /// </summary>
    private static unsafe class NativeDeflate
    {
        private const string Library = "libSystem.IO.Compression.Native";
        private const int ZDeflated = 8, ZFinish = 4, ZStreamEnd = 1, ZDefaultStrategy = 0, ZDefaultCompression = -1;

        [StructLayout(LayoutKind.Sequential)]
        private struct ZStream
        {
            public byte* NextIn;
            public byte* NextOut;
            public byte* Message;
            public void* InternalState;
            public uint AvailIn;
            public uint AvailOut;
        }

        [DllImport(Library, EntryPoint = "CompressionNative_DeflateInit2_")]
        private static extern int DeflateInit2(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy);

        [DllImport(Library, EntryPoint = "CompressionNative_Deflate")]
        private static extern int Deflate(ZStream* stream, int flush);

        [DllImport(Library, EntryPoint = "CompressionNative_DeflateEnd")]
        private static extern int DeflateEnd(ZStream* stream);

        public static int CompressRaw(ReadOnlySpan<byte> input, Span<byte> output, int windowBits)
        {
            ZStream stream = default;
            int status;
            try
            {
                status = DeflateInit2(&stream, ZDefaultCompression, ZDeflated, -windowBits, 9, ZDefaultStrategy);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"zlib-compressed clusters need the runtime's zlib ({Library}), which this platform lacks: {e.Message}; use --compress=zstd", e);
            }
            if (status != 0)
            {
                throw new InvalidOperationException($"deflateInit2 failed ({status})");
            }
            try
            {
                fixed (byte* inPtr = input)
                fixed (byte* outPtr = output)
                {
                    stream.NextIn = inPtr;
                    stream.AvailIn = (uint)input.Length;
                    stream.NextOut = outPtr;
                    stream.AvailOut = (uint)output.Length;
                    status = Deflate(&stream, ZFinish);
                    // Anything but the end of the stream means the output was too small: not worth compressing.
                    return status == ZStreamEnd ? output.Length - (int)stream.AvailOut : -1;
                }
            }
            finally
            {
                DeflateEnd(&stream);
            }
        }
    }
}
