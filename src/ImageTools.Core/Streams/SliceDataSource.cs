namespace ImageTools.Core.Streams;

/// <summary>
/// <c>[offset, offset + length)</c> of another source, seen from 0: <c>--skip</c>, <c>--maxwrite</c>, and one
/// partition of a disk image. Data ranges are those of the inner source, clipped and shifted, so holes stay
/// unread through the slice.
/// </summary>
public sealed class SliceDataSource : DataSource
{
    private readonly DataSource _inner;
    private readonly long _offset;
    private readonly long? _length;
    private readonly bool _ownsInner;

    public SliceDataSource(DataSource inner, long offset, long? length, bool ownsInner = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        _inner = inner;
        _offset = offset;
        _ownsInner = ownsInner;
        if (inner.Length is { } innerLength)
        {
            var available = Math.Max(0, innerLength - offset);
            _length = length is { } l ? Math.Min(l, available) : available;
        }
        else
        {
            _length = length;
        }
        // A limit on a stream of unknown length is a maximum, not a promise; the end of the stream still ends it.
        LengthIsExact = inner.Length.HasValue || length is null;
    }

    public override string Name => _offset == 0 ? _inner.Name : $"{_inner.Name} (from offset {_offset})";

    /// <summary>
    /// For an inner source of known length, the slice's exact length; for a stream, the limit (the stream may end first).
    /// </summary>
    public override long? Length => LengthIsExact ? _length : null;

    /// <summary>The upper bound on the slice's length, exact or not.</summary>
    public long? Limit => _length;

    private bool LengthIsExact { get; }

    public override bool CanSkip => _inner.CanSkip;

    public override long BytesRead => _inner.BytesRead;

    public override bool GapsAreUnused => _inner.GapsAreUnused;

    public override Extent? NextData(long offset)
    {
        if (_length is { } limit && offset >= limit)
        {
            return null;
        }
        var found = _inner.NextData(_offset + offset);
        if (found is not { } extent)
        {
            return null;
        }
        var start = extent.Offset - _offset;
        // Extents of unknown-length streams run to long.MaxValue; keep them open-ended.
        var end = extent.Length >= long.MaxValue - extent.Offset ? long.MaxValue : extent.End - _offset;
        if (_length is { } l)
        {
            end = Math.Min(end, l);
            if (start >= l)
            {
                return null;
            }
        }
        return new Extent(start, end - start);
    }

    public override int Read(long position, Span<byte> buffer)
    {
        if (_length is { } limit)
        {
            if (position >= limit)
            {
                return 0;
            }
            if (buffer.Length > limit - position)
            {
                buffer = buffer[..(int)(limit - position)];
            }
        }
        return _inner.Read(_offset + position, buffer);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsInner)
        {
            _inner.Dispose();
        }
    }
}
