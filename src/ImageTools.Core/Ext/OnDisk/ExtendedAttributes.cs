using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// The attribute-name prefixes and their e_name_index (docs/ext-format.md §8.1). The stored name is
/// the full name with the prefix removed.
/// </summary>
public static class XattrNamespaces
{
    public const byte User = 1;
    public const byte PosixAclAccess = 2;
    public const byte PosixAclDefault = 3;
    public const byte Trusted = 4;
    public const byte Lustre = 5;
    public const byte Security = 6;
    public const byte System = 7;
    public const byte RichAcl = 8;
    public const byte Encryption = 9;
    public const byte Gnu = 10;

    // Whole names first (the ACLs store an empty suffix), then prefixes, as the kernel matches them.
    private static readonly (byte Index, string Prefix, bool WholeName)[] Table =
    {
        (PosixAclAccess, "system.posix_acl_access", true),
        (PosixAclDefault, "system.posix_acl_default", true),
        (RichAcl, "system.richacl", true),
        (User, "user.", false),
        (Trusted, "trusted.", false),
        (Security, "security.", false),
        (System, "system.", false),
        (Gnu, "gnu.", false),
    };

    /// <summary>Splits a full name ("user.comment") into (index, stored suffix).</summary>
    public static (byte Index, byte[] Suffix) Split(string fullName)
    {
        foreach (var (index, prefix, whole) in Table)
        {
            if (whole ? fullName == prefix : fullName.StartsWith(prefix, StringComparison.Ordinal) && fullName.Length > prefix.Length)
            {
                return (index, Encoding.UTF8.GetBytes(fullName[(whole ? fullName.Length : prefix.Length)..]));
            }
        }
        return (0, Encoding.UTF8.GetBytes(fullName));
    }

    /// <summary>Rebuilds the full name from (index, stored suffix); unknown indexes keep the bare suffix.</summary>
    public static string Join(byte index, ReadOnlySpan<byte> suffix)
    {
        var tail = Encoding.UTF8.GetString(suffix);
        foreach (var (i, prefix, _) in Table)
        {
            if (i == index)
            {
                return prefix + tail;
            }
        }
        return index == Lustre ? "lustre." + tail : index == Encryption ? "encryption." + tail : tail;
    }
}

