namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// ssh-hostkeys: /etc/ssh/ssh_host_* (private and public keys, certificates) removed, so every server made
/// from the image makes its own. Something must make them at boot, or sshd does not start: the first-boot
/// script does; Fedora's and RHEL's sshd-keygen units and Alpine's sshd script do; Debian's and Ubuntu's
/// ssh.service does not, so where nothing would, a hook running <c>ssh-keygen -A</c> before sshd is installed
/// (<see cref="SshHostKeyRegeneration"/>).
/// </summary>
public sealed class SshHostKeysOperation : ScrubOperation
{
    public override string Name => "ssh-hostkeys";

    public override string Description => "remove the SSH host keys (/etc/ssh/ssh_host_*); where sshd is installed and nothing in the image makes new keys at boot, install a hook that runs ssh-keygen -A before sshd";

    public override void Run(ScrubContext context)
    {
        foreach (var (path, inode) in context.List("/etc/ssh"))
        {
            if (path[(path.LastIndexOf('/') + 1)..].StartsWith("ssh_host_", StringComparison.Ordinal) && !inode.IsDirectory)
            {
                context.Remove(path);
            }
        }
        SshHostKeyRegeneration.Ensure(context);
    }
}
