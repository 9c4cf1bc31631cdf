using System.Buffers.Binary;

namespace ImageTools.Core.Boot;

/// <summary>
/// The header fields of lzma_decompress.img (GRUB 2.06 grub-core/boot/i386/pc/startup_raw.S), the
/// second piece of core.img, loaded at 0x8200. grub-mkimage writes the two sizes; grub-bios-setup
/// writes the Reed-Solomon length; the no-RS length is fixed when GRUB is built and only read.
/// Offsets are relative to the start of lzma_decompress.img.
/// </summary>
public readonly record struct LzmaDecompressorHeader(
    uint CompressedSize,
    uint UncompressedSize,
    uint ReedSolomonLength,
    ushort NoReedSolomonLength)
{
    /// <summary>u32: length of the LZMA stream that follows the image (GRUB_DECOMPRESSOR_I386_PC_COMPRESSED_SIZE).</summary>
    public const int CompressedSizeOffset = 0x08;

    /// <summary>u32: length of the payload it decodes to (kernel memory image + module area).</summary>
    public const int UncompressedSizeOffset = 0x0C;

    /// <summary>u32: Reed-Solomon redundancy bytes after core.img; 0 = none (what grub-mkimage and --no-rs-codes write).</summary>
    public const int ReedSolomonLengthOffset = 0x10;

    /// <summary>u16: where, inside this image, the Reed-Solomon protected part starts. 0xFFFF marks a version mismatch.</summary>
    public const int NoReedSolomonLengthOffset = 0x14;

    /// <summary>The fields end here; an image shorter than this cannot be lzma_decompress.img.</summary>
    public const int MinimumImageSize = NoReedSolomonLengthOffset + 2;

    /// <summary>The value of the no-RS length field that GRUB's build uses to flag a bad image.</summary>
    public const ushort NoReedSolomonLengthInvalid = 0xFFFF;

    /// <summary>Reads the fields from a whole lzma_decompress.img (its length is needed to check the no-RS length).</summary>
    public static LzmaDecompressorHeader Read(ReadOnlySpan<byte> image)
    {
        if (image.Length < MinimumImageSize)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"lzma_decompress.img is {image.Length} bytes, too short to hold its header ({MinimumImageSize} bytes)");
        }
        var header = new LzmaDecompressorHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(image[CompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(image[UncompressedSizeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(image[ReedSolomonLengthOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(image[NoReedSolomonLengthOffset..]));
        header.Validate(image.Length);
        return header;
    }

    /// <summary>Writes the fields into a whole lzma_decompress.img, leaving every other byte as it is.</summary>
    public void Write(Span<byte> image)
    {
        if (image.Length < MinimumImageSize)
        {
            throw new ArgumentException($"lzma_decompress.img needs at least {MinimumImageSize} bytes, the buffer has {image.Length}", nameof(image));
        }
        Validate(image.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(image[CompressedSizeOffset..], CompressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(image[UncompressedSizeOffset..], UncompressedSize);
        BinaryPrimitives.WriteUInt32LittleEndian(image[ReedSolomonLengthOffset..], ReedSolomonLength);
        BinaryPrimitives.WriteUInt16LittleEndian(image[NoReedSolomonLengthOffset..], NoReedSolomonLength);
    }

    /// <summary>
    /// The no-RS length must point inside the image, past the header (the RS decoder protects what
    /// follows it), and not be GRUB's "invalid" marker; what follows the image must fit a core image.
    /// </summary>
    private void Validate(int imageLength)
    {
        if (NoReedSolomonLength == NoReedSolomonLengthInvalid)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"lzma_decompress.img: the no-RS length at offset 0x{NoReedSolomonLengthOffset:X2} is 0xFFFF, GRUB's marker of a broken build");
        }
        if (NoReedSolomonLength < MinimumImageSize || NoReedSolomonLength > imageLength)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"lzma_decompress.img: the no-RS length at offset 0x{NoReedSolomonLengthOffset:X2} is 0x{NoReedSolomonLength:X}, outside the {imageLength}-byte image");
        }
        if (CompressedSize > I386PcLayout.MaximumCoreBytesAfterDiskBoot || ReedSolomonLength > I386PcLayout.MaximumCoreBytesAfterDiskBoot)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"lzma_decompress.img: compressed size {CompressedSize} or Reed-Solomon length {ReedSolomonLength} is more than an i386-pc core image can hold ({I386PcLayout.MaximumCoreBytesAfterDiskBoot} bytes)");
        }
    }
}
