using System.Text;

namespace ImageTools.Core.Sbom;

/// <summary>One installed package as the SBOM lists it.</summary>
public sealed record InstalledPackage(string Type, string Name, string Version, string? Architecture, IReadOnlyList<string> Licenses, string Purl);

/// <summary>The distribution from /etc/os-release (os-release(5)): ID and VERSION_ID, e.g. debian and 12.</summary>
public sealed record OsRelease(string Id, string? VersionId, string? PrettyName)
{
    /// <summary>The purl "distro" qualifier: "debian-12", "alpine-3.20.3".</summary>
    public string Distro => VersionId is { Length: > 0 } v ? $"{Id}-{v}" : Id;

    public static OsRelease? Parse(byte[]? content)
    {
        if (content == null)
        {
            return null;
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in Encoding.UTF8.GetString(content).Split('\n'))
        {
            var line = raw.Trim();
            var eq = line.IndexOf('=');
            if (line.StartsWith('#') || eq <= 0)
            {
                continue;
            }
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
            {
                value = value[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal);
            }
            values[line[..eq]] = value;
        }
        return values.TryGetValue("ID", out var id) && id.Length > 0
            ? new OsRelease(id, values.GetValueOrDefault("VERSION_ID"), values.GetValueOrDefault("PRETTY_NAME"))
            : null;
    }
}

/// <summary>
/// Package URLs (github.com/package-url/purl-spec): type, namespace, name, version and qualifiers, each
/// percent-encoded where the spec asks (the version's ':' of a Debian epoch becomes %3A).
/// </summary>
public static class PackageUrl
{
    public static string Create(string type, string @namespace, string name, string version, params (string Key, string? Value)[] qualifiers)
    {
        var text = new StringBuilder($"pkg:{type}/{Encode(@namespace)}/{Encode(name)}@{Encode(version)}");
        var present = qualifiers.Where(q => !string.IsNullOrEmpty(q.Value)).OrderBy(q => q.Key, StringComparer.Ordinal).ToList();
        for (var i = 0; i < present.Count; i++)
        {
            text.Append(i == 0 ? '?' : '&').Append(present[i].Key).Append('=').Append(Encode(present[i].Value!));
        }
        return text.ToString();
    }

    private static string Encode(string value)
    {
        var text = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '~' or '+')
            {
                text.Append(c);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return text.ToString();
    }
}

/// <summary>
/// Debian's dpkg database, /var/lib/dpkg/status (deb-control(5) paragraphs): every package whose Status is
/// "install ok installed" (its third word "installed"; half-installed, config-files and the like are not
/// installed). Licenses come from /usr/share/doc/PACKAGE/copyright where it is machine-readable (DEP-5:
/// its License: fields).
/// </summary>
public static class DpkgDatabase
{
    public const string StatusPath = "/var/lib/dpkg/status";

    public static IReadOnlyList<InstalledPackage> Read(IRootFiles root, OsRelease? os, byte[] status)
    {
        var packages = new List<InstalledPackage>();
        var distroId = os?.Id ?? "debian";
        foreach (var paragraph in ControlParagraphs.Parse(Encoding.UTF8.GetString(status)))
        {
            if (!paragraph.TryGetValue("Package", out var name) || !paragraph.TryGetValue("Status", out var state)
                || state.Split(' ', StringSplitOptions.RemoveEmptyEntries) is not [_, _, "installed"])
            {
                continue;
            }
            var version = paragraph.GetValueOrDefault("Version") ?? "";
            var arch = paragraph.GetValueOrDefault("Architecture");
            var licenses = CopyrightLicenses(root.Read($"/usr/share/doc/{name}/copyright"));
            packages.Add(new InstalledPackage("deb", name, version, arch, licenses,
                PackageUrl.Create("deb", distroId, name, version, ("arch", arch), ("distro", os?.Distro))));
        }
        return packages;
    }

    /// <summary>The distinct License: short names of a machine-readable copyright file (DEP-5); empty for a free-form one.</summary>
    public static IReadOnlyList<string> CopyrightLicenses(byte[]? copyright)
    {
        if (copyright == null)
        {
            return [];
        }
        var text = Encoding.UTF8.GetString(copyright);
        if (!text.StartsWith("Format:", StringComparison.OrdinalIgnoreCase))
        {
            return [];
        }
        var licenses = new List<string>();
        foreach (var paragraph in ControlParagraphs.Parse(text))
        {
            // Only the Files paragraphs say which license applies; stand-alone License paragraphs hold the texts.
            if (paragraph.ContainsKey("Files") && paragraph.TryGetValue("License", out var license))
            {
                var shortName = license.Split('\n')[0].Trim();
                if (shortName.Length > 0 && !licenses.Contains(shortName))
                {
                    licenses.Add(shortName);
                }
            }
        }
        return licenses;
    }
}

/// <summary>
/// Alpine's apk database, /lib/apk/db/installed: one paragraph per package, one field per line as "X:value"
/// (P name, V version, A architecture, L license; apk's "Installed database V2" format).
/// </summary>
public static class ApkDatabase
{
    public const string InstalledPath = "/lib/apk/db/installed";

    public static IReadOnlyList<InstalledPackage> Read(OsRelease? os, byte[] installed)
    {
        var packages = new List<InstalledPackage>();
        string? name = null, version = null, arch = null, license = null;
        void Flush()
        {
            if (name != null && version != null)
            {
                packages.Add(new InstalledPackage("apk", name, version, arch, license is { Length: > 0 } ? [license] : [],
                    PackageUrl.Create("apk", os?.Id ?? "alpine", name, version, ("arch", arch), ("distro", os?.Distro))));
            }
            name = version = arch = license = null;
        }
        foreach (var raw in Encoding.UTF8.GetString(installed).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                Flush();
                continue;
            }
            if (line.Length < 2 || line[1] != ':')
            {
                continue;
            }
            var value = line[2..];
            switch (line[0])
            {
                case 'P': name = value; break;
                case 'V': version = value; break;
                case 'A': arch = value; break;
                case 'L': license = value; break;
            }
        }
        Flush();
        return packages;
    }
}

/// <summary>deb-control(5) paragraphs: "Field: value" lines, continuation lines start with a space or tab, blank lines separate.</summary>
internal static class ControlParagraphs
{
    public static IEnumerable<Dictionary<string, string>> Parse(string text)
    {
        var current = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? last = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                if (current.Count > 0)
                {
                    yield return current;
                    current = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                }
                last = null;
                continue;
            }
            if (line[0] is ' ' or '\t')
            {
                if (last != null)
                {
                    current[last] += "\n" + line.Trim();
                }
                continue;
            }
            if (line.StartsWith('#'))
            {
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }
            last = line[..colon].Trim();
            current[last] = line[(colon + 1)..].Trim();
        }
        if (current.Count > 0)
        {
            yield return current;
        }
    }
}
