using System.Text;

namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// machine-id: /etc/machine-id is reset, never removed (journald and others fail without it): to
/// "uninitialized" when systemd 237 or later is installed (it then makes a new ID at the first boot and treats
/// the boot as the first, as cloud-init images do), else to an empty file (older systemd, or none: the
/// first-boot script or dbus fills it). When systemd is installed and the file is missing it is created
/// (mode 0444, root). /var/lib/dbus/machine-id is removed (dbus links or copies it again).
/// </summary>
public sealed class MachineIdOperation : ScrubOperation
{
    public override string Name => "machine-id";

    public override string Description => "reset /etc/machine-id ('uninitialized' for systemd >= 237, else empty; never removed), remove /var/lib/dbus/machine-id";

    public override void Run(ScrubContext context)
    {
        var systemd = SystemdDetection.Detect(context);
        var content = systemd.UnderstandsUninitialized ? "uninitialized\n"u8.ToArray() : [];
        var how = systemd.Installed
            ? $"systemd {systemd.Version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(version unknown)"}, from {systemd.Evidence}"
            : "no systemd";
        const string path = "/etc/machine-id";
        var current = context.Lookup(path);
        if (current is { IsSymbolicLink: true })
        {
            // Old layouts link it to /var/lib/dbus/machine-id, which goes: a file of its own replaces the link.
            context.Editor.Remove(path);
            current = null;
        }
        if (current is { IsRegularFile: true })
        {
            var old = context.ReadAll(current, 4096);
            if (!old.AsSpan().SequenceEqual(content))
            {
                context.Editor.Rewrite(path, content);
                context.Report(ScrubAction.Rewritten, path, $"now {(content.Length == 0 ? "empty" : "'uninitialized'")}; {how}");
            }
        }
        else if (current == null)
        {
            if (systemd.Installed && context.Directory("/etc") != null)
            {
                context.Editor.CreateFile(path, content, new Ext.Editor.NewInodeAttributes(0x124));
                context.Report(ScrubAction.Created, path, $"{(content.Length == 0 ? "empty" : "'uninitialized'")}; {how}");
            }
            else
            {
                context.Note($"no {path} (and no systemd to want one); nothing to reset");
            }
        }
        else
        {
            context.Note($"{path} is a {Ext.Reader.ExtFileSystem.DescribeType(current.Type)}; left alone");
        }
        context.Remove("/var/lib/dbus/machine-id");
    }
}
