namespace ImageTools.Core.Sparse;

/// <summary>What happened when a target was completed.</summary>
/// <param name="PartitionReread">For a whole-disk device: whether the kernel re-read its partition table.</param>
public sealed record TargetCompletion(Platform.PartitionRereadResult? PartitionReread);

/// <summary>
/// Where the copy engine writes. A target knows which of its ranges already read as zero (a new file, the
/// part of an overlaid file past its old end), whether it can leave holes (a file or device can; a pipe cannot),
/// and how to zero a range cheaply. Offsets are DEST offsets. The life cycle is: writes, then
/// <see cref="Finish"/> (final size, flush), optionally read-back verification, then <see cref="Commit"/>;
/// <see cref="Abort"/> on any failure removes whatever a new file had written.
/// </summary>
public abstract class CopyTarget : IDisposable
{
    /// <summary>How to name DEST in messages.</summary>
    public abstract string Name { get; }

    /// <summary>False for a stream (stdout, a pipe): every byte, zeros included, must be written in order.</summary>
    public virtual bool CanSkip => true;

    /// <summary>Offsets at or past this already read as zero, so zero runs there are skipped without checks.</summary>
    public virtual long KnownZeroFrom => 0;

    /// <summary>The most DEST can hold (a device's size), or null when it grows as needed.</summary>
    public virtual long? Capacity => null;

    /// <summary>
    /// The size DEST already had, when it is written in place: a device's size, an overlaid file's length.
    /// Null for a new (or replaced) file and for a stream. A partition table is read from DEST within it.
    /// </summary>
    public virtual long? ExistingLength => null;

    /// <summary>True when DEST is a block device (messages then give the bytes written on failure).</summary>
    public virtual bool IsDevice => false;

    /// <summary>True when DEST can be read back (blank check, <c>-c</c>, verification).</summary>
    public virtual bool CanReadBack => false;

    /// <summary>True when <see cref="TryZero"/> zeroes without writing data (a hole punch, offloaded WRITE ZEROES).</summary>
    public virtual bool ZeroesCheaply => false;

    public abstract void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Reads DEST at <paramref name="offset"/>; returns the bytes read (0 at the end).</summary>
    public virtual int ReadBack(long offset, Span<byte> buffer) =>
        throw new NotSupportedException($"{Name} cannot be read back");

    /// <summary>Makes <c>[offset, offset + length)</c> read as zeros without writing them, if possible.</summary>
    public virtual bool TryZero(long offset, long length) => false;

    /// <summary>Forces written data to stable storage (<c>-y</c>).</summary>
    public virtual void FlushToDisk()
    {
    }

    /// <summary>Sets the final size (files) and flushes what is buffered; <paramref name="endOffset"/> is where the copy ended.</summary>
    public virtual void Finish(long endOffset, long? finalSize)
    {
    }

    /// <summary>Makes the result visible (renames a new file into place; re-reads a disk's partition table).</summary>
    public virtual TargetCompletion Commit(CancellationToken cancellation) => new(null);

    /// <summary>Undoes what can be undone after a failure (deletes a new file's temporary).</summary>
    public virtual void Abort()
    {
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
