namespace ImageTools.Core.Boot;

/// <summary>A kernel (and its initrd, if any) found inside a root filesystem.</summary>
/// <param name="KernelPath">Absolute path inside the root filesystem.</param>
/// <param name="InitrdPath">Its initrd, or null when there is none.</param>
/// <param name="Version">The version from a <c>vmlinuz-VERSION</c> name; null for the <c>/vmlinuz</c> links.</param>
public sealed record KernelCandidate(string KernelPath, string? InitrdPath, string? Version)
{
    /// <summary>True for the distribution-maintained links (<c>/vmlinuz</c>, <c>/boot/vmlinuz</c>) that follow kernel upgrades.</summary>
    public bool IsLink => Version == null;
}

/// <summary>
/// Chooses the kernels of a root filesystem to boot, from the list of its files. The pipeline lists
/// them (with the ext reader); this class only decides, so it works on plain paths:
/// first the <c>/vmlinuz</c> + <c>/initrd.img</c> links that Debian and Ubuntu keep pointing at the newest
/// kernel (or <c>/boot/vmlinuz</c> + <c>/boot/initrd.img</c>, where the links live in /boot), then every
/// <c>/boot/vmlinuz-VERSION</c>, newest version first, each with its matching initrd.
/// </summary>
public static class KernelLocator
{
    /// <summary>Initrd names tried for a kernel version, in order (Debian/Ubuntu, SUSE, Fedora/Arch).</summary>
    private static readonly string[] InitrdPatterns =
        ["/boot/initrd.img-{0}", "/boot/initrd-{0}.img", "/boot/initramfs-{0}.img", "/boot/initrd-{0}"];

    /// <summary>Names a package manager or an editor leaves behind; never boot them (as GRUB's 10_linux).</summary>
    private static readonly string[] LeftoverSuffixes =
        [".old", ".bak", "~", ".dpkg-old", ".dpkg-new", ".dpkg-tmp", ".dpkg-dist", ".dpkg-bak", ".rpmsave", ".rpmnew", ".sig", ".hmac"];

    /// <summary>
    /// The kernels to offer, default first.
    /// </summary>
    /// <param name="regularFiles">
    /// Absolute paths in the root filesystem that are, or are symlinks that resolve to, regular files
    /// (at least everything in <c>/</c> and <c>/boot</c>). A dangling link must not be listed.
    /// </param>
    public static IReadOnlyList<KernelCandidate> FindInRootFilesystem(IEnumerable<string> regularFiles)
    {
        var files = new HashSet<string>(regularFiles, StringComparer.Ordinal);
        var found = new List<KernelCandidate>();

        if (files.Contains("/vmlinuz"))
        {
            found.Add(new KernelCandidate("/vmlinuz", files.Contains("/initrd.img") ? "/initrd.img" : null, null));
        }
        else if (files.Contains("/boot/vmlinuz"))
        {
            found.Add(new KernelCandidate("/boot/vmlinuz", files.Contains("/boot/initrd.img") ? "/boot/initrd.img" : null, null));
        }

        var versions = files
            .Where(f => f.StartsWith("/boot/vmlinuz-", StringComparison.Ordinal))
            .Select(f => f["/boot/vmlinuz-".Length..])
            .Where(v => v.Length > 0 && !v.Contains('/') && !LeftoverSuffixes.Any(s => v.EndsWith(s, StringComparison.Ordinal)))
            .OrderByDescending(v => v, KernelVersionComparer.Instance)
            .ToList();
        foreach (var version in versions)
        {
            var initrd = InitrdPatterns.Select(p => string.Format(System.Globalization.CultureInfo.InvariantCulture, p, version)).FirstOrDefault(files.Contains);
            found.Add(new KernelCandidate("/boot/vmlinuz-" + version, initrd, version));
        }
        return found;
    }
}

/// <summary>
/// Orders kernel version strings as dpkg orders upstream versions (Debian Policy 5.6.12): runs of
/// non-digits compared character by character with letters before other characters and <c>~</c>
/// before everything, even the end; runs of digits compared as numbers. So 6.1.0-10 &gt; 6.1.0-9 and
/// 6.1.0~rc1 &lt; 6.1.0.
/// </summary>
public sealed class KernelVersionComparer : IComparer<string>
{
    public static KernelVersionComparer Instance { get; } = new();

    public int Compare(string? x, string? y)
    {
        x ??= "";
        y ??= "";
        int i = 0, j = 0;
        while (i < x.Length || j < y.Length)
        {
            // Non-digit run.
            while ((i < x.Length && !char.IsAsciiDigit(x[i])) || (j < y.Length && !char.IsAsciiDigit(y[j])))
            {
                int a = Order(x, i), b = Order(y, j);
                if (a != b)
                {
                    return a.CompareTo(b);
                }
                i++;
                j++;
            }
            // Digit run: skip leading zeros, then the longer number is larger, else the first difference.
            while (i < x.Length && x[i] == '0')
            {
                i++;
            }
            while (j < y.Length && y[j] == '0')
            {
                j++;
            }
            int firstDifference = 0;
            while (i < x.Length && char.IsAsciiDigit(x[i]) && j < y.Length && char.IsAsciiDigit(y[j]))
            {
                if (firstDifference == 0)
                {
                    firstDifference = x[i].CompareTo(y[j]);
                }
                i++;
                j++;
            }
            if (i < x.Length && char.IsAsciiDigit(x[i]))
            {
                return 1;
            }
            if (j < y.Length && char.IsAsciiDigit(y[j]))
            {
                return -1;
            }
            if (firstDifference != 0)
            {
                return Math.Sign(firstDifference);
            }
        }
        return 0;
    }

    /// <summary>dpkg's order() of one character; past the end (or at a digit) is 0.</summary>
    private static int Order(string s, int index)
    {
        if (index >= s.Length)
        {
            return 0;
        }
        char c = s[index];
        if (char.IsAsciiDigit(c))
        {
            return 0;
        }
        if (char.IsAsciiLetter(c))
        {
            return c;
        }
        if (c == '~')
        {
            return -1;
        }
        return c + 256;
    }
}
