using System.Globalization;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Hygiene;

/// <summary>
/// What a scrub operation works with: the editor over the image (changes are planned, not written),
/// the options, and the list of changes it reports. The helpers never follow a symbolic link at the
/// end of a path (a link is removed, not what it points to) and never leave the filesystem: links in
/// the middle of a path are resolved inside the image.
/// </summary>
public sealed class ScrubContext
{
    private readonly List<ScrubChange> _changes = new();

    internal ScrubContext(ExtEditor editor, ScrubOptions options)
    {
        Editor = editor;
        Options = options;
    }

    public ExtEditor Editor { get; }

    public ScrubOptions Options { get; }

    public ExtFileSystem FileSystem => Editor.FileSystem;

    public IReadOnlyList<ScrubChange> Changes => _changes;

    /// <summary>The operation currently running (for the changes it reports).</summary>
    internal string Operation { get; set; } = "";

    public void Report(ScrubAction action, string path, string detail = "") => _changes.Add(new ScrubChange(Operation, action, path, detail));

    public void Note(string text) => _changes.Add(new ScrubChange(Operation, ScrubAction.Note, "", text));

    /// <summary>The inode at a path, without following a last symbolic link; null when absent.</summary>
    public ExtInode? Lookup(string path) => Editor.Lookup(path);

    /// <summary>
    /// A file an operation owns (an account file: /etc/shadow...), following a symbolic link at its end inside
    /// the image (never out of it: an absolute target starts at the image's root, '..' stops there). Returns the
    /// regular file and the path it really has, or null when nothing is there. A link that leads nowhere or to
    /// something that is not a regular file is an error: the operation cannot do its job, and saying "done" would
    /// leave the secret in the image.
    /// </summary>
    public (string Path, ExtInode Inode)? OwnedFile(string path)
    {
        var inode = Lookup(path);
        if (inode == null)
        {
            return null;
        }
        if (inode.IsRegularFile)
        {
            return (path, inode);
        }
        if (!inode.IsSymbolicLink)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{FileSystem.Name}: {path} is a {ExtFileSystem.DescribeType(inode.Type)}, not a regular file: the {Operation} operation cannot clean it; fix the image or leave the operation out") { Path = path };
        }
        var target = System.Text.Encoding.UTF8.GetString(FileSystem.ReadSymlinkTarget(inode));
        (ExtInode Inode, string Path) resolved;
        try
        {
            resolved = FileSystem.ResolveWithPath(path, followLast: true);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.NotFound)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{FileSystem.Name}: {path} is a symbolic link to '{target}', which does not exist in the image: the {Operation} operation cannot clean it; fix the link or leave the operation out") { Path = path };
        }
        if (!resolved.Inode.IsRegularFile)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{FileSystem.Name}: {path} is a symbolic link to '{target}' ({resolved.Path} in the image), a {ExtFileSystem.DescribeType(resolved.Inode.Type)}, not a regular file: the {Operation} operation cannot clean it") { Path = path };
        }
        return (resolved.Path, resolved.Inode);
    }

    /// <summary>The directory at a path (following links inside the image), or null when there is none.</summary>
    public ExtInode? Directory(string path)
    {
        var inode = FileSystem.TryResolve(path, followLast: true);
        return inode is { IsDirectory: true } ? inode : null;
    }

    /// <summary>The entries of a directory (sorted by name), each with its full path and inode; empty when it is absent.</summary>
    public IReadOnlyList<(string Path, ExtInode Inode)> List(string directory)
    {
        var dir = Directory(directory);
        if (dir == null)
        {
            return Array.Empty<(string, ExtInode)>();
        }
        return FileSystem.ListDirectory(dir)
            .Select(e => (Join(directory, e.NameText), FileSystem.ReadInode(e.Inode, $"'{Join(directory, e.NameText)}'")))
            .ToList();
    }

    /// <summary>Every node below a directory (depth first, parents first, not following links), with its path.</summary>
    public IEnumerable<(string Path, ExtInode Inode)> Walk(string directory)
    {
        var stack = new Stack<(string Path, int Depth)>();
        if (Directory(directory) == null)
        {
            yield break;
        }
        stack.Push((directory, 0));
        var seen = new HashSet<uint>();
        while (stack.Count > 0)
        {
            var (path, depth) = stack.Pop();
            var children = List(path);
            foreach (var child in children.Reverse())
            {
                if (child.Inode.IsDirectory && depth < ExtTreeWalker.MaxDepth && seen.Add(child.Inode.Number))
                {
                    stack.Push((child.Path, depth + 1));
                }
            }
            foreach (var child in children)
            {
                yield return child;
            }
        }
    }

    /// <summary>Removes a path (a whole tree for a directory) and reports it, with what it held.</summary>
    public bool Remove(string path, string? why = null)
    {
        var inode = Lookup(path);
        if (inode == null)
        {
            return false;
        }
        var detail = inode.IsDirectory ? "directory" : inode.IsRegularFile ? Size(inode.Size) : ExtFileSystem.DescribeType(inode.Type);
        var count = inode.IsDirectory ? Editor.RemoveTree(path) : Editor.Remove(path) ? 1 : 0;
        if (inode.IsDirectory && count > 1)
        {
            detail = $"directory, {count - 1} {(count == 2 ? "entry" : "entries")} inside";
        }
        Report(ScrubAction.Removed, path, why == null ? detail : $"{detail}; {why}");
        return true;
    }

    /// <summary>Empties a file the operation owns, following a link to it inside the image (see <see cref="OwnedFile"/>).</summary>
    public bool EmptyOwned(string path)
    {
        if (OwnedFile(path) is not { } owned)
        {
            return false;
        }
        return Empty(owned.Path, owned.Path == path ? null : $"through the link {path}");
    }

    /// <summary>Empties a regular file (kept with its owner, mode and xattrs); false when absent, not a file, or already empty.</summary>
    public bool Empty(string path, string? why = null)
    {
        var inode = Lookup(path);
        if (inode is not { IsRegularFile: true } || inode.Size == 0 && inode.AllocatedBytes == 0)
        {
            return false;
        }
        var size = Editor.Truncate(path);
        Report(ScrubAction.Emptied, path, why == null ? Size(size) : $"{Size(size)}; {why}");
        return true;
    }

    /// <summary>A size in words: "12.0 KiB".</summary>
    public static string Size(ulong bytes) => bytes switch
    {
        < 1024 => $"{bytes} bytes",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F1} KiB"),
        < 1024UL * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F1} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:F1} GiB"),
    };

    public static string Join(string directory, string name) => directory.TrimEnd('/') + "/" + name;

    /// <summary>The content of a regular file (small files only: the caller bounds the size).</summary>
    public byte[] ReadAll(ExtInode file, long limit)
    {
        if (file.Size > (ulong)limit)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"{FileSystem.Name}: inode {file.Number} is {file.Size} bytes; at most {limit} are read here");
        }
        var data = new byte[file.Size];
        using var s = FileSystem.OpenContent(file);
        s.ReadExactly(data);
        return data;
    }
}
