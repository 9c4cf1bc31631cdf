namespace ImageTools.Core.Containers.Vhd;

/// <summary>
/// A fixed VHD, as Azure takes it: the disk's bytes as they are (holes stay holes in the file), the virtual size
/// rounded up to a whole MiB, then the 512-byte footer. Nothing but the footer needs seeking, and it comes last.
/// </summary>
public sealed class VhdFixedDiskWriter(IContainerFile file, Func<DateTimeOffset>? clock = null, Guid? uniqueId = null) : VirtualDiskWriter
{
    private const long MiB = 1 << 20;

    public override ContainerFormat Format => ContainerFormat.VhdFixed;

    public override void Write(long offset, ReadOnlySpan<byte> data) => file.Write(offset, data);

    public override long Finish(long virtualSize)
    {
        var size = Math.Max(MiB, (virtualSize + MiB - 1) / MiB * MiB);
        var (cylinders, heads, sectors) = VhdFooter.GeometryFor(size);
        var now = (clock ?? (() => DateTimeOffset.UtcNow))();
        var footer = new VhdFooter
        {
            Timestamp = (uint)Math.Clamp(now.ToUnixTimeSeconds() - VhdFooter.VhdEpochUnixSeconds, 0, uint.MaxValue),
            OriginalSize = (ulong)size,
            CurrentSize = (ulong)size,
            Cylinders = cylinders,
            Heads = heads,
            SectorsPerTrack = sectors,
            DiskType = VhdFooter.FixedDisk,
            UniqueId = uniqueId ?? Guid.NewGuid(),
        };
        var bytes = new byte[VhdFooter.Size];
        footer.Write(bytes);
        file.Write(size, bytes);
        VirtualSize = size;
        return size + VhdFooter.Size;
    }
}
