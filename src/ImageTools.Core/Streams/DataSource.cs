namespace ImageTools.Core.Streams;

/// <summary>
/// Bytes to copy, which can say where its data is. A regular file answers from the file system (holes are
/// never read); a pipe, a device or a decompressor answers "everything is data". Reads go forward:
/// <see cref="Read"/> may be called at any position not before the previous read's end, and a source that
/// cannot seek reads and discards up to it.
/// </summary>
public abstract class DataSource : IDisposable
{
    /// <summary>How to name the source in messages (its path, "stdin", "img.gz (gzip)").</summary>
    public abstract string Name { get; }

    /// <summary>Length in bytes, or null when only the end of the stream tells (pipes, decompressed data).</summary>
    public abstract long? Length { get; }

    /// <summary>
    /// True when <see cref="Read"/> can jump forward without reading the bytes in between, so that the
    /// ranges <see cref="NextData"/> skips are never read.
    /// </summary>
    public abstract bool CanSkip { get; }

    /// <summary>Bytes actually read from the underlying medium (compressed bytes for a compressed file).</summary>
    public abstract long BytesRead { get; }

    /// <summary>
    /// False (the default): the bytes outside the extents <see cref="NextData"/> returns are zeros, and DEST must
    /// read back zeros there. True: they are unused space whose content does not matter (the blocks a bmap leaves
    /// unmapped), so a copy leaves DEST as it is there, as <c>bmaptool copy</c> does, instead of zeroing it.
    /// </summary>
    public virtual bool GapsAreUnused => false;

    /// <summary>
    /// The first range at or after <paramref name="offset"/> that may hold non-zero bytes, or null when the
    /// rest up to the end is a hole. The returned extent may run past <see cref="Length"/> (for streams of
    /// unknown length it runs to <see cref="long.MaxValue"/>): the end of the data is where a read returns 0.
    /// Bytes outside every returned extent read as zero.
    /// </summary>
    public virtual Extent? NextData(long offset)
    {
        var length = Length;
        if (length is { } known && offset >= known)
        {
            return null;
        }
        return new Extent(offset, (length ?? long.MaxValue) - offset);
    }

    /// <summary>
    /// Reads up to <c>buffer.Length</c> bytes at <paramref name="position"/>; returns 0 only at the end.
    /// Positions never go backwards between calls.
    /// </summary>
    public abstract int Read(long position, Span<byte> buffer);

    /// <summary>Reads until <paramref name="buffer"/> is full or the source ends; returns the bytes read.</summary>
    public int ReadFully(long position, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = Read(position + total, buffer[total..]);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    /// <summary>A view of <c>[offset, offset + length)</c> of this source (length null: to the end).</summary>
    public DataSource Slice(long offset, long? length, bool ownsInner = false) => new SliceDataSource(this, offset, length, ownsInner);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
