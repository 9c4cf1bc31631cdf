using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Imaging.Iso9660;

/// <summary>El Torito platform ids (El Torito 1.0 §2.1, plus the UEFI id).</summary>
public enum ElToritoPlatform : byte
{
    X86Bios = 0x00,
    PowerPc = 0x01,
    Mac = 0x02,
    Efi = 0xEF,
}

/// <summary>Boot media emulation of an entry (El Torito §2.2).</summary>
public enum ElToritoMediaType : byte
{
    NoEmulation = 0,
    Floppy12 = 1,
    Floppy144 = 2,
    Floppy288 = 3,
    HardDisk = 4,
}

/// <summary>
/// The El Torito boot record volume descriptor (El Torito 1.0 §2.0): type 0, "CD001", version 1, the
/// boot system identifier "EL TORITO SPECIFICATION" (NUL padded) at byte 7, and at byte 0x47 the
/// sector of the boot catalog.
/// </summary>
public sealed record ElToritoBootRecord(uint CatalogSector)
{
    private const int OffBootSystemId = 7;
    private const int BootSystemIdLength = 32;
    private const int OffCatalogPointer = 0x47;

    public static ReadOnlySpan<byte> BootSystemIdentifier => "EL TORITO SPECIFICATION"u8;

    public static ElToritoBootRecord? TryRead(ReadOnlySpan<byte> sector)
    {
        if (!IsoLayout.IsDescriptor(sector) || sector[0] != (byte)IsoVolumeDescriptorType.BootRecord)
        {
            return null;
        }
        var id = sector.Slice(OffBootSystemId, BootSystemIdLength);
        if (!id.StartsWith(BootSystemIdentifier) || id[BootSystemIdentifier.Length..].IndexOfAnyExcept((byte)0) >= 0)
        {
            return null;
        }
        return new ElToritoBootRecord(BinaryPrimitives.ReadUInt32LittleEndian(sector[OffCatalogPointer..]));
    }

    public void Write(Span<byte> sector)
    {
        var d = sector[..IsoLayout.SectorSize];
        d.Clear();
        d[0] = (byte)IsoVolumeDescriptorType.BootRecord;
        IsoLayout.StandardIdentifier.CopyTo(d[IsoLayout.StandardIdentifierOffset..]);
        d[IsoLayout.VersionOffset] = 1;
        BootSystemIdentifier.CopyTo(d[OffBootSystemId..]);
        BinaryPrimitives.WriteUInt32LittleEndian(d[OffCatalogPointer..], CatalogSector);
    }
}

/// <summary>
/// The validation entry that opens a boot catalog (El Torito §2.1): header id 1, platform, an id
/// string, a checksum making the 16 little-endian words sum to zero, then the key bytes 0x55 0xAA.
/// </summary>
public sealed record ElToritoValidationEntry(ElToritoPlatform Platform, string IdString)
{
    public const int Size = 32;
    private const byte HeaderId = 1;
    private const int OffPlatform = 1;
    private const int OffIdString = 4;
    private const int IdStringLength = 24;
    private const int OffChecksum = 28;

    public static ElToritoValidationEntry? TryRead(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < Size || entry[0] != HeaderId || entry[30] != 0x55 || entry[31] != 0xAA)
        {
            return null;
        }
        ushort sum = 0;
        for (var i = 0; i < Size; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16LittleEndian(entry[i..]);
        }
        if (sum != 0)
        {
            return null;
        }
        return new ElToritoValidationEntry((ElToritoPlatform)entry[OffPlatform],
            Encoding.ASCII.GetString(entry.Slice(OffIdString, IdStringLength)).TrimEnd('\0', ' '));
    }

    public void Write(Span<byte> entry)
    {
        var d = entry[..Size];
        d.Clear();
        d[0] = HeaderId;
        d[OffPlatform] = (byte)Platform;
        var id = Encoding.ASCII.GetBytes(IdString);
        if (id.Length > IdStringLength)
        {
            throw new ArgumentException($"the id string is at most {IdStringLength} characters");
        }
        id.CopyTo(d[OffIdString..]);
        d[30] = 0x55;
        d[31] = 0xAA;
        ushort sum = 0;
        for (var i = 0; i < Size; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16LittleEndian(d[i..]);
        }
        BinaryPrimitives.WriteUInt16LittleEndian(d[OffChecksum..], (ushort)-sum);
    }
}

/// <summary>
/// A boot entry: the initial/default entry after the validation entry, or an entry of a section
/// (El Torito §2.2, §2.4): bootable indicator (0x88) or not (0x00), media emulation, load segment,
/// system type, how many 512-byte virtual sectors to load, and the image's first sector (RBA).
/// </summary>
public sealed record ElToritoBootEntry(bool Bootable, ElToritoMediaType MediaType, ushort LoadSegment, byte SystemType, ushort SectorCount, uint LoadRba)
{
    public const int Size = 32;
    public const byte BootableIndicator = 0x88;
    public const byte NotBootableIndicator = 0x00;

    public static ElToritoBootEntry? TryRead(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < Size || entry[0] is not (BootableIndicator or NotBootableIndicator))
        {
            return null;
        }
        var media = entry[1] & 0x0F;
        if (media > (int)ElToritoMediaType.HardDisk)
        {
            return null;
        }
        return new ElToritoBootEntry(entry[0] == BootableIndicator, (ElToritoMediaType)media,
            BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]), entry[4],
            BinaryPrimitives.ReadUInt16LittleEndian(entry[6..]), BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]));
    }

    public void Write(Span<byte> entry)
    {
        var d = entry[..Size];
        d.Clear();
        d[0] = Bootable ? BootableIndicator : NotBootableIndicator;
        d[1] = (byte)MediaType;
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], LoadSegment);
        d[4] = SystemType;
        BinaryPrimitives.WriteUInt16LittleEndian(d[6..], SectorCount);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], LoadRba);
    }
}

/// <summary>A section header (El Torito §2.3): 0x90, or 0x91 for the last; platform; how many entries follow.</summary>
public sealed record ElToritoSectionHeader(bool IsLast, ElToritoPlatform Platform, ushort EntryCount, string IdString)
{
    public const int Size = 32;
    public const byte MoreFollow = 0x90;
    public const byte Final = 0x91;

    public static ElToritoSectionHeader? TryRead(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < Size || entry[0] is not (MoreFollow or Final))
        {
            return null;
        }
        return new ElToritoSectionHeader(entry[0] == Final, (ElToritoPlatform)entry[1], BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]),
            Encoding.ASCII.GetString(entry.Slice(4, 28)).TrimEnd('\0', ' '));
    }

    public void Write(Span<byte> entry)
    {
        var d = entry[..Size];
        d.Clear();
        d[0] = IsLast ? Final : MoreFollow;
        d[1] = (byte)Platform;
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], EntryCount);
        var id = Encoding.ASCII.GetBytes(IdString);
        if (id.Length > 28)
        {
            throw new ArgumentException("the section id string is at most 28 characters");
        }
        id.CopyTo(d[4..]);
    }
}
