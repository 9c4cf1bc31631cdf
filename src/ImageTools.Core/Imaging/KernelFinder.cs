using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Finds the kernels and initial ramdisks of a root (or /boot) filesystem where distributions put them:
/// the /vmlinuz and /initrd.img links (Debian, Ubuntu), /boot/vmlinuz-*, /boot/initrd* (Debian, SUSE),
/// /boot/initramfs-* (Fedora, Arch), and the same names at the top of a separate /boot filesystem.
/// Versions come from the file names; an x86 kernel's boot header adds the version it was built as.
/// </summary>
public static partial class KernelFinder
{
    [GeneratedRegex(@"^\d+\.\d+")]
    private static partial Regex VersionStart();

    /// <summary>Kernels and initrds, each list sorted by path.</summary>
    public static (List<BootFileReport> Kernels, List<BootFileReport> Initrds) Find(ExtFileSystem fs)
    {
        var kernels = new List<BootFileReport>();
        var initrds = new List<BootFileReport>();
        var root = fs.Root;
        ScanDirectory(fs, root, "/", kernels, initrds, topLevel: true);
        var boot = fs.TryResolve("/boot", followLast: true);
        if (boot is { IsDirectory: true })
        {
            ScanDirectory(fs, boot, "/boot/", kernels, initrds, topLevel: false);
        }
        kernels.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        initrds.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return (kernels, initrds);
    }

    private static void ScanDirectory(ExtFileSystem fs, ExtInode directory, string prefix, List<BootFileReport> kernels, List<BootFileReport> initrds, bool topLevel)
    {
        foreach (var entry in fs.ListDirectory(directory))
        {
            var name = entry.NameText;
            var kind = Classify(name, topLevel);
            if (kind == null)
            {
                continue;
            }
            var inode = fs.ReadInode(entry.Inode, prefix + name);
            string? linkTarget = null;
            var target = inode;
            var versionSource = name;
            if (inode.IsSymbolicLink)
            {
                linkTarget = Encoding.UTF8.GetString(fs.ReadSymlinkTarget(inode));
                var resolved = fs.TryResolve(prefix + name, followLast: true);
                if (resolved == null)
                {
                    // A dangling link (its target is on another filesystem, e.g. a separate /boot).
                    (kind == "kernel" ? kernels : initrds).Add(new BootFileReport(prefix + name, VersionFrom(Path.GetFileName(linkTarget)), 0, linkTarget, null));
                    continue;
                }
                target = resolved;
                versionSource = Path.GetFileName(linkTarget.TrimEnd('/'));
            }
            if (!target.IsRegularFile)
            {
                continue;
            }
            var report = new BootFileReport(prefix + name, VersionFrom(versionSource), (long)target.Size, linkTarget,
                kind == "kernel" ? HeaderVersion(fs, target) : null);
            (kind == "kernel" ? kernels : initrds).Add(report);
        }
    }

    // At the top of a root filesystem only the well-known links count (plus the /boot names, for a
    // separate /boot filesystem); in /boot every kernel- and initrd-like name does.
    private static string? Classify(string name, bool topLevel)
    {
        if (topLevel && (name is "vmlinuz" or "vmlinuz.old"))
        {
            return "kernel";
        }
        if (topLevel && (name is "initrd.img" or "initrd.img.old"))
        {
            return "initrd";
        }
        if (name.StartsWith("vmlinuz", StringComparison.Ordinal) && (!topLevel || name.StartsWith("vmlinuz-", StringComparison.Ordinal))
            || name.StartsWith("vmlinux-", StringComparison.Ordinal))
        {
            return "kernel";
        }
        if ((name.StartsWith("initrd", StringComparison.Ordinal) || name.StartsWith("initramfs-", StringComparison.Ordinal))
            && (!topLevel || name.Contains('-')))
        {
            return "initrd";
        }
        return null;
    }

    /// <summary>
    /// The version a kernel or initrd file name carries: what follows the first '-' ("vmlinuz-6.1.0-18-amd64",
    /// "initrd.img-6.1.0-18-amd64", "initramfs-6.5.6-300.fc39.x86_64.img"), without a ".img" suffix, when it
    /// starts like a version ("6.1"); null for names such as "vmlinuz-linux".
    /// </summary>
    public static string? VersionFrom(string fileName)
    {
        var dash = fileName.IndexOf('-');
        if (dash < 0)
        {
            return null;
        }
        var version = fileName[(dash + 1)..];
        if (version.EndsWith(".img", StringComparison.Ordinal))
        {
            version = version[..^4];
        }
        return VersionStart().IsMatch(version) ? version : null;
    }

    // x86 boot protocol (Documentation/arch/x86/boot.rst): "HdrS" at 0x202; at 0x20E a pointer (minus
    // 0x200) to a NUL-terminated version string.
    private static string? HeaderVersion(ExtFileSystem fs, ExtInode kernel)
    {
        const int headerMagicOffset = 0x202;
        const int versionPointerOffset = 0x20E;
        const int maxVersionLength = 256;
        if (kernel.Size < 0x210)
        {
            return null;
        }
        try
        {
            using var content = fs.OpenContent(kernel);
            Span<byte> header = stackalloc byte[0x210];
            content.ReadExactly(header);
            if (!header.Slice(headerMagicOffset, 4).SequenceEqual("HdrS"u8))
            {
                return null;
            }
            var pointer = BinaryPrimitives.ReadUInt16LittleEndian(header[versionPointerOffset..]);
            var at = 0x200L + pointer;
            if (pointer == 0 || at >= (long)kernel.Size)
            {
                return null;
            }
            content.Position = at;
            var text = new byte[(int)Math.Min(maxVersionLength, (long)kernel.Size - at)];
            var n = content.ReadAtLeast(text, text.Length, throwOnEndOfStream: false);
            var end = text.AsSpan(0, n).IndexOf((byte)0);
            var version = Encoding.ASCII.GetString(text, 0, end < 0 ? n : end).Trim();
            return version.Length > 0 && version.All(c => c >= ' ' && c < 127) ? version : null;
        }
        catch (ImageToolsException)
        {
            return null;
        }
    }
}
