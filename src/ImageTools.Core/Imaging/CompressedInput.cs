using ImageTools.Core.Streams;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Expands a compressed image (recognised by <see cref="Compression.Detect"/>) into a temporary sparse file, so
/// that an image inside a .gz/.zst/.xz/.bz2 can be inspected or read with bounded memory (the readers
/// need to seek). Zero runs are skipped rather than written, so a mostly empty disk image costs little
/// disk space.
/// </summary>
public static class CompressedInput
{
    /// <summary>
    /// Decompresses <paramref name="path"/> into a new temporary sparse file and returns it open for
    /// reading; the file is deleted when the stream is disposed. Fails with an error naming the input
    /// when the compressed data is damaged or the temporary folder is full.
    /// </summary>
    public static FileStream ExpandToTemporaryFile(string path, CompressionFormat format, CancellationToken cancellationToken = default)
    {
        var temporary = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fsmaker-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            using var input = Compression.OpenDecompressor(File.OpenRead(path), format);
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
            throw new ImageToolsException(kind, $"{path}: decompressing it ({Compression.NameOf(format)}) failed: {e.Message}", e) { Path = path };
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}
