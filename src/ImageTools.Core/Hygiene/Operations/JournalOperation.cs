namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// journal: an ext3/ext4 journal that is empty (the editor refuses one that is not) still holds the blocks
/// of past transactions: copies of inode tables, directory blocks with the names of deleted files, and in
/// data=journal mode file content. Nothing reads them once the journal is empty, so every journal block but
/// its superblock is zeroed. The journal stays valid (the kernel starts writing it afresh at the next mount).
/// </summary>
public sealed class JournalOperation : ScrubOperation
{
    public override string Name => "journal";

    public override string Description => "zero the old transactions in the ext3/ext4 journal (copies of metadata and data of the past)";

    public override void Run(ScrubContext context)
    {
        var sb = context.FileSystem.Superblock;
        if (!sb.FeatureCompat.HasFlag(Ext.OnDisk.CompatFeatures.HasJournal) || sb.JournalInode == 0)
        {
            context.Note("no internal journal");
            return;
        }
        var blocks = context.Editor.ZeroJournalHistory();
        if (blocks > 0)
        {
            context.Report(ScrubAction.Zeroed, $"<journal inode {sb.JournalInode}>",
                $"{blocks} blocks of old transactions, {ScrubContext.Size(blocks * (ulong)context.FileSystem.BlockSize)}");
        }
    }
}
