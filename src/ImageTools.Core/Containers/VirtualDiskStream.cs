using ImageTools.Core.Streams;

namespace ImageTools.Core.Containers;

/// <summary>A seekable read-only stream over a virtual disk (how partition tables are read from inside a container).</summary>
public sealed class VirtualDiskStream(DataSource disk) : PositionalReadStream
{
    public override long Length => disk.Length ?? 0;

    protected override int ReadAt(long position, Span<byte> buffer) => disk.Read(position, buffer);

    protected override string ReadOnlyReason => $"{disk.Name} is opened read-only";

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            disk.Dispose();
        }
        base.Dispose(disposing);
    }
}
