namespace ImageTools.Core.Ext.Writer;

/// <summary>The filesystem flavours the writer produces.</summary>
public enum ExtFilesystemType
{
    /// <summary>ext2, revision 1 (dynamic inodes), no journal.</summary>
    Ext2,
    /// <summary>ext2 plus an internal jbd2 journal in inode 8 (has_journal).</summary>
    Ext3,
    /// <summary>
    /// ext4 with the features <c>mke2fs -t ext4</c> of e2fsprogs 1.47 enables: extents, 64bit, flex_bg,
    /// huge_file, dir_nlink, extra_isize and metadata_csum on top of ext3's (see <see cref="Ext4Features"/>).
    /// </summary>
    Ext4,
}

/// <summary>
/// The ext4 features a caller may turn off (mke2fs <c>-O ^name</c>); all are on by default, as in
/// mke2fs.conf's ext4 entry. <see cref="ExtFeatureEdits"/> parses mke2fs' feature strings.
/// </summary>
[Flags]
public enum Ext4Features
{
    None = 0,
    HasJournal = 1 << 0,
    MetadataCsum = 1 << 1,
    SixtyFourBit = 1 << 2,
    FlexBg = 1 << 3,
    HugeFile = 1 << 4,
    DirNlink = 1 << 5,
    ExtraIsize = 1 << 6,
    Default = HasJournal | MetadataCsum | SixtyFourBit | FlexBg | HugeFile | DirNlink | ExtraIsize,
}

/// <summary>Parses mke2fs' <c>-O</c> lists ("^metadata_csum,^64bit") against the ext4 default set.</summary>
public static class ExtFeatureEdits
{
    private static readonly (string Name, Ext4Features Flag)[] Editable =
    {
        ("has_journal", Ext4Features.HasJournal), ("metadata_csum", Ext4Features.MetadataCsum),
        ("64bit", Ext4Features.SixtyFourBit), ("flex_bg", Ext4Features.FlexBg), ("huge_file", Ext4Features.HugeFile),
        ("dir_nlink", Ext4Features.DirNlink), ("extra_isize", Ext4Features.ExtraIsize),
    };

    /// <summary>Features that are always on and may be named without ^ (mke2fs accepts them; they change nothing).</summary>
    private static readonly string[] Fixed =
    {
        "ext_attr", "resize_inode", "dir_index", "filetype", "extent", "extents", "sparse_super", "large_file",
    };

    /// <summary>
    /// Applies a comma- or space-separated list of feature names, each optionally prefixed by ^
    /// (off) or + (on), to <paramref name="start"/>. An unknown name, or turning off a feature the
    /// writer always uses, is an <see cref="ImageToolsException"/> naming it and listing what may be edited.
    /// </summary>
    public static Ext4Features Apply(Ext4Features start, string list)
    {
        var result = start;
        foreach (var raw in list.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var off = raw.StartsWith('^');
            var name = raw.TrimStart('^', '+').ToLowerInvariant();
            var match = Array.FindIndex(Editable, e => e.Name == name);
            if (match >= 0)
            {
                result = off ? result & ~Editable[match].Flag : result | Editable[match].Flag;
                continue;
            }
            if (Array.IndexOf(Fixed, name) >= 0)
            {
                if (off)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument,
                        $"feature '{name}' cannot be turned off: the writer always uses it (features that can be turned off: {string.Join(", ", Editable.Select(e => e.Name))})");
                }
                continue;
            }
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"unknown or unsupported filesystem feature '{raw}' (features that can be turned off with ^: {string.Join(", ", Editable.Select(e => e.Name))}; always on: {string.Join(", ", Fixed.Where(f => f != "extents"))})");
        }
        return result;
    }
}

/// <summary>
/// What to build. Everything left null is chosen the way <c>mke2fs -t ext2|ext3|ext4</c> chooses it
/// (docs/ext-writer.md explains each rule); <see cref="SizeBytes"/> null means "fit the content
/// with headroom".
/// </summary>
public sealed record ExtFilesystemOptions
{
    public ExtFilesystemType Type { get; init; } = ExtFilesystemType.Ext4;

    /// <summary>ext4 only: which of its default features are on (<c>-O ^metadata_csum</c> and the like).</summary>
    public Ext4Features Features { get; init; } = Ext4Features.Default;

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
