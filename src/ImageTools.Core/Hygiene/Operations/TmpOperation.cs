namespace ImageTools.Core.Hygiene.Operations;

/// <summary>tmp: everything inside /tmp and /var/tmp is removed; the directories themselves (mode 1777) stay.</summary>
public sealed class TmpOperation : ScrubOperation
{
    public override string Name => "tmp";

    public override string Description => "remove the contents of /tmp and /var/tmp (the directories stay)";

    public override void Run(ScrubContext context)
    {
        foreach (var directory in new[] { "/tmp", "/var/tmp" })
        {
            foreach (var (path, _) in context.List(directory))
            {
                context.Remove(path);
            }
        }
    }
}
