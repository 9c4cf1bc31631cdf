using System.IO.Compression;
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
    /// position (concatenated members/frames, as <c>gzip -dc</c> and <c>zstd -dc</c> produce them, included).
    /// </summary>
    public static Stream OpenDecompressor(Stream compressed, CompressionFormat format) => format switch
    {
        CompressionFormat.Gzip => new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false),
        CompressionFormat.Zstd => new ZstdSharp.DecompressionStream(compressed, leaveOpen: false),
        CompressionFormat.Xz => new XZStream(compressed),
        CompressionFormat.Bzip2 => BZip2Stream.Create(compressed, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
        _ => compressed,
    };

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
