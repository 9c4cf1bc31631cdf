using System.Buffers.Binary;

namespace ImageTools.Core.Partitions;

/// <summary>
/// The 512-byte master boot record in sector 0 of a disk:
/// <code>
/// 0x000  boot code        440 bytes, executed by the BIOS; ours to keep untouched unless asked
/// 0x1B8  disk signature   u32 little-endian (Linux shows it as the PARTUUID prefix, sfdisk as label-id)
/// 0x1BC  reserved         2 bytes, usually 0 (Windows writes 0x5A5A for "copy protected")
/// 0x1BE  partition table  4 entries of 16 bytes, see <see cref="MbrPartitionEntry"/>
/// 0x1FE  boot signature   0x55 0xAA
/// </code>
/// Extended boot records (EBRs) share this layout, see <see cref="ExtendedBootRecord"/>.
/// </summary>
public sealed class MasterBootRecord
{
    public const int Size = 512;
    public const int BootCodeOffset = 0;
    public const int DiskSignatureOffset = 0x1B8;
    public const int BootCodeLength = DiskSignatureOffset - BootCodeOffset;
    public const int ReservedOffset = DiskSignatureOffset + sizeof(uint);
    public const int EntriesOffset = ReservedOffset + sizeof(ushort);
    public const int EntryCount = 4;
    public const int BootSignatureOffset = EntriesOffset + EntryCount * MbrPartitionEntry.Size;

    /// <summary>The boot signature as a little-endian u16: bytes 0x55, 0xAA.</summary>
    public const ushort BootSignature = 0xAA55;

    private readonly MbrPartitionEntry[] _entries;
    private readonly byte[]? _bootCode;

    /// <param name="entries">Exactly four entries (use <see cref="MbrPartitionEntry.Empty"/> for unused slots).</param>
    /// <param name="diskSignature">The u32 at 0x1B8.</param>
    /// <param name="reserved">The u16 at 0x1BC.</param>
    /// <param name="bootCode">
    /// The 440 bytes of boot code to write, or null to leave whatever the disk has there untouched.
    /// </param>
    public MasterBootRecord(IReadOnlyList<MbrPartitionEntry> entries, uint diskSignature, ushort reserved = 0,
        byte[]? bootCode = null)
    {
        if (entries.Count != EntryCount)
        {
            throw new ArgumentException($"an MBR has exactly {EntryCount} entries, got {entries.Count}", nameof(entries));
        }
        if (bootCode is { Length: not BootCodeLength })
        {
            throw new ArgumentException($"MBR boot code is {BootCodeLength} bytes, got {bootCode.Length}", nameof(bootCode));
        }
        _entries = entries.ToArray();
        DiskSignature = diskSignature;
        Reserved = reserved;
        _bootCode = (byte[]?)bootCode?.Clone();
    }

    /// <summary>The four primary entries, slot 0 (partition 1) first.</summary>
    public IReadOnlyList<MbrPartitionEntry> Entries => _entries;

    public uint DiskSignature { get; }

    /// <summary>The two bytes at 0x1BC, kept as found.</summary>
    public ushort Reserved { get; }

    /// <summary>The boot code this record carries, or null when writing it leaves the disk's boot code alone.</summary>
    public ReadOnlyMemory<byte>? BootCode => _bootCode is null ? (ReadOnlyMemory<byte>?)null : new ReadOnlyMemory<byte>(_bootCode);

    /// <summary>The same record without boot code: writing it changes only the table area (0x1B8..0x1FF).</summary>
    public MasterBootRecord WithoutBootCode() => new(_entries, DiskSignature, Reserved);

    /// <summary>The same record carrying <paramref name="bootCode"/> (440 bytes) to install.</summary>
    public MasterBootRecord WithBootCode(ReadOnlySpan<byte> bootCode) => new(_entries, DiskSignature, Reserved, bootCode.ToArray());

    /// <summary>A cheap probe: does this sector end with 0x55AA? (Filesystem boot sectors do too.)</summary>
    public static bool HasBootSignature(ReadOnlySpan<byte> sector) =>
        sector.Length >= Size && BinaryPrimitives.ReadUInt16LittleEndian(sector[BootSignatureOffset..]) == BootSignature;

    /// <summary>The byte offset of entry <paramref name="index"/> (0..3) within the sector.</summary>
    public static int EntryOffset(int index) => EntriesOffset + index * MbrPartitionEntry.Size;

