namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// Makes the block map of an image from the extents that hold its data, reading only those extents to
/// checksum each run of blocks (as <c>bmaptool create</c> does with FIEMAP or SEEK_DATA). Memory stays at one
/// I/O buffer whatever the image size.
/// </summary>
public static class BmapCreator
{
    /// <summary>bmaptool's block size on common filesystems (it asks the filesystem; ext4 and xfs say 4096).</summary>
    public const int DefaultBlockSize = 4096;

    private const int BufferSize = 1024 * 1024;

    /// <summary>
    /// Maps an image file or device as <c>bmaptool create</c> does (its data ranges from SEEK_DATA/SEEK_HOLE, each
    /// checksummed with SHA-256) and writes the bmap, format 2.0, to <paramref name="bmapPath"/>: under a temporary
    /// name beside it, renamed when complete, so a failure leaves no partial bmap. Holes are never read.
    /// </summary>
    /// <param name="imagePath">The image (a file, a device, or "-" for standard input redirected from a file).</param>
    /// <param name="bmapPath">Where to write the bmap.</param>
    /// <param name="blockSize">Block size of the map (4096, like bmaptool on ext4 and xfs).</param>
    /// <param name="progress">Receives the mapped bytes checksummed so far.</param>
    /// <param name="cancellationToken">Stops between buffers.</param>
    /// <param name="platform">OS access.</param>
    public static BlockMap CreateFile(string imagePath, string bmapPath, int blockSize = DefaultBlockSize, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default, Platform.IPlatformIo? platform = null)
    {
        using var opened = Streams.SourceOpener.Open(imagePath, decompress: true, platform: platform);
        var name = opened.Source.Name;
        if (opened.Format != Streams.CompressionFormat.None)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{imagePath} is {Streams.Compression.NameOf(opened.Format)}-compressed; a bmap maps the blocks of the uncompressed image, " +
                "so create it from the raw image (then copy the compressed one with --bmap)") { Path = imagePath };
        }
        if (opened.OpenRandomAccess is not { } open || opened.Source.Length is not { } length)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{name} is a pipe; a bmap is made from a file or a device, whose data ranges can be asked for") { Path = imagePath };
        }
        if (imagePath != Streams.SourceOpener.StdinName && Path.GetFullPath(imagePath) == Path.GetFullPath(bmapPath))
        {
            throw new ImageToolsException(ErrorKind.SameFile, $"the bmap {bmapPath} would overwrite the image itself") { Path = bmapPath };
        }
        BlockMap map;
        using (var image = open())
        {
            map = Create(image, length, DataExtents(opened.Source, length), blockSize, BmapChecksum.Sha256, progress, cancellationToken, name);
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(bmapPath)) ?? ".";
        var temporary = Path.Combine(folder, $".{Path.GetFileName(bmapPath)}.sparsecopy-{Guid.NewGuid():N}.tmp");
        try
        {
            BmapWriter.Write(map, temporary);
            File.Move(temporary, bmapPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot write the bmap {bmapPath}: {e.Message}", e) { Path = bmapPath };
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        return map;
    }

    /// <summary>The data extents of a source up to its length, asked lazily as the creator walks them.</summary>
    private static IEnumerable<(long Offset, long Length)> DataExtents(Streams.DataSource source, long length)
    {
        long position = 0;
        while (position < length && source.NextData(position) is { } extent)
        {
            var end = Math.Min(extent.End, length);
            if (end <= extent.Offset)
            {
                yield break;
            }
            yield return (extent.Offset, end - extent.Offset);
            position = end;
        }
    }

    /// <param name="image">The image, seekable and readable.</param>
    /// <param name="imageSize">Its size in bytes.</param>
    /// <param name="dataExtents">Byte extents holding data; blocks they touch are mapped.</param>
    /// <param name="blockSize">Block size of the map.</param>
    /// <param name="checksumType">Checksum of each range, or null for none (<c>bmaptool create --no-checksum</c>).</param>
    /// <param name="progress">Receives the mapped bytes checksummed so far.</param>
    /// <param name="cancellationToken">Stops between buffers.</param>
    /// <param name="source">Names the image in messages.</param>
    public static BlockMap Create(Stream image, long imageSize, IEnumerable<(long Offset, long Length)> dataExtents,
        int blockSize = DefaultBlockSize, string? checksumType = BmapChecksum.Sha256, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default, string source = "image")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        if (imageSize == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{source} is empty: there is nothing to map") { Path = source };
        }
        var ranges = BlockMap.RangesFromExtents(dataExtents, imageSize, blockSize);
        if (checksumType == null)
        {
            return new BlockMap(imageSize, blockSize, ranges, BmapChecksum.Sha256, source: source);
        }

        var layout = new BlockMap(imageSize, blockSize, ranges, checksumType, source: source);
        var buffer = new byte[BufferSize];
        var withChecksums = new List<BmapRange>(ranges.Count);
        long done = 0;
        foreach (var range in ranges)
        {
            var (offset, length) = layout.ByteRangeOf(range);
            using var hash = BmapChecksum.Create(checksumType);
            image.Position = offset;
            var left = length;
            while (left > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var want = (int)Math.Min(left, buffer.Length);
                var got = image.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
                if (got < want)
                {
                    throw new ImageToolsException(ErrorKind.SourceUnreadable,
                        $"{source}: ends at byte {offset + length - left + got}, inside {layout.Describe(range)}; it is shorter than its stated {imageSize} bytes")
                    { Path = source };
                }
                hash.AppendData(buffer, 0, got);
                left -= got;
                done += got;
                progress?.Report(done);
            }
            withChecksums.Add(range with { Checksum = Convert.ToHexStringLower(hash.GetHashAndReset()) });
        }
        return new BlockMap(imageSize, blockSize, withChecksums, checksumType, source: source);
    }
}
