using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// Header of an extent tree node (struct ext4_extent_header), at the start of i_block or of a tree
/// block: magic 0xF30A, entries, max, depth, generation (docs/ext-format.md §13 "Extents").
/// </summary>
public readonly record struct ExtentHeader(ushort Entries, ushort Max, ushort Depth, uint Generation)
{
    public const int Size = 12;
    public const ushort Magic = 0xF30A;

    /// <summary>Deepest tree the kernel builds (EXT4_MAX_EXTENT_DEPTH).</summary>
    public const int MaxDepth = 5;

    /// <summary>Reads a header; null when the magic is wrong.</summary>
    public static ExtentHeader? TryRead(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size || BinaryPrimitives.ReadUInt16LittleEndian(source) != Magic)
        {
            return null;
        }
        return new ExtentHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[8..]));
    }

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], Entries);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Max);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], Depth);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Generation);
    }

    /// <summary>Entries that fit a node of <paramref name="nodeBytes"/> (60 in the inode, a block less the header (and tail) elsewhere).</summary>
    public static int Capacity(int nodeBytes) => (nodeBytes - Size) / ExtentLeaf.Size;
}

/// <summary>
/// A leaf record (struct ext4_extent): first logical block u32, length u16, start high u16, start low u32.
/// A length over 32768 marks an unwritten (preallocated) extent of length − 32768, which reads as zeros.
/// </summary>
public readonly record struct ExtentLeaf(uint LogicalBlock, ushort RawLength, ulong PhysicalBlock)
{
    public const int Size = 12;

    /// <summary>Longest initialised extent (EXT_INIT_MAX_LEN).</summary>
    public const int MaxInitializedLength = 32768;

    public bool IsUnwritten => RawLength > MaxInitializedLength;

    public int Length => IsUnwritten ? RawLength - MaxInitializedLength : RawLength;

    public static ExtentLeaf Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(source),
        BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(source[8..]) | ((ulong)BinaryPrimitives.ReadUInt16LittleEndian(source[6..]) << 32));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, LogicalBlock);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], RawLength);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)(PhysicalBlock >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)PhysicalBlock);
    }
}

/// <summary>An index record (struct ext4_extent_idx): first logical block, child node block (lo u32, hi u16), unused u16.</summary>
public readonly record struct ExtentIndex(uint LogicalBlock, ulong ChildBlock)
{
    public const int Size = 12;

    public static ExtentIndex Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(source),
        BinaryPrimitives.ReadUInt32LittleEndian(source[4..]) | ((ulong)BinaryPrimitives.ReadUInt16LittleEndian(source[8..]) << 32));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, LogicalBlock);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], (uint)ChildBlock);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], (ushort)(ChildBlock >> 32));
        BinaryPrimitives.WriteUInt16LittleEndian(destination[10..], 0);
    }
}

/// <summary>
/// The checksum after the last possible entry of an extent tree block with metadata_csum
/// (struct ext4_extent_tail): crc32c(seed, inode number, generation, node bytes up to the tail).
/// </summary>
public static class ExtentBlockChecksum
{
    /// <summary>Offset of the tail in a block: right after <c>max</c> entries.</summary>
    public static int TailOffset(ExtentHeader header) => ExtentHeader.Size + header.Max * ExtentLeaf.Size;

    public static uint Compute(uint checksumSeed, uint inodeNumber, uint generation, ReadOnlySpan<byte> block, ExtentHeader header)
    {
        var crc = Crc32c.Append(checksumSeed, inodeNumber);
        crc = Crc32c.Append(crc, generation);
        return Crc32c.Compute(crc, block[..TailOffset(header)]);
    }
}
