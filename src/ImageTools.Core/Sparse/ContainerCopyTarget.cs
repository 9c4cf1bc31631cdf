using ImageTools.Core.Containers;

namespace ImageTools.Core.Sparse;

/// <summary>
/// A DEST written as a virtual-disk container (<c>-O qcow2</c>): the copy engine writes the disk's data at
/// virtual offsets, a <see cref="VirtualDiskWriter"/> lays it out in the container, and the container file is a
/// <see cref="FileCopyTarget"/>, so it is written under a temporary name and renamed only when complete. A new
/// container reads zeros wherever nothing was written, so zero runs are skipped without a blank check.
/// </summary>
public sealed class ContainerCopyTarget : CopyTarget
{
    private readonly FileCopyTarget _file;
    private readonly VirtualDiskWriter _writer;

    private ContainerCopyTarget(FileCopyTarget file, VirtualDiskWriter writer)
    {
        _file = file;
        _writer = writer;
    }

    /// <summary>Creates <paramref name="path"/> (under a temporary name) as a container of <paramref name="format"/>.</summary>
    public static ContainerCopyTarget Create(string path, ContainerFormat format, ClusterCompression compression, Platform.IPlatformIo? platform = null)
    {
        var file = FileCopyTarget.Open(path, overlay: false, platform);
        try
        {
            var adapter = new FileAdapter(file);
            VirtualDiskWriter writer = format switch
            {
                ContainerFormat.Qcow2 => new Containers.Qcow2.Qcow2DiskWriter(adapter, compression),
                ContainerFormat.VhdFixed => new Containers.Vhd.VhdFixedDiskWriter(adapter),
                _ => throw new ArgumentOutOfRangeException(nameof(format)),
            };
            return new ContainerCopyTarget(file, writer);
        }
        catch
        {
            file.Abort();
            file.Dispose();
            throw;
        }
    }

    public override string Name => _file.Name;

    public ContainerFormat Format => _writer.Format;

    /// <summary>The virtual size written into the container (after <see cref="Finish"/>).</summary>
    public long? VirtualSize => _writer.VirtualSize;

    /// <summary>The container file's length (after <see cref="Finish"/>).</summary>
    public long? ContainerLength { get; private set; }

    public override long KnownZeroFrom => 0;

    public override void Write(long offset, ReadOnlySpan<byte> data) => _writer.Write(offset, data);

    public override void FlushToDisk() => _file.FlushToDisk();

    public override void Finish(long endOffset, long? finalSize)
    {
        var length = _writer.Finish(finalSize ?? endOffset);
        _file.Finish(length, length);
        ContainerLength = length;
    }

    public override TargetCompletion Commit(CancellationToken cancellation) => _file.Commit(cancellation);

    public override void Abort() => _file.Abort();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _writer.Dispose();
            _file.Dispose();
        }
    }

    private sealed class FileAdapter(FileCopyTarget file) : IContainerFile
    {
        public string Name => file.Name;

        public void Write(long offset, ReadOnlySpan<byte> data) => file.Write(offset, data);

        public int Read(long offset, Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var n = file.ReadBack(offset + total, buffer[total..]);
                if (n <= 0)
                {
                    buffer[total..].Clear();
                    break;
                }
                total += n;
            }
            return buffer.Length;
        }
    }
}
