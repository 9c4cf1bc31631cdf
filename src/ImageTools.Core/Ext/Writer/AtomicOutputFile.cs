using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// A file written under a temporary name in the destination's folder and renamed over the
/// destination by <see cref="Commit"/>. Disposing without committing (an exception, Ctrl-C) deletes
/// the temporary file, so a failed build leaves nothing behind and never a half-written image under
/// the real name.
/// </summary>
public sealed class AtomicOutputFile : IDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Pending = new();
    private bool _committed;

    /// <summary>
    /// Deletes every temporary file not yet committed or disposed. A front end calls it when the process
    /// is being torn down (Ctrl-C while a read blocks), so that not even a temporary file is left.
    /// </summary>
    public static void DeleteAllPending()
    {
        foreach (var path in Pending.Keys)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private AtomicOutputFile(string destination, string temporary, SafeFileHandle handle)
    {
        Destination = destination;
        TemporaryPath = temporary;
        Handle = handle;
    }

    public string Destination { get; }

    public string TemporaryPath { get; }

    public SafeFileHandle Handle { get; }

    /// <summary>
    /// Creates the temporary file beside <paramref name="destination"/>. A destination that exists keeps its
    /// permission bits when replaced (an image holding password hashes and host keys stays 0600); a new one is
    /// created under the umask, as every file a program creates.
    /// </summary>
    public static AtomicOutputFile Create(string destination)
    {
        var full = Path.GetFullPath(destination);
        var folder = Path.GetDirectoryName(full) ?? ".";
        var platform = PlatformIo.Current;
        var existing = platform.Identify(full, ErrorKind.DestinationUnwritable, "output");
        if (existing.Kind == FileKind.Directory)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{destination}: is a directory") { Path = destination };
        }
        if (platform.Identify(folder, ErrorKind.DestinationUnwritable, "the folder of output").Kind != FileKind.Directory)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{destination}: folder {folder} does not exist") { Path = destination };
        }
        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid().ToString("N")[..8]}.tmp");
        try
        {
            // FileShare.Delete: on Windows, DeleteAllPending (Ctrl-C) can remove the file while a write still holds it.
            var handle = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete);
            Pending[temporary] = true;
            if (!OperatingSystem.IsWindows() && existing.Kind == FileKind.RegularFile)
            {
                File.SetUnixFileMode(handle, (UnixFileMode)(existing.UnixMode & 0xFFF & ~0xC00)); // no set-id bits
            }
            // A disk image is mostly holes: NTFS keeps them only in a file marked sparse (a no-op on POSIX).
            Platform.PlatformIo.Current.MarkSparse(handle);
            return new AtomicOutputFile(full, temporary, handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.DestinationUnwritable, $"{destination}: cannot create a file in {folder}: {e.Message}", e) { Path = destination };
        }
    }

    /// <summary>Flushes the data to disk and renames the temporary file over the destination.</summary>
    public void Commit()
    {
        try
        {
            RandomAccess.FlushToDisk(Handle);
            Handle.Dispose();
            File.Move(TemporaryPath, Destination, overwrite: true);
            _committed = true;
            Pending.TryRemove(TemporaryPath, out _);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{Destination}: cannot finish the image: {e.Message}", e) { Path = Destination };
        }
    }

    public void Dispose()
    {
        Handle.Dispose();
        Pending.TryRemove(TemporaryPath, out _);
        if (!_committed)
        {
            try
            {
                File.Delete(TemporaryPath);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
