using System.Text;

namespace ImageTools.Core.Boot;

/// <summary>What the Linux kernel command line of a boot entry is made of.</summary>
public sealed record KernelCommandLineOptions
{
    /// <summary>The root filesystem's UUID (from its superblock): <c>root=UUID=…</c>, independent of the disk controller.</summary>
    public string? RootFilesystemUuid { get; init; }

    /// <summary>A root device given by the user (e.g. <c>/dev/vda1</c>, <c>LABEL=root</c>); wins over the UUID.</summary>
    public string? RootDevice { get; init; }

    /// <summary>
    /// Add <c>console=tty0 console=ttyS0,115200</c>: kernel messages on the screen and the first serial
    /// port, the serial one last so that it becomes /dev/console (what cloud consoles and QEMU -serial show).
    /// </summary>
    public bool DefaultConsoles { get; init; } = true;

    /// <summary>Appended as given (the user's <c>--cmdline</c>).</summary>
    public string? Extra { get; init; }
}

/// <summary>Builds the Linux kernel command line for a boot entry.</summary>
public static class KernelCommandLine
{
    public const string DefaultConsoleArguments = "console=tty0 console=ttyS0,115200";

    /// <summary>
    /// <c>root=UUID=&lt;uuid&gt;</c> (or <c>root=&lt;device&gt;</c>), <c>ro</c> (the initramfs mounts the root read-only
    /// and the system remounts it as /etc/fstab says, as Debian's grub.cfg does), the default consoles,
    /// then the extra arguments.
    /// </summary>
    public static string Build(KernelCommandLineOptions options)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.RootDevice))
        {
            var device = options.RootDevice.Trim();
            if (device.Any(char.IsWhiteSpace))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"root device \"{device}\" contains blanks");
            }
            parts.Add("root=" + device);
        }
        else if (!string.IsNullOrWhiteSpace(options.RootFilesystemUuid))
        {
            var uuid = options.RootFilesystemUuid.Trim().ToLowerInvariant();
            if (!Guid.TryParseExact(uuid, "D", out _))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"\"{options.RootFilesystemUuid}\" is not a filesystem UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
            }
            parts.Add("root=UUID=" + uuid);
        }
        else
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the kernel command line needs the root filesystem's UUID or a root device");
        }
        parts.Add("ro");
        if (options.DefaultConsoles)
        {
            parts.Add(DefaultConsoleArguments);
        }
        if (!string.IsNullOrWhiteSpace(options.Extra))
        {
            parts.Add(options.Extra.Trim());
        }
        return string.Join(' ', parts);
    }

    /// <summary>
    /// Splits a kernel command line into arguments as the kernel does: at blanks outside double quotes
    /// (a quoted value such as <c>foo="a b"</c> stays one argument, quotes included).
    /// </summary>
    public static IReadOnlyList<string> Split(string commandLine)
    {
        var arguments = new List<string>();
        var current = new StringBuilder();
        bool quoted = false;
        foreach (var c in commandLine)
        {
            if (c == '"')
            {
                quoted = !quoted;
                current.Append(c);
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (current.Length > 0)
                {
                    arguments.Add(current.ToString());
                    current.Clear();
                }
            }
            else
            {
                current.Append(c);
            }
        }
        if (quoted)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"unbalanced double quote in the kernel command line: {commandLine}");
        }
        if (current.Length > 0)
        {
            arguments.Add(current.ToString());
        }
        return arguments;
    }
}
