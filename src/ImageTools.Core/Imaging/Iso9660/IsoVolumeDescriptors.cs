using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Imaging.Iso9660;

/// <summary>Volume descriptor types (ECMA-119 §8.1.1).</summary>
public enum IsoVolumeDescriptorType : byte
{
    BootRecord = 0,
    Primary = 1,
    Supplementary = 2,
    Partition = 3,
    Terminator = 255,
}

/// <summary>
/// Where ISO 9660 keeps its volume descriptors (ECMA-119 §6.2, §8): 2048-byte sectors from sector 16,
/// each starting with a type byte, the standard identifier "CD001" and version 1, ending with a
/// terminator (type 255). The first 16 sectors are the system area (a hybrid image puts an MBR there).
/// </summary>
public static class IsoLayout
{
    public const int SectorSize = 2048;
    public const int FirstDescriptorSector = 16;
    public const long FirstDescriptorOffset = (long)FirstDescriptorSector * SectorSize;
    public const int StandardIdentifierOffset = 1;
    public const int VersionOffset = 6;

    /// <summary>"CD001".</summary>
    public static ReadOnlySpan<byte> StandardIdentifier => "CD001"u8;

    /// <summary>Whether a 2048-byte sector is a volume descriptor (type, "CD001", version 1).</summary>
    public static bool IsDescriptor(ReadOnlySpan<byte> sector) =>
        sector.Length >= SectorSize && sector.Slice(StandardIdentifierOffset, 5).SequenceEqual(StandardIdentifier) && sector[VersionOffset] == 1;

    /// <summary>Reads a "both-endian" 32-bit field (little-endian copy, then big-endian; ECMA-119 §7.3.3).</summary>
    internal static uint ReadBoth32(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt32LittleEndian(s);

    internal static ushort ReadBoth16(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt16LittleEndian(s);

    internal static bool Both32Agree(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt32LittleEndian(s) == BinaryPrimitives.ReadUInt32BigEndian(s[4..]);

    internal static void WriteBoth32(Span<byte> d, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, value);
        BinaryPrimitives.WriteUInt32BigEndian(d[4..], value);
    }

    internal static void WriteBoth16(Span<byte> d, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(d, value);
        BinaryPrimitives.WriteUInt16BigEndian(d[2..], value);
    }

    /// <summary>A space-padded identifier field as text (trailing spaces and NULs removed).</summary>
    internal static string ReadText(ReadOnlySpan<byte> field) => Encoding.ASCII.GetString(field).TrimEnd(' ', '\0');

    internal static void WriteText(Span<byte> field, string value, string what)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (bytes.Length > field.Length)
        {
            throw new ArgumentException($"the {what} '{value}' is longer than {field.Length} characters");
        }
        field.Fill((byte)' ');
        bytes.CopyTo(field);
    }
}

/// <summary>
/// The Primary Volume Descriptor (ECMA-119 §8.4): what an ISO image calls itself and how big it is.
/// The fields an inspection reports are modelled; the root directory record is kept verbatim so a
/// written descriptor points at the same tree.
/// </summary>
public sealed class IsoPrimaryVolumeDescriptor
{
    private const int OffType = 0;
    private const int OffSystemId = 8;
    private const int SystemIdLength = 32;
    private const int OffVolumeId = 40;
    private const int VolumeIdLength = 32;
    private const int OffVolumeSpaceSize = 80;
    private const int OffVolumeSetSize = 120;
    private const int OffVolumeSequenceNumber = 124;
    private const int OffLogicalBlockSize = 128;
    private const int OffPathTableSize = 132;
    private const int OffRootDirectoryRecord = 156;
    private const int RootDirectoryRecordLength = 34;
    private const int OffVolumeSetId = 190;
    private const int OffPublisherId = 318;
    private const int OffPreparerId = 446;
    private const int OffApplicationId = 574;
    private const int LongIdLength = 128;
    private const int OffCreationDate = 813;
    private const int OffModificationDate = 830;
    private const int DateLength = 17;
    private const int OffFileStructureVersion = 881;

