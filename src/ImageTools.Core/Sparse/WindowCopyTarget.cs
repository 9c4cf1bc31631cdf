namespace ImageTools.Core.Sparse;

/// <summary>
/// A window <c>[offset, offset + length)</c> of another target, seen as a target of its own: one partition of
/// an existing disk image or disk (<c>--to-partition N</c>). Offsets are shifted, reads back are clipped, and
/// the window's size is its <see cref="Capacity"/>, so a SOURCE of known size that does not fit is refused by
/// the copy engine before anything is written; a write that would pass the end (a pipe longer than the
/// partition) is refused without writing any of it. Everything else (blank check, zeroing, flushing, the
/// device's partition table re-read) is the underlying target's.
/// </summary>
public sealed class WindowCopyTarget : CopyTarget
{
    private readonly CopyTarget _inner;
    private readonly long _offset;
    private readonly long _length;
    private readonly bool _ownsInner;
    private long _written;

    /// <param name="inner">The whole DEST (a disk image written in place, or a disk).</param>
    /// <param name="offset">Where the window starts in DEST.</param>
    /// <param name="length">The window's size.</param>
    /// <param name="name">Names the window in messages, e.g. "disk.img partition 2".</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this target.</param>
    public WindowCopyTarget(CopyTarget inner, long offset, long length, string name, bool ownsInner = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (inner.Capacity is { } capacity && offset + length > capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"the window {offset}+{length} passes the end of {inner.Name} ({capacity} bytes)");
        }
        _inner = inner;
        _offset = offset;
        _length = length;
        _ownsInner = ownsInner;
        Name = name;
    }

    public override string Name { get; }

    public override bool CanSkip => _inner.CanSkip;

    public override long KnownZeroFrom => Math.Clamp(_inner.KnownZeroFrom - _offset, 0, _length);

    public override long? Capacity => _length;

    public override long? ExistingLength => _length;

    public override bool IsDevice => _inner.IsDevice;

    public override bool CanReadBack => _inner.CanReadBack;

    public override bool ZeroesCheaply => _inner.ZeroesCheaply;

    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset + data.Length > _length)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"SOURCE passes the end of {Name} ({_length} bytes): a write of {data.Length} bytes at offset {offset} was refused; " +
                $"{_written} bytes had been written into it, nothing past its end" + (_inner.IsDevice ? "" : "; what was there before is partly overwritten"))
            { Path = Name };
        }
        _inner.Write(_offset + offset, data);
        _written += data.Length;
    }

    public override int ReadBack(long offset, Span<byte> buffer)
    {
        if (offset >= _length)
        {
            return 0;
        }
        if (buffer.Length > _length - offset)
        {
            buffer = buffer[..(int)(_length - offset)];
        }
        return _inner.ReadBack(_offset + offset, buffer);
    }

    public override bool TryZero(long offset, long length)
    {
        if (offset + length > _length)
        {
            return false;
        }
        return _inner.TryZero(_offset + offset, length);
    }

    public override void FlushToDisk() => _inner.FlushToDisk();

    /// <summary>Finishes DEST as a whole: a window never sets a size (its size is the partition's).</summary>
    public override void Finish(long endOffset, long? finalSize) => _inner.Finish(_offset + endOffset, null);

    public override TargetCompletion Commit(CancellationToken cancellation) => _inner.Commit(cancellation);

    public override void Abort() => _inner.Abort();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsInner)
        {
            _inner.Dispose();
        }
    }
}
