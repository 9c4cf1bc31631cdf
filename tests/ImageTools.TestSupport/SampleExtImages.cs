using System.Collections.Concurrent;

namespace ImageTools.TestSupport;

/// <summary>
/// The sample tree (<see cref="ExtImages.BuildSampleTree"/>) made into images by mke2fs, one per variant,
/// built on first use and kept for the rest of the test run (they are sparse: a few MB on disk each).
/// Building needs root (device nodes, owners); tests skip, saying so, otherwise.
/// </summary>
public static class SampleExtImages
{
    /// <summary>One way of making the image.</summary>
    /// <param name="Name">Short name used in test names ("ext4-4k").</param>
    /// <param name="FsType">mke2fs -t.</param>
    /// <param name="BlockSize">mke2fs -b.</param>
    /// <param name="Size">Filesystem size.</param>
    /// <param name="Index">Run e2fsck -fyD afterwards, so big directories become htrees.</param>
    /// <param name="Unwritten">Add a file with unwritten (fallocated) extents through debugfs.</param>
    /// <param name="Options">Extra mke2fs options.</param>
    public sealed record Variant(string Name, string FsType, int BlockSize, string Size, bool Index = false, bool Unwritten = false, params string[] Options)
    {
        public override string ToString() => Name;
    }

    /// <summary>Every variant: the six of the issue (ext2/3/4 with default features, 1K and 4K blocks) and the special cases.</summary>
    public static readonly Variant[] All =
    {
        new("ext2-1k", "ext2", 1024, "16M"),
        new("ext2-4k", "ext2", 4096, "32M"),
        new("ext3-1k", "ext3", 1024, "16M"),
        new("ext3-4k", "ext3", 4096, "32M"),
        new("ext4-1k", "ext4", 1024, "16M"),
        new("ext4-4k", "ext4", 4096, "32M", Unwritten: true),
        new("ext3-1k-htree", "ext3", 1024, "16M", Index: true),
        new("ext4-4k-htree", "ext4", 4096, "32M", Index: true),
        new("ext4-4k-inline", "ext4", 4096, "32M", false, false, "-O", "inline_data"),
        new("ext2-1k-128-byte-inodes", "ext2", 1024, "16M", false, false, "-I", "128"),
        new("ext4-1k-meta_bg", "ext4", 1024, "40M", false, false, "-g", "1024", "-O", "64bit,meta_bg,^resize_inode"),
        new("ext4-2k", "ext4", 2048, "24M"),
    };

    public static Variant Find(string name) => All.Single(v => v.Name == name);

    /// <summary>The file name inside the image that gets unwritten extents, and how many 4K blocks of them.</summary>
    public const string UnwrittenFile = "/preallocated";
    public const int UnwrittenBlocks = 40;

    private static readonly object Gate = new();
    private static readonly ConcurrentDictionary<string, string> Built = new();
    private static TempDirectory? _folder;
    private static string? _tree;

    /// <summary>The sample source tree (built once).</summary>
    public static string Tree
    {
        get
        {
            ExternalTools.RequireRoot("the sample tree has device nodes and files owned by other users");
            lock (Gate)
            {
                _folder ??= CreateFolder();
                return _tree ??= ExtImages.BuildSampleTree(Path.Combine(_folder.Path, "tree"));
            }
        }
    }

    /// <summary>The image of a variant, built on first use. Tests must not modify it (copy it first).</summary>
    public static string Image(Variant variant)
    {
        var tree = Tree;
        lock (Gate)
        {
            if (Built.TryGetValue(variant.Name, out var existing))
            {
                return existing;
            }
            var image = Path.Combine(_folder!.Path, variant.Name + ".img");
            ExtImages.Make(image, variant.FsType, variant.BlockSize, tree, variant.Size, variant.Options);
            if (variant.Index)
            {
                ExtImages.IndexDirectories(image);
            }
            if (variant.Unwritten)
            {
                ExtImages.Debugfs(image, $"write /dev/null {UnwrittenFile.TrimStart('/')}", write: true);
                ExtImages.Debugfs(image, $"fallocate {UnwrittenFile} 0 {UnwrittenBlocks - 1}", write: true);
                ExtImages.Debugfs(image, $"sif {UnwrittenFile} size {UnwrittenBlocks * variant.BlockSize + 123}", write: true);
            }
            Built[variant.Name] = image;
            return image;
        }
    }

    public static string Image(string variantName) => Image(Find(variantName));

    private static TempDirectory CreateFolder()
    {
        var folder = new TempDirectory("imagetools-sample-ext-");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => folder.Dispose();
        return folder;
    }
}
