using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Sparse;

/// <summary>
/// A target written with pwrite through an open handle, at <c>baseOffset</c> + DEST offset: a file, a block
/// device, or a window of a disk image (a partition of a new image, when fsmaker copies a file system into it).
/// </summary>
public class HandleCopyTarget : CopyTarget
{
    private readonly bool _ownsHandle;
    private readonly long _knownZeroFrom;
    private readonly long? _capacity;

    /// <param name="name">Name for messages.</param>
    /// <param name="handle">Open for reading and writing.</param>
    /// <param name="kind">Regular file or block device (decides how ranges are zeroed).</param>
    /// <param name="baseOffset">Where DEST offset 0 is in the handle (a partition's start).</param>
    /// <param name="knownZeroFrom">DEST offsets from here on already read as zero (0 for a fresh sparse file).</param>
    /// <param name="capacity">The window's size, or null when a file may grow.</param>
    /// <param name="ownsHandle">Close the handle with the target.</param>
    /// <param name="platform">OS access.</param>
    public HandleCopyTarget(string name, SafeFileHandle handle, FileKind kind, long baseOffset = 0, long knownZeroFrom = 0,
        long? capacity = null, bool ownsHandle = false, IPlatformIo? platform = null)
    {
        Name = name;
        Handle = handle;
        Kind = kind;
        BaseOffset = baseOffset;
        _knownZeroFrom = knownZeroFrom;
        _capacity = capacity;
        _ownsHandle = ownsHandle;
        Platform = platform ?? PlatformIo.Current;
        ZeroesCheaply = Platform.ZeroesCheaply(handle, kind);
    }

    public override string Name { get; }

    public SafeFileHandle Handle { get; }

    public FileKind Kind { get; }

    public long BaseOffset { get; }

    protected IPlatformIo Platform { get; }

    public override long KnownZeroFrom => _knownZeroFrom;

    public override long? Capacity => _capacity;

    public override bool IsDevice => Kind == FileKind.BlockDevice;

    public override bool CanReadBack => true;

    public override bool ZeroesCheaply { get; }

    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (_capacity is { } cap && offset + data.Length > cap)
        {
            throw new IOException($"no space left: DEST holds {cap} bytes, the write ends at {offset + data.Length}");
        }
        RandomAccess.Write(Handle, data, BaseOffset + offset);
    }

    public override int ReadBack(long offset, Span<byte> buffer)
    {
        if (_capacity is { } cap)
        {
            if (offset >= cap)
            {
                return 0;
            }
            if (buffer.Length > cap - offset)
            {
                buffer = buffer[..(int)(cap - offset)];
            }
        }
        return RandomAccess.Read(Handle, buffer, BaseOffset + offset);
    }

    public override bool TryZero(long offset, long length) =>
        ZeroesCheaply && Platform.TryZeroRange(Handle, Kind, BaseOffset + offset, length);

    public override void FlushToDisk() => Platform.FlushToDisk(Handle);

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsHandle)
        {
            Handle.Dispose();
        }
    }
}
