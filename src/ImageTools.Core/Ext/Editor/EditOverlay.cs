namespace ImageTools.Core.Ext.Editor;

/// <summary>
/// A copy-on-write view of a filesystem image, held in memory while an edit is planned. The image
/// underneath is only ever read; writes land in 1 KiB pages kept here, and ranges marked as zeroed
/// (blocks the edit frees) read back as zeros without holding any bytes. The reader the editor is
/// built on runs over this view, so every step of a plan sees the steps before it, and the image
/// itself is untouched until the finished plan is committed (<see cref="EditableImage.Commit"/>).
/// <para>Memory stays bounded by what an edit changes (metadata blocks and the small files it
/// writes), never by the image or by what it frees: a freed range costs one interval, whatever its size.</para>
/// </summary>
public sealed class EditOverlay : Stream
{
    /// <summary>
    /// Page size: 1 KiB divides every ext block size, and the superblock (1 KiB at byte 1024) is one page.
    /// </summary>
    public const int PageSize = 1024;

    private readonly Stream _base;
    private readonly Dictionary<long, byte[]> _pages = new();
    private readonly PageRangeSet _zeroed = new();
    private long _position;

    /// <param name="image">The image (or partition window) the edit is planned on; only read.</param>
    public EditOverlay(Stream image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!image.CanRead || !image.CanSeek)
        {
            throw new ArgumentException("the overlay needs a readable, seekable image stream", nameof(image));
        }
        _base = image;
        Length = image.Length;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => true;
    public override long Length { get; }

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    /// <summary>Pages written so far (each <see cref="PageSize"/> bytes).</summary>
    public int DirtyPageCount => _pages.Count;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= Length || buffer.IsEmpty)
        {
            return 0;
        }
        var total = (int)Math.Min(buffer.Length, Length - _position);
        var done = 0;
        while (done < total)
        {
            var page = (_position + done) / PageSize;
            var inPage = (int)((_position + done) % PageSize);
            var n = Math.Min(PageSize - inPage, total - done);
            if (_pages.TryGetValue(page, out var data))
            {
                data.AsSpan(inPage, n).CopyTo(buffer.Slice(done, n));
            }
            else if (_zeroed.Contains(page))
            {
                buffer.Slice(done, n).Clear();
            }
            else
            {
                // Read the base straight through, as far as the next page that is ours.
                var run = n;
                while (done + run < total)
                {
                    var next = (_position + done + run) / PageSize;
                    if (_pages.ContainsKey(next) || _zeroed.Contains(next))
                    {
                        break;
                    }
                    run = Math.Min(run + PageSize, total - done);
                }
                ReadBase(_position + done, buffer.Slice(done, run));
                n = run;
            }
            done += n;
        }
        _position += total;
        return total;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > Length)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"an edit wrote {buffer.Length} bytes at {_position}, past the end of the {Length}-byte image");
        }
        var done = 0;
        while (done < buffer.Length)
        {
            var page = (_position + done) / PageSize;
            var inPage = (int)((_position + done) % PageSize);
            var n = Math.Min(PageSize - inPage, buffer.Length - done);
            if (!_pages.TryGetValue(page, out var data))
            {
                data = new byte[PageSize];
                if (n < PageSize)
                {
                    // A partial page: start from what the view holds now (zeros if freed).
                    if (!_zeroed.Contains(page))
                    {
                        ReadBase(page * PageSize, data.AsSpan(0, (int)Math.Min(PageSize, Length - page * PageSize)));
                    }
                }
                _pages[page] = data;
            }
            buffer.Slice(done, n).CopyTo(data.AsSpan(inPage, n));
            done += n;
        }
        _position += buffer.Length;
    }

    /// <summary>
    /// Marks [offset, offset + length) as reading zeros (both ends on page boundaries): the blocks an
    /// edit frees. Pages written there before are dropped; a later write there is kept as data.
    /// </summary>
    public void Zero(long offset, long length)
    {
        if (offset % PageSize != 0 || length % PageSize != 0 || offset < 0 || length < 0 || offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"zeroed range {offset}+{length} must be whole pages inside the image");
        }
        if (length == 0)
        {
            return;
        }
        var first = offset / PageSize;
        var end = (offset + length) / PageSize;
        if (_pages.Count > 0)
        {
            if (end - first < _pages.Count)
            {
                for (var p = first; p < end; p++)
                {
                    _pages.Remove(p);
                }
            }
            else
            {
                foreach (var p in _pages.Keys.Where(p => p >= first && p < end).ToList())
                {
                    _pages.Remove(p);
                }
            }
        }
        _zeroed.Add(first, end);
    }

    /// <summary>
    /// What the edit amounts to: every written page whose bytes differ from the image (unchanged pages
    /// are left out, so a plan never rewrites what is already there), and the zeroed ranges that no
    /// later write covers. Adjacent changed pages are merged into one write.
    /// </summary>
    public EditChanges CollectChanges()
    {
        var writes = new List<PageWrite>();
        var original = new byte[PageSize];
        long? runStart = null;
        var run = new MemoryStream();
        foreach (var page in _pages.Keys.Order())
        {
            var data = _pages[page];
            var length = (int)Math.Min(PageSize, Length - page * PageSize);
            var changed = true;
            if (!_zeroed.Contains(page))
            {
                ReadBase(page * PageSize, original.AsSpan(0, length));
                changed = !original.AsSpan(0, length).SequenceEqual(data.AsSpan(0, length));
            }
            if (!changed)
            {
                continue;
            }
            if (runStart is long start && start + run.Length == page * PageSize)
            {
                run.Write(data, 0, length);
            }
            else
            {
                Flush(writes, runStart, run);
                runStart = page * PageSize;
                run.Write(data, 0, length);
            }
        }
        Flush(writes, runStart, run);

        var zeroes = new List<ByteRange>();
        foreach (var (first, end) in _zeroed.Ranges)
        {
            var p = first;
            while (p < end)
            {
                while (p < end && _pages.ContainsKey(p))
                {
                    p++;
                }
                var s = p;
                while (p < end && !_pages.ContainsKey(p))
                {
                    p++;
                }
                if (p > s)
                {
                    zeroes.Add(new ByteRange(s * PageSize, Math.Min((p - s) * PageSize, Length - s * PageSize)));
                }
            }
        }
        return new EditChanges(writes, zeroes);

        static void Flush(List<PageWrite> writes, long? start, MemoryStream run)
        {
            if (start is long s && run.Length > 0)
            {
                writes.Add(new PageWrite(s, run.ToArray()));
            }
            run.SetLength(0);
        }
    }

    private void ReadBase(long offset, Span<byte> destination)
    {
        _base.Position = offset;
        _base.ReadExactly(destination);
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

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException("an image being edited keeps its size");
}

