namespace ImageTools.Core.Sparse;

/// <summary>How the engine makes sure DEST reads back zeros where SOURCE has zeros but DEST held data.</summary>
public enum BlankCheckMode
{
    /// <summary>
    /// Zero the range with the OS where that costs no data writes (a hole punch in a file, BLKZEROOUT on a
    /// device whose hardware offloads WRITE ZEROES); otherwise read DEST back and write zeros only where it is not blank.
    /// </summary>
    Auto,
    /// <summary>Always read DEST back and write zeros where it is not blank (v0.10's blank check).</summary>
    ReadBack,
    /// <summary>Skip zero runs without looking (<c>-n</c>): stale DEST data stays where SOURCE has zeros.</summary>
    Off,
}

/// <summary>What to copy and how; the engine's side of sparsecopy's command line.</summary>
public sealed record SparseCopyOptions
{
    /// <summary>The largest zero-detection block accepted; it must fit in the I/O buffers.</summary>
    public const int MaxBlockSize = 64 << 20;

    /// <summary>Zero-detection granularity: an all-zero block of this size becomes a hole (v0.10's <c>-b</c>).</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>Copy at most this many bytes of SOURCE (<c>-m</c>).</summary>
    public long? MaxBytes { get; init; }

    /// <summary>Fail when SOURCE holds more than <see cref="MaxBytes"/> (<c>-e</c>).</summary>
    public bool FailIfSourceExceedsMax { get; init; }

    /// <summary>Where in DEST the copy starts (<c>-s</c>).</summary>
    public long DestinationOffset { get; init; }

    public BlankCheckMode BlankCheck { get; init; } = BlankCheckMode.Auto;

    /// <summary>Refuse unless DEST's first block is all zero (<c>-c</c>).</summary>
    public bool RequireBlankFirstBlock { get; init; }

    /// <summary>Flush DEST to disk after every this many bytes written (<c>-y</c>).</summary>
    public long? SyncEvery { get; init; }

    /// <summary>Hash what was copied and read DEST back to compare (<c>--verify</c>).</summary>
    public bool Verify { get; init; }

    /// <summary>Size of each I/O buffer (rounded up to a multiple of <see cref="BlockSize"/>); independent of the block size.</summary>
    public int IoBufferSize { get; init; } = DefaultIoBufferSize;

    /// <summary>
    /// 1 MiB, like <c>dd bs=1M</c>: few hand-overs between the reading and the writing thread. Inside a
    /// buffer the reader reads and scans 256 KiB at a time, so the scan finds the bytes still in its cache.
    /// </summary>
    public const int DefaultIoBufferSize = 1 << 20;

    /// <summary>Buffers in flight between the reading thread and the writing thread.</summary>
    public int IoBufferCount { get; init; } = 4;

    /// <summary>Throws <see cref="ImageToolsException"/> (InvalidArgument) naming the bad setting.</summary>
    public void Validate()
    {
        if (BlockSize <= 0 || BlockSize > MaxBlockSize)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"block size {BlockSize} is out of range (1 byte to {MaxBlockSize >> 20} MiB)");
        }
        if (MaxBytes is < 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"maximum size {MaxBytes} is negative");
        }
        if (DestinationOffset < 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"seek position {DestinationOffset} is negative");
        }
        if (SyncEvery is <= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"sync interval {SyncEvery} must be positive");
        }
        if (IoBufferSize <= 0 || IoBufferCount < 2)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "I/O buffers: at least two of a positive size");
        }
    }
}
