namespace ImageTools.Core.Ext.Writer;

/// <summary>Where a build is, for progress displays.</summary>
/// <param name="Phase">"scanning", "writing" or "finishing".</param>
/// <param name="Entries">Entries processed so far.</param>
/// <param name="Bytes">File content bytes processed so far.</param>
/// <param name="CurrentPath">The entry being processed.</param>
public readonly record struct ExtBuildProgress(string Phase, long Entries, long Bytes, string? CurrentPath);

/// <summary>What a build produced.</summary>
public sealed record ExtBuildResult
{
    public required ExtFilesystemType Type { get; init; }
    public required long SizeBytes { get; init; }
    public required int BlockSize { get; init; }
    public required int InodeSize { get; init; }
    public required long BlocksCount { get; init; }
    public required long FreeBlocks { get; init; }
    public required long InodesCount { get; init; }
    public required long FreeInodes { get; init; }
    public required int GroupCount { get; init; }
    public required int JournalBlocks { get; init; }
    public required Guid Uuid { get; init; }
    public required Guid HashSeed { get; init; }
    public required string Label { get; init; }

    public long RegularFiles { get; init; }
    public long Directories { get; init; }
    public long SymbolicLinks { get; init; }
    public long HardLinks { get; init; }
    public long SpecialFiles { get; init; }
    public long IndexedDirectories { get; init; }

    /// <summary>Bytes of file content (apparent sizes).</summary>
    public long ContentBytes { get; init; }

    /// <summary>Blocks holding file data (holes and all-zero blocks are not allocated).</summary>
    public long DataBlocks { get; init; }

    /// <summary>Bytes actually written to the target (data, metadata; zeros only on a non-zero target).</summary>
    public long BytesWritten { get; init; }

    /// <summary>Whether the size was computed from the content (no size was given).</summary>
    public bool SizeWasComputed { get; init; }
}