/// <summary>Bytes to write at an offset of the filesystem.</summary>
public sealed record PageWrite(long Offset, byte[] Data);

/// <summary>A range of bytes of the filesystem.</summary>
public readonly record struct ByteRange(long Offset, long Length)
{
    public long End => Offset + Length;
}

/// <summary>An edit as bytes: what to write, and what to zero (offsets relative to the filesystem's byte 0).</summary>
public sealed record EditChanges(IReadOnlyList<PageWrite> Writes, IReadOnlyList<ByteRange> Zeroes)
{
    public bool IsEmpty => Writes.Count == 0 && Zeroes.Count == 0;

    public long BytesWritten => Writes.Sum(w => (long)w.Data.Length);

    public long BytesZeroed => Zeroes.Sum(z => z.Length);
}

/// <summary>A set of page numbers kept as sorted, merged, half-open intervals.</summary>
internal sealed class PageRangeSet
{
    // Start → end (exclusive); no two intervals overlap or touch.
    private readonly SortedList<long, long> _ranges = new();

    public IEnumerable<(long First, long End)> Ranges => _ranges.Select(r => (r.Key, r.Value));

    public bool Contains(long page)
    {
        var i = FindLastStartAtOrBefore(page);
        return i >= 0 && page < _ranges.Values[i];
    }

    public void Add(long first, long end)
    {
        if (end <= first)
        {
            return;
        }
        var i = FindLastStartAtOrBefore(first);
        if (i >= 0 && _ranges.Values[i] >= first)
        {
            first = _ranges.Keys[i];
            end = Math.Max(end, _ranges.Values[i]);
            _ranges.RemoveAt(i);
        }
        else
        {
            i++;
        }
        while (i < _ranges.Count && _ranges.Keys[i] <= end)
        {
            end = Math.Max(end, _ranges.Values[i]);
            _ranges.RemoveAt(i);
        }
        _ranges[first] = end;
    }

    private int FindLastStartAtOrBefore(long page)
    {
        var keys = _ranges.Keys;
        int lo = 0, hi = keys.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            if (keys[mid] <= page)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }
}
