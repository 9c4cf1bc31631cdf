using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;

namespace ImageTools.Core.Streams;

/// <summary>Compressed formats recognised on input by their magic bytes.</summary>
public enum CompressionFormat
{
    None,
    /// <summary>RFC 1952: 1F 8B, then CM = 8 (deflate).</summary>
    Gzip,
    /// <summary>Zstandard frame (RFC 8878 §3.1.1): magic 0xFD2FB528, little-endian.</summary>
    Zstd,
    /// <summary>.xz stream header (xz file format §2.1.1.1): FD 37 7A 58 5A 00.</summary>
    Xz,
    /// <summary>bzip2: "BZh" and a block size digit 1..9.</summary>
    Bzip2,
}

/// <summary>
/// Recognises compressed input by its first bytes and opens a decompressing stream over it. A cheap probe:
/// it never throws on arbitrary bytes, so a raw disk image is simply <see cref="CompressionFormat.None"/>.
/// </summary>
public static class Compression
{
    /// <summary>How many leading bytes <see cref="Detect"/> looks at.</summary>
    public const int MagicLength = 6;

    private static ReadOnlySpan<byte> GzipMagic => [0x1F, 0x8B, 0x08];
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xB5, 0x2F, 0xFD];
    private static ReadOnlySpan<byte> XzMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
    private static ReadOnlySpan<byte> Bzip2Magic => [0x42, 0x5A, 0x68]; // "BZh"

    /// <summary>The format whose magic <paramref name="header"/> starts with (it may be shorter than <see cref="MagicLength"/>).</summary>
    public static CompressionFormat Detect(ReadOnlySpan<byte> header)
    {
        if (header.StartsWith(GzipMagic))
        {
            return CompressionFormat.Gzip;
        }
        if (header.StartsWith(ZstdMagic))
        {
            return CompressionFormat.Zstd;
        }
        if (header.StartsWith(XzMagic))
        {
            return CompressionFormat.Xz;
        }
        // The block-size digit after "BZh" rules out text that merely starts with "BZh".
        if (header.Length >= 4 && header.StartsWith(Bzip2Magic) && header[3] is >= (byte)'1' and <= (byte)'9')
        {
            return CompressionFormat.Bzip2;
        }
        return CompressionFormat.None;
    }

    /// <summary>The lower-case name used in messages and JSON ("gzip", "zstd", "xz", "bzip2", "none").</summary>
    public static string NameOf(CompressionFormat format) => format switch
    {
        CompressionFormat.Gzip => "gzip",
        CompressionFormat.Zstd => "zstd",
        CompressionFormat.Xz => "xz",
        CompressionFormat.Bzip2 => "bzip2",
        _ => "none",
    };

    /// <summary>
    /// A stream of the decompressed bytes of <paramref name="compressed"/>, which is read from its current
    /// position (concatenated members/frames/streams, as <c>gzip -dc</c>, <c>zstd -dc</c> and <c>xz -dc</c> read
    /// them, included). Input that ends early (a cut download), fails its checks or has anything appended is an
    /// <see cref="InvalidDataException"/>, whatever the decompressor; a failure to read
    /// <paramref name="compressed"/> itself stays an <see cref="IOException"/>.
    /// </summary>
    public static Stream OpenDecompressor(Stream compressed, CompressionFormat format)
    {
        if (format == CompressionFormat.None)
        {
            return compressed;
        }
        var raw = new ReadErrorMarkingStream(compressed);
        Stream decompressor;
        try
        {
            decompressor = CreateDecompressor(raw, format);
        }
        catch (Exception e) when (e is not IOException and not OperationCanceledException and not OutOfMemoryException and not InvalidDataException)
        {
            // Some decoders read and check their first block when created (bzip2's Huffman tables).
            throw new InvalidDataException($"{NameOf(format)} data is damaged: {e.Message}", e);
        }
        return new CheckedDecompressionStream(decompressor, NameOf(format));
    }

    private static Stream CreateDecompressor(Stream raw, CompressionFormat format)
    {
        return format switch
        {
            CompressionFormat.Gzip => new GzipDecompressionStream(raw),
            CompressionFormat.Zstd => new ZstdSharp.DecompressionStream(raw, leaveOpen: false),
            CompressionFormat.Xz => new XzSequenceStream(raw),
            CompressionFormat.Bzip2 => BZip2Stream.Create(raw, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
    }

    /// <summary>
    /// Reads the magic from a stream that may not seek (a pipe), puts those bytes back in front, and returns the
    /// decompressed stream (or the stream itself when it is not compressed). Disposing the result disposes
    /// <paramref name="input"/>.
    /// </summary>
    public static Stream OpenSniffed(Stream input, out CompressionFormat format)
    {
        var header = new byte[MagicLength];
        var n = input.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        format = Detect(header.AsSpan(0, n));
        return OpenDecompressor(new PrefixedStream(header.AsSpan(0, n), input), format);
    }
}

/// <summary>An <see cref="IOException"/> from reading the compressed input itself (not from decoding it).</summary>
public sealed class CompressedInputReadException(IOException inner) : IOException(inner.Message, inner);

/// <summary>Marks read failures of the compressed input, so that they are told apart from decoding failures.</summary>
internal sealed class ReadErrorMarkingStream(Stream inner) : ForwardReadStream
{
    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (IOException e) when (e is not CompressedInputReadException)
        {
            throw new CompressedInputReadException(e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// One failure type for every decompressor: whatever a decoder throws on bad or short input (zstd's
/// "Premature end of stream" IOException, SharpCompress's own exceptions, overflow checks) becomes an
/// <see cref="InvalidDataException"/> naming the format; a read failure of the input passes through as the
/// <see cref="IOException"/> it was.
/// </summary>
internal sealed class CheckedDecompressionStream(Stream decompressor, string format) : ForwardReadStream
{
    public override int Read(Span<byte> buffer)
    {
        try
        {
            return decompressor.Read(buffer);
        }
        catch (CompressedInputReadException e)
        {
            throw (IOException)e.InnerException!;
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            var inner = e is IOException { InnerException: CompressedInputReadException read } ? read : null;
            if (inner != null)
            {
                throw (IOException)inner.InnerException!;
            }
            throw new InvalidDataException($"{format} data is damaged or cut short: {e.Message}", e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            decompressor.Dispose();
        }
        base.Dispose(disposing);
    }
}
