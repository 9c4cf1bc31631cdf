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
