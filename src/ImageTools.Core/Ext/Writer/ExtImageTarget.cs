using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Where a filesystem is written: a window <c>[offset, offset + length)</c> of a seekable stream or
/// file. A whole image file, or one partition of a disk image. The writer never touches a byte
/// outside the window.
/// When the window is known to read as zeros (a freshly created or truncated file), blocks that
/// must be zero are simply not written, so the image stays sparse. Otherwise they are zeroed
/// explicitly.
/// </summary>
public sealed class ExtImageTarget : IDisposable
{
    private readonly Stream? _stream;
    private readonly SafeFileHandle? _handle;
    private readonly bool _leaveOpen;
    private readonly string _name;

    private ExtImageTarget(Stream? stream, SafeFileHandle? handle, long offset, long length, bool knownZero, bool leaveOpen, string name)
    {
        if (offset < 0 || length <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "the window must start at 0 or later and be non-empty");
        }
        _stream = stream;
        _handle = handle;
        Offset = offset;
        Length = length;
        KnownZero = knownZero;
        _leaveOpen = leaveOpen;
        _name = name;
    }

    /// <summary>A window of a seekable, writable stream (e.g. a partition inside a disk image).</summary>
    /// <param name="knownZero">True only if every byte of the window already reads as zero.</param>
    public static ExtImageTarget ForStream(Stream stream, long offset, long length, bool knownZero = false, bool leaveOpen = true, string name = "output")
    {
        if (!stream.CanSeek || !stream.CanWrite || !stream.CanRead)
        {
            throw new ArgumentException("the target stream must be readable, writable and seekable", nameof(stream));
        }
        return new ExtImageTarget(stream, null, offset, length, knownZero, leaveOpen, name);
    }

    /// <summary>A window of an open file; positional I/O without a shared file pointer.</summary>
    public static ExtImageTarget ForFile(SafeFileHandle handle, long offset, long length, bool knownZero, string name) =>
        new(null, handle, offset, length, knownZero, leaveOpen: true, name);

    public long Offset { get; }

    public long Length { get; }

    /// <summary>Whether the window reads as zeros before anything is written.</summary>
    public bool KnownZero { get; }

    /// <summary>Bytes handed to the OS for writing (data, metadata, and explicit zeros).</summary>
    public long BytesWritten { get; private set; }

    /// <summary>While true, writes are counted but dropped: the writer is only measuring (content that does not fit).</summary>
    internal bool Discarding { get; set; }

    public void Write(long position, ReadOnlySpan<byte> data)
    {
        if (Discarding || data.IsEmpty)
        {
            return;
        }
        CheckRange(position, data.Length);
        try
        {
            if (_handle != null)
            {
                RandomAccess.Write(_handle, data, Offset + position);
            }
            else
            {
                _stream!.Position = Offset + position;
                _stream.Write(data);
            }
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{_name}: cannot write {data.Length} bytes at offset {Offset + position}: {e.Message}", e) { Path = _name };
        }
        BytesWritten += data.Length;
    }

    public void Read(long position, Span<byte> buffer)
    {
        CheckRange(position, buffer.Length);
        try
        {
            var done = 0;
            while (done < buffer.Length)
            {
                int n;
                if (_handle != null)
                {
                    n = RandomAccess.Read(_handle, buffer[done..], Offset + position + done);
                }
                else
                {
                    _stream!.Position = Offset + position + done;
                    n = _stream.Read(buffer[done..]);
                }
                if (n == 0)
                {
                    // Past the current end of a file that will be extended: reads as zeros.
                    buffer[done..].Clear();
                    break;
                }
                done += n;
            }
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{_name}: cannot read back {buffer.Length} bytes at offset {Offset + position}: {e.Message}", e) { Path = _name };
        }
    }

    /// <summary>Makes <c>[position, position + length)</c> read as zeros: nothing to do on a known-zero window.</summary>
    public void Zero(long position, long length)
    {
        if (KnownZero || Discarding || length <= 0)
        {
            return;
        }
        CheckRange(position, length);
        var chunk = new byte[(int)Math.Min(length, 1 << 20)];
        for (long done = 0; done < length; done += chunk.Length)
        {
            Write(position + done, chunk.AsSpan(0, (int)Math.Min(chunk.Length, length - done)));
        }
    }

    /// <summary>Makes sure a file target is as long as the window's end (the image is sparse, not short).</summary>
    public void EnsureLength()
    {
        if (Discarding)
        {
            return;
        }
        try
        {
            if (_handle != null)
            {
                if (RandomAccess.GetLength(_handle) < Offset + Length)
                {
                    RandomAccess.SetLength(_handle, Offset + Length);
                }
            }
            else if (_stream!.Length < Offset + Length)
            {
                _stream.SetLength(Offset + Length);
            }
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.TruncateFailed, $"{_name}: cannot extend to {Offset + Length} bytes: {e.Message}", e) { Path = _name };
        }
    }

    public void Flush()
    {
        if (_handle != null)
        {
            RandomAccess.FlushToDisk(_handle);
        }
        else
        {
            _stream!.Flush();
        }
    }

    private void CheckRange(long position, long length)
    {
        if (position < 0 || position + length > Length)
        {
            throw new InvalidOperationException($"write of {length} bytes at {position} is outside the {Length}-byte filesystem window");
        }
    }

    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _stream?.Dispose();
        }
    }
}
