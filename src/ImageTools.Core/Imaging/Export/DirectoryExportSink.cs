using System.Text;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Imaging.Export;

/// <summary>How <see cref="DirectoryExportSink"/> restores a tree.</summary>
public sealed record DirectoryExportOptions
{
    /// <summary>Refuse a destination that already holds something (export); extract only refuses to overwrite.</summary>
    public bool RequireEmptyDestination { get; init; } = true;

    /// <summary>Restore numeric owners; null (the default) means "when running as root", as tar does.</summary>
    public bool? RestoreOwners { get; init; }

    /// <summary>Told about what could not be restored here and was left out (a device without root, an xattr the destination refuses).</summary>
    public Action<string>? OnNotice { get; init; }

    /// <summary>The OS calls; the current platform's by default.</summary>
    public IFileMetadataWriter? Platform { get; init; }
}

/// <summary>
/// Restores an exported tree into a directory, as <c>tar -xp</c> run as root would: files (sparse:
/// holes are not written), directories, symbolic links, hard links, device nodes, FIFOs and sockets;
/// numeric owners, all permission bits (setuid/setgid/sticky), times with nanoseconds (directories and
/// links included) and xattrs (ACLs, capabilities, SELinux labels). It never writes outside the
/// destination: names come checked from the reader (no '/', no "." or ".."), files are created
/// exclusively (an existing path is an error, never overwritten), and symbolic links are created only
/// after everything else, so no later write can follow one. Directory modes and times are set last,
/// deepest first, so read-only directories can still be filled.
/// </summary>
public sealed class DirectoryExportSink : IExportSink
{
    private readonly string _root;
    private readonly DirectoryExportOptions _options;
    private readonly IFileMetadataWriter _platform;
    private readonly bool _restoreOwners;
    private readonly List<(string Path, ExportEntry Entry, int Depth)> _directories = new();
    private readonly List<(string Path, ExportEntry Entry)> _deferredLinks = new();
    private readonly byte[] _buffer = new byte[1 << 16];
    private readonly bool _restoreRoot;

    public DirectoryExportSink(string destination, DirectoryExportOptions? options = null)
    {
        _options = options ?? new DirectoryExportOptions();
        _platform = _options.Platform ?? FileMetadataWriter.ForCurrentPlatform();
        _restoreOwners = _options.RestoreOwners ?? _platform.CanChangeOwner;
        _root = System.IO.Path.GetFullPath(destination);
        if (File.Exists(_root))
        {
            throw Unwritable(_root, "is a file, not a directory");
        }
        if (Directory.Exists(_root))
        {
            if (_options.RequireEmptyDestination && Directory.EnumerateFileSystemEntries(_root).Any())
            {
                throw Unwritable(_root, "is not empty (export restores a whole tree into a new or empty directory)");
            }
            // The root's owner, mode and times go onto an existing destination only when it was handed
            // over whole (export); extracting into, say, the current directory leaves it as it is.
            _restoreRoot = _options.RequireEmptyDestination;
        }
        else
        {
            try
            {
                Directory.CreateDirectory(_root);
                _restoreRoot = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Unwritable(_root, $"cannot be created: {e.Message}");
            }
        }
    }

    /// <summary>The destination folder (full path).</summary>
    public string Root => _root;