    /// <summary>
    /// Reads sector 0. Throws <see cref="ErrorKind.InvalidPartitionTable"/> when the 0x55AA signature is missing
    /// or a status byte is neither 0x00 nor 0x80 (the Linux kernel rejects such a table too), and
    /// <see cref="ErrorKind.WrongInputKind"/> when sector 0 is a filesystem's boot sector with no table in it.
    /// </summary>
    /// <param name="sector">Sector 0 of the disk.</param>
    /// <param name="source">Names the disk in error messages.</param>
    public static MasterBootRecord Read(ReadOnlySpan<byte> sector, string source = "disk")
    {
        if (sector.Length < Size)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{source}: only {sector.Length} bytes, too short to hold a {Size}-byte MBR") { Path = source };
        }
        var signature = BinaryPrimitives.ReadUInt16LittleEndian(sector[BootSignatureOffset..]);
        if (signature != BootSignature)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                $"{source}: no partition table: sector 0 ends in 0x{sector[BootSignatureOffset]:x2}{sector[BootSignatureOffset + 1]:x2} " +
                "at byte 0x1FE, not the MBR signature 0x55AA") { Path = source };
        }
        var entries = new MbrPartitionEntry[EntryCount];
        for (var i = 0; i < EntryCount; i++)
        {
            entries[i] = MbrPartitionEntry.Read(sector[EntryOffset(i)..]);
            if (!entries[i].HasValidStatus)
            {
                throw new ImageToolsException(ErrorKind.InvalidPartitionTable,
                    $"{source}: MBR entry of partition {i + 1} (byte 0x{EntryOffset(i):X3} of sector 0) has status byte 0x{entries[i].Status:x2}; " +
                    "only 0x00 and 0x80 (bootable) are valid" + FilesystemHint(sector)) { Path = source };
            }
        }
        if (entries.All(e => e.IsBlank) && FilesystemBootSectorKind(sector) is { } filesystem)
        {
            // The Linux kernel would see an empty table here; blkid (and users) see the filesystem.
            throw new ImageToolsException(ErrorKind.WrongInputKind,
                $"{source}: no partition table: sector 0 is a {filesystem} boot sector, so the image is a bare filesystem") { Path = source };
        }
        return new MasterBootRecord(entries,
            BinaryPrimitives.ReadUInt32LittleEndian(sector[DiskSignatureOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(sector[ReservedOffset..]),
            sector[BootCodeOffset..BootCodeLength].ToArray());
    }

    /// <summary>
    /// Writes the record into <paramref name="sector"/>. Without <see cref="BootCode"/> the bytes before 0x1B8 are
    /// left as they are, so a table can be rewritten in place without touching an installed boot loader.
    /// </summary>
    public void Write(Span<byte> sector)
    {
        if (sector.Length < Size)
        {
            throw new ArgumentException($"an MBR needs {Size} bytes, got {sector.Length}", nameof(sector));
        }
        if (_bootCode != null)
        {
            _bootCode.CopyTo(sector[BootCodeOffset..]);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(sector[DiskSignatureOffset..], DiskSignature);
        BinaryPrimitives.WriteUInt16LittleEndian(sector[ReservedOffset..], Reserved);
        for (var i = 0; i < EntryCount; i++)
        {
            try
            {
                _entries[i].Write(sector[EntryOffset(i)..]);
            }
            catch (ImageToolsException e)
            {
                throw new ImageToolsException(e.Kind, $"MBR entry of partition {i + 1}: {e.Message}", e);
            }
        }
        BinaryPrimitives.WriteUInt16LittleEndian(sector[BootSignatureOffset..], BootSignature);
    }

    /// <summary>
    /// The kind of filesystem boot sector <paramref name="sector"/> is ("FAT32", "FAT12/16", "NTFS", "exFAT"), or
    /// null. Those end in 0x55AA too; written to a whole disk they are a filesystem, not a partition table.
    /// </summary>
    public static string? FilesystemBootSectorKind(ReadOnlySpan<byte> sector)
    {
        if (sector.Length < Size)
        {
            return null;
        }
        // Every one of them starts with an x86 jump over its parameter block: EB xx 90 or E9 xx xx.
        var jumps = (sector[0] == 0xEB && sector[2] == 0x90) || sector[0] == 0xE9;
        if (!jumps)
        {
            return null;
        }
        if (sector[3..11].SequenceEqual("NTFS    "u8))
        {
            return "NTFS";
        }
        if (sector[3..11].SequenceEqual("EXFAT   "u8))
        {
            return "exFAT";
        }
        if (sector[0x52..0x57].SequenceEqual("FAT32"u8))
        {
            return "FAT32";
        }
        if (sector[0x36..0x39].SequenceEqual("FAT"u8))
        {
            return "FAT12/16";
        }
        return null;
    }

    private static string FilesystemHint(ReadOnlySpan<byte> sector) =>
        FilesystemBootSectorKind(sector) is { } kind
            ? $" (sector 0 looks like a {kind} boot sector: the disk holds a filesystem, not a partition table)"
            : "";
}
