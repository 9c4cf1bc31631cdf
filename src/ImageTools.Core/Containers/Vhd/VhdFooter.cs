using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Containers.Vhd;

/// <summary>
/// The 512-byte VHD footer (Microsoft "Virtual Hard Disk Image Format Specification", "Hard Disk Footer
/// Format"), big-endian: the last sector of every VHD (and, for a dynamic disk, a copy in the first). A fixed
/// VHD is the disk's bytes followed by this footer.
/// </summary>
public sealed record VhdFooter
{
    public const int Size = 512;
    public const string CookieText = "conectix";
    public const uint FixedDisk = 2, DynamicDisk = 3, DifferencingDisk = 4;

    private const int CookieOffset = 0, FeaturesOffset = 8, VersionOffset = 12, DataOffsetOffset = 16, TimestampOffset = 24;
    private const int CreatorAppOffset = 28, CreatorVersionOffset = 32, CreatorHostOffset = 36, OriginalSizeOffset = 40;
    private const int CurrentSizeOffset = 48, GeometryOffset = 56, DiskTypeOffset = 60, ChecksumOffset = 64, UniqueIdOffset = 68;
    private const int SavedStateOffset = 84;

    /// <summary>Seconds between the Unix epoch and the VHD epoch (2000-01-01 00:00:00 UTC).</summary>
    public const long VhdEpochUnixSeconds = 946684800;

    public uint Features { get; init; } = 2; // bit 1 "reserved", always set
    public uint FormatVersion { get; init; } = 0x00010000;
    /// <summary>The dynamic header's offset; all ones for a fixed disk.</summary>
    public ulong DataOffset { get; init; } = ulong.MaxValue;
    public uint Timestamp { get; init; }
    /// <summary>
    /// Four characters naming the writer. qemu takes the size from <see cref="CurrentSize"/> (not the CHS geometry)
    /// only for a few of them; "win " is Hyper-V's, whose meaning (the footer's size is the disk's size) is ours.
    /// </summary>
    public string CreatorApplication { get; init; } = "win ";
    public uint CreatorVersion { get; init; } = 0x000A0000;
    public string CreatorHostOs { get; init; } = "Wi2k";
    public ulong OriginalSize { get; init; }
    public ulong CurrentSize { get; init; }
    public ushort Cylinders { get; init; }
    public byte Heads { get; init; }
    public byte SectorsPerTrack { get; init; }
    public uint DiskType { get; init; } = FixedDisk;
    public Guid UniqueId { get; init; }
    public bool SavedState { get; init; }

    public static bool HasCookie(ReadOnlySpan<byte> sector) => sector.Length >= 8 && sector[..8].SequenceEqual("conectix"u8);

