using System.Text;
using System.Text.RegularExpressions;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Hygiene.FirstBoot;

/// <summary>
/// Installs the first-boot script and the hook that starts it, through the editor (so it is part of the
/// same all-or-nothing edit as the scrub). The init system is detected from the image unless given:
/// <list type="bullet">
/// <item><b>systemd</b> when /sbin/init is (a link to) systemd, or there is no other init and the systemd
/// manager is installed: a unit ordered after network-online.target and before sshd, enabled by the
/// multi-user.target.wants link that <c>systemctl enable</c> would make;</item>
/// <item><b>busybox</b> when /sbin/init is busybox: a <c>::sysinit:</c> line in /etc/inittab right after the
/// last sysinit line (so the network that rcS brings up is there), /etc/inittab written out with busybox's
/// defaults when the image has none;</item>
/// <item><b>sysv</b> when /sbin/init is another program and /etc/inittab plus /etc/init.d exist (sysvinit): an
/// LSB init.d script with S01 links in runlevels 2-5 (after rcS, which brings the network up in Debian's
/// sysvinit; before sshd's links).</item>
/// </list>
/// The script's state directory is removed from the image (an image made from a server that already ran
/// the script must run it again). Installing again rewrites the script and keeps the hook.
/// </summary>
public static partial class FirstBootInstaller
{
    private const string Operation = "first-boot";

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex MachineIdShape();

    public static FirstBootInit Install(ScrubContext context, FirstBootOptions options)
    {
        options.Validate();
        context.Operation = Operation;
        var shadow = context.FileSystem.TryResolve("/etc/shadow", followLast: true);
        if (shadow is not { IsRegularFile: true } || AccountFiles.PasswordField(context.ReadAll(shadow, 16L << 20), options.User) == null)
        {
            throw new ImageToolsException(ErrorKind.NotFound,
                $"{context.FileSystem.Name}: --first-boot-user {options.User} has no entry in /etc/shadow: the first-boot script could never set its password");
        }
        ImagePrograms.CheckFirstBootCanRun(context.FileSystem, options);
        var init = options.Init == FirstBootInit.Auto ? Detect(context) : options.Init;
        var machineId = "";
        if (context.Lookup("/etc/machine-id") is { IsRegularFile: true, Size: <= 64 } idFile)
        {
            var text = Encoding.ASCII.GetString(context.ReadAll(idFile, 64)).Trim();
            machineId = MachineIdShape().IsMatch(text) ? text : "";
        }

        var script = Encoding.UTF8.GetBytes(FirstBootPayload.Script(options, init, machineId));
        WriteFile(context, FirstBootPayload.ScriptPath, script, 0x1ED, $"the first-boot script: password for {options.User} from {options.MetadataUrl}; started by {Describe(init)}");
        if (context.Lookup(FirstBootPayload.StateDirectory) != null)
        {
            context.Remove(FirstBootPayload.StateDirectory, "state of an earlier first boot: the script must run again");
        }
        switch (init)
        {
            case FirstBootInit.Systemd:
                WriteFile(context, FirstBootPayload.UnitPath, Encoding.UTF8.GetBytes(FirstBootPayload.Unit()), 0x1A4, "systemd unit, after network-online.target");
                EnsureDirectory(context, FirstBootPayload.WantsDirectory);
                EnsureSymlink(context, FirstBootPayload.WantsLink, FirstBootPayload.UnitPath, "enables the unit (as systemctl enable does)");
                break;
            case FirstBootInit.SysV:
                WriteFile(context, FirstBootPayload.InitScriptPath, Encoding.UTF8.GetBytes(FirstBootPayload.InitScript()), 0x1ED, "LSB init script");
                foreach (var link in FirstBootPayload.RcLinks)
                {
                    EnsureDirectory(context, link[..link.LastIndexOf('/')]);
                    EnsureSymlink(context, link, "../init.d/imagetools-first-boot", "starts it in this runlevel");
                }
                break;
            case FirstBootInit.Busybox:
                AddInittabHook(context);
                break;
        }
        return init;
    }

