using ImageTools.Core.Streams;

namespace ImageTools.Core.Sparse;

/// <summary>
/// A read-only, seekable stream over what a <see cref="CopyTarget"/> holds, read back through it: how the
/// partition table of an existing DEST is read before writing into one of its partitions, and how the mapped
/// ranges of a bmap copy are checked after writing. The target stays the target's; disposing this does nothing.
/// </summary>
internal sealed class CopyTargetReadStream(CopyTarget target, long length) : PositionalReadStream
{
    public override long Length => length;

    protected override string ReadOnlyReason => "a read-back view of DEST is read-only";

    protected override int ReadAt(long position, Span<byte> buffer) => target.ReadBack(position, buffer);
}
