using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>Which member of the family a filesystem is, the way blkid and the kernel name it.</summary>
public enum ExtKind
{
    Ext2,
    Ext3,
    Ext4,
    /// <summary>An external journal device (journal_dev): a jbd2 log, not a filesystem.</summary>
    JournalDevice,
}

/// <summary>
/// The reader's feature table (docs/ext-format.md §13): what it reads, what it refuses and why.
/// Rule of the kernel and e2fsprogs: an unknown incompat bit means "do not read"; unknown ro_compat and
/// compat bits do not stop a reader.
/// </summary>
public static class ExtFeatureSupport
{
    /// <summary>Incompat features the reader understands (everything else is refused).</summary>
    public const IncompatFeatures Readable =
        IncompatFeatures.FileType | IncompatFeatures.MetaBg | IncompatFeatures.Extents | IncompatFeatures.SixtyFourBit
        | IncompatFeatures.Mmp | IncompatFeatures.FlexBg | IncompatFeatures.EaInode | IncompatFeatures.CsumSeed
        | IncompatFeatures.LargeDir | IncompatFeatures.InlineData | IncompatFeatures.Casefold;

    // What ext3 knew (blkid's EXT3_FEATURE_*_SUPP): anything beyond makes a filesystem "ext4".
    private const IncompatFeatures Ext3Incompat = IncompatFeatures.FileType | IncompatFeatures.NeedsRecovery | IncompatFeatures.MetaBg;
    private const RoCompatFeatures Ext3RoCompat = RoCompatFeatures.SparseSuper | RoCompatFeatures.LargeFile | RoCompatFeatures.BtreeDir;

    /// <summary>ext2, ext3 or ext4, by the blkid rule: ext4 once a feature ext3 did not know is on; ext3 with a journal.</summary>
    public static ExtKind Classify(Superblock sb)
    {
        if (sb.FeatureIncompat.HasFlag(IncompatFeatures.JournalDev))
        {
            return ExtKind.JournalDevice;
        }
        if ((sb.FeatureIncompat & ~Ext3Incompat) != 0 || (sb.FeatureRoCompat & ~Ext3RoCompat) != 0)
        {
            return ExtKind.Ext4;
        }
        return sb.FeatureCompat.HasFlag(CompatFeatures.HasJournal) ? ExtKind.Ext3 : ExtKind.Ext2;
    }

    /// <summary>"ext2", "ext3", "ext4" or "jbd" (blkid's TYPE).</summary>
    public static string NameOf(ExtKind kind) => kind switch
    {
        ExtKind.Ext2 => "ext2",
        ExtKind.Ext3 => "ext3",
        ExtKind.Ext4 => "ext4",
        _ => "jbd",
    };

    /// <summary>
    /// Why the reader cannot read the files of this filesystem, or null when it can. Names the feature
    /// as dumpe2fs prints it, with what it means for the user.
    /// </summary>
    public static string? WhyUnreadable(Superblock sb, ExtOpenOptions options)
    {
        var incompat = sb.FeatureIncompat;
        if (incompat.HasFlag(IncompatFeatures.JournalDev))
        {
            return "it is an external ext3/ext4 journal device (feature journal_dev), not a filesystem: it holds the journal of another filesystem";
        }
        if (incompat.HasFlag(IncompatFeatures.Compression))
        {
            return "it uses feature 'compression' (the old ext2 compression patches), which no current kernel or tool reads";
        }
        if (incompat.HasFlag(IncompatFeatures.DirData))
        {
            return "it uses feature 'dirdata' (Lustre data in directory entries), which this reader does not support";
        }
        if (incompat.HasFlag(IncompatFeatures.Encrypt))
        {
            return "it uses feature 'encrypt' (fscrypt): encrypted file names and contents cannot be read without the keys";
        }
        var unknown = incompat & ~(Readable | IncompatFeatures.NeedsRecovery);
        if (unknown != 0)
        {
            var names = string.Join(", ", ExtFeatureNames.Describe(CompatFeatures.None, unknown, RoCompatFeatures.None));
            return $"it uses incompatible feature(s) this reader does not know: {names} (s_feature_incompat 0x{(uint)incompat:X})";
        }
        if (incompat.HasFlag(IncompatFeatures.NeedsRecovery) && !options.AllowStaleJournal)
        {
            return "its journal needs recovery (feature needs_recovery: it was not cleanly unmounted); run 'e2fsck' on it "
                + "(or mount it once) to replay the journal, or read it as it is with the stale-journal option";
        }
        return null;
    }
}
