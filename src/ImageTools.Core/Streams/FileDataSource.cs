using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Streams;

/// <summary>
/// A regular file or a block device read with pread. For a regular file, <see cref="NextData"/> asks the
/// OS where the data is (SEEK_DATA/SEEK_HOLE), so holes are never read; a device is all data.
/// </summary>
public sealed class FileDataSource : DataSource
{
    private readonly SafeFileHandle _handle;
    private readonly bool _ownsHandle;
    private readonly IPlatformIo _platform;
    private readonly FileKind _kind;
    private readonly long _length;
    private long _bytesRead;

    public FileDataSource(string name, SafeFileHandle handle, FileKind kind, long length, bool ownsHandle = true, IPlatformIo? platform = null)
    {
        Name = name;
        _handle = handle;
        _kind = kind;
        _length = length;
        _ownsHandle = ownsHandle;
        _platform = platform ?? PlatformIo.Current;
        _platform.AdviseSequentialRead(handle);
    }

    /// <summary>Opens a regular file or a block device (read-only) by path.</summary>
    public static FileDataSource Open(string path, IPlatformIo? platform = null)
    {
        platform ??= PlatformIo.Current;
        var identity = platform.Identify(path, ErrorKind.SourceUnreadable, "SOURCE");
        switch (identity.Kind)
        {
            case FileKind.Missing:
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{path}: no such file or device") { Path = path };
            case FileKind.Directory:
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{path} is a directory, not a file or device to copy") { Path = path };
            case FileKind.RegularFile:
            case FileKind.BlockDevice:
                break;
            default:
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{path} is a {identity.Kind}; open it as a stream") { Path = path };
        }
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot open {path}: {e.Message}", e) { Path = path };
        }
        var length = identity.Kind == FileKind.BlockDevice ? platform.GetBlockDeviceSize(handle) : RandomAccess.GetLength(handle);
        return new FileDataSource(path, handle, identity.Kind, length, ownsHandle: true, platform);
    }

    public override string Name { get; }

    public override long? Length => _length;

    public override bool CanSkip => true;

    public override long BytesRead => _bytesRead;

    /// <summary>The open handle (to sniff a header, or to hand to another reader).</summary>
    public SafeFileHandle Handle => _handle;

    public FileKind Kind => _kind;

    public override Extent? NextData(long offset)
    {
        if (offset >= _length)
        {
            return null;
        }
        return _kind == FileKind.RegularFile
            ? _platform.FindNextData(_handle, offset, _length)
            : new Extent(offset, _length - offset);
    }

    public override int Read(long position, Span<byte> buffer)
    {
        if (position >= _length)
        {
            return 0;
        }
        if (buffer.Length > _length - position)
        {
            buffer = buffer[..(int)(_length - position)];
        }
        int n;
        try
        {
            n = RandomAccess.Read(_handle, buffer, position);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot read {Name} at offset {position}: {e.Message}", e) { Path = Name };
        }
        _bytesRead += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsHandle)
        {
            _handle.Dispose();
        }
    }
}