/// <summary>
/// One xattr entry (struct ext4_xattr_entry): name_len u8, name_index u8, value_offs u16,
/// value_inum u32, value_size u32, hash u32, then the name, padded to 4 (docs/ext-format.md §8).
/// In the inode, value_offs counts from the first entry; in a block, from the block start.
/// </summary>
public readonly record struct XattrEntry(byte NameIndex, byte[] Name, ushort ValueOffset, uint ValueInode, uint ValueSize, uint Hash)
{
    public const int HeaderSize = 16;

    /// <summary>Space the entry takes: 16 + name, rounded up to 4.</summary>
    public int EntrySize => EntrySizeFor(Name.Length);

    public static int EntrySizeFor(int nameLength) => (HeaderSize + nameLength + 3) & ~3;

    /// <summary>A value's space: rounded up to 4 and zero padded.</summary>
    public static int PaddedValueSize(int valueLength) => (valueLength + 3) & ~3;

    /// <summary>Whether the 4 bytes at the cursor end the list (a zero word).</summary>
    public static bool IsEndOfList(ReadOnlySpan<byte> source) =>
        source.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(source) == 0;

    /// <summary>Reads an entry; null when it does not fit in <paramref name="source"/>.</summary>
    public static XattrEntry? TryRead(ReadOnlySpan<byte> source)
    {
        if (source.Length < HeaderSize)
        {
            return null;
        }
        int nameLength = source[0];
        if (EntrySizeFor(nameLength) > source.Length)
        {
            return null;
        }
        return new XattrEntry(
            source[1],
            source.Slice(HeaderSize, nameLength).ToArray(),
            BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[12..]));
    }

    public void Write(Span<byte> destination)
    {
        if (Name.Length > 255)
        {
            throw new InvalidOperationException($"an xattr name suffix is at most 255 bytes, got {Name.Length}");
        }
        var d = destination[..EntrySize];
        d.Clear();
        d[0] = (byte)Name.Length;
        d[1] = NameIndex;
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], ValueOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], ValueInode);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], ValueSize);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Hash);
        Name.CopyTo(d[HeaderSize..]);
    }

    /// <summary>
    /// The entry hash (ext4_xattr_hash_entry, docs/ext-format.md §8.4): name bytes as unsigned
    /// chars with h = rotl(h, 5) ^ c, then each little-endian u32 of the zero-padded value with
    /// h = rotl(h, 16) ^ word. A value held in an EA inode is not hashed here.
    /// </summary>
    public static uint ComputeHash(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, bool valueInInode = false) =>
        HashOf(name, valueInInode ? ReadOnlySpan<byte>.Empty : value, signedNameBytes: false);

    /// <summary>
    /// The signed-char variant older kernels and e2fsprogs computed for name bytes ≥ 0x80
    /// (ext4_xattr_hash_entry_signed); e2fsck accepts either, so a reader should too.
    /// </summary>
    public static uint ComputeHashSignedNames(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
        HashOf(name, value, signedNameBytes: true);

    private static uint HashOf(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, bool signedNameBytes)
    {
        uint hash = 0;
        foreach (var c in name)
        {
            var v = signedNameBytes ? (uint)(sbyte)c : c;
            hash = (hash << 5) ^ (hash >> 27) ^ v;
        }
        var words = PaddedValueSize(value.Length) / 4;
        Span<byte> word = stackalloc byte[4];
        for (var i = 0; i < words; i++)
        {
            word.Clear();
            value.Slice(i * 4, Math.Min(4, value.Length - i * 4)).CopyTo(word);
            hash = (hash << 16) ^ (hash >> 16) ^ BinaryPrimitives.ReadUInt32LittleEndian(word);
        }
        return hash;
    }
}

/// <summary>
/// Header of an external xattr block (struct ext4_xattr_header, 32 bytes): magic 0xEA020000,
/// refcount, blocks (must be 1), hash, checksum, 12 reserved bytes. Entries start at byte 32.
/// </summary>
public readonly record struct XattrBlockHeader(uint RefCount, uint Blocks, uint Hash, uint Checksum)
{
    public const int Size = 32;
    public const uint Magic = 0xEA020000;

    public static XattrBlockHeader? TryRead(ReadOnlySpan<byte> block)
    {
        if (block.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(block) != Magic)
        {
            return null;
        }
        return new XattrBlockHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(block[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(block[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(block[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(block[16..]));
    }

    public void Write(Span<byte> block)
    {
        var d = block[..Size];
        d.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(d, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], RefCount);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], Blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], Hash);
        BinaryPrimitives.WriteUInt32LittleEndian(d[16..], Checksum);
    }

    /// <summary>
    /// The block hash (ext4_xattr_rehash): h = rotl(h, 16) ^ e_hash over the entries in order;
    /// 0 as soon as one entry hash is 0.
    /// </summary>
    public static uint ComputeBlockHash(IEnumerable<uint> entryHashes)
    {
        uint hash = 0;
        foreach (var e in entryHashes)
        {
            if (e == 0)
            {
                return 0;
            }
            hash = (hash << 16) ^ (hash >> 16) ^ e;
        }
        return hash;
    }

    /// <summary>metadata_csum: crc32c(seed, block number as le64, block with h_checksum zeroed) (ext4_xattr_block_csum).</summary>
    public static uint ComputeChecksum(uint checksumSeed, ulong blockNumber, ReadOnlySpan<byte> block)
    {
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(number, blockNumber);
        var crc = Crc32c.Compute(checksumSeed, number);
        crc = Crc32c.Compute(crc, block[..16]);
        crc = Crc32c.Append(crc, 0);
        return Crc32c.Compute(crc, block[20..]);
    }
}
