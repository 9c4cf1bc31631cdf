using System.Text;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Hygiene.FirstBoot;

namespace ImageTools.Core.Hygiene;

/// <summary>
/// New SSH host keys at boot for an image whose keys the scrub removed. Some systems make missing keys
/// themselves (Fedora and RHEL's sshd-keygen units, Alpine's OpenRC sshd script, anything with a unit or
/// script that runs ssh-keygen); Debian 12's and Ubuntu's ssh.service does not: sshd then fails to start
/// ("no hostkeys available") and nobody can log in over SSH. So when sshd is installed, no host key is left,
/// the first-boot script (which makes them) is not being installed, and nothing in the image makes them,
/// a hook that runs <c>ssh-keygen -A</c> (which makes only the missing keys, and nothing when all exist)
/// before sshd starts is installed, for the image's init:
/// <list type="bullet">
/// <item>systemd: <c>/etc/systemd/system/imagetools-ssh-keygen.service</c> (oneshot, <c>Before=ssh.service sshd.service</c>),
/// wanted by multi-user.target and by ssh.service/sshd.service where they exist (a socket-activated or
/// hand-started sshd gets its keys too);</item>
/// <item>sysvinit: an LSB script <c>/etc/init.d/imagetools-ssh-keygen</c> with <c>S01</c> links in rc2.d..rc5.d
/// (sorted before Debian's S01ssh);</item>
/// <item>busybox init: a <c>::sysinit:</c> line running ssh-keygen -A in /etc/inittab.</item>
/// </list>
/// It stays in the image: on every boot it costs one ssh-keygen call that finds every key present.
/// </summary>
public static class SshHostKeyRegeneration
{
    public const string UnitName = "imagetools-ssh-keygen.service";
    public const string UnitPath = "/etc/systemd/system/" + UnitName;
    public const string InitScriptPath = "/etc/init.d/imagetools-ssh-keygen";

