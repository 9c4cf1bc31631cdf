using System.Globalization;
using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene;

/// <summary>Whether an image's root filesystem has systemd, and which version.</summary>
/// <param name="Installed">systemd's manager binary is there.</param>
/// <param name="Version">The major version (e.g. 252), when something in the image says it.</param>
/// <param name="Evidence">Where the answer comes from, for the report.</param>
public sealed record SystemdInfo(bool Installed, int? Version, string Evidence)
{
    /// <summary>
    /// systemd 237 and later treat an /etc/machine-id holding "uninitialized" as "first boot" and make a new
    /// ID; older ones want an empty file (machine-id(5)).
    /// </summary>
    public const int FirstVersionWithUninitialized = 237;

    /// <summary>Whether "uninitialized" is the right first-boot content of /etc/machine-id.</summary>
    public bool UnderstandsUninitialized => Installed && (Version ?? FirstVersionWithUninitialized) >= FirstVersionWithUninitialized;
}

/// <summary>
/// Finds systemd in an image without running anything from it: the manager binary
/// (/usr/lib/systemd/systemd, /lib/systemd/systemd), the version in the name of its private library
/// (libsystemd-shared-NNN.so, in every layout distributions use), else in dpkg's status file
/// (Package: systemd, Version: NNN...). The RPM database is binary and not read; a Fedora or RHEL image
/// has the library anyway.
/// </summary>
public static partial class SystemdDetection
{
    private static readonly string[] ManagerPaths = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"];

    private static readonly string[] LibraryDirectories =
    [
        "/usr/lib/systemd", "/lib/systemd", "/usr/lib64/systemd",
        "/usr/lib/x86_64-linux-gnu/systemd", "/usr/lib/aarch64-linux-gnu/systemd", "/usr/lib/i386-linux-gnu/systemd",
        "/usr/lib/arm-linux-gnueabihf/systemd", "/usr/lib/powerpc64le-linux-gnu/systemd", "/usr/lib/s390x-linux-gnu/systemd",
        "/usr/lib/riscv64-linux-gnu/systemd",
    ];

    [GeneratedRegex(@"^libsystemd-shared-(\d+)")]
    private static partial Regex SharedLibrary();

    [GeneratedRegex(@"^(\d+)")]
    private static partial Regex LeadingNumber();

    /// <summary>Longest dpkg status file read (a desktop system's is a few MiB).</summary>
    private const long StatusFileLimit = 64L * 1024 * 1024;

    public static SystemdInfo Detect(ScrubContext context)
    {
        var manager = ManagerPaths.FirstOrDefault(p => context.FileSystem.TryResolve(p, followLast: true) is { IsRegularFile: true });
        if (manager == null)
        {
            return new SystemdInfo(false, null, "no systemd manager (/usr/lib/systemd/systemd)");
        }
        foreach (var directory in LibraryDirectories)
        {
            foreach (var (path, _) in context.List(directory))
            {
                var m = SharedLibrary().Match(path[(path.LastIndexOf('/') + 1)..]);
                if (m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
                {
                    return new SystemdInfo(true, version, path);
                }
            }
        }
        if (DpkgVersion(context) is int fromDpkg)
        {
            return new SystemdInfo(true, fromDpkg, "/var/lib/dpkg/status");
        }
        return new SystemdInfo(true, null, $"{manager} (version not found; assumed {SystemdInfo.FirstVersionWithUninitialized} or later)");
    }

    private static int? DpkgVersion(ScrubContext context)
    {
        var status = context.FileSystem.TryResolve("/var/lib/dpkg/status", followLast: true);
        if (status is not { IsRegularFile: true } || status.Size > (ulong)StatusFileLimit)
        {
            return null;
        }
        using var stream = context.FileSystem.OpenContent(status);
        using var reader = new StreamReader(stream);
        var inSystemd = false;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                inSystemd = false;
            }
            else if (line.StartsWith("Package: ", StringComparison.Ordinal))
            {
                inSystemd = line == "Package: systemd";
            }
            else if (inSystemd && line.StartsWith("Version: ", StringComparison.Ordinal))
            {
                var version = line["Version: ".Length..];
                // An epoch ("1:252.5-2") comes before the upstream version.
                version = version.Contains(':') ? version[(version.IndexOf(':') + 1)..] : version;
                var m = LeadingNumber().Match(version);
                return m.Success && int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
            }
        }
        return null;
    }
}
