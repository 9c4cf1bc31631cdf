namespace ImageTools.Core.Sparse;

/// <summary>
/// What a copy did, in v0.10's terms and more. <see cref="TotalBytes"/> = <see cref="WrittenBytes"/> +
/// <see cref="SparseBytes"/>: every byte of SOURCE was either written or left as a hole (or zeroed by the OS).
/// </summary>
public sealed record CopyStatistics
{
    /// <summary>Bytes of SOURCE copied (N on the final line).</summary>
    public long TotalBytes { get; init; }

    /// <summary>Bytes written to DEST (R), including zeros written because DEST was not blank.</summary>
    public long WrittenBytes { get; init; }

    /// <summary>Bytes not written because they were zero (S): holes, or ranges zeroed by the OS.</summary>
    public long SparseBytes { get; init; }

    /// <summary>Zero bytes written because DEST held data there (Z).</summary>
    public long NonZeroDestBytes { get; init; }

    /// <summary>Bytes made zero by a hole punch or BLKZEROOUT instead of writes (part of <see cref="SparseBytes"/>).</summary>
    public long ZeroedByOsBytes { get; init; }

    /// <summary>Bytes read from SOURCE's medium (compressed bytes for compressed input): holes are not read.</summary>
    public long SourceBytesRead { get; init; }

    /// <summary>Bytes of DEST read back by the blank check.</summary>
    public long BlankCheckBytesRead { get; init; }

    public TimeSpan Elapsed { get; init; }

    /// <summary>SHA-256 of the bytes copied, when verification was asked for.</summary>
    public string? SourceSha256 { get; init; }

    /// <summary>SHA-256 of DEST's range read back, when verification was asked for.</summary>
    public string? DestinationSha256 { get; init; }
}

/// <summary>A progress event: how far the copy is.</summary>
/// <param name="BytesDone">Bytes of SOURCE handled so far.</param>
/// <param name="TotalBytes">SOURCE's size when known (null for a pipe or compressed input).</param>
/// <param name="BytesWritten">Bytes written to DEST so far.</param>
/// <param name="Elapsed">Time since the copy started.</param>
public readonly record struct CopyProgress(long BytesDone, long? TotalBytes, long BytesWritten, TimeSpan Elapsed);
