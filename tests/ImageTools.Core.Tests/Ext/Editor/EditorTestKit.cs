using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using FluentAssertions;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Reader;
using ImageTools.TestSupport;

namespace ImageTools.Core.Tests.Ext.Editor;

/// <summary>What the editor tests share: editing an image copy, judging it with e2fsck, describing a tree.</summary>
public static partial class EditorTestKit
{
    /// <summary>The time the tests stamp on edits, so two runs of the same edit give the same bytes.</summary>
    public static readonly DateTimeOffset FixedNow = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A sparse copy of <paramref name="source"/> (cp --sparse=always keeps the holes).</summary>
    public static string Copy(string source, string destination)
    {
        var r = ProcessRunner.Run("cp", "--sparse=always", source, destination);
        r.ExitCode.Should().Be(0, r.ToString());
        return destination;
    }

    /// <summary>Runs <paramref name="edit"/> on the image and commits it; returns what the edit amounted to.</summary>
    public static EditChanges Edit(string specification, Action<ExtEditor> edit, Action<CommitProgress>? observer = null)
    {
        using var image = EditableImage.Open(specification);
        using var view = image.OpenReadView();
        using var editor = ExtEditor.Open(view, image.Description, new ExtEditorOptions { Now = FixedNow });
        edit(editor);
        var changes = editor.CollectChanges();
        image.Commit(changes, editor.FileSystem.Superblock.Uuid, observer);
        return changes;
    }

    /// <summary>Asserts that e2fsck -fn finds nothing wrong (exit 0).</summary>
    public static void ShouldBeCleanForE2fsck(string image, string why = "")
    {
        var r = ProcessRunner.Run(ExternalTools.Require("e2fsck"), "-fn", image);
        r.ExitCode.Should().Be(0, $"e2fsck -fn must find nothing wrong {why}:\n{r.StdOut}\n{r.StdErr}");
    }

    /// <summary>One node of a tree as the tests compare it.</summary>
    public sealed record NodeFacts(string Type, int Mode, uint Uid, uint Gid, ulong Size, string Content, string Xattrs, ushort Links);

    /// <summary>Every path of the filesystem with its facts (content hash for files, target for links).</summary>
    public static Dictionary<string, NodeFacts> Describe(string image, long offset = 0, long? length = null)
    {
        using var file = File.OpenRead(image);
        using Stream window = length is long l ? new ImageTools.Core.Streams.SubStream(file, offset, l) : file;
        using var fs = ExtFileSystem.Open(window, image, leaveOpen: true);
        var result = new Dictionary<string, NodeFacts>(StringComparer.Ordinal);
        foreach (var item in ExtTreeWalker.Walk(fs))
        {
            var inode = item.Inode;
            string content = "";
            if (inode.IsRegularFile)
            {
                using var s = fs.OpenContent(inode);
                content = Convert.ToHexStringLower(SHA256.HashData(s));
            }
            else if (inode.IsSymbolicLink)
            {
                content = Encoding.UTF8.GetString(fs.ReadSymlinkTarget(inode));
            }
            else if (inode.IsDirectory)
            {
                content = string.Join(",", fs.ListDirectory(inode).Select(e => e.NameText));
            }
            var xattrs = string.Join(";", fs.ReadXattrs(inode).OrderBy(x => x.Name, StringComparer.Ordinal).Select(x => x.Name + "=" + Convert.ToHexString(x.Value)));
            result[item.Path] = new NodeFacts(inode.Type.ToString(), inode.Mode, inode.Uid, inode.Gid, inode.Size, content, xattrs, inode.LinksCount);
        }
        return result;
    }

    [GeneratedRegex(@"(?:\(([^)]*)\)):(\d+)(?:-(\d+))?")]
    private static partial Regex BlockListItem();

    /// <summary>
    /// Every block debugfs says an inode owns: data, indirect blocks and extent tree blocks (the BLOCKS /
    /// EXTENTS section of <c>stat</c>), uninitialised extents included.
    /// </summary>
    public static IReadOnlyList<long> BlocksOf(string image, string path)
    {
        var stat = ExtImages.Debugfs(image, $"stat \"{path}\"");
        var at = stat.IndexOf("BLOCKS:", StringComparison.Ordinal);
        if (at < 0)
        {
            at = stat.IndexOf("EXTENTS:", StringComparison.Ordinal);
        }
        var blocks = new List<long>();
        if (at < 0)
        {
            return blocks;
        }
        foreach (Match m in BlockListItem().Matches(stat[at..]))
        {
            var first = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            var last = m.Groups[3].Success ? long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) : first;
            for (var b = first; b <= last; b++)
            {
                blocks.Add(b);
            }
        }
        return blocks;
    }

    /// <summary>Whether debugfs says a block is in use (<c>testb</c>).</summary>
    public static IReadOnlySet<long> BlocksInUse(string image, IEnumerable<long> blocks)
    {
        var list = blocks.Distinct().ToList();
        var inUse = new HashSet<long>();
        if (list.Count == 0)
        {
            return inUse;
        }
        var answers = Debugfs.RunScript(image, list.Select(b => $"testb {b}").ToList());
        for (var i = 0; i < list.Count; i++)
        {
            if (answers[i].Output.Contains("marked in use", StringComparison.Ordinal))
            {
                inUse.Add(list[i]);
            }
        }
        return inUse;
    }

    /// <summary>Whether every one of these blocks of the image (filesystem at <paramref name="offset"/>) reads as zeros.</summary>
    public static IReadOnlyList<long> NonZeroBlocks(string image, IEnumerable<long> blocks, int blockSize, long offset = 0)
    {
        using var file = File.OpenRead(image);
        var buffer = new byte[blockSize];
        var dirty = new List<long>();
        foreach (var b in blocks)
        {
            file.Position = offset + b * blockSize;
            file.ReadExactly(buffer);
            if (buffer.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
            {
                dirty.Add(b);
            }
        }
        return dirty;
    }

    /// <summary>
    /// Bytes the host filesystem has allocated to the file's data: the sum of its extents as FIEMAP reports
    /// them after a sync (<c>filefrag -s -v</c>: delayed allocations are placed first), written and unwritten alike. This is what "sparse" means here. Neither
    /// SEEK_DATA (which counts an unwritten extent as data once its pages are in the page cache, i.e. after
    /// merely reading it) nor st_blocks (which also counts the host's own extent-tree blocks) measures it.
    /// </summary>
    public static long DataBytes(string path)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("filefrag"), "-s", "-v", "-b4096", path);
        r.ExitCode.Should().Be(0, r.ToString());
        long blocks = 0;
        foreach (Match m in FilefragExtent().Matches(r.StdOut))
        {
            blocks += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        return blocks * 4096;
    }

    // "   3:       22..      36:   37913551..  37913565:     15:   37913344:"
    [GeneratedRegex(@"^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):", RegexOptions.Multiline)]
    private static partial Regex FilefragExtent();

    /// <summary>Whether <paramref name="needle"/> occurs anywhere in the file (streamed; overlaps between chunks handled).</summary>
    public static bool Contains(string path, byte[] needle)
    {
        using var file = File.OpenRead(path);
        var buffer = new byte[(1 << 20) + needle.Length];
        var carried = 0;
        while (true)
        {
            var n = file.Read(buffer, carried, buffer.Length - carried);
            if (n == 0)
            {
                return false;
            }
            var total = carried + n;
            if (buffer.AsSpan(0, total).IndexOf(needle) >= 0)
            {
                return true;
            }
            carried = Math.Min(needle.Length - 1, total);
            Array.Copy(buffer, total - carried, buffer, 0, carried);
        }
    }
}
