using System.Text;

namespace ImageTools.Core.Ext.Reader;

/// <summary>One node met while walking a tree.</summary>
/// <param name="Path">Absolute path inside the filesystem ("/", "/etc/passwd"); names decoded as UTF-8.</param>
/// <param name="PathBytes">The same path as stored bytes (exact even when a name is not UTF-8).</param>
/// <param name="Inode">The node's inode.</param>
/// <param name="Depth">0 for the starting node.</param>
/// <param name="HardLinkTo">When this inode was already met under another name: that earlier path (bytes).</param>
public sealed record ExtTreeItem(string Path, byte[] PathBytes, ExtInode Inode, int Depth, byte[]? HardLinkTo)
{
    /// <summary>The earlier path as text, when this is a further link to an inode already met.</summary>
    public string? HardLinkToText => HardLinkTo == null ? null : Encoding.UTF8.GetString(HardLinkTo);
}

/// <summary>Something damaged that a keep-going walk stepped over.</summary>
/// <param name="Path">Where (inside the filesystem) it was met.</param>
/// <param name="Error">What is wrong.</param>
public sealed record ExtProblem(string Path, ImageToolsException Error);

/// <summary>
/// Walks a directory tree depth first, parents before children, children sorted by name bytes (so
/// archives and listings are deterministic). Each directory inode is entered once: reaching one again
/// (a loop, or a second link to a directory) is reported where it happens. A non-directory inode with
/// several links is yielded in full once and then as a hard link to its first path.
/// By default the first error ends the walk (the exception propagates); with a problem handler the
/// walk reports the damaged entry or directory, skips it, and goes on with the rest.
/// </summary>
public static class ExtTreeWalker
{
    /// <summary>Deepest nesting followed (deeper trees are reported, not walked).</summary>
    public const int MaxDepth = 4096;

    /// <summary>Walks from <paramref name="startPath"/> (a symbolic link there is followed).</summary>
    public static IEnumerable<ExtTreeItem> Walk(ExtFileSystem fs, string startPath = "/", Action<ExtProblem>? onProblem = null,
        CancellationToken cancellationToken = default)
    {
        var start = fs.Resolve(startPath, followLast: true);
        return WalkFrom(fs, start, startPath, onProblem, cancellationToken);
    }

    private sealed class Frame(string path, byte[] pathBytes, int depth, List<ExtDirectoryEntry> children)
    {
        public string Path { get; } = path;
        public byte[] PathBytes { get; } = pathBytes;
        public int Depth { get; } = depth;
        public List<ExtDirectoryEntry> Children { get; } = children;
        public int Next { get; set; }
    }

    /// <summary>Walks from an inode already resolved, naming it <paramref name="startPath"/> in the items.</summary>
    internal static IEnumerable<ExtTreeItem> WalkFrom(ExtFileSystem fs, ExtInode start, string startPath, Action<ExtProblem>? onProblem,
        CancellationToken cancellationToken)
    {
        startPath = "/" + string.Join('/', startPath.Split('/', StringSplitOptions.RemoveEmptyEntries));
        return WalkFromNormalized(fs, start, startPath, onProblem, cancellationToken);
    }

