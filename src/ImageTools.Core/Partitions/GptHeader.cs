using System.Buffers.Binary;
using System.IO.Hashing;

namespace ImageTools.Core.Partitions;

/// <summary>
/// The GPT header (UEFI specification 2.10, section 5.3.2), at LBA 1 (primary) and in the last sector (backup):
/// <code>
/// 0x00  signature            "EFI PART"
/// 0x08  revision             u32, 0x00010000 for 1.0
/// 0x0C  header size          u32, 92 (the CRC covers this many bytes)
/// 0x10  header CRC32         u32, computed with this field zero
/// 0x14  reserved             u32, zero
/// 0x18  my LBA               u64, where this header is
/// 0x20  alternate LBA        u64, where the other header is
/// 0x28  first usable LBA     u64
/// 0x30  last usable LBA      u64
/// 0x38  disk GUID            16 bytes, mixed-endian as .NET's Guid byte layout
/// 0x48  entry array LBA      u64
/// 0x50  entry count          u32
/// 0x54  entry size           u32, 128 × 2^n
/// 0x58  entry array CRC32    u32
/// </code>
/// Both CRCs are the IEEE CRC-32 of zlib, which <see cref="Crc32"/> computes.
/// </summary>
public sealed record GptHeader
{
    public const int SignatureOffset = 0;
    public const int RevisionOffset = SignatureOffset + 8;
    public const int HeaderSizeOffset = RevisionOffset + 4;
    public const int HeaderCrcOffset = HeaderSizeOffset + 4;
    public const int ReservedOffset = HeaderCrcOffset + 4;
    public const int MyLbaOffset = ReservedOffset + 4;
    public const int AlternateLbaOffset = MyLbaOffset + 8;
    public const int FirstUsableLbaOffset = AlternateLbaOffset + 8;
    public const int LastUsableLbaOffset = FirstUsableLbaOffset + 8;
    public const int DiskGuidOffset = LastUsableLbaOffset + 8;
    public const int EntryArrayLbaOffset = DiskGuidOffset + 16;
    public const int EntryCountOffset = EntryArrayLbaOffset + 8;
    public const int EntrySizeOffset = EntryCountOffset + 4;
    public const int EntryArrayCrcOffset = EntrySizeOffset + 4;

    /// <summary>The size of the fields above, and the header size revision 1.0 writes.</summary>
    public const int Size = EntryArrayCrcOffset + 4;

    public const uint Revision1 = 0x00010000;

    /// <summary>The spec allows 128 × 2^n bytes; Linux refuses entry arrays beyond this many entries.</summary>
    public const int MaxEntryCount = 16384;

    /// <summary>The largest entry size read (UEFI: 128 × 2^n; everything in use writes 128).</summary>
    public const uint MaxEntrySize = 4096;

    /// <summary>The largest entry array read (16,384 entries of 128 bytes is 2 MiB).</summary>
    public const long MaxEntryArrayBytes = 4 << 20;

    public static ReadOnlySpan<byte> Signature => "EFI PART"u8;

    public uint Revision { get; init; } = Revision1;

    public uint HeaderSize { get; init; } = Size;

    public ulong MyLba { get; init; }

    public ulong AlternateLba { get; init; }

    public ulong FirstUsableLba { get; init; }

    public ulong LastUsableLba { get; init; }

    public Guid DiskGuid { get; init; }

    public ulong EntryArrayLba { get; init; }

    public uint EntryCount { get; init; }

    public uint EntrySize { get; init; } = GptPartitionEntry.Size;

    public uint EntryArrayCrc32 { get; init; }

    /// <summary>True when <paramref name="sector"/> starts with "EFI PART": a cheap probe.</summary>
    public static bool HasSignature(ReadOnlySpan<byte> sector) => sector.Length >= Size && sector[..8].SequenceEqual(Signature);

