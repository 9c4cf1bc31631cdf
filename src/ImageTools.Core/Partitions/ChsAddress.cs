namespace ImageTools.Core.Partitions;

/// <summary>
/// A cylinder/head/sector address as an MBR partition entry stores it in 3 bytes (the INT 13h register
/// layout): byte 0 is the head; byte 1 holds the 1-based sector in bits 0-5 and bits 8-9 of the cylinder
/// in bits 6-7; byte 2 holds bits 0-7 of the cylinder. An all-zero triplet (sector 0) means "unused".
/// </summary>
public readonly record struct ChsAddress(int Cylinder, int Head, int Sector)
{
    /// <summary>Bytes a CHS triplet takes in an entry.</summary>
    public const int Size = 3;

    public const int HeadOffset = 0;
    public const int SectorAndCylinderHighOffset = HeadOffset + 1;
    public const int CylinderLowOffset = SectorAndCylinderHighOffset + 1;

    /// <summary>10 bits of cylinder: 0..1023.</summary>
    public const int MaxCylinder = 1023;

    /// <summary>8 bits of head: 0..255.</summary>
    public const int MaxHead = 255;

    /// <summary>6 bits of sector, counted from 1: 1..63 (0 only in an unused entry).</summary>
    public const int MaxSector = 63;

    private const int SectorMask = 0x3F;
    private const int CylinderHighMask = 0xC0;

    public static ChsAddress Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a CHS address needs {Size} bytes, got {source.Length}", nameof(source));
        }
        var head = source[HeadOffset];
        var sectorByte = source[SectorAndCylinderHighOffset];
        var cylinder = source[CylinderLowOffset] | ((sectorByte & CylinderHighMask) << 2);
        return new ChsAddress(cylinder, head, sectorByte & SectorMask);
    }

    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a CHS address needs {Size} bytes, got {destination.Length}", nameof(destination));
        }
        if (Cylinder is < 0 or > MaxCylinder || Head is < 0 or > MaxHead || Sector is < 0 or > MaxSector)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"CHS address {this} cannot be stored: cylinder must be 0..{MaxCylinder}, head 0..{MaxHead}, sector 0..{MaxSector}");
        }
        destination[HeadOffset] = (byte)Head;
        destination[SectorAndCylinderHighOffset] = (byte)(Sector | ((Cylinder >> 2) & CylinderHighMask));
        destination[CylinderLowOffset] = (byte)(Cylinder & 0xFF);
    }

    /// <summary>
    /// The triplet sfdisk writes for <paramref name="lba"/>: the plain translation with the given geometry,
    /// except that an LBA on a cylinder past 1023 is replaced by the last addressable sector
    /// (1023/254/63 with 255×63), the convention every BIOS-era tool follows to say "use the LBA fields".
    /// </summary>
    public static ChsAddress FromLba(long lba, DiskGeometry geometry)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lba);
        if (lba / geometry.SectorsPerCylinder > MaxCylinder)
        {
            lba = geometry.LastAddressableLba;
        }
        var sector = (int)(lba % geometry.SectorsPerTrack) + 1;
        var track = lba / geometry.SectorsPerTrack;
        var head = (int)(track % geometry.Heads);
        var cylinder = (int)(track / geometry.Heads);
        return new ChsAddress(cylinder, head, sector);
    }

    /// <summary>The LBA this triplet names with the given geometry (meaningless for the capped 1023/254/63).</summary>
    public long ToLba(DiskGeometry geometry) =>
        ((long)Cylinder * geometry.Heads + Head) * geometry.SectorsPerTrack + Sector - 1;

    /// <summary>As sfdisk and fdisk print it: cylinder/head/sector.</summary>
    public override string ToString() => $"{Cylinder}/{Head}/{Sector}";
}