    public void Add(ExportEntry entry)
    {
        if (!System.Text.Unicode.Utf8.IsValid(entry.PathBytes))
        {
            Notice($"{Printable(entry.PathBytes)}: left out: its name is not valid UTF-8, which this platform's file API cannot create");
            return;
        }
        var path = Target(entry.Path);
        try
        {
            switch (entry.Kind)
            {
                case ExportEntryKind.Directory:
                    AddDirectory(path, entry);
                    break;
                case ExportEntryKind.RegularFile:
                    AddFile(path, entry);
                    break;
                case ExportEntryKind.SymbolicLink:
                    _deferredLinks.Add((path, entry));
                    break;
                case ExportEntryKind.HardLink:
                    if (entry.HardLinkTargetKind == ExportEntryKind.SymbolicLink)
                    {
                        _deferredLinks.Add((path, entry));
                    }
                    else
                    {
                        AddHardLink(path, entry);
                    }
                    break;
                case ExportEntryKind.CharacterDevice:
                case ExportEntryKind.BlockDevice:
                    if (!_platform.CanCreateDevices)
                    {
                        Notice($"{entry.Path}: device {entry.DeviceMajor}:{entry.DeviceMinor} left out (creating device nodes needs root)");
                        return;
                    }
                    Exclusive(path);
                    _platform.CreateDevice(path, entry.Kind == ExportEntryKind.BlockDevice, entry.DeviceMajor, entry.DeviceMinor, 0x180);
                    Finish(path, entry);
                    break;
                case ExportEntryKind.Fifo:
                    Exclusive(path);
                    _platform.CreateFifo(path, 0x180);
                    Finish(path, entry);
                    break;
                case ExportEntryKind.Socket:
                    Exclusive(path);
                    _platform.CreateSocket(path, 0x180);
                    Finish(path, entry);
                    break;
            }
        }
        catch (PlatformCallFailedException e) when (e.Kind == ErrorKind.UnsupportedFeature)
        {
            Notice($"{entry.Path}: left out: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unwritable(path, e.Message);
        }
    }

    public void Complete()
    {
        foreach (var (path, entry) in _deferredLinks)
        {
            try
            {
                if (entry.Kind == ExportEntryKind.HardLink)
                {
                    AddHardLink(path, entry);
                    continue;
                }
                Exclusive(path);
                File.CreateSymbolicLink(path, entry.LinkTargetText!);
                Finish(path, entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Unwritable(path, e.Message);
            }
        }
        // Deepest first: a directory's time changes when something is created in it, and a read-only
        // parent must stay writable until its children are done.
        foreach (var (path, entry, _) in _directories.OrderByDescending(d => d.Depth))
        {
            try
            {
                _platform.SetMode(path, entry.Permissions);
                _platform.SetTimes(path, entry.AccessTime, entry.ModificationTime);
            }
            catch (PlatformCallFailedException e) when (e.Kind == ErrorKind.UnsupportedFeature)
            {
                Notice($"{entry.Path}: {e.Message}");
            }
        }
    }

    private void AddDirectory(string path, ExportEntry entry)
    {
        if (entry.Path == "." && !_restoreRoot)
        {
            return;
        }
        if (entry.Path != ".")
        {
            Exclusive(path);
            Directory.CreateDirectory(path);
        }
        if (_restoreOwners)
        {
            _platform.SetOwner(path, entry.Uid, entry.Gid);
        }
        SetXattrs(path, entry);
        _directories.Add((path, entry, entry.Path == "." ? 0 : entry.Path.Count(c => c == '/') + 1));
    }

    private void AddFile(string path, ExportEntry entry)
    {
        Exclusive(path);
        using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
        {
            try
            {
                output.SetLength(entry.Size);
            }
            catch (ArgumentOutOfRangeException e)
            {
                // EFBIG: a size (often a damaged one) past the largest file the destination's filesystem allows.
                throw new ImageToolsException(ErrorKind.WriteFailed,
                    $"{path}: cannot make a file of {entry.Size} bytes: past the largest file the destination's filesystem allows", e) { Path = path };
            }
            if (entry.Size > 0)
            {
                using var input = entry.Content!.OpenRead();
                foreach (var (offset, length) in entry.Content.DataRanges())
                {
                    input.Position = offset;
                    output.Position = offset;
                    var left = length;
                    while (left > 0)
                    {
                        var n = input.Read(_buffer, 0, (int)Math.Min(_buffer.Length, left));
                        if (n == 0)
                        {
                            throw new InvalidOperationException($"{entry.Path}: content ended inside a data range");
                        }
                        output.Write(_buffer, 0, n);
                        left -= n;
                    }
                }
            }
        }
        Finish(path, entry);
    }

    private void AddHardLink(string path, ExportEntry entry)
    {
        Exclusive(path);
        var existing = Target(Encoding.UTF8.GetString(entry.HardLinkTarget!));
        try
        {
            _platform.CreateHardLink(existing, path);
        }
        catch (PlatformCallFailedException e) when (e.Kind == ErrorKind.UnsupportedFeature && File.Exists(existing)
                                                    && entry.HardLinkTargetKind == ExportEntryKind.RegularFile)
        {
            // Where hard links cannot be made, the content is still restored: as a copy.
            File.Copy(existing, path);
            Notice($"{entry.Path}: restored as a copy of {entry.HardLinkTargetText} ({e.Message})");
        }
    }

    // Owner first (chown clears setuid/setgid and capabilities), then mode, xattrs, and times last.
    private void Finish(string path, ExportEntry entry)
    {
        if (_restoreOwners)
        {
            _platform.SetOwner(path, entry.Uid, entry.Gid);
        }
        if (entry.Kind != ExportEntryKind.SymbolicLink)
        {
            _platform.SetMode(path, entry.Permissions);
        }
        SetXattrs(path, entry);
        _platform.SetTimes(path, entry.AccessTime, entry.ModificationTime);
    }

    private void SetXattrs(string path, ExportEntry entry)
    {
        foreach (var x in entry.Xattrs)
        {
            try
            {
                _platform.SetXattr(path, x.Name, x.Value);
            }
            catch (PlatformCallFailedException e) when (e.IsPermissionDenied || e.IsNotSupported || e.Errno == 22 /* EINVAL */)
            {
                Notice($"{entry.Path}: xattr '{x.Name}' not restored: {e.Message}");
            }
        }
    }

    private string Target(string relative)
    {
        if (relative == ".")
        {
            return _root;
        }
        var parts = relative.Split('/');
        if (parts.Any(p => p.Length == 0 || p is "." or ".."))
        {
            // The reader never yields such names; refuse rather than trust it blindly.
            throw new ImageToolsException(ErrorKind.CorruptImage, $"'{relative}' is not a plain relative path; refusing to write it");
        }
        return System.IO.Path.Combine(_root, System.IO.Path.Combine(parts));
    }

    private static void Exclusive(string path)
    {
        if (File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget != null)
        {
            throw Unwritable(path, "already exists (nothing is overwritten)");
        }
    }

    private void Notice(string message) => _options.OnNotice?.Invoke(message);

    private static string Printable(byte[] bytes) =>
        new(bytes.Select(b => b is >= 0x20 and < 0x7F ? (char)b : '?').ToArray());

    private static ImageToolsException Unwritable(string path, string why) =>
        new(ErrorKind.DestinationUnwritable, $"{path}: {why}") { Path = path };
}