    private static IEnumerable<ExtTreeItem> WalkFromNormalized(ExtFileSystem fs, ExtInode start, string startPath, Action<ExtProblem>? onProblem,
        CancellationToken cancellationToken)
    {
        var visitedDirectories = new Dictionary<uint, string>();
        var multiplyLinked = new Dictionary<uint, byte[]>();
        var singlyLinked = new HashSet<uint>();
        var startBytes = Encoding.UTF8.GetBytes(startPath);
        var stack = new Stack<Frame>();

        yield return new ExtTreeItem(startPath, startBytes, start, 0, null);
        if (start.IsDirectory)
        {
            visitedDirectories[start.Number] = startPath;
            stack.Push(new Frame(startPath, startBytes, 0, ListChildren(fs, start, startPath, onProblem)));
        }

        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = stack.Peek();
            if (frame.Next >= frame.Children.Count)
            {
                stack.Pop();
                continue;
            }
            var entry = frame.Children[frame.Next++];
            var path = frame.Path == "/" ? "/" + entry.NameText : frame.Path + "/" + entry.NameText;
            var pathBytes = Join(frame.PathBytes, entry.Name);
            var depth = frame.Depth + 1;

            ExtInode inode;
            try
            {
                inode = fs.ReadInode(entry.Inode, $"'{path}'");
            }
            catch (ImageToolsException e) when (onProblem != null && IsDamage(e))
            {
                onProblem(new ExtProblem(path, e));
                continue;
            }

            if (inode.IsDirectory)
            {
                if (visitedDirectories.TryGetValue(inode.Number, out var earlier))
                {
                    var loop = fs.Corrupt($"'{path}' is directory inode {inode.Number}, already reached as '{earlier}': a directory loop or a second link to a directory");
                    if (onProblem == null)
                    {
                        throw loop;
                    }
                    onProblem(new ExtProblem(path, loop));
                    continue;
                }
                if (depth > MaxDepth)
                {
                    var deep = fs.Corrupt($"'{path}' is nested more than {MaxDepth} directories deep");
                    if (onProblem == null)
                    {
                        throw deep;
                    }
                    onProblem(new ExtProblem(path, deep));
                    continue;
                }
                visitedDirectories[inode.Number] = path;
                yield return new ExtTreeItem(path, pathBytes, inode, depth, null);
                stack.Push(new Frame(path, pathBytes, depth, ListChildren(fs, inode, path, onProblem)));
                continue;
            }

            if (multiplyLinked.TryGetValue(inode.Number, out var first))
            {
                yield return new ExtTreeItem(path, pathBytes, inode, depth, first);
                continue;
            }
            if (inode.LinksCount > 1)
            {
                multiplyLinked[inode.Number] = pathBytes;
            }
            else if (!singlyLinked.Add(inode.Number))
            {
                var twice = fs.Corrupt($"'{path}' is inode {inode.Number}, which has one link but was already reached under another name");
                if (onProblem == null)
                {
                    throw twice;
                }
                onProblem(new ExtProblem(path, twice));
                continue;
            }
            yield return new ExtTreeItem(path, pathBytes, inode, depth, null);
        }
    }

    // Reads a whole directory (sorted). With a problem handler, a damaged block ends the listing of
    // that directory but keeps what was read before it.
    private static List<ExtDirectoryEntry> ListChildren(ExtFileSystem fs, ExtInode directory, string path, Action<ExtProblem>? onProblem)
    {
        var children = new List<ExtDirectoryEntry>();
        using (var e = fs.ReadDirectory(directory).GetEnumerator())
        {
            while (true)
            {
                try
                {
                    if (!e.MoveNext())
                    {
                        break;
                    }
                }
                catch (ImageToolsException ex) when (onProblem != null && IsDamage(ex))
                {
                    onProblem(new ExtProblem(path, ex));
                    break;
                }
                children.Add(e.Current);
            }
        }
        children.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        return children;
    }

    /// <summary>Errors that describe damage in the image (as opposed to, say, a failing disk or a cancelled run).</summary>
    public static bool IsDamage(ImageToolsException e) =>
        e.Kind is ErrorKind.CorruptImage or ErrorKind.ChecksumMismatch or ErrorKind.UnsupportedFeature;

    private static byte[] Join(byte[] parent, byte[] name)
    {
        if (parent.Length == 1 && parent[0] == (byte)'/')
        {
            var rooted = new byte[name.Length + 1];
            rooted[0] = (byte)'/';
            name.CopyTo(rooted, 1);
            return rooted;
        }
        var joined = new byte[parent.Length + 1 + name.Length];
        parent.CopyTo(joined, 0);
        joined[parent.Length] = (byte)'/';
        name.CopyTo(joined, parent.Length + 1);
        return joined;
    }
}
