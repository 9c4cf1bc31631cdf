using System.IO.Compression;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Recognises compressed images by their magic bytes and expands them into a temporary sparse file, so
/// that an image inside a .gz/.zst/.xz/.bz2 can be inspected or read with bounded memory (the readers
/// need to seek). Zero runs are skipped rather than written, so a mostly empty disk image costs little
/// disk space. (Interim: the sparsecopy work's Streams/Compression does the sniffing once it is on main.)
/// </summary>
public static class CompressedInput
{
    /// <summary>"gzip", "zstd", "xz", "bzip2", or null when the bytes are not compressed.</summary>
    public static string? Detect(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 3 && head[0] == 0x1F && head[1] == 0x8B && head[2] == 0x08)
        {
            return "gzip";
        }
        if (head.Length >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD)
        {
            return "zstd";
        }
        if (head.Length >= 6 && head[..6].SequenceEqual(new byte[] { 0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00 }))
        {
            return "xz";
        }
        if (head.Length >= 4 && head[0] == (byte)'B' && head[1] == (byte)'Z' && head[2] == (byte)'h' && head[3] is >= (byte)'1' and <= (byte)'9')
        {
            return "bzip2";
        }
        return null;
    }

    /// <summary>A stream of the decompressed bytes (concatenated members included).</summary>
    public static Stream OpenDecompressor(Stream compressed, string format) => format switch
    {
        "gzip" => new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false),
        "zstd" => new ZstdSharp.DecompressionStream(compressed, leaveOpen: false),
        "xz" => new XZStream(compressed),
        "bzip2" => BZip2Stream.Create(compressed, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a compression format"),
    };

    /// <summary>
    /// Decompresses <paramref name="path"/> into a new temporary sparse file and returns it open for
    /// reading; the file is deleted when the stream is disposed. Fails with an error naming the input
    /// when the compressed data is damaged or the temporary folder is full.
    /// </summary>
    public static FileStream ExpandToTemporaryFile(string path, string format, CancellationToken cancellationToken = default)
    {
        var temporary = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fsmaker-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            using var input = OpenDecompressor(File.OpenRead(path), format);
            var buffer = new byte[1 << 20];
            long length = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = input.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                if (n == 0)
                {
                    break;
                }
                // Skip all-zero 4 KiB pieces: the file gets holes there instead of written zeros.
                for (var at = 0; at < n; at += 4096)
                {
                    var piece = buffer.AsSpan(at, Math.Min(4096, n - at));
                    if (piece.IndexOfAnyExcept((byte)0) < 0)
                    {
                        output.Seek(piece.Length, SeekOrigin.Current);
                    }
                    else
                    {
                        output.Write(piece);
                    }
                }
                length += n;
            }
            output.SetLength(length);
            output.Position = 0;
            return output;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or SharpCompress.Common.SharpCompressException or ZstdSharp.ZstdException or InvalidOperationException)
        {
            output.Dispose();
            var kind = e is IOException { HResult: 28 or 0x70 } ? ErrorKind.WriteFailed : ErrorKind.CorruptImage;
            throw new ImageToolsException(kind, $"{path}: decompressing it ({format}) failed: {e.Message}", e) { Path = path };
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}
