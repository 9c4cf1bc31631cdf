using ImageTools.Core;

namespace ImageTools.SparseCopy;

/// <summary>
/// sparsecopy's exit codes: 0–12 exactly as v0.10 (scripts test them), new failures after them, 130 for
/// Ctrl-C as shells expect. docs/sparsecopy.md has the same table.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int BadArguments = 1;
    public const int CannotOpenSource = 2;
    public const int CannotOpenDest = 3;
    public const int SeekFailed = 4;
    public const int OutOfMemory = 5;
    public const int BlankCheckReadFailed = 6;
    public const int BlankCheckSeekFailed = 7;
    public const int SparseSkipFailed = 8;
    public const int WriteFailed = 9;
    public const int TruncateFailed = 10;
    public const int DestNotBlank = 11;
    public const int SourceExceedsMaximum = 12;
    // New in this implementation.
    public const int DestInUse = 13;
    public const int SameFile = 14;
    public const int WrongKindOfFile = 15;
    public const int VerifyFailed = 16;
    public const int CorruptInput = 17;
    public const int DoesNotFit = 18;
    public const int InvalidPartitionTable = 19;
    public const int Unsupported = 20;
    public const int NotFound = 21;
    public const int MissingResource = 22;
    public const int BmapMismatch = 23;
    /// <summary>An internal error (a bug): an exception no documented code covers, reported in one line (EX_SOFTWARE).</summary>
    public const int InternalError = 70;
    public const int Interrupted = 130;

    public static int For(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => BadArguments,
        ErrorKind.SourceUnreadable => CannotOpenSource,
        ErrorKind.DestinationUnwritable => CannotOpenDest,
        ErrorKind.SeekFailed => SeekFailed,
        ErrorKind.OutOfMemory => OutOfMemory,
        ErrorKind.BlankCheckReadFailed => BlankCheckReadFailed,
        ErrorKind.BlankCheckSeekFailed => BlankCheckSeekFailed,
        ErrorKind.SparseSkipFailed => SparseSkipFailed,
        ErrorKind.WriteFailed => WriteFailed,
        ErrorKind.TruncateFailed => TruncateFailed,
        ErrorKind.DestinationNotBlank => DestNotBlank,
        ErrorKind.SourceExceedsMaximum => SourceExceedsMaximum,
        ErrorKind.DeviceBusy => DestInUse,
        ErrorKind.SameFile => SameFile,
        ErrorKind.WrongInputKind => WrongKindOfFile,
        ErrorKind.ChecksumMismatch => VerifyFailed,
        ErrorKind.CorruptImage => CorruptInput,
        ErrorKind.DoesNotFit => DoesNotFit,
        ErrorKind.InvalidPartitionTable => InvalidPartitionTable,
        ErrorKind.UnsupportedFeature => Unsupported,
        ErrorKind.NotFound => NotFound,
        ErrorKind.MissingResource => MissingResource,
        ErrorKind.BmapMismatch => BmapMismatch,
        ErrorKind.Cancelled => Interrupted,
        _ => WriteFailed,
    };
}
