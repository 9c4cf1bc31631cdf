namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// ssh-hostkeys: /etc/ssh/ssh_host_* (private and public keys, certificates) removed, so every server made
/// from the image makes its own (the first-boot script does, and Debian's and Fedora's sshd units do when
/// keys are missing).
/// </summary>
public sealed class SshHostKeysOperation : ScrubOperation
{
    public override string Name => "ssh-hostkeys";

    public override string Description => "remove the SSH host keys (/etc/ssh/ssh_host_*)";

    public override void Run(ScrubContext context)
    {
        foreach (var (path, inode) in context.List("/etc/ssh"))
        {
            if (path[(path.LastIndexOf('/') + 1)..].StartsWith("ssh_host_", StringComparison.Ordinal) && !inode.IsDirectory)
            {
                context.Remove(path);
            }
        }
    }
}