    /// <summary>Which init system the image boots with (see the class summary for the rules).</summary>
    public static FirstBootInit Detect(ScrubContext context)
    {
        var fs = context.FileSystem;
        var systemd = SystemdDetection.Detect(context);
        var init = context.Lookup("/sbin/init");
        if (init is { IsSymbolicLink: true })
        {
            var target = Encoding.UTF8.GetString(fs.ReadSymlinkTarget(init));
            if (target.Contains("systemd", StringComparison.Ordinal))
            {
                return FirstBootInit.Systemd;
            }
            if (target.Contains("busybox", StringComparison.Ordinal))
            {
                return FirstBootInit.Busybox;
            }
        }
        var initFile = fs.TryResolve("/sbin/init", followLast: true);
        if (initFile is { IsRegularFile: true })
        {
            var busybox = fs.TryResolve("/bin/busybox", followLast: true);
            if (busybox != null && busybox.Number == initFile.Number)
            {
                return FirstBootInit.Busybox;
            }
            if (context.Lookup("/etc/inittab") != null && context.Directory("/etc/init.d") != null)
            {
                return FirstBootInit.SysV;
            }
        }
        if (systemd.Installed)
        {
            return FirstBootInit.Systemd;
        }
        throw new ImageToolsException(ErrorKind.UnsupportedFeature,
            $"{fs.Name}: cannot tell how this system starts (no systemd, /sbin/init is neither busybox nor sysvinit with /etc/inittab and /etc/init.d); "
            + "say which with --first-boot-init systemd|sysv|busybox");
    }

    private static string Describe(FirstBootInit init) => init switch
    {
        FirstBootInit.Systemd => "a systemd unit",
        FirstBootInit.SysV => "an init.d script (sysvinit)",
        _ => "an /etc/inittab sysinit line (busybox init)",
    };

    internal static void WriteFile(ScrubContext context, string path, byte[] content, int mode, string what)
    {
        EnsureDirectory(context, path[..path.LastIndexOf('/')]);
        var existing = context.Lookup(path);
        if (existing is { IsRegularFile: true })
        {
            if (existing.Size == (ulong)content.Length && context.ReadAll(existing, content.Length).AsSpan().SequenceEqual(content))
            {
                return;
            }
            context.Editor.Rewrite(path, content);
            context.Report(ScrubAction.Rewritten, path, what);
            return;
        }
        if (existing != null)
        {
            context.Editor.RemoveTree(path);
        }
        context.Editor.CreateFile(path, content, new NewInodeAttributes(mode));
        context.Report(ScrubAction.Created, path, what);
    }

    internal static void EnsureDirectory(ScrubContext context, string path)
    {
        var built = "";
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            built += "/" + part;
            if (context.Directory(built) != null)
            {
                continue;
            }
            if (context.Lookup(built) != null)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: '{built}' is in the way of the first-boot files: it is not a directory");
            }
            context.Editor.CreateDirectory(built, new NewInodeAttributes(0x1ED));
            context.Report(ScrubAction.Created, built, "directory");
        }
    }

    internal static void EnsureSymlink(ScrubContext context, string path, string target, string what)
    {
        var existing = context.Lookup(path);
        if (existing is { IsSymbolicLink: true } && Encoding.UTF8.GetString(context.FileSystem.ReadSymlinkTarget(existing)) == target)
        {
            return;
        }
        if (existing != null)
        {
            context.Editor.RemoveTree(path);
        }
        context.Editor.CreateSymlink(path, target, new NewInodeAttributes(0x1FF));
        context.Report(ScrubAction.Created, path, $"-> {target}; {what}");
    }

    private static void AddInittabHook(ScrubContext context) => AddInittabLine(context, FirstBootPayload.InittabLine, "first-boot");

    /// <summary>Adds a <c>::sysinit:</c> line to busybox init's /etc/inittab after the last sysinit line (busybox's defaults written out when the image has none).</summary>
    internal static void AddInittabLine(ScrubContext context, string inittabLine, string what)
    {
        const string path = "/etc/inittab";
        var existing = context.Lookup(path);
        if (existing is not { IsRegularFile: true })
        {
            if (existing != null)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{context.FileSystem.Name}: /etc/inittab is a {ExtFileSystem.DescribeType(existing.Type)}, not a file");
            }
            WriteFile(context, path, Encoding.UTF8.GetBytes(FirstBootPayload.DefaultBusyboxInittab(inittabLine)), 0x1A4, $"busybox's default table plus the {what} sysinit line");
            return;
        }
        var text = Encoding.UTF8.GetString(context.ReadAll(existing, 1 << 20));
        var lines = text.Split('\n').ToList();
        if (lines.Any(l => l.Trim() == inittabLine))
        {
            return;
        }
        var lastSysinit = lines.FindLastIndex(l => !l.TrimStart().StartsWith('#') && l.Split(':') is { Length: >= 4 } f && f[2].Trim() == "sysinit");
        lines.Insert(lastSysinit + 1, inittabLine);
        context.Editor.Rewrite(path, Encoding.UTF8.GetBytes(string.Join('\n', lines)));
        context.Report(ScrubAction.Rewritten, path, lastSysinit >= 0 ? $"{what} sysinit line added after the last sysinit line" : $"{what} sysinit line added at the top");
    }
}
