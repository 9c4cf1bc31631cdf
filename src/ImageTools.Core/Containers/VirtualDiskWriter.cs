namespace ImageTools.Core.Containers;

/// <summary>
/// Writes a virtual disk into a container: the copy engine hands it the disk's data (never its zero runs: a new
/// container reads zeros wherever nothing was written) at virtual offsets, then <see cref="Finish"/> with the
/// virtual size, when the writer lays down its tables. Writes come in ascending order from the copy engine;
/// writers that need it (compressed clusters) refuse anything else.
/// </summary>
public abstract class VirtualDiskWriter : IDisposable
{
    /// <summary>The container written.</summary>
    public abstract ContainerFormat Format { get; }

    /// <summary>True when the container must be written at random offsets (not to a pipe).</summary>
    public virtual bool NeedsSeekableOutput => true;

    /// <summary>Writes disk bytes at virtual offset <paramref name="offset"/>.</summary>
    public abstract void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>
    /// Completes the container for a disk of <paramref name="virtualSize"/> bytes (rounded up as the format needs);
    /// returns the container file's final length.
    /// </summary>
    public abstract long Finish(long virtualSize);

    /// <summary>The virtual size the finished container declares (after any rounding), or null before <see cref="Finish"/>.</summary>
    public long? VirtualSize { get; protected set; }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
