using System.Globalization;
using System.Text;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Customization;

/// <summary>One change a customization made (or, in a dry run, would make).</summary>
/// <param name="Operation">The operation's name ("hostname", "write"...).</param>
/// <param name="Text">What changed, in the past tense ("wrote /etc/hostname (6 bytes)").</param>
/// <param name="DryRunText">The same in a dry run ("would write /etc/hostname (6 bytes)").</param>
public sealed record CustomizeChange(string Operation, string Text, string DryRunText)
{
    public string Describe(bool dryRun) => $"{Operation}: {(dryRun ? DryRunText : Text)}";
}

/// <summary>
/// What a customize operation works with: the editor over the image (changes are planned in memory, not
/// written) and the changes reported so far. Paths inside the image are absolute; symbolic links in them are
/// followed inside the image only (an absolute target starts again at the image's root, ".." stops at it), so
/// no path can lead outside the image.
/// </summary>
public sealed class CustomizeContext
{
    private readonly List<CustomizeChange> _changes = new();

    /// <summary>Regular files the operations read whole (passwd, shadow, hosts...) are at most this large.</summary>
    public const long MaxTextFile = 16 << 20;

    internal CustomizeContext(ExtEditor editor, CustomizeOptions options)
    {
        Editor = editor;
        Options = options;
    }

    public ExtEditor Editor { get; }

    public CustomizeOptions Options { get; }

    public ExtFileSystem FileSystem => Editor.FileSystem;

    public IReadOnlyList<CustomizeChange> Changes => _changes;

    internal string Operation { get; set; } = "";

    /// <summary>Reports a change: the verb in the past tense and in its dry-run form ("wrote", "would write"), then the rest.</summary>
    public void Report(string past, string wouldBe, string rest) =>
        _changes.Add(new CustomizeChange(Operation, $"{past} {rest}", $"{wouldBe} {rest}"));

    public void Note(string text) => _changes.Add(new CustomizeChange(Operation, text, text));

    /// <summary>The new-file time and owner defaults: root, 0644 files, 0755 directories.</summary>
    public static readonly NewInodeAttributes RootFile = new(0x1A4);
    public static readonly NewInodeAttributes RootDirectory = new(0x1ED);