    public string SystemIdentifier { get; set; } = "";
    public string VolumeIdentifier { get; set; } = "";

    /// <summary>Volume space size in logical blocks.</summary>
    public uint VolumeSpaceSize { get; set; }

    public ushort VolumeSetSize { get; set; } = 1;
    public ushort VolumeSequenceNumber { get; set; } = 1;

    /// <summary>Logical block size (2048 on every real CD/DVD image).</summary>
    public ushort LogicalBlockSize { get; set; } = IsoLayout.SectorSize;

    public uint PathTableSize { get; set; }
    public byte[] RootDirectoryRecord { get; set; } = new byte[RootDirectoryRecordLength];
    public string VolumeSetIdentifier { get; set; } = "";
    public string PublisherIdentifier { get; set; } = "";
    public string DataPreparerIdentifier { get; set; } = "";
    public string ApplicationIdentifier { get; set; } = "";

    /// <summary>Creation time, or null when the field says "not specified" (all '0' digits).</summary>
    public DateTimeOffset? CreationTime { get; set; }

    public DateTimeOffset? ModificationTime { get; set; }

    /// <summary>Size of the volume in bytes.</summary>
    public long SizeBytes => (long)VolumeSpaceSize * LogicalBlockSize;

    /// <summary>Reads a PVD; null when the sector is not one (wrong type or identifier) or its sizes disagree with themselves.</summary>
    public static IsoPrimaryVolumeDescriptor? TryRead(ReadOnlySpan<byte> sector)
    {
        if (!IsoLayout.IsDescriptor(sector) || sector[OffType] != (byte)IsoVolumeDescriptorType.Primary
            || !IsoLayout.Both32Agree(sector[OffVolumeSpaceSize..]))
        {
            return null;
        }
        var blockSize = IsoLayout.ReadBoth16(sector[OffLogicalBlockSize..]);
        if (blockSize is not (512 or 1024 or 2048))
        {
            return null;
        }
        return new IsoPrimaryVolumeDescriptor
        {
            SystemIdentifier = IsoLayout.ReadText(sector.Slice(OffSystemId, SystemIdLength)),
            VolumeIdentifier = IsoLayout.ReadText(sector.Slice(OffVolumeId, VolumeIdLength)),
            VolumeSpaceSize = IsoLayout.ReadBoth32(sector[OffVolumeSpaceSize..]),
            VolumeSetSize = IsoLayout.ReadBoth16(sector[OffVolumeSetSize..]),
            VolumeSequenceNumber = IsoLayout.ReadBoth16(sector[OffVolumeSequenceNumber..]),
            LogicalBlockSize = blockSize,
            PathTableSize = IsoLayout.ReadBoth32(sector[OffPathTableSize..]),
            RootDirectoryRecord = sector.Slice(OffRootDirectoryRecord, RootDirectoryRecordLength).ToArray(),
            VolumeSetIdentifier = IsoLayout.ReadText(sector.Slice(OffVolumeSetId, LongIdLength)),
            PublisherIdentifier = IsoLayout.ReadText(sector.Slice(OffPublisherId, LongIdLength)),
            DataPreparerIdentifier = IsoLayout.ReadText(sector.Slice(OffPreparerId, LongIdLength)),
            ApplicationIdentifier = IsoLayout.ReadText(sector.Slice(OffApplicationId, LongIdLength)),
            CreationTime = ReadDate(sector.Slice(OffCreationDate, DateLength)),
            ModificationTime = ReadDate(sector.Slice(OffModificationDate, DateLength)),
        };
    }

