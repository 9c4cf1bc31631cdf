using System.Globalization;

namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// A block map in bmaptool's sense: which blocks of an image hold data (are "mapped") and must be copied, with a
/// checksum per run of blocks so the copy can be verified. The rest of the image is unused space that a copy may
/// skip. This is the content of a <c>.bmap</c> file (see <see cref="BmapReader"/> and <see cref="BmapWriter"/>).
/// </summary>
public sealed class BlockMap
{
    /// <summary>The format version we write: 2.0, the current one (1.4 is the same format under a mistaken number).</summary>
    public const string CurrentVersion = "2.0";

    /// <param name="imageSize">The image's size in bytes.</param>
    /// <param name="blockSize">The block size in bytes (bmaptool uses the filesystem's, usually 4096).</param>
    /// <param name="ranges">Mapped runs, ascending and not overlapping.</param>
    /// <param name="checksumType">The checksum function of the ranges (null: a pre-1.3 bmap without checksums).</param>
    /// <param name="version">The format version, "major.minor".</param>
    /// <param name="source">Names the bmap in messages.</param>
    public BlockMap(long imageSize, int blockSize, IReadOnlyList<BmapRange> ranges, string? checksumType = BmapChecksum.Sha256,
        string version = CurrentVersion, string source = "bmap")
    {
        Source = source;
        if (blockSize <= 0)
        {
            throw Invalid($"block size {blockSize} is not positive");
        }
        if (imageSize < 0)
        {
            throw Invalid($"image size {imageSize} is negative");
        }
        if (checksumType != null && !BmapChecksum.IsSupported(checksumType))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{source}: checksum type \"{checksumType}\" is not supported") { Path = source };
        }
        ImageSize = imageSize;
        BlockSize = blockSize;
        BlocksCount = (imageSize + blockSize - 1) / blockSize;
        ChecksumType = checksumType;
        Version = version;

        long previousLast = -1;
        long mapped = 0;
        foreach (var r in ranges)
        {
            if (r.FirstBlock < 0 || r.LastBlock < r.FirstBlock)
            {
                throw Invalid($"range {r.FirstBlock}-{r.LastBlock} is empty or negative");
            }
            if (r.LastBlock >= BlocksCount)
            {
                throw Invalid($"{r.Describe()} is past the image's last block {BlocksCount - 1} ({imageSize} bytes in {blockSize}-byte blocks)");
            }
            if (r.FirstBlock <= previousLast)
            {
                throw Invalid($"{r.Describe()} overlaps or precedes the range before it (ending at block {previousLast}); ranges must ascend");
            }
            if (r.Checksum != null)
            {
                if (checksumType == null)
                {
                    throw Invalid($"{r.Describe()} has a checksum but the bmap names no checksum type");
                }
                if (r.Checksum.Length != BmapChecksum.HexLength(checksumType) || !r.Checksum.All(char.IsAsciiHexDigit))
                {
                    throw Invalid($"{r.Describe()}: checksum \"{r.Checksum}\" is not {BmapChecksum.HexLength(checksumType)} hex digits of {checksumType}");
                }
            }
            previousLast = r.LastBlock;
            mapped += r.BlockCount;
        }
        Ranges = ranges.ToArray();
        MappedBlocksCount = mapped;
    }

    /// <summary>"2.0", or the older version a file was read with.</summary>
    public string Version { get; }

    public long ImageSize { get; }

    public int BlockSize { get; }

    /// <summary>Blocks in the image: ImageSize / BlockSize rounded up.</summary>
    public long BlocksCount { get; }

    /// <summary>Blocks in <see cref="Ranges"/>.</summary>
    public long MappedBlocksCount { get; }

    /// <summary>"sha256" (version 2.0), "sha1" (1.3), or null for versions without checksums.</summary>
    public string? ChecksumType { get; }

    public IReadOnlyList<BmapRange> Ranges { get; }

    /// <summary>Names the bmap in messages.</summary>
    public string Source { get; }

    /// <summary>Bytes the mapped ranges cover (the last block of the image may be partial).</summary>
    public long MappedBytes => Ranges.Sum(r => ByteRangeOf(r).Length);

    /// <summary>Where a range's bytes are in the image: from its first block to its last, clipped at the image's end.</summary>
    public (long Offset, long Length) ByteRangeOf(BmapRange range)
    {
        var offset = range.FirstBlock * BlockSize;
        var end = Math.Min((range.LastBlock + 1) * BlockSize, ImageSize);
        return (offset, end - offset);
    }

    /// <summary>"blocks 10-19 (bytes 40960-81919)": a range in block and byte terms for messages.</summary>
    public string Describe(BmapRange range)
    {
        var (offset, length) = ByteRangeOf(range);
        return string.Create(CultureInfo.InvariantCulture, $"{range.Describe()} (bytes {offset}-{offset + length - 1})");
    }

    /// <summary>
    /// Builds a block map from the byte extents that hold data (from SEEK_DATA/SEEK_HOLE or FIEMAP, as bmaptool
    /// gets them): every block an extent touches is mapped; touching and overlapping runs merge. No checksums yet:
    /// see <see cref="BmapCreator"/>.
    /// </summary>
    public static IReadOnlyList<BmapRange> RangesFromExtents(IEnumerable<(long Offset, long Length)> dataExtents, long imageSize, int blockSize)
    {
        var ranges = new List<BmapRange>();
        foreach (var (offset, length) in dataExtents.OrderBy(e => e.Offset))
        {
            if (length <= 0 || offset >= imageSize)
            {
                continue;
            }
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            var end = Math.Min(offset + length, imageSize);
            var first = offset / blockSize;
            var last = (end - 1) / blockSize;
            if (ranges.Count > 0 && first <= ranges[^1].LastBlock + 1)
            {
                var previous = ranges[^1];
                ranges[^1] = previous with { LastBlock = Math.Max(previous.LastBlock, last) };
            }
            else
            {
                ranges.Add(new BmapRange(first, last));
            }
        }
        return ranges;
    }

    private ImageToolsException Invalid(string message) =>
        new(ErrorKind.CorruptImage, $"{Source}: {message}") { Path = Source };
}
