using ImageTools.Core;

namespace ImageTools.FsMaker;

/// <summary>
/// fsmaker's exit codes, one per kind of failure (documented in docs/fsmaker.md). Scripts can
/// tell "your input is broken" from "the output could not be written" from "GRUB files are missing".
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int InvalidArguments = 1;
    public const int InputUnreadable = 2;
    public const int OutputUnwritable = 3;
    public const int CorruptInput = 4;
    public const int UnsupportedFeature = 5;
    public const int WrongInputKind = 6;
    public const int DoesNotFit = 7;
    public const int MissingResource = 8;
    public const int InvalidPartitionTable = 9;
    public const int DeviceBusy = 10;
    public const int ChecksumMismatch = 11;
    public const int NotFound = 12;

    /// <summary>boot-test: a boot failed (panic, emergency mode, GRUB error, no bootable device, QEMU ended).</summary>
    public const int BootFailed = 13;

    /// <summary>boot-test: the expected console text did not appear within --timeout.</summary>
    public const int BootTimedOut = 14;
    public const int InternalError = 70;
    public const int Cancelled = 130;

    public static int For(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => InvalidArguments,
        ErrorKind.SourceUnreadable => InputUnreadable,
        ErrorKind.SeekFailed => InputUnreadable,
        ErrorKind.DestinationUnwritable or ErrorKind.WriteFailed or ErrorKind.TruncateFailed => OutputUnwritable,
        ErrorKind.CorruptImage => CorruptInput,
        ErrorKind.UnsupportedFeature => UnsupportedFeature,
        ErrorKind.WrongInputKind => WrongInputKind,
        ErrorKind.DoesNotFit => DoesNotFit,
        ErrorKind.MissingResource => MissingResource,
        ErrorKind.InvalidPartitionTable => InvalidPartitionTable,
        ErrorKind.DeviceBusy or ErrorKind.SameFile => DeviceBusy,
        ErrorKind.ChecksumMismatch => ChecksumMismatch,
        ErrorKind.NotFound => NotFound,
        ErrorKind.Cancelled => Cancelled,
        _ => InternalError,
    };
}
