namespace ImageTools.Core.Partitions;

/// <summary>Sector-addressed reads and writes on a seekable disk stream, shared by the table readers and writers.</summary>
internal static class DiskSectors
{
    /// <summary>
    /// Reads <paramref name="buffer"/>.Length bytes at sector <paramref name="lba"/>; returns how many bytes the disk
    /// had there (fewer at its end, 0 past it).
    /// </summary>
    public static int Read(Stream disk, long lba, int sectorSize, Span<byte> buffer)
    {
        var offset = checked(lba * sectorSize);
        long length;
        try
        {
            length = disk.Length;
        }
        catch (NotSupportedException)
        {
            length = long.MaxValue;
        }
        if (length > 0 && offset >= length)
        {
            // A block device's FileStream reports length 0; only trust a positive length.
            return 0;
        }
        disk.Position = offset;
        return disk.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
    }

    public static void Write(Stream disk, long lba, int sectorSize, ReadOnlySpan<byte> data)
    {
        disk.Position = checked(lba * sectorSize);
        disk.Write(data);
    }

    public static void RequireSeekable(Stream disk, string source)
    {
        if (!disk.CanSeek)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{source}: reading a partition table needs a seekable disk (a file or device, not a pipe)") { Path = source };
        }
    }

    public static void RequireSectorSize(int sectorSize)
    {
        if (sectorSize < MasterBootRecord.Size || (sectorSize & (sectorSize - 1)) != 0 || sectorSize > 64 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(sectorSize), sectorSize, "a sector is 512, 1024, 2048 or 4096... bytes");
        }
    }
}
