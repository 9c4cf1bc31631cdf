using ImageTools.Core.Streams;

namespace ImageTools.Core.Containers.Vhd;

/// <summary>A fixed VHD read as its disk: the file's bytes before the footer, with the file's own holes.</summary>
public sealed class VhdFixedDiskSource : VirtualDiskSource
{
    private readonly FileDataSource _file;
    private readonly long _size;

    private VhdFixedDiskSource(FileDataSource file, VhdFooter footer)
    {
        _file = file;
        _size = (long)footer.CurrentSize;
        Footer = footer;
    }

    public VhdFooter Footer { get; }

    /// <summary>Opens <paramref name="file"/> (owned by the result) whose last sector is a fixed disk's footer.</summary>
    public static VhdFixedDiskSource Open(FileDataSource file)
    {
        try
        {
            var length = file.Length ?? 0;
            var sector = new byte[VhdFooter.Size];
            if (length < VhdFooter.Size || file.ReadFully(length - VhdFooter.Size, sector) != VhdFooter.Size)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{file.Name} is too short to be a VHD") { Path = file.Name };
            }
            var footer = VhdFooter.Read(sector, file.Name, length - VhdFooter.Size);
            if (footer.DiskType != VhdFooter.FixedDisk)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{file.Name}: a {(footer.DiskType == VhdFooter.DynamicDisk ? "dynamic" : "differencing")} VHD (disk type at offset {length - VhdFooter.Size + 60}) is not read yet; convert it with qemu-img convert -f vpc -O raw") { Path = file.Name };
            }
            if ((long)footer.CurrentSize > length - VhdFooter.Size)
            {
                throw VhdFooter.Corrupt(file.Name, length - VhdFooter.Size + 48, "current size",
                    $"{footer.CurrentSize} bytes, but only {length - VhdFooter.Size} bytes come before the footer; the image is truncated");
            }
            return new VhdFixedDiskSource(file, footer);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public override string Name => _file.Name;

    public override ContainerFormat Format => ContainerFormat.VhdFixed;

    public override long? Length => _size;

    public override long BytesRead => _file.BytesRead;

    public override Extent? NextData(long offset) =>
        offset >= _size ? null : _file.NextData(offset) is { } e && e.Offset < _size ? e.Intersect(0, _size) : null;

    public override int Read(long position, Span<byte> buffer)
    {
        if (position >= _size)
        {
            return 0;
        }
        return _file.Read(position, buffer[..(int)Math.Min(buffer.Length, _size - position)]);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }
    }
}
