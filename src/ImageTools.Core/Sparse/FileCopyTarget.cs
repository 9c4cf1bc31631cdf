using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Sparse;

/// <summary>
/// A regular DEST file. A new (or replaced) file is written under a temporary name in the same folder and
/// renamed over DEST only when complete, so a failure or Ctrl-C never leaves a partial file; with
/// <c>--overlay</c> the existing file is written in place and only the ranges SOURCE covers change.
/// </summary>
public sealed class FileCopyTarget : HandleCopyTarget
{
    private readonly string _finalPath;
    private readonly string? _temporaryPath;
    private readonly long _originalLength;
    private bool _committed;

    private FileCopyTarget(string name, string finalPath, string? temporaryPath, SafeFileHandle handle, long originalLength, IPlatformIo platform)
        : base(name, handle, FileKind.RegularFile, 0, knownZeroFrom: originalLength, capacity: null, ownsHandle: true, platform)
    {
        _finalPath = finalPath;
        _temporaryPath = temporaryPath;
        _originalLength = originalLength;
    }

    public override long? ExistingLength => _temporaryPath == null ? _originalLength : null;

    /// <summary>The temporary file being written, or null when writing in place.</summary>
    public string? TemporaryPath => _committed ? null : _temporaryPath;

    /// <summary>The file DEST will be once committed (symlinks resolved).</summary>
    public string FinalPath => _finalPath;

    /// <summary>
    /// Opens <paramref name="path"/> as DEST. Without <paramref name="overlay"/> (or when the file does not exist)
    /// a temporary beside it is written and later renamed over it, keeping an existing file's permissions.
    /// </summary>
    public static FileCopyTarget Open(string path, bool overlay, IPlatformIo? platform = null)
    {
        platform ??= PlatformIo.Current;
        var finalPath = ResolveLinks(path);
        var identity = platform.Identify(finalPath, ErrorKind.DestinationUnwritable, "DEST");
        if (identity.Kind == FileKind.Directory)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"DEST {path} is a directory; give the path of the file to write") { Path = path };
        }
        if (identity.Exists && identity.Kind != FileKind.RegularFile)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"DEST {path} is a {identity.Kind}, not a regular file") { Path = path };
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(finalPath)) ?? ".";
        if (!Directory.Exists(folder))
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot create DEST {path}: folder {folder} does not exist") { Path = path };
        }

        if (overlay && identity.Exists)
        {
            try
            {
                var handle = File.OpenHandle(finalPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                return new FileCopyTarget(path, finalPath, null, handle, RandomAccess.GetLength(handle), platform);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot open DEST {path} for writing: {e.Message}", e) { Path = path };
            }
        }

        var temporary = Path.Combine(folder, $".{Path.GetFileName(finalPath)}.sparsecopy-{Guid.NewGuid():N}.tmp");
        try
        {
            // FileShare.Delete: on Windows, Abort from a Ctrl-C handler can delete the file while the copy still
            // holds it open (it goes when the last handle closes); POSIX ignores the flag.
            var handle = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
            if (!OperatingSystem.IsWindows() && identity.Exists)
            {
                // A replaced DEST keeps its permission bits; a new one is created under the umask, like cp.
                File.SetUnixFileMode(handle, (UnixFileMode)(identity.UnixMode & 0x1FF));
            }
            // NTFS keeps skipped ranges as holes only in a file marked sparse (a no-op on POSIX).
            platform.MarkSparse(handle);
            return new FileCopyTarget(path, finalPath, temporary, handle, 0, platform);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"cannot create DEST {path} (temporary {temporary}): {e.Message}", e) { Path = path };
        }
    }

    public override void Finish(long endOffset, long? finalSize)
    {
        var size = finalSize ?? Math.Max(endOffset, _originalLength);
        try
        {
            RandomAccess.SetLength(Handle, size);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.TruncateFailed, $"cannot set the size of DEST {Name} to {size} bytes: {e.Message}", e) { Path = Name };
        }
        catch (ArgumentOutOfRangeException e)
        {
            // EFBIG: larger than the largest file DEST's filesystem allows (e.g. -f 16T on ext4).
            throw new ImageToolsException(ErrorKind.TruncateFailed,
                $"cannot set the size of DEST {Name} to {size} bytes: past the largest file its filesystem allows; give a smaller --finalsize or --seek", e) { Path = Name };
        }
    }

    public override TargetCompletion Commit(CancellationToken cancellation)
    {
        if (_temporaryPath != null && !_committed)
        {
            try
            {
                // Closed first: Windows does not rename (or replace with) a file that is still open. Nothing
                // writes DEST after Commit, and disposing a SafeFileHandle twice is harmless.
                Handle.Dispose();
                File.Move(_temporaryPath, _finalPath, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.WriteFailed, $"cannot rename {_temporaryPath} to DEST {_finalPath}: {e.Message}", e) { Path = Name };
            }
            _committed = true;
        }
        return new TargetCompletion(null);
    }

    public override void Abort()
    {
        if (_temporaryPath != null && !_committed)
        {
            try
            {
                // Closed first, so that Windows removes the file now rather than when the process ends.
                Handle.Dispose();
                File.Delete(_temporaryPath);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Follows symlinks so that a link to an image replaces the image, not the link.</summary>
    private static string ResolveLinks(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget == null)
            {
                return path;
            }
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            return target?.FullName ?? path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return path;
        }
    }
}
