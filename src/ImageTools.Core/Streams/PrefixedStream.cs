namespace ImageTools.Core.Streams;

/// <summary>
/// Replays bytes already taken from a stream (a sniffed header), then continues with the stream itself:
/// how stdin can be sniffed for a compression magic and still be read from its first byte.
/// </summary>
public sealed class PrefixedStream : Stream
{
    private readonly byte[] _prefix;
    private readonly Stream _rest;
    private readonly bool _ownsRest;
    private int _prefixPosition;
    private long _position;

    public PrefixedStream(ReadOnlySpan<byte> prefix, Stream rest, bool ownsRest = true)
    {
        _prefix = prefix.ToArray();
        _rest = rest;
        _ownsRest = ownsRest;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        int n;
        if (_prefixPosition < _prefix.Length)
        {
            n = Math.Min(buffer.Length, _prefix.Length - _prefixPosition);
            _prefix.AsSpan(_prefixPosition, n).CopyTo(buffer);
            _prefixPosition += n;
        }
        else
        {
            n = _rest.Read(buffer);
        }
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_prefixPosition < _prefix.Length || buffer.IsEmpty)
        {
            return Read(buffer.Span);
        }
        var n = await _rest.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsRest)
        {
            _rest.Dispose();
        }
        base.Dispose(disposing);
    }
}
