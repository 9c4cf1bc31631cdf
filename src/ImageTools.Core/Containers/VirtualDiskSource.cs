using ImageTools.Core.Streams;

namespace ImageTools.Core.Containers;

/// <summary>
/// A virtual disk read out of a container: its virtual size is <see cref="DataSource.Length"/> and
/// <see cref="DataSource.NextData"/> gives its allocated extents (unallocated clusters are never read and copy as
/// holes). Reads may come at any position, so the same object serves the copy engine and partition-table reads.
/// </summary>
public abstract class VirtualDiskSource : DataSource
{
    /// <summary>The container read.</summary>
    public abstract ContainerFormat Format { get; }

    /// <summary>Extra facts for messages and JSON ("compressed clusters: zstd", "backing file: base.qcow2").</summary>
    public virtual string? Detail => null;

    public override bool CanSkip => true;
}
