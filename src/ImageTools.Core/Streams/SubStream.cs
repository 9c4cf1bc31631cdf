namespace ImageTools.Core.Streams;

/// <summary>
/// A window <c>[offset, offset + length)</c> of a seekable stream, seen as a stream of its own starting at 0:
/// a partition of a disk image, a file system inside a partition. Reads stop at the window's end; writes past
/// it fail instead of spilling into the next partition. Seeking the base stream is done per call, so several
/// sub-streams can share one base stream (one at a time).
/// </summary>
public class SubStream : Stream
{
    private readonly Stream _base;
    private readonly bool _ownsBase;
    private long _position;

    public SubStream(Stream baseStream, long offset, long length, bool ownsBase = false)
    {
        ArgumentNullException.ThrowIfNull(baseStream);
        if (!baseStream.CanSeek)
        {
            throw new ArgumentException("a sub-stream needs a seekable base stream", nameof(baseStream));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _base = baseStream;
        Offset = offset;
        WindowLength = length;
        _ownsBase = ownsBase;
    }

    /// <summary>Where the window starts in the base stream.</summary>
    public long Offset { get; }

    /// <summary>The window's size.</summary>
    public long WindowLength { get; }

    public override bool CanRead => _base.CanRead;

    public override bool CanSeek => true;

    public override bool CanWrite => _base.CanWrite;

    public override long Length => WindowLength;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var available = WindowLength - _position;
        if (available <= 0)
        {
            return 0;
        }
        if (buffer.Length > available)
        {
            buffer = buffer[..(int)available];
        }
        _base.Position = Offset + _position;
        var n = _base.Read(buffer);
        _position += n;
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > WindowLength)
        {
            throw new IOException($"write of {buffer.Length} bytes at offset {_position} passes the end of the {WindowLength}-byte window at {Offset}");
        }
        _base.Position = Offset + _position;
        _base.Write(buffer);
        _position += buffer.Length;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => WindowLength + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException($"seek to {target}, before the start of the window");
        }
        _position = target;
        return target;
    }

    public override void Flush() => _base.Flush();

    public override void SetLength(long value) =>
        throw new NotSupportedException("a window of a larger stream has a fixed length");

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsBase)
        {
            _base.Dispose();
        }
        base.Dispose(disposing);
    }
}
