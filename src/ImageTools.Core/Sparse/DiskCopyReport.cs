using ImageTools.Core.Partitions;
using ImageTools.Core.Sparse.Bmap;

namespace ImageTools.Core.Sparse;

/// <summary>
/// What the partition and bmap options made of a copy, for the front end to tell the user: which partitions
/// were read or written, what was left out because DEST is smaller, how the table was grown, which bmap was
/// followed. Empty for a plain copy.
/// </summary>
public sealed record DiskCopyReport
{
    /// <summary>The partition of SOURCE that was copied (<c>--partition N</c>).</summary>
    public DiskPartition? SourcePartition { get; init; }

    /// <summary>The partition of DEST that was written (<c>--to-partition N</c>).</summary>
    public DiskPartition? DestinationPartition { get; init; }

    /// <summary>DEST's size when it decided something (a device's size, <c>-f</c>, the grown disk).</summary>
    public long? DestinationSize { get; init; }

    /// <summary>
    /// DEST is smaller than SOURCE and every partition ends within it: only SOURCE's bytes up to here were
    /// copied (the end of <see cref="LastPartition"/>, or DEST's size when SOURCE's size was unknown).
    /// </summary>
    public long? CopiedUpTo { get; init; }

    /// <summary>The partition that ends last on SOURCE, when <see cref="CopiedUpTo"/> is set from the table.</summary>
    public DiskPartition? LastPartition { get; init; }

    /// <summary>SOURCE's size when known (null for compressed input or a pipe).</summary>
    public long? SourceLength { get; init; }

    /// <summary>SOURCE, of a size unknown beforehand, turned out to go on past DEST's end; that part lies outside every partition.</summary>
    public bool SourceWentPastDestination { get; init; }

    /// <summary>How the last partition was grown (<c>--grow</c>); null when it was not.</summary>
    public MbrPartitionGrowth? Growth { get; init; }

    /// <summary>SOURCE's GPT rewritten for DEST's size (backup moved to DEST's end, <c>--grow</c>'s partition); null when it was not.</summary>
    public GptRewrite? Gpt { get; init; }

    /// <summary><c>--grow</c> was asked but the last partition already reached DEST's end.</summary>
    public bool NothingToGrow { get; init; }

    /// <summary>The bmap followed (<c>--bmap FILE</c>).</summary>
    public BlockMap? Bmap { get; init; }

    /// <summary>With <c>--bmap</c> and <c>--verify</c>: every mapped range read back from DEST matched its checksum.</summary>
    public bool BmapRangesVerifiedOnDestination { get; init; }
}