    public static VhdFooter Read(ReadOnlySpan<byte> data, string name, long fileOffset)
    {
        if (data.Length < Size || !HasCookie(data))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name} is not a VHD (no 'conectix' footer at offset {fileOffset})") { Path = name };
        }
        var stored = BinaryPrimitives.ReadUInt32BigEndian(data[ChecksumOffset..]);
        var computed = Checksum(data);
        if (stored != computed)
        {
            throw Corrupt(name, fileOffset + ChecksumOffset, "footer checksum", $"0x{stored:x8}, but the footer's bytes sum to 0x{computed:x8}");
        }
        var geometry = BinaryPrimitives.ReadUInt32BigEndian(data[GeometryOffset..]);
        var footer = new VhdFooter
        {
            Features = BinaryPrimitives.ReadUInt32BigEndian(data[FeaturesOffset..]),
            FormatVersion = BinaryPrimitives.ReadUInt32BigEndian(data[VersionOffset..]),
            DataOffset = BinaryPrimitives.ReadUInt64BigEndian(data[DataOffsetOffset..]),
            Timestamp = BinaryPrimitives.ReadUInt32BigEndian(data[TimestampOffset..]),
            CreatorApplication = Encoding.ASCII.GetString(data.Slice(CreatorAppOffset, 4)),
            CreatorVersion = BinaryPrimitives.ReadUInt32BigEndian(data[CreatorVersionOffset..]),
            CreatorHostOs = Encoding.ASCII.GetString(data.Slice(CreatorHostOffset, 4)),
            OriginalSize = BinaryPrimitives.ReadUInt64BigEndian(data[OriginalSizeOffset..]),
            CurrentSize = BinaryPrimitives.ReadUInt64BigEndian(data[CurrentSizeOffset..]),
            Cylinders = (ushort)(geometry >> 16),
            Heads = (byte)(geometry >> 8),
            SectorsPerTrack = (byte)geometry,
            DiskType = BinaryPrimitives.ReadUInt32BigEndian(data[DiskTypeOffset..]),
            UniqueId = new Guid(data.Slice(UniqueIdOffset, 16), bigEndian: true),
            SavedState = data[SavedStateOffset] != 0,
        };
        footer.Validate(name, fileOffset);
        return footer;
    }

    public void Write(Span<byte> data)
    {
        Validate("VHD footer being written", 0);
        data[..Size].Clear();
        "conectix"u8.CopyTo(data);
        BinaryPrimitives.WriteUInt32BigEndian(data[FeaturesOffset..], Features);
        BinaryPrimitives.WriteUInt32BigEndian(data[VersionOffset..], FormatVersion);
        BinaryPrimitives.WriteUInt64BigEndian(data[DataOffsetOffset..], DataOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[TimestampOffset..], Timestamp);
        Encoding.ASCII.GetBytes(CreatorApplication, data.Slice(CreatorAppOffset, 4));
        BinaryPrimitives.WriteUInt32BigEndian(data[CreatorVersionOffset..], CreatorVersion);
        Encoding.ASCII.GetBytes(CreatorHostOs, data.Slice(CreatorHostOffset, 4));
        BinaryPrimitives.WriteUInt64BigEndian(data[OriginalSizeOffset..], OriginalSize);
        BinaryPrimitives.WriteUInt64BigEndian(data[CurrentSizeOffset..], CurrentSize);
        BinaryPrimitives.WriteUInt32BigEndian(data[GeometryOffset..], ((uint)Cylinders << 16) | ((uint)Heads << 8) | SectorsPerTrack);
        BinaryPrimitives.WriteUInt32BigEndian(data[DiskTypeOffset..], DiskType);
        UniqueId.TryWriteBytes(data.Slice(UniqueIdOffset, 16), bigEndian: true, out _);
        data[SavedStateOffset] = SavedState ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(data[ChecksumOffset..], Checksum(data));
    }

    private void Validate(string name, long fileOffset)
    {
        if (CreatorApplication.Length != 4 || CreatorHostOs.Length != 4)
        {
            throw new ArgumentException("creator application and host OS are four characters");
        }
        if (FormatVersion >> 16 != 1)
        {
            throw Corrupt(name, fileOffset + VersionOffset, "file format version", $"0x{FormatVersion:x8} is not version 1.x");
        }
        if (DiskType is not (FixedDisk or DynamicDisk or DifferencingDisk))
        {
            throw Corrupt(name, fileOffset + DiskTypeOffset, "disk type", $"{DiskType} is not fixed (2), dynamic (3) or differencing (4)");
        }
        if (CurrentSize % 512 != 0 || CurrentSize > 2040UL << 30)
        {
            throw Corrupt(name, fileOffset + CurrentSizeOffset, "current size", $"{CurrentSize} is not a whole number of sectors up to 2040 GiB (the VHD limit)");
        }
    }

    /// <summary>The one's complement of the sum of the footer's bytes, the checksum field counted as zero.</summary>
    public static uint Checksum(ReadOnlySpan<byte> footer)
    {
        uint sum = 0;
        for (var i = 0; i < Size; i++)
        {
            if (i is < ChecksumOffset or >= ChecksumOffset + 4)
            {
                sum += footer[i];
            }
        }
        return ~sum;
    }

    /// <summary>The CHS geometry the VHD specification's appendix derives from a size (at most 65535 × 16 × 255).</summary>
    public static (ushort Cylinders, byte Heads, byte Sectors) GeometryFor(long size)
    {
        var total = Math.Min(size / 512, 65535L * 16 * 255);
        long sectorsPerTrack, heads, cylinderTimesHeads;
        if (total >= 65535L * 16 * 63)
        {
            sectorsPerTrack = 255;
            heads = 16;
            cylinderTimesHeads = total / sectorsPerTrack;
        }
        else
        {
            sectorsPerTrack = 17;
            cylinderTimesHeads = total / sectorsPerTrack;
            heads = Math.Max(4, (cylinderTimesHeads + 1023) / 1024);
            if (cylinderTimesHeads >= heads * 1024 || heads > 16)
            {
                sectorsPerTrack = 31;
                heads = 16;
                cylinderTimesHeads = total / sectorsPerTrack;
            }
            if (cylinderTimesHeads >= heads * 1024)
            {
                sectorsPerTrack = 63;
                heads = 16;
                cylinderTimesHeads = total / sectorsPerTrack;
            }
        }
        return ((ushort)(cylinderTimesHeads / heads), (byte)heads, (byte)sectorsPerTrack);
    }

    internal static ImageToolsException Corrupt(string name, long offset, string field, string problem) =>
        new(ErrorKind.CorruptImage, $"{name}: VHD {field} at offset {offset}: {problem}; the image is damaged") { Path = name };
}