    private static readonly string[] UnitDirectories = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];

    /// <summary>Units that make missing host keys (Fedora/RHEL: sshd-keygen@.service, sshd-keygen.target; older: sshd-keygen.service).</summary>
    private static readonly string[] KeygenUnits = ["sshd-keygen@.service", "sshd-keygen.service", "sshd-keygen.target", "ssh-keygen.service"];

    /// <summary>Whether the image has an OpenSSH server.</summary>
    public static bool SshServerInstalled(ScrubContext context) => ImagePrograms.Find(context.FileSystem, "sshd") != null;

    /// <summary>Whether any host private key is in /etc/ssh.</summary>
    public static bool AnyHostKey(ScrubContext context) =>
        context.List("/etc/ssh").Any(e => e.Inode.IsRegularFile && e.Path.EndsWith("_key", StringComparison.Ordinal)
            && e.Path[(e.Path.LastIndexOf('/') + 1)..].StartsWith("ssh_host_", StringComparison.Ordinal));

    /// <summary>Makes sure the image gets host keys at its next boot (see the class summary); reports what it did.</summary>
    public static void Ensure(ScrubContext context)
    {
        if (!SshServerInstalled(context) || AnyHostKey(context))
        {
            return;
        }
        if (context.Options.FirstBoot != null)
        {
            context.Note("the first-boot script makes new host keys at the first boot");
            return;
        }
        FirstBootInit init;
        try
        {
            init = context.Options.FirstBoot?.Init is { } chosen and not FirstBootInit.Auto ? chosen : FirstBootInstaller.Detect(context);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.UnsupportedFeature)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{context.FileSystem.Name}: sshd is installed and its host keys are removed, but how this system starts cannot be told, so nothing can be "
                + "installed to make new keys at boot (sshd would not start): leave the operation out (--operations=-ssh-hostkeys), or add --first-boot with --first-boot-init");
        }
        if (ExistingRegenerator(context, init) is { } existing)
        {
            context.Note($"new host keys are made at boot by {existing}");
            return;
        }
        var keygen = ImagePrograms.Find(context.FileSystem, "ssh-keygen")
            ?? throw new ImageToolsException(ErrorKind.MissingResource,
                $"{context.FileSystem.Name}: sshd is installed and its host keys are removed, but there is no ssh-keygen in the image to make new ones at boot "
                + "(sshd would not start): leave the operation out (--operations=-ssh-hostkeys) or install openssh-client in the image");
        switch (init)
        {
            case FirstBootInit.Systemd:
                FirstBootInstaller.WriteFile(context, UnitPath, Encoding.UTF8.GetBytes(Unit(keygen)), 0x1A4, "makes the missing SSH host keys (ssh-keygen -A) before sshd starts, at every boot");
                Want(context, "multi-user.target");
                foreach (var sshd in new[] { "ssh.service", "sshd.service" })
                {
                    if (UnitDirectories.Any(d => context.Lookup(d + "/" + sshd) != null))
                    {
                        Want(context, sshd);
                    }
                }
                break;
            case FirstBootInit.SysV:
                FirstBootInstaller.WriteFile(context, InitScriptPath, Encoding.UTF8.GetBytes(InitScript(keygen)), 0x1ED, "LSB init script: makes the missing SSH host keys before sshd starts");
                foreach (var runlevel in new[] { 2, 3, 4, 5 })
                {
                    var link = $"/etc/rc{runlevel}.d/S01imagetools-ssh-keygen";
                    FirstBootInstaller.EnsureDirectory(context, link[..link.LastIndexOf('/')]);
                    FirstBootInstaller.EnsureSymlink(context, link, "../init.d/imagetools-ssh-keygen", "starts it in this runlevel");
                }
                break;
            default:
                FirstBootInstaller.AddInittabLine(context, InittabLine(keygen), "ssh-keygen -A");
                break;
        }
    }

    private static void Want(ScrubContext context, string unit)
    {
        var directory = $"/etc/systemd/system/{unit}.wants";
        FirstBootInstaller.EnsureDirectory(context, directory);
        FirstBootInstaller.EnsureSymlink(context, $"{directory}/{UnitName}", UnitPath, $"wanted by {unit}");
    }

    /// <summary>What in the image already makes missing host keys at boot, for this init; null when nothing does.</summary>
    private static string? ExistingRegenerator(ScrubContext context, FirstBootInit init)
    {
        switch (init)
        {
            case FirstBootInit.Systemd:
                foreach (var directory in UnitDirectories)
                {
                    foreach (var unit in KeygenUnits)
                    {
                        if (context.Lookup(directory + "/" + unit) != null)
                        {
                            return $"{directory}/{unit}";
                        }
                    }
                }
                return null;
            case FirstBootInit.SysV:
                foreach (var script in new[] { "/etc/init.d/ssh", "/etc/init.d/sshd" })
                {
                    if (Mentions(context, script, "ssh-keygen"))
                    {
                        return script;
                    }
                }
                return null;
            default:
                return Mentions(context, "/etc/inittab", "ssh-keygen") ? "/etc/inittab" : null;
        }
    }

    private static bool Mentions(ScrubContext context, string path, string text)
    {
        var inode = context.FileSystem.TryResolve(path, followLast: true);
        return inode is { IsRegularFile: true, Size: < 1 << 20 } && Encoding.UTF8.GetString(context.ReadAll(inode, 1 << 20)).Contains(text, StringComparison.Ordinal);
    }

    public static string Unit(string keygen) => $"""
[Unit]
Description=ImageTools: make the SSH host keys this server lacks (ssh-keygen -A)
Before=ssh.service sshd.service

[Service]
Type=oneshot
ExecStart={keygen} -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target

""";

    public static string InitScript(string keygen) => $$"""
#!/bin/sh
### BEGIN INIT INFO
# Provides:          imagetools-ssh-keygen
# Required-Start:    $local_fs
# Required-Stop:
# X-Start-Before:    ssh sshd
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: make the SSH host keys this server lacks (ssh-keygen -A)
### END INIT INFO
# Installed by fsmaker scrub's ssh-hostkeys operation (ImageTools), which removed the image's host keys.

case "$1" in
    start | "")
        exec {{keygen}} -A
        ;;
    stop | restart | force-reload | status)
        exit 0
        ;;
    *)
        echo "Usage: $0 start" >&2
        exit 3
        ;;
esac

""";

    public static string InittabLine(string keygen) => $"::sysinit:{keygen} -A";
}
