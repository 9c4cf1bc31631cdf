using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Sbom;

/// <summary>
/// The few files of a root filesystem an SBOM is made from, read offline: from an ext filesystem through the
/// ext reader, from a directory, or from a tar archive in one pass. Paths are absolute inside the root.
/// Files are read whole but bounded (<see cref="RootFiles.MaximumFileBytes"/>): a package database is megabytes.
/// </summary>
public interface IRootFiles
{
    /// <summary>A regular file's bytes (symbolic links followed inside the root), or null when there is none.</summary>
    byte[]? Read(string path);

    /// <summary>The names of the regular files (or links to them) directly in a directory; empty when it does not exist.</summary>
    IReadOnlyList<string> ListFiles(string directory);
}

public static class RootFiles
{
    /// <summary>The largest file read (a dpkg status of 10,000 packages is about 20 MiB).</summary>
    public const long MaximumFileBytes = 256L << 20;

    internal static byte[] ReadBounded(Stream content, long size, string name)
    {
        if (size > MaximumFileBytes)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{name}: {size} bytes is more than the {MaximumFileBytes >> 20} MiB a package database may have") { Path = name };
        }
        var bytes = new byte[size];
        content.ReadExactly(bytes);
        return bytes;
    }
}

/// <summary>An ext filesystem (opened by <see cref="Imaging.ExtImageOpener"/>).</summary>
public sealed class ExtRootFiles(ExtFileSystem fileSystem) : IRootFiles
{
    public byte[]? Read(string path)
    {
        var inode = fileSystem.TryResolve(path, followLast: true);
        if (inode == null || !inode.IsRegularFile)
        {
            return null;
        }
        using var content = fileSystem.OpenContent(inode);
        return RootFiles.ReadBounded(content, (long)inode.Size, $"{fileSystem.Name}:{path}");
    }

    public IReadOnlyList<string> ListFiles(string directory)
    {
        var dir = fileSystem.TryResolve(directory, followLast: true);
        if (dir == null || !dir.IsDirectory)
        {
            return [];
        }
        return fileSystem.ListDirectory(dir)
            .Where(e => e.FileType is DirectoryEntryType.RegularFile or DirectoryEntryType.SymbolicLink && e.NameText is not ("." or ".."))
            .Select(e => e.NameText).Order(StringComparer.Ordinal).ToList();
    }
}

/// <summary>A directory holding a root tree. Links are followed as the OS follows them (a tree is the user's own).</summary>
public sealed class DirectoryRootFiles(string root) : IRootFiles
{
    public byte[]? Read(string path)
    {
        var full = Path.Combine(root, path.TrimStart('/'));
        if (!File.Exists(full))
        {
            return null;
        }
        using var stream = File.OpenRead(full);
        return RootFiles.ReadBounded(stream, stream.Length, full);
    }

    public IReadOnlyList<string> ListFiles(string directory)
    {
        var full = Path.Combine(root, directory.TrimStart('/'));
        return Directory.Exists(full)
            ? Directory.EnumerateFiles(full).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList()
            : [];
    }
}

/// <summary>
/// A tar archive (plain or compressed), read once: the members an SBOM may need (package databases, os-release,
/// Debian copyright files, /boot) are kept in memory, the rest is skipped. Symbolic links are resolved among them.
/// </summary>
public sealed class TarRootFiles : IRootFiles
{
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

    public TarRootFiles(string archive, Func<string, bool> wanted, CancellationToken cancellationToken = default)
    {
        using var file = new FileStream(archive, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var stream = Streams.Compression.OpenSniffed(file, out _);
        var reader = new TarStreamReader(stream, archive);
        string? previous = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TarMember? member;
            try
            {
                member = reader.Next(previous);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{archive}: truncated or corrupt tar archive {(previous == null ? "at its start" : $"after member '{previous}'")}: {e.Message}", e) { Path = archive };
            }
            if (member == null)
            {
                break;
            }
            var name = member.Pax.TryGetValue("path", out var p) ? Encoding.UTF8.GetString(p[^1]) : member.Name;
            previous = name;
            var path = Normalize(name);
            if (member.TypeFlag is (byte)'0' or 0 or (byte)'7' && wanted(path))
            {
                _files[path] = RootFiles.ReadBounded(member.Data, member.StoredSize, $"{archive}:{path}");
            }
            else if (member.TypeFlag == (byte)'2')
            {
                var target = member.Pax.TryGetValue("linkpath", out var l) ? Encoding.UTF8.GetString(l[^1]) : member.LinkName;
                _links[path] = target.StartsWith('/') ? Normalize(target) : Normalize(DirectoryOf(path) + "/" + target);
            }
        }
    }

    private static string DirectoryOf(string path) => path[..Math.Max(0, path.LastIndexOf('/'))];

    /// <summary>"./usr/../etc/os-release" as "/etc/os-release".</summary>
    private static string Normalize(string name)
    {
        var parts = new List<string>();
        foreach (var part in name.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    public byte[]? Read(string path)
    {
        path = Normalize(path);
        for (var hops = 0; hops < 40; hops++)
        {
            if (_files.TryGetValue(path, out var bytes))
            {
                return bytes;
            }
            if (!_links.TryGetValue(path, out var target))
            {
                return null;
            }
            path = target;
        }
        return null;
    }

    public IReadOnlyList<string> ListFiles(string directory)
    {
        var prefix = Normalize(directory).TrimEnd('/') + "/";
        return _files.Keys.Concat(_links.Keys)
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.IndexOf('/', prefix.Length) < 0)
            .Select(k => k[prefix.Length..]).Distinct().Order(StringComparer.Ordinal).ToList();
    }
}
