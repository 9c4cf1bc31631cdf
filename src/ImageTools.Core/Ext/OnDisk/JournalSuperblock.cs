using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// The jbd2 journal superblock (journal_superblock_t) in block 0 of the journal. Unlike everything
/// else in ext, jbd2 is <b>big-endian</b> (docs/ext-format.md §9.3).
/// </summary>
public sealed class JournalSuperblock
{
    /// <summary>Bytes of the structure (the users array ends at 0x400).</summary>
    public const int Size = 1024;

    /// <summary>JBD2_MAGIC_NUMBER, the first word of every journal block that has a header.</summary>
    public const uint Magic = 0xC03B3998;

    /// <summary>h_blocktype of a v1 superblock.</summary>
    public const uint BlockTypeSuperblockV1 = 3;

    /// <summary>h_blocktype of a v2 superblock (what mke2fs writes).</summary>
    public const uint BlockTypeSuperblockV2 = 4;

    /// <summary>Fewest blocks a journal may have (JBD2_MIN_JOURNAL_BLOCKS).</summary>
    public const int MinimumBlocks = 1024;

    private const int OffMagic = 0x00;
    private const int OffBlockType = 0x04;
    private const int OffHeaderSequence = 0x08;
    private const int OffBlockSize = 0x0C;
    private const int OffMaxLength = 0x10;
    private const int OffFirst = 0x14;
    private const int OffSequence = 0x18;
    private const int OffStart = 0x1C;
    private const int OffErrno = 0x20;
    private const int OffFeatureCompat = 0x24;
    private const int OffFeatureIncompat = 0x28;
    private const int OffFeatureRoCompat = 0x2C;
    private const int OffUuid = 0x30;
    private const int OffUserCount = 0x40;
    private const int OffDynamicSuper = 0x44;
    private const int OffMaxTransaction = 0x48;
    private const int OffMaxTransactionData = 0x4C;
    private const int OffChecksumType = 0x50;
    private const int OffFastCommitBlocks = 0x54;
    private const int OffHead = 0x58;
    private const int OffPadding = 0x5C;
    private const int OffChecksum = 0xFC;
    private const int OffUsers = 0x100;

    public uint MagicValue { get; set; } = Magic;
    public uint BlockType { get; set; } = BlockTypeSuperblockV2;
    public uint HeaderSequence { get; set; }
    public uint BlockSize { get; set; }
    public uint MaxLength { get; set; }
    public uint First { get; set; } = 1;
    public uint Sequence { get; set; } = 1;

    /// <summary>s_start: 0 means the journal is empty (clean); otherwise the first block to replay.</summary>
    public uint Start { get; set; }

    public int Errno { get; set; }
    public uint FeatureCompat { get; set; }
    public uint FeatureIncompat { get; set; }
    public uint FeatureRoCompat { get; set; }
    public byte[] Uuid { get; set; } = new byte[16];
    public uint UserCount { get; set; } = 1;
    public uint DynamicSuper { get; set; }
    public uint MaxTransaction { get; set; }
    public uint MaxTransactionData { get; set; }
    public byte ChecksumType { get; set; }
    public uint FastCommitBlocks { get; set; }
    public uint Head { get; set; }

    /// <summary>s_padding (0x5C..0xFB), kept verbatim.</summary>
    public byte[] Padding { get; set; } = new byte[OffChecksum - OffPadding];

    public uint Checksum { get; set; }

    /// <summary>s_users: 16-byte UUIDs of filesystems sharing an external journal (zero for internal ones).</summary>
    public byte[] Users { get; set; } = new byte[Size - OffUsers];

    /// <summary>JBD2_FEATURE_INCOMPAT_CSUM_V3: crc32c over the superblock and every journal block.</summary>
    public const uint IncompatChecksumV3 = 0x10;

    /// <summary>s_checksum_type for crc32c (JBD2_CRC32C_CHKSUM).</summary>
    public const byte ChecksumTypeCrc32c = 4;

