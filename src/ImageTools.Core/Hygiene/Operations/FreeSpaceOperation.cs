namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// free-space: every free block that still holds something is zeroed. The kernel frees blocks without
/// clearing them, so whatever the image's builder deleted (downloaded packages, build trees, an older
/// /etc/shadow) is still readable in the free space; this is what zerofree and virt-sparsify do. Blocks
/// that already read as zeros are left alone, so a sparse image stays as sparse (and blocks the scrub itself
/// freed are zero already). Runs last, after everything else has been freed.
/// </summary>
public sealed class FreeSpaceOperation : ScrubOperation
{
    public override string Name => "free-space";

    public override string Description => "zero the free blocks that still hold data deleted before the scrub (as zerofree does)";

    public override void Run(ScrubContext context)
    {
        var blocks = context.Editor.ZeroFreeSpace();
        if (blocks > 0)
        {
            context.Report(ScrubAction.Zeroed, "<free blocks>", $"{blocks} blocks left over from earlier deletions, {ScrubContext.Size(blocks * (ulong)context.FileSystem.BlockSize)}");
        }
    }
}
