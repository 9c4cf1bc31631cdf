namespace ImageTools.Core.Boot;

/// <summary>
/// Whether GRUB's ext2 driver (ext2.mod, which reads ext2/3/4) can read a filesystem, judged by the
/// superblock's incompatible-feature bits (s_feature_incompat, offset 0x60). GRUB refuses a filesystem
/// with any incompatible feature it does not know; it ignores the compatible and read-only-compatible
/// ones, and does not replay a journal. The readable set is GRUB 2.06 as Debian 12 ships it (upstream
/// 2.06 plus csum_seed and large_dir, which upstream has since 2.12), checked with grub-fstest.
/// The pipeline uses this before writing boot entries that GRUB must read from the root filesystem.
/// </summary>
public static class GrubExtSupport
{
    private static readonly (uint Bit, string Name)[] IncompatibleFeatures =
    [
        (0x0001, "compression"),
        (0x0002, "filetype"),
        (0x0004, "needs_recovery"),
        (0x0008, "journal_dev"),
        (0x0010, "meta_bg"),
        (0x0040, "extent"),
        (0x0080, "64bit"),
        (0x0100, "mmp"),
        (0x0200, "flex_bg"),
        (0x0400, "ea_inode"),
        (0x1000, "dirdata"),
        (0x2000, "metadata_csum_seed"),
        (0x4000, "large_dir"),
        (0x8000, "inline_data"),
        (0x10000, "encrypt"),
        (0x20000, "casefold"),
    ];

    /// <summary>The incompatible features GRUB reads (or safely ignores: needs_recovery, mmp).</summary>
    public const uint ReadableIncompatibleFeatures =
        0x0002 | 0x0004 | 0x0010 | 0x0040 | 0x0080 | 0x0100 | 0x0200 | 0x2000 | 0x4000 | 0x10000;

    /// <summary>
    /// The names (as mke2fs -O spells them) of the features in <paramref name="incompatibleFeatures"/>
    /// that stop GRUB from reading the filesystem; empty when GRUB can read it.
    /// </summary>
    public static IReadOnlyList<string> UnreadableFeatures(uint incompatibleFeatures)
    {
        uint unreadable = incompatibleFeatures & ~ReadableIncompatibleFeatures;
        var names = new List<string>();
        foreach (var (bit, name) in IncompatibleFeatures)
        {
            if ((unreadable & bit) != 0)
            {
                names.Add(name);
                unreadable &= ~bit;
            }
        }
        for (int i = 0; i < 32; i++)
        {
            if ((unreadable & (1u << i)) != 0)
            {
                names.Add($"unknown 0x{1u << i:X}");
            }
        }
        return names;
    }
}
