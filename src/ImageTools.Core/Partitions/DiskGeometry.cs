namespace ImageTools.Core.Partitions;

/// <summary>
/// The BIOS (INT 13h) geometry used to turn an LBA into the cylinder/head/sector triplets that MBR entries
/// still carry. Real disks stopped having a geometry long ago; every current partitioning tool (sfdisk, fdisk,
/// parted) uses the translated geometry of 255 heads and 63 sectors per track, so that is <see cref="Lba"/>.
/// </summary>
public readonly record struct DiskGeometry
{
    /// <summary>255 heads × 63 sectors per track: what sfdisk uses for image files and modern disks.</summary>
    public static DiskGeometry Lba { get; } = new(255, 63);

    public DiskGeometry(int heads, int sectorsPerTrack)
    {
        // A CHS entry stores the head in 8 bits and the (1-based) sector in 6 bits.
        if (heads is < 1 or > 256)
        {
            throw new ArgumentOutOfRangeException(nameof(heads), heads, "a CHS geometry has 1 to 256 heads");
        }
        if (sectorsPerTrack is < 1 or > 63)
        {
            throw new ArgumentOutOfRangeException(nameof(sectorsPerTrack), sectorsPerTrack, "a CHS geometry has 1 to 63 sectors per track");
        }
        Heads = heads;
        SectorsPerTrack = sectorsPerTrack;
    }

    public int Heads { get; }

    public int SectorsPerTrack { get; }

    public int SectorsPerCylinder => Heads * SectorsPerTrack;

    /// <summary>
    /// The last LBA a CHS triplet can address with this geometry: cylinder 1023, last head, last sector.
    /// sfdisk writes this triplet for every LBA beyond it (libfdisk dos.c, set_partition).
    /// </summary>
    public long LastAddressableLba => ((long)ChsAddress.MaxCylinder + 1) * SectorsPerCylinder - 1;

    public override string ToString() => $"{Heads} heads, {SectorsPerTrack} sectors/track";
}
