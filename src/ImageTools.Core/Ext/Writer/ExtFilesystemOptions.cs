namespace ImageTools.Core.Ext.Writer;

/// <summary>The filesystem flavours the writer produces.</summary>
public enum ExtFilesystemType
{
    /// <summary>ext2, revision 1 (dynamic inodes), no journal.</summary>
    Ext2,
    /// <summary>ext2 plus an internal jbd2 journal in inode 8 (has_journal).</summary>
    Ext3,
}

/// <summary>
/// What to build. Everything left null is chosen the way <c>mke2fs -t ext2|ext3</c> chooses it
/// (docs/ext-writer.md explains each rule); <see cref="SizeBytes"/> null means "fit the content
/// with headroom".
/// </summary>
public sealed record ExtFilesystemOptions
{
    public ExtFilesystemType Type { get; init; } = ExtFilesystemType.Ext3;

    /// <summary>Filesystem size in bytes; null: computed from the content (docs/ext-writer.md "Default size").</summary>
    public long? SizeBytes { get; init; }

    /// <summary>1024 or 4096; null: 1024 below 512 MiB, else 4096 (mke2fs' size classes).</summary>
    public int? BlockSize { get; init; }

    /// <summary>128 or 256 (default, as mke2fs 1.47): 256-byte inodes keep nanoseconds, dates past 2038 and in-inode xattrs.</summary>
    public int InodeSize { get; init; } = 256;

    /// <summary>Total inode count wanted (rounded as mke2fs rounds it); null: from the size class' bytes-per-inode ratio.</summary>
    public long? InodeCount { get; init; }

    /// <summary>Bytes per inode; null: the size class' ratio (floppy 8192, small 4096, default 16384, big 32768, huge 65536).</summary>
    public int? BytesPerInode { get; init; }

    /// <summary>Percentage of blocks reserved for root (mke2fs -m); 5 by default.</summary>
    public double ReservedPercent { get; init; } = 5.0;

    /// <summary>s_volume_name, at most 16 bytes of UTF-8.</summary>
    public string? Label { get; init; }

    /// <summary>Fixed filesystem UUID; null: random, or derived from the input under <see cref="SourceDateEpoch"/>.</summary>
    public Guid? Uuid { get; init; }

    /// <summary>Fixed directory hash seed; null: random, or derived from the input under <see cref="SourceDateEpoch"/>.</summary>
    public Guid? HashSeed { get; init; }

    /// <summary>
    /// SOURCE_DATE_EPOCH (seconds since 1970): every timestamp is clamped to it, it becomes the
    /// build time, and the UUID and hash seed are derived from it and the input, so that the same
    /// input gives a bit-identical image.
    /// </summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Every file owned by this uid (genext2fs' squash); null keeps the source's.</summary>
    public uint? OwnerUid { get; init; }

    /// <summary>Every file owned by this gid; null keeps the source's.</summary>
    public uint? OwnerGid { get; init; }

    /// <summary>The build time when <see cref="SourceDateEpoch"/> is not set; null: now. Lets tests pin it.</summary>
    public DateTimeOffset? BuildTime { get; init; }
}