    /// <summary>The v2/v3 superblock checksum: crc32c(~0, the 1024 bytes with s_checksum zeroed) (jbd2_superblock_csum).</summary>
    public uint ComputeChecksum()
    {
        Span<byte> bytes = stackalloc byte[Size];
        Write(bytes);
        bytes.Slice(OffChecksum, 4).Clear();
        return Crc32c.Compute(Crc32c.InitialSeed, bytes);
    }

    public bool IsSuperblock => MagicValue == Magic && (BlockType == BlockTypeSuperblockV1 || BlockType == BlockTypeSuperblockV2);

    public static JournalSuperblock Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a journal superblock needs {Size} bytes, got {source.Length}", nameof(source));
        }
        return new JournalSuperblock
        {
            MagicValue = U32(source, OffMagic),
            BlockType = U32(source, OffBlockType),
            HeaderSequence = U32(source, OffHeaderSequence),
            BlockSize = U32(source, OffBlockSize),
            MaxLength = U32(source, OffMaxLength),
            First = U32(source, OffFirst),
            Sequence = U32(source, OffSequence),
            Start = U32(source, OffStart),
            Errno = BinaryPrimitives.ReadInt32BigEndian(source[OffErrno..]),
            FeatureCompat = U32(source, OffFeatureCompat),
            FeatureIncompat = U32(source, OffFeatureIncompat),
            FeatureRoCompat = U32(source, OffFeatureRoCompat),
            Uuid = source.Slice(OffUuid, 16).ToArray(),
            UserCount = U32(source, OffUserCount),
            DynamicSuper = U32(source, OffDynamicSuper),
            MaxTransaction = U32(source, OffMaxTransaction),
            MaxTransactionData = U32(source, OffMaxTransactionData),
            ChecksumType = source[OffChecksumType],
            FastCommitBlocks = U32(source, OffFastCommitBlocks),
            Head = U32(source, OffHead),
            Padding = source[OffPadding..OffChecksum].ToArray(),
            Checksum = U32(source, OffChecksum),
            Users = source[OffUsers..Size].ToArray(),
        };
    }

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a journal superblock needs {Size} bytes, got {destination.Length}", nameof(destination));
        }
        var d = destination[..Size];
        d.Clear();
        PutU32(d, OffMagic, MagicValue);
        PutU32(d, OffBlockType, BlockType);
        PutU32(d, OffHeaderSequence, HeaderSequence);
        PutU32(d, OffBlockSize, BlockSize);
        PutU32(d, OffMaxLength, MaxLength);
        PutU32(d, OffFirst, First);
        PutU32(d, OffSequence, Sequence);
        PutU32(d, OffStart, Start);
        BinaryPrimitives.WriteInt32BigEndian(d[OffErrno..], Errno);
        PutU32(d, OffFeatureCompat, FeatureCompat);
        PutU32(d, OffFeatureIncompat, FeatureIncompat);
        PutU32(d, OffFeatureRoCompat, FeatureRoCompat);
        Fixed(Uuid, 16, nameof(Uuid)).CopyTo(d[OffUuid..]);
        PutU32(d, OffUserCount, UserCount);
        PutU32(d, OffDynamicSuper, DynamicSuper);
        PutU32(d, OffMaxTransaction, MaxTransaction);
        PutU32(d, OffMaxTransactionData, MaxTransactionData);
        d[OffChecksumType] = ChecksumType;
        PutU32(d, OffFastCommitBlocks, FastCommitBlocks);
        PutU32(d, OffHead, Head);
        Fixed(Padding, OffChecksum - OffPadding, nameof(Padding)).CopyTo(d[OffPadding..]);
        PutU32(d, OffChecksum, Checksum);
        Fixed(Users, Size - OffUsers, nameof(Users)).CopyTo(d[OffUsers..]);
    }

    private static byte[] Fixed(byte[] value, int length, string name) =>
        value.Length == length ? value : throw new InvalidOperationException($"journal superblock field {name} must be {length} bytes, is {value.Length}");

    private static uint U32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32BigEndian(s[offset..]);

    private static void PutU32(Span<byte> d, int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(d[offset..], value);
}
