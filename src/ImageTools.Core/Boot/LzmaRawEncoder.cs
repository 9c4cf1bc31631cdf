using System.Buffers.Binary;
using SharpCompress.Compressors.LZMA;

namespace ImageTools.Core.Boot;

/// <summary>
/// A raw LZMA1 stream as GRUB's i386-pc decompressor (lzma_decompress.img) reads it: literal context
/// bits 3, literal position bits 0, position bits 2 (compiled into the decoder as FIXED_PROPS), no
/// 5-byte properties header, no 8-byte size, no end marker (the decoder stops after the uncompressed
/// size written into lzma_decompress.img). The encoder is SharpCompress's port of the LZMA SDK (MIT):
/// its <see cref="LzmaStream"/> in compression mode writes exactly such a raw stream and keeps the
/// properties apart (<see cref="LzmaStream.Properties"/>). Dictionary 64 KiB, as grub-mkimage uses.
/// </summary>
public static class LzmaRawEncoder
{
    /// <summary>The dictionary size grub-mkimage uses; irrelevant to GRUB's decoder, which matches in its output.</summary>
    public const int DictionarySize = 1 << 16;

    /// <summary>
    /// The properties byte of lc=3, lp=0, pb=2: (pb·5 + lp)·9 + lc = 0x5D. Used to check that the encoder
    /// really used them and to decode for verification.
    /// </summary>
    public const byte PropertiesByte = (2 * 5 + 0) * 9 + 3;

    /// <summary>
    /// Compresses <paramref name="data"/> and decodes the result again to prove it round-trips
    /// (a core image that decodes to garbage would only show as a machine that does not boot).
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<byte> data)
    {
        var output = new MemoryStream(data.Length / 2 + 64);
        byte[] properties;
        using (var encoder = LzmaStream.Create(new LzmaEncoderProperties(eos: false, dictionary: DictionarySize), false, output))
        {
            properties = encoder.Properties;
            encoder.Write(data.ToArray(), 0, data.Length);
        }
        if (properties.Length < 1 || properties[0] != PropertiesByte)
        {
            throw new InvalidOperationException($"the LZMA encoder used properties 0x{(properties.Length > 0 ? properties[0] : 0):X2}, GRUB's decoder needs 0x{PropertiesByte:X2} (lc=3 lp=0 pb=2)");
        }
        var stream = output.ToArray();
        var decoded = Decode(stream, properties, data.Length);
        if (!decoded.AsSpan().SequenceEqual(data))
        {
            throw new InvalidOperationException("the LZMA stream does not decode back to its input");
        }
        return stream;
    }

    /// <summary>
    /// Decodes a raw stream of <see cref="PropertiesByte"/> properties to exactly
    /// <paramref name="uncompressedSize"/> bytes, as GRUB's decoder does.
    /// </summary>
    public static byte[] Decode(ReadOnlySpan<byte> stream, int uncompressedSize)
    {
        // The 5-byte properties of the LZMA SDK: the lc/lp/pb byte, then the dictionary size (u32 LE).
        var properties = new byte[5];
        properties[0] = PropertiesByte;
        BinaryPrimitives.WriteUInt32LittleEndian(properties.AsSpan(1), DictionarySize);
        return Decode(stream, properties, uncompressedSize);
    }

    private static byte[] Decode(ReadOnlySpan<byte> stream, byte[] properties, int uncompressedSize)
    {
        var decoder = new Decoder();
        decoder.SetDecoderProperties(properties);
        var output = new MemoryStream(uncompressedSize);
        try
        {
            decoder.Code(new MemoryStream(stream.ToArray(), writable: false), output, stream.Length, uncompressedSize, null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"the LZMA stream ({stream.Length} bytes) does not decode to {uncompressedSize} bytes: {e.Message}", e);
        }
        if (output.Length != uncompressedSize)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"the LZMA stream ({stream.Length} bytes) decoded to {output.Length} bytes, expected {uncompressedSize}");
        }
        return output.ToArray();
    }
}