    /// <summary>
    /// Reads and checks a header: signature, header size, reserved field and CRC. Throws
    /// <see cref="ErrorKind.InvalidPartitionTable"/> naming <paramref name="what"/> and the field at fault.
    /// </summary>
    public static GptHeader Read(ReadOnlySpan<byte> sector, string what)
    {
        if (!HasSignature(sector))
        {
            throw Invalid($"{what}: no \"EFI PART\" signature");
        }
        var headerSize = BinaryPrimitives.ReadUInt32LittleEndian(sector[HeaderSizeOffset..]);
        if (headerSize < Size || headerSize > sector.Length)
        {
            throw Invalid($"{what}: header size {headerSize} is outside {Size}..{sector.Length}");
        }
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(sector[HeaderCrcOffset..]);
        var computed = HeaderCrc(sector[..(int)headerSize]);
        if (stored != computed)
        {
            throw Invalid($"{what}: header CRC32 is 0x{stored:x8}, the header's bytes give 0x{computed:x8} (corrupt header)");
        }
        var header = new GptHeader
        {
            Revision = BinaryPrimitives.ReadUInt32LittleEndian(sector[RevisionOffset..]),
            HeaderSize = headerSize,
            MyLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[MyLbaOffset..]),
            AlternateLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[AlternateLbaOffset..]),
            FirstUsableLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[FirstUsableLbaOffset..]),
            LastUsableLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[LastUsableLbaOffset..]),
            DiskGuid = new Guid(sector.Slice(DiskGuidOffset, 16)),
            EntryArrayLba = BinaryPrimitives.ReadUInt64LittleEndian(sector[EntryArrayLbaOffset..]),
            EntryCount = BinaryPrimitives.ReadUInt32LittleEndian(sector[EntryCountOffset..]),
            EntrySize = BinaryPrimitives.ReadUInt32LittleEndian(sector[EntrySizeOffset..]),
            EntryArrayCrc32 = BinaryPrimitives.ReadUInt32LittleEndian(sector[EntryArrayCrcOffset..]),
        };
        header.Check(what);
        return header;
    }

    /// <summary>Writes the header, computing its CRC; the rest of <paramref name="sector"/> up to HeaderSize is zeroed.</summary>
    public void Write(Span<byte> sector)
    {
        Check("GPT header to write");
        if (sector.Length < HeaderSize)
        {
            throw new ArgumentException($"a GPT header needs {HeaderSize} bytes, got {sector.Length}", nameof(sector));
        }
        sector[..(int)HeaderSize].Clear();
        Signature.CopyTo(sector);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[RevisionOffset..], Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HeaderSizeOffset..], HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[MyLbaOffset..], MyLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[AlternateLbaOffset..], AlternateLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[FirstUsableLbaOffset..], FirstUsableLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[LastUsableLbaOffset..], LastUsableLba);
        DiskGuid.TryWriteBytes(sector.Slice(DiskGuidOffset, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(sector[EntryArrayLbaOffset..], EntryArrayLba);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[EntryCountOffset..], EntryCount);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[EntrySizeOffset..], EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[EntryArrayCrcOffset..], EntryArrayCrc32);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[HeaderCrcOffset..], HeaderCrc(sector[..(int)HeaderSize]));
    }

    /// <summary>The header CRC: CRC32 of HeaderSize bytes with the CRC field taken as zero.</summary>
    private static uint HeaderCrc(ReadOnlySpan<byte> header)
    {
        var crc = new Crc32();
        crc.Append(header[..HeaderCrcOffset]);
        crc.Append(stackalloc byte[4]);
        crc.Append(header[(HeaderCrcOffset + 4)..]);
        return crc.GetCurrentHashAsUInt32();
    }

    private void Check(string what)
    {
        if (EntrySize < GptPartitionEntry.Size || EntrySize % GptPartitionEntry.Size != 0 || (EntrySize & (EntrySize - 1)) != 0)
        {
            throw Invalid($"{what}: partition entry size {EntrySize} is not 128 × 2^n");
        }
        if (EntryCount > MaxEntryCount)
        {
            throw Invalid($"{what}: {EntryCount} partition entries is absurd (at most {MaxEntryCount})");
        }
        if (EntrySize > MaxEntrySize)
        {
            throw Invalid($"{what}: partition entry size {EntrySize} is absurd (at most {MaxEntrySize} bytes; every tool writes 128)");
        }
        if ((long)EntryCount * EntrySize > MaxEntryArrayBytes)
        {
            throw Invalid($"{what}: {EntryCount} entries of {EntrySize} bytes make an entry array of {(long)EntryCount * EntrySize} bytes, more than the {MaxEntryArrayBytes} any disk needs");
        }
        if (MyLba == 0 || AlternateLba == 0 || MyLba == AlternateLba)
        {
            throw Invalid($"{what}: my LBA {MyLba} and alternate LBA {AlternateLba} must be two different sectors after the MBR");
        }
        if (EntryArrayLba < 2 && EntryCount > 0)
        {
            throw Invalid($"{what}: the entry array at LBA {EntryArrayLba} would overlap the MBR or the primary header");
        }
        if (FirstUsableLba > LastUsableLba + 1)
        {
            throw Invalid($"{what}: first usable LBA {FirstUsableLba} is past last usable LBA {LastUsableLba}");
        }
    }

    private static ImageToolsException Invalid(string message) => new(ErrorKind.InvalidPartitionTable, message);
}