    /// <summary>
    /// The path with every symbolic link resolved inside the image (the last one only when
    /// <paramref name="followLast"/>), as an absolute path of real directories; the last component may be absent.
    /// A missing directory on the way is <see cref="ErrorKind.NotFound"/>; a relative path, a NUL or an empty
    /// component name is <see cref="ErrorKind.InvalidArgument"/>.
    /// </summary>
    public string Canonical(string path, bool followLast)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/' || path.Contains('\0'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"'{path}' is not an absolute path inside the image (it must start with /)");
        }
        var done = new List<string>();
        var pending = new Stack<string>(Split(path).Reverse());
        var follows = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (done.Count > 0)
                {
                    done.RemoveAt(done.Count - 1);
                }
                continue;
            }
            var here = "/" + string.Join('/', done.Append(part));
            var isLast = pending.Count == 0;
            var inode = Editor.Lookup(here);
            if (inode == null)
            {
                if (isLast)
                {
                    done.Add(part);
                    break;
                }
                throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: '{path}': there is no directory '{here}' in the image") { Path = path };
            }
            if (inode.IsSymbolicLink && (!isLast || followLast))
            {
                if (++follows > ExtFileSystem.MaxSymlinkFollows)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"{FileSystem.Name}: '{path}': more than {ExtFileSystem.MaxSymlinkFollows} symbolic links (a loop?)") { Path = path };
                }
                var target = Encoding.UTF8.GetString(FileSystem.ReadSymlinkTarget(inode));
                foreach (var p in Split(target).Reverse())
                {
                    pending.Push(p);
                }
                if (target.StartsWith('/'))
                {
                    done.Clear();
                }
                continue;
            }
            if (!isLast && !inode.IsDirectory)
            {
                throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: '{path}': '{here}' is a {ExtFileSystem.DescribeType(inode.Type)}, not a directory") { Path = path };
            }
            done.Add(part);
        }
        return "/" + string.Join('/', done);
    }

    private static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The inode at a canonical path (no link followed), or null.</summary>
    public ExtInode? Find(string canonical) => canonical == "/" ? FileSystem.Root : Editor.Lookup(canonical);

    /// <summary>The content of a regular file (at most <see cref="MaxTextFile"/> bytes).</summary>
    public byte[] Read(ExtInode file, string path)
    {
        if (file.Size > MaxTextFile)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"{FileSystem.Name}: '{path}' is {file.Size} bytes; at most {MaxTextFile} are edited here") { Path = path };
        }
        var data = new byte[file.Size];
        using var s = FileSystem.OpenContent(file);
        s.ReadExactly(data);
        return data;
    }

    /// <summary>The content of the regular file at <paramref name="path"/> (links followed), or null when there is none.</summary>
    public byte[]? ReadIfPresent(string path)
    {
        var canonical = TryCanonical(path);
        if (canonical == null || Find(canonical) is not { IsRegularFile: true } inode)
        {
            return null;
        }
        return Read(inode, canonical);
    }

    private string? TryCanonical(string path)
    {
        try
        {
            return Canonical(path, followLast: true);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes <paramref name="content"/> to <paramref name="path"/> (links followed inside the image): an existing
    /// regular file keeps its inode (owner, mode, xattrs, hard links); a new one is made with
    /// <paramref name="attributes"/>. Its directory must exist. Returns the canonical path and whether it was created.
    /// </summary>
    public (string Path, bool Created) WriteFile(string path, ReadOnlySpan<byte> content, NewInodeAttributes attributes)
    {
        var canonical = Canonical(path, followLast: true);
        var existing = Find(canonical);
        if (existing == null)
        {
            RequireParent(canonical, path);
            Editor.CreateFile(canonical, content, attributes);
            return (canonical, true);
        }
        if (!existing.IsRegularFile)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{FileSystem.Name}: '{path}' is a {ExtFileSystem.DescribeType(existing.Type)}, not a regular file") { Path = path };
        }
        Editor.Rewrite(canonical, content);
        return (canonical, false);
    }

    /// <summary>The parent of a canonical path must be a directory (it is after <see cref="Canonical"/>, unless it is missing).</summary>
    public void RequireParent(string canonical, string asGiven)
    {
        var parent = ParentOf(canonical);
        if (Find(parent) is not { IsDirectory: true })
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: '{asGiven}': its directory '{parent}' does not exist in the image (make it first, e.g. with mkdir)") { Path = asGiven };
        }
    }

    public static string ParentOf(string canonical)
    {
        var slash = canonical.LastIndexOf('/');
        return slash <= 0 ? "/" : canonical[..slash];
    }

    /// <summary>Makes <paramref name="path"/> and its missing parents (mkdir -p), links followed; returns the directories made.</summary>
    public IReadOnlyList<string> MakeDirectories(string path, NewInodeAttributes attributes)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/' || path.Contains('\0'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"'{path}' is not an absolute path inside the image (it must start with /)");
        }
        var made = new List<string>();
        var at = "/";
        foreach (var part in Split(path))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                at = ParentOf(at);
                continue;
            }
            // Each component is resolved once its parent exists (it may be a link, even one to a directory made here).
            var real = Canonical(at.TrimEnd('/') + "/" + part, followLast: true);
            var inode = Find(real);
            if (inode == null)
            {
                Editor.CreateDirectory(real, attributes);
                made.Add(real);
            }
            else if (!inode.IsDirectory)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind, $"{FileSystem.Name}: '{path}': '{real}' exists and is a {ExtFileSystem.DescribeType(inode.Type)}, not a directory") { Path = path };
            }
            at = real;
        }
        return made;
    }

    // ---- Accounts -------------------------------------------------------------------------------

    /// <summary>A user's entry in the image's /etc/passwd.</summary>
    public sealed record Account(string Name, uint Uid, uint Gid, string Home);

    /// <summary>The account <paramref name="name"/> from the image's /etc/passwd; NotFound when it has none.</summary>
    public Account User(string name)
    {
        var passwd = ReadIfPresent("/etc/passwd")
            ?? throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: the image has no /etc/passwd, so user '{name}' cannot be found");
        foreach (var line in Encoding.UTF8.GetString(passwd).Split('\n'))
        {
            var f = line.TrimEnd('\r').Split(':');
            if (f.Length >= 7 && f[0] == name)
            {
                if (!uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                    || !uint.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage, $"{FileSystem.Name}: /etc/passwd: the entry of '{name}' has no valid uid/gid ('{f[2]}:{f[3]}')");
                }
                return new Account(name, uid, gid, f[5]);
            }
        }
        throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: user '{name}' has no entry in the image's /etc/passwd");
    }

    /// <summary>A group's id from the image's /etc/group; NotFound when it has none.</summary>
    public uint Group(string name)
    {
        var group = ReadIfPresent("/etc/group")
            ?? throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: the image has no /etc/group, so group '{name}' cannot be found");
        foreach (var line in Encoding.UTF8.GetString(group).Split('\n'))
        {
            var f = line.TrimEnd('\r').Split(':');
            if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
            {
                return gid;
            }
        }
        throw new ImageToolsException(ErrorKind.NotFound, $"{FileSystem.Name}: group '{name}' has no entry in the image's /etc/group");
    }

    /// <summary>"USER[:GROUP]" or "UID:GID" (names looked up in the image) as numbers; null: root.</summary>
    public (uint Uid, uint Gid) Owner(string? spec)
    {
        if (string.IsNullOrEmpty(spec))
        {
            return (0, 0);
        }
        var colon = spec.IndexOf(':');
        var user = colon < 0 ? spec : spec[..colon];
        var group = colon < 0 ? null : spec[(colon + 1)..];
        uint uid, gid;
        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var u))
        {
            uid = u;
            gid = group == null ? u : 0;
        }
        else
        {
            var account = User(user);
            uid = account.Uid;
            gid = account.Gid;
        }
        if (group != null)
        {
            gid = uint.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out var g) ? g : Group(group);
        }
        return (uid, gid);
    }

    public static string Size(long bytes) => bytes switch
    {
        1 => "1 byte",
        < 1024 => $"{bytes} bytes",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F1} MiB"),
    };

    public static string Octal(int mode) => "0" + Convert.ToString(mode & 0xFFF, 8).PadLeft(3, '0');
}
