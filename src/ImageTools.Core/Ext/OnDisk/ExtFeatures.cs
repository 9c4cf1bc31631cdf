namespace ImageTools.Core.Ext.OnDisk;

// Feature flags of the superblock (s_feature_compat 0x5C, s_feature_incompat 0x60,
// s_feature_ro_compat 0x64). Rule of the kernel and e2fsprogs (docs/ext-format.md §13): an unknown
// incompat bit means "do not touch", an unknown ro_compat bit means "read only", an unknown compat
// bit may be ignored.

/// <summary>s_feature_compat: a reader may ignore what it does not know.</summary>
[Flags]
public enum CompatFeatures : uint
{
    None = 0,
    DirPrealloc = 0x1,
    ImagicInodes = 0x2,
    HasJournal = 0x4,
    ExtAttr = 0x8,
    ResizeInode = 0x10,
    DirIndex = 0x20,
    LazyBg = 0x40,
    ExcludeBitmap = 0x100,
    SparseSuper2 = 0x200,
    FastCommit = 0x400,
    StableInodes = 0x800,
    OrphanFile = 0x1000,
}

/// <summary>s_feature_incompat: a reader must refuse what it does not know.</summary>
[Flags]
public enum IncompatFeatures : uint
{
    None = 0,
    Compression = 0x1,
    FileType = 0x2,
    NeedsRecovery = 0x4,
    JournalDev = 0x8,
    MetaBg = 0x10,
    Extents = 0x40,
    SixtyFourBit = 0x80,
    Mmp = 0x100,
    FlexBg = 0x200,
    EaInode = 0x400,
    DirData = 0x1000,
    CsumSeed = 0x2000,
    LargeDir = 0x4000,
    InlineData = 0x8000,
    Encrypt = 0x10000,
    Casefold = 0x20000,
}

/// <summary>s_feature_ro_compat: a reader may read, but must not write, what it does not know.</summary>
[Flags]
public enum RoCompatFeatures : uint
{
    None = 0,
    SparseSuper = 0x1,
    LargeFile = 0x2,
    BtreeDir = 0x4,
    HugeFile = 0x8,
    GdtCsum = 0x10,
    DirNlink = 0x20,
    ExtraIsize = 0x40,
    HasSnapshot = 0x80,
    Quota = 0x100,
    Bigalloc = 0x200,
    MetadataCsum = 0x400,
    Replica = 0x800,
    ReadOnly = 0x1000,
    Project = 0x2000,
    SharedBlocks = 0x4000,
    Verity = 0x8000,
    OrphanPresent = 0x10000,
}

/// <summary>The names e2fsprogs prints for each feature bit (dumpe2fs "Filesystem features").</summary>
public static class ExtFeatureNames
{
    private static readonly (uint Bit, string Name)[] Compat =
    {
        (0x1, "dir_prealloc"), (0x2, "imagic_inodes"), (0x4, "has_journal"), (0x8, "ext_attr"),
        (0x10, "resize_inode"), (0x20, "dir_index"), (0x40, "lazy_bg"), (0x100, "exclude_bitmap"),
        (0x200, "sparse_super2"), (0x400, "fast_commit"), (0x800, "stable_inodes"), (0x1000, "orphan_file"),
    };

    private static readonly (uint Bit, string Name)[] Incompat =
    {
        (0x1, "compression"), (0x2, "filetype"), (0x4, "needs_recovery"), (0x8, "journal_dev"),
        (0x10, "meta_bg"), (0x40, "extent"), (0x80, "64bit"), (0x100, "mmp"), (0x200, "flex_bg"),
        (0x400, "ea_inode"), (0x1000, "dirdata"), (0x2000, "metadata_csum_seed"), (0x4000, "large_dir"),
        (0x8000, "inline_data"), (0x10000, "encrypt"), (0x20000, "casefold"),
    };

    private static readonly (uint Bit, string Name)[] RoCompat =
    {
        (0x1, "sparse_super"), (0x2, "large_file"), (0x4, "btree_dir"), (0x8, "huge_file"),
        (0x10, "uninit_bg"), (0x20, "dir_nlink"), (0x40, "extra_isize"), (0x80, "snapshot"),
        (0x100, "quota"), (0x200, "bigalloc"), (0x400, "metadata_csum"), (0x800, "replica"),
        (0x1000, "read-only"), (0x2000, "project"), (0x4000, "shared_blocks"), (0x8000, "verity"),
        (0x10000, "orphan_present"),
    };

    /// <summary>Feature names in dumpe2fs order (compat, then incompat, then ro_compat, low bits first).</summary>
    public static IReadOnlyList<string> Describe(CompatFeatures compat, IncompatFeatures incompat, RoCompatFeatures roCompat)
    {
        var names = new List<string>();
        Add(names, Compat, (uint)compat, "FEATURE_C");
        Add(names, Incompat, (uint)incompat, "FEATURE_I");
        Add(names, RoCompat, (uint)roCompat, "FEATURE_R");
        return names;
    }

    /// <summary>The e2fsprogs name of one incompat bit (e.g. "inline_data"), or FEATURE_Inn.</summary>
    public static string Name(IncompatFeatures bit) => NameOf(Incompat, (uint)bit, "FEATURE_I");

    /// <summary>The e2fsprogs name of one ro_compat bit, or FEATURE_Rnn.</summary>
    public static string Name(RoCompatFeatures bit) => NameOf(RoCompat, (uint)bit, "FEATURE_R");

    /// <summary>The e2fsprogs name of one compat bit, or FEATURE_Cnn.</summary>
    public static string Name(CompatFeatures bit) => NameOf(Compat, (uint)bit, "FEATURE_C");

    private static string NameOf((uint Bit, string Name)[] table, uint bit, string unknownPrefix)
    {
        foreach (var (b, n) in table)
        {
            if (b == bit)
            {
                return n;
            }
        }
        return unknownPrefix + System.Numerics.BitOperations.TrailingZeroCount(bit);
    }

    private static void Add(List<string> names, (uint Bit, string Name)[] table, uint value, string unknownPrefix)
    {
        for (var i = 0; i < 32; i++)
        {
            var bit = 1u << i;
            if ((value & bit) != 0)
            {
                names.Add(NameOf(table, bit, unknownPrefix));
            }
        }
    }
}
