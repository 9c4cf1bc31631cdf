namespace ImageTools.Core.Ext.Reader;

/// <summary>How strictly <see cref="ExtFileSystem.Open(System.IO.Stream, string, ExtOpenOptions?, bool)"/> reads.</summary>
public sealed record ExtOpenOptions
{
    /// <summary>The defaults: checksums verified, a journal that needs recovery refused.</summary>
    public static ExtOpenOptions Default { get; } = new();

    /// <summary>
    /// Verify metadata checksums (metadata_csum: superblock, group descriptors, inodes, extent, directory
    /// and xattr blocks; uninit_bg: the crc16 of group descriptors) and refuse what does not match, as the
    /// kernel does. Off, a damaged checksum is ignored and the structure is read as it is.
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;

    /// <summary>
    /// Read a filesystem whose journal still needs recovery (incompat needs_recovery) as it is on disk,
    /// without replaying the journal. What was committed to the journal but not yet written to its home
    /// location is missing, so this is a clearly flagged "stale" read; off by default.
    /// </summary>
    public bool AllowStaleJournal { get; init; }
}
