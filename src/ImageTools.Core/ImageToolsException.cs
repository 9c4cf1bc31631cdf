namespace ImageTools.Core;

/// <summary>
/// What went wrong, in terms a command-line front end can map to an exit code.
/// The core library never exits a process; each CLI owns its own table from kind to exit code
/// (sparsecopy keeps the codes of v0.10, see docs/sparsecopy.md).
/// </summary>
public enum ErrorKind
{
    /// <summary>A bad option, size or combination of arguments.</summary>
    InvalidArgument,
    /// <summary>The source cannot be opened or read.</summary>
    SourceUnreadable,
    /// <summary>The destination cannot be opened or created.</summary>
    DestinationUnwritable,
    /// <summary>A seek on the source or destination failed.</summary>
    SeekFailed,
    /// <summary>A buffer could not be allocated.</summary>
    OutOfMemory,
    /// <summary>Reading the destination back for the blank check failed.</summary>
    BlankCheckReadFailed,
    /// <summary>Seeking the destination for the blank check failed.</summary>
    BlankCheckSeekFailed,
    /// <summary>Skipping over a zero run in the destination failed.</summary>
    SparseSkipFailed,
    /// <summary>Writing (or stat-ing) the destination failed, including a full disk.</summary>
    WriteFailed,
    /// <summary>Setting the destination's final size failed.</summary>
    TruncateFailed,
    /// <summary>The destination's first block is not zero and <c>--check</c> was given.</summary>
    DestinationNotBlank,
    /// <summary>The source holds more than <c>--maxwrite</c> bytes and <c>-e</c> was given.</summary>
    SourceExceedsMaximum,
    /// <summary>The destination (or one of its partitions) is mounted or otherwise busy.</summary>
    DeviceBusy,
    /// <summary>Source and destination are the same file.</summary>
    SameFile,
    /// <summary>The operation was cancelled (Ctrl-C).</summary>
    Cancelled,
    /// <summary>An image or on-disk structure is corrupt or truncated.</summary>
    CorruptImage,
    /// <summary>An image uses a feature this code does not handle.</summary>
    UnsupportedFeature,
    /// <summary>The input is not of the kind the operation needs (an ISO where a filesystem was expected...).</summary>
    WrongInputKind,
    /// <summary>A partition table is invalid (overlap, past the end, bad signature, loop).</summary>
    InvalidPartitionTable,
    /// <summary>The content does not fit in the space given.</summary>
    DoesNotFit,
    /// <summary>A checksum did not match.</summary>
    ChecksumMismatch,
    /// <summary>A file or path that the operation needs does not exist.</summary>
    NotFound,
    /// <summary>A required external resource (GRUB files, a kernel) is missing.</summary>
    MissingResource,
    /// <summary>
    /// An image's bytes differ from the checksum its block map (bmap) gives for a range: the image is damaged or
    /// the bmap belongs to another image. Distinct from <see cref="ChecksumMismatch"/>, which is about a copy
    /// reading back differently from what was written.
    /// </summary>
    BmapMismatch,
}

/// <summary>
/// The one exception type the core library throws for expected failures. The message names the
/// file (or entry, offset, field) and what is wrong with it, in words fit to show a user as is.
/// </summary>
public class ImageToolsException : Exception
{
    public ImageToolsException(ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    /// <summary>What kind of failure this is; front ends map it to an exit code.</summary>
    public ErrorKind Kind { get; }

    /// <summary>The path the failure concerns, when there is one.</summary>
    public string? Path { get; init; }
}
