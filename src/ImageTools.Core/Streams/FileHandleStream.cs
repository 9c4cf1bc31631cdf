using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Streams;

/// <summary>
/// A seekable stream over an open file handle that it does not own: positional reads and writes
/// (pread/pwrite through <see cref="RandomAccess"/>), no buffering, no shared file pointer. Disposing the
/// stream leaves the handle open. The pipeline uses it to look at the disk image it is writing (the ext
/// reader, the GRUB installer and partition windows want a <see cref="Stream"/>) while the handle stays
/// with the file's owner, which renames the file into place when it is complete.
/// </summary>
public sealed class FileHandleStream : Stream
{
    private readonly SafeFileHandle _handle;
    private readonly bool _writable;
    private long _position;
    private bool _disposed;

    /// <param name="handle">An open regular file; reads (and writes, with <paramref name="writable"/>) must be allowed on it.</param>
    /// <param name="writable">Whether writes go through.</param>
    /// <param name="name">Names the file in messages.</param>
    public FileHandleStream(SafeFileHandle handle, bool writable, string name)
    {
        ArgumentNullException.ThrowIfNull(handle);
        _handle = handle;
        _writable = writable;
        Name = name;
    }

    public string Name { get; }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && _writable;

    public override long Length
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return RandomAccess.GetLength(_handle);
        }
    }

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var n = RandomAccess.Read(_handle, buffer, _position);
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_writable)
        {
            throw new NotSupportedException($"{Name} was opened read-only");
        }
        RandomAccess.Write(_handle, buffer, _position);
        _position += buffer.Length;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    /// <summary>Not supported: the file's size belongs to its owner.</summary>
    public override void SetLength(long value) => throw new NotSupportedException($"{Name}: the size is set by the file's owner");

    /// <summary>Nothing is buffered; durability is the owner's business (it flushes before renaming).</summary>
    public override void Flush()
    {
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }
}
