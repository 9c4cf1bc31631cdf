using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>The file_type byte of a directory entry (with the filetype feature).</summary>
public enum DirectoryEntryType : byte
{
    Unknown = 0,
    RegularFile = 1,
    Directory = 2,
    CharacterDevice = 3,
    BlockDevice = 4,
    Fifo = 5,
    Socket = 6,
    SymbolicLink = 7,
}

/// <summary>
/// A directory entry (struct ext4_dir_entry_2): inode u32, rec_len u16, name_len u8, file_type u8,
/// then the name without a terminator (docs/ext-format.md §7.1). rec_len is a multiple of 4, at least
/// the entry's own length, and never crosses a block; the last entry of a block runs to its end.
/// </summary>
public readonly record struct DirectoryEntry(uint Inode, int RecordLength, DirectoryEntryType FileType, byte[] Name)
{
    /// <summary>The fixed part before the name.</summary>
    public const int HeaderSize = 8;

    /// <summary>Longest name: name_len is one byte.</summary>
    public const int MaxNameLength = 255;

    /// <summary>The length an entry with a name of <paramref name="nameLength"/> bytes needs: 8 + name, rounded up to 4.</summary>
    public static int MinimumLength(int nameLength) => (HeaderSize + nameLength + 3) & ~3;

    /// <summary>
    /// Reads the entry at <paramref name="offset"/> of a directory block. Returns null (instead of
    /// throwing) when the entry is malformed — a rec_len that is not a multiple of 4, shorter than
    /// the entry, or crossing the block end — so a reader can report where the directory is corrupt.
    /// </summary>
    public static DirectoryEntry? TryRead(ReadOnlySpan<byte> block, int offset, bool hasFileType)
    {
        if (offset < 0 || offset + HeaderSize > block.Length)
        {
            return null;
        }
        var s = block[offset..];
        var inode = BinaryPrimitives.ReadUInt32LittleEndian(s);
        var recordLength = DecodeRecordLength(BinaryPrimitives.ReadUInt16LittleEndian(s[4..]), block.Length);
        int nameLength = s[6];
        var type = hasFileType ? (DirectoryEntryType)s[7] : DirectoryEntryType.Unknown;
        if (!hasFileType)
        {
            // Without filetype the old layout has a 16-bit name_len; the high byte must be 0 for names ≤ 255.
            nameLength |= s[7] << 8;
        }
        if (recordLength < HeaderSize || recordLength % 4 != 0 || offset + recordLength > block.Length
            || nameLength > MaxNameLength || HeaderSize + nameLength > recordLength)
        {
            return null;
        }
        return new DirectoryEntry(inode, recordLength, type, s.Slice(HeaderSize, nameLength).ToArray());
    }

    /// <summary>Writes the entry at the start of <paramref name="destination"/> (RecordLength bytes are owned by it).</summary>
    public void Write(Span<byte> destination, int blockSize)
    {
        if (Name.Length > MaxNameLength)
        {
            throw new InvalidOperationException($"a directory entry name is at most {MaxNameLength} bytes, got {Name.Length}");
        }
        if (RecordLength < MinimumLength(Name.Length) || RecordLength % 4 != 0 || RecordLength > destination.Length)
        {
            throw new InvalidOperationException($"rec_len {RecordLength} cannot hold a {Name.Length}-byte name in {destination.Length} bytes");
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Inode);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], EncodeRecordLength(RecordLength, blockSize));
        destination[6] = (byte)Name.Length;
        destination[7] = (byte)FileType;
        Name.CopyTo(destination[HeaderSize..]);
        destination[(HeaderSize + Name.Length)..RecordLength].Clear();
    }

    /// <summary>The entry's own length (8 + name, rounded to 4); the rest of rec_len is slack.</summary>
    public int UsedLength => MinimumLength(Name.Length);

    /// <summary>
    /// rec_len for blocks of 64 KiB and more does not fit 16 bits: the value 65535 or 0 means the
    /// whole 64 KiB block, and the low 2 bits carry bits 16-17 (ext4_rec_len_from_disk).
    /// </summary>
    public static int DecodeRecordLength(ushort stored, int blockSize)
    {
        if (blockSize < 65536)
        {
            return stored;
        }
        if (stored == 65535 || stored == 0)
        {
            return blockSize;
        }
        return (stored & 65532) | ((stored & 3) << 16);
    }

    public static ushort EncodeRecordLength(int length, int blockSize)
    {
        if (blockSize < 65536)
        {
            return (ushort)length;
        }
        if (length == blockSize)
        {
            return blockSize == 65536 ? (ushort)65535 : (ushort)0;
        }
        return (ushort)((length & 65532) | ((length >> 16) & 3));
    }

    /// <summary>The file_type byte for an inode type.</summary>
    public static DirectoryEntryType TypeOf(InodeType type) => type switch
    {
        InodeType.RegularFile => DirectoryEntryType.RegularFile,
        InodeType.Directory => DirectoryEntryType.Directory,
        InodeType.CharacterDevice => DirectoryEntryType.CharacterDevice,
        InodeType.BlockDevice => DirectoryEntryType.BlockDevice,
        InodeType.Fifo => DirectoryEntryType.Fifo,
        InodeType.Socket => DirectoryEntryType.Socket,
        InodeType.SymbolicLink => DirectoryEntryType.SymbolicLink,
        _ => DirectoryEntryType.Unknown,
    };
}

/// <summary>
/// The 12-byte tail of a directory leaf block with metadata_csum (struct ext4_dir_entry_tail):
/// a fake entry with inode 0, rec_len 12, name_len 0, file_type 0xDE, then the block's crc32c.
/// </summary>
public readonly record struct DirectoryBlockTail(uint Checksum)
{
    public const int Size = 12;
    public const byte ReservedFileType = 0xDE;

    /// <summary>Whether the last 12 bytes of the block are such a tail.</summary>
    public static bool IsPresent(ReadOnlySpan<byte> block)
    {
        var t = block[^Size..];
        return BinaryPrimitives.ReadUInt32LittleEndian(t) == 0 && BinaryPrimitives.ReadUInt16LittleEndian(t[4..]) == Size
            && t[6] == 0 && t[7] == ReservedFileType;
    }

    public static DirectoryBlockTail Read(ReadOnlySpan<byte> block) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(block[^4..]));

    public void Write(Span<byte> block)
    {
        var t = block[^Size..];
        t.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(t[4..], Size);
        t[7] = ReservedFileType;
        BinaryPrimitives.WriteUInt32LittleEndian(t[8..], Checksum);
    }

    /// <summary>crc32c(seed, inode number, generation, block up to the tail) (ext4_dirblock_csum).</summary>
    public static uint Compute(uint checksumSeed, uint inodeNumber, uint generation, ReadOnlySpan<byte> block)
    {
        var crc = Crc32c.Append(checksumSeed, inodeNumber);
        crc = Crc32c.Append(crc, generation);
        return Crc32c.Compute(crc, block[..^Size]);
    }
}
