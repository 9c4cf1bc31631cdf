using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>Directory hash algorithms (dx_root_info.hash_version, s_def_hash_version).</summary>
public enum DirectoryHashVersion : byte
{
    Legacy = 0,
    HalfMd4 = 1,
    Tea = 2,
    LegacyUnsigned = 3,
    HalfMd4Unsigned = 4,
    TeaUnsigned = 5,
    Siphash = 6,
}

/// <summary>
/// dx_root_info, at byte 24 of an indexed directory's first block, right after the '.' (12 bytes)
/// and '..' (rec_len = bs − 12) entries: reserved u32 0, hash_version, info_length 8,
/// indirect_levels, unused_flags (docs/ext-format.md §7.2).
/// </summary>
public readonly record struct DxRootInfo(DirectoryHashVersion HashVersion, byte IndirectLevels)
{
    public const int Offset = 24;
    public const int Size = 8;
    public const byte InfoLength = 8;

    public static DxRootInfo? TryRead(ReadOnlySpan<byte> block)
    {
        var s = block[Offset..];
        if (s[5] != InfoLength)
        {
            return null;
        }
        return new DxRootInfo((DirectoryHashVersion)s[4], s[6]);
    }

    public void Write(Span<byte> block)
    {
        var d = block.Slice(Offset, Size);
        d.Clear();
        d[4] = (byte)HashVersion;
        d[5] = InfoLength;
        d[6] = IndirectLevels;
    }
}

/// <summary>
/// The count/limit header that starts an index node's entry array (struct dx_countlimit): limit u16,
/// count u16, in the slot of the first dx_entry's hash; the first entry's block follows (its hash is
/// implicitly 0).
/// </summary>
public readonly record struct DxCountLimit(ushort Limit, ushort Count)
{
    public const int Size = 4;

    public static DxCountLimit Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt16LittleEndian(source), BinaryPrimitives.ReadUInt16LittleEndian(source[2..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Limit);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], Count);
    }
}

/// <summary>One index entry (struct dx_entry): hash u32, block u32 (logical block of the directory).</summary>
public readonly record struct DxEntry(uint Hash, uint Block)
{
    public const int Size = 8;

    public static DxEntry Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(source), BinaryPrimitives.ReadUInt32LittleEndian(source[4..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Hash);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], Block);
    }
}

/// <summary>
/// The checksum tail of an index node with metadata_csum (struct dx_tail): reserved u32, crc32c over
/// the node's header and its <c>count</c> entries, the tail's reserved word and a zero checksum (ext4_dx_csum).
/// </summary>
public static class DxNodeChecksum
{
    public const int TailSize = 8;

    /// <param name="node">The whole directory block.</param>
    /// <param name="countOffset">Offset of the dx_countlimit in the block (32 in the root, 8 in interior nodes).</param>
    public static uint Compute(uint checksumSeed, uint inodeNumber, uint generation, ReadOnlySpan<byte> node, int countOffset)
    {
        var cl = DxCountLimit.Read(node[countOffset..]);
        var size = countOffset + cl.Count * DxEntry.Size;
        var crc = Crc32c.Append(checksumSeed, inodeNumber);
        crc = Crc32c.Append(crc, generation);
        crc = Crc32c.Compute(crc, node[..size]);
        // The tail's reserved word, then its checksum field counted as zero (ext4_dx_csum).
        var tailOffset = countOffset + cl.Limit * DxEntry.Size;
        crc = Crc32c.Compute(crc, node.Slice(tailOffset, 4));
        return Crc32c.Append(crc, 0);
    }
}