    public void Write(Span<byte> sector)
    {
        if (sector.Length < IsoLayout.SectorSize)
        {
            throw new ArgumentException($"a volume descriptor is {IsoLayout.SectorSize} bytes", nameof(sector));
        }
        if (LogicalBlockSize is not (512 or 1024 or 2048))
        {
            throw new InvalidOperationException($"logical block size {LogicalBlockSize} is not 512, 1024 or 2048");
        }
        if (RootDirectoryRecord.Length != RootDirectoryRecordLength)
        {
            throw new InvalidOperationException($"the root directory record is {RootDirectoryRecordLength} bytes");
        }
        var d = sector[..IsoLayout.SectorSize];
        d.Clear();
        d[OffType] = (byte)IsoVolumeDescriptorType.Primary;
        IsoLayout.StandardIdentifier.CopyTo(d[IsoLayout.StandardIdentifierOffset..]);
        d[IsoLayout.VersionOffset] = 1;
        IsoLayout.WriteText(d.Slice(OffSystemId, SystemIdLength), SystemIdentifier, "system identifier");
        IsoLayout.WriteText(d.Slice(OffVolumeId, VolumeIdLength), VolumeIdentifier, "volume identifier");
        IsoLayout.WriteBoth32(d[OffVolumeSpaceSize..], VolumeSpaceSize);
        IsoLayout.WriteBoth16(d[OffVolumeSetSize..], VolumeSetSize);
        IsoLayout.WriteBoth16(d[OffVolumeSequenceNumber..], VolumeSequenceNumber);
        IsoLayout.WriteBoth16(d[OffLogicalBlockSize..], LogicalBlockSize);
        IsoLayout.WriteBoth32(d[OffPathTableSize..], PathTableSize);
        RootDirectoryRecord.CopyTo(d[OffRootDirectoryRecord..]);
        IsoLayout.WriteText(d.Slice(OffVolumeSetId, LongIdLength), VolumeSetIdentifier, "volume set identifier");
        IsoLayout.WriteText(d.Slice(OffPublisherId, LongIdLength), PublisherIdentifier, "publisher identifier");
        IsoLayout.WriteText(d.Slice(OffPreparerId, LongIdLength), DataPreparerIdentifier, "data preparer identifier");
        IsoLayout.WriteText(d.Slice(OffApplicationId, LongIdLength), ApplicationIdentifier, "application identifier");
        WriteDate(d.Slice(OffCreationDate, DateLength), CreationTime);
        WriteDate(d.Slice(OffModificationDate, DateLength), ModificationTime);
        d[OffFileStructureVersion] = 1;
    }

    // ECMA-119 §8.4.26.1: "YYYYMMDDHHMMSScc" as digits, then the offset from GMT in 15-minute units
    // (signed byte). All-zero digits mean "not specified".
    private static DateTimeOffset? ReadDate(ReadOnlySpan<byte> field)
    {
        var digits = Encoding.ASCII.GetString(field[..16]);
        if (digits.All(c => c == '0') || digits.Any(c => c is < '0' or > '9'))
        {
            return null;
        }
        int N(int start, int length) => int.Parse(digits.AsSpan(start, length), System.Globalization.CultureInfo.InvariantCulture);
        var offsetQuarters = (sbyte)field[16];
        try
        {
            return new DateTimeOffset(N(0, 4), N(4, 2), N(6, 2), N(8, 2), N(10, 2), N(12, 2), N(14, 2) * 10,
                TimeSpan.FromMinutes(offsetQuarters * 15));
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static void WriteDate(Span<byte> field, DateTimeOffset? value)
    {
        if (value is not { } v)
        {
            Encoding.ASCII.GetBytes("0000000000000000").CopyTo(field);
            field[16] = 0;
            return;
        }
        Encoding.ASCII.GetBytes(v.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture)
            + (v.Millisecond / 10).ToString("D2", System.Globalization.CultureInfo.InvariantCulture)).CopyTo(field);
        field[16] = (byte)(sbyte)(v.Offset.TotalMinutes / 15);
    }
}
