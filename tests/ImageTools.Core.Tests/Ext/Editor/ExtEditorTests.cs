using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Ext.Editor;

/// <summary>
/// The in-place editor on every image variant mke2fs makes of the sample tree (ext2, ext3, ext4 at 1K,
/// 2K and 4K blocks, htree, inline_data, 128-byte inodes, meta_bg, unwritten extents): one edit that
/// deletes every kind of file (multi-level block maps, extent trees with a leaf block, slow and fast
/// links, a hard link, a file with an xattr block, a directory tree), truncates, rewrites (shorter and
/// longer) and creates files, a directory and links. Judged by e2fsck -fn, by debugfs (blocks freed,
/// content of new files), by scanning the image for the deleted bytes, by the reader (everything not
/// edited keeps its facts: content hash, mode, owner, xattrs, links), and by the image's allocated size.
/// </summary>
public sealed class ExtEditorTests
{
    public static TheoryData<string> Variants() => new(SampleExtImages.All.Select(v => v.Name));

    private static readonly byte[] Rewritten = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("rewritten content, shorter than before\n", 50)));
    private static readonly byte[] Grown = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("a longer configuration line\n", 330)));
    private static readonly byte[] NewFile = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("new file\n", 333)));
    private static readonly string SlowTarget = "/" + string.Join('/', Enumerable.Repeat("long-target", 9));

    [Theory]
    [MemberData(nameof(Variants))]
    public void One_edit_of_every_kind_leaves_a_filesystem_e2fsck_finds_clean(string variantName)
    {
        var variant = SampleExtImages.Find(variantName);
        var source = SampleExtImages.Image(variant);
        using var temp = new TempDirectory("imagetools-editor-");
        var image = Copy(source, temp.File("edited.img"));
        var inline = variant.Options.Contains("inline_data");
        var before = Describe(image);
        var dataBefore = DataBytes(image);

        var removed = new List<string> { "/f300k", "/islands", "/link-slow", "/link-fast", "/hardlink-to-f5000", "/xattrs" };
        if (!inline)
        {
            removed.Add("/etc/deep");
        }
        var truncated = "/random-1m";
        var rewritten = "/f5000";
        var grown = "/boot/initrd.img-6.1.0-18-amd64";
        var oldBlocks = removed.Concat([truncated, rewritten, grown]).Where(p => before[p].Type != "Directory")
            .SelectMany(p => BlocksOf(image, p)).ToList();
        oldBlocks.Should().NotBeEmpty();

        Edit(image, editor =>
        {
            foreach (var path in removed)
            {
                if (path == "/etc/deep")
                {
                    editor.RemoveTree(path).Should().Be(5);
                }
                else
                {
                    editor.Remove(path).Should().BeTrue(path);
                }
            }
            editor.Remove("/does-not-exist").Should().BeFalse();
            editor.Truncate(truncated).Should().Be(1024 * 1024);
            editor.Rewrite(rewritten, Rewritten);
            editor.Rewrite(grown, Grown);
            editor.CreateDirectory("/newdir", new NewInodeAttributes(0x1ED, 1000, 1000));
            editor.CreateFile("/newdir/file", NewFile, new NewInodeAttributes(0x1A4, 1000, 1000));
            editor.CreateSymlink("/newdir/fast", "file", new NewInodeAttributes(0, 1000, 1000));
            editor.CreateSymlink("/newdir/slow", SlowTarget, new NewInodeAttributes(0, 0, 0));
            editor.CreateFile("/newdir/empty", [], new NewInodeAttributes(0x180));
            editor.Remove("/many/entry-with-a-longish-name-0007").Should().BeTrue();
            editor.CreateFile("/many/added-by-the-editor", "x"u8, new NewInodeAttributes(0x1A4));
        });

        ShouldBeCleanForE2fsck(image, $"after editing {variantName}");
        var after = Describe(image);

        // What the edit did.
        foreach (var path in removed)
        {
            after.Keys.Should().NotContain(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal), $"{path} was removed");
        }
        after[truncated].Size.Should().Be(0);
        after[rewritten].Content.Should().Be(FileFacts.Sha256(Rewritten));
        after["/etc/another-hardlink"].Content.Should().Be(FileFacts.Sha256(Rewritten), "a hard link shares the rewritten content");
        after[rewritten].Links.Should().Be(2, "one of its three names was removed");
        after[grown].Content.Should().Be(FileFacts.Sha256(Grown));
        foreach (var kept in new[] { truncated, rewritten, grown })
        {
            (after[kept] with { Content = "", Size = 0, Links = 0 }).Should().Be(before[kept] with { Content = "", Size = 0, Links = 0 }, $"{kept} keeps its owner, mode and xattrs");
        }
        after["/newdir"].Should().BeEquivalentTo(new { Type = "Directory", Mode = 0x41ED, Uid = 1000u, Gid = 1000u, Links = (ushort)2 });
        after["/newdir/file"].Content.Should().Be(FileFacts.Sha256(NewFile));
        after["/newdir/fast"].Content.Should().Be("file");
        after["/newdir/slow"].Content.Should().Be(SlowTarget);
        after["/newdir/empty"].Size.Should().Be(0);
        after["/many/added-by-the-editor"].Content.Should().Be(FileFacts.Sha256("x"u8.ToArray()));
        after.Keys.Should().NotContain("/many/entry-with-a-longish-name-0007");

        // Everything else is untouched.
        var edited = new HashSet<string>(removed.Concat(["/", "/etc", "/many", truncated, rewritten, grown, "/etc/another-hardlink", "/boot", "/many/entry-with-a-longish-name-0007"]));
        foreach (var (path, facts) in before)
        {
            if (edited.Contains(path) || removed.Any(r => path.StartsWith(r + "/", StringComparison.Ordinal)))
            {
                continue;
            }
            after.Should().ContainKey(path);
            after[path].Should().Be(facts, $"{path} was not edited");
        }

        // debugfs agrees on the new and the rewritten content.
        ExtImages.Debugfs(image, "cat /newdir/file").Should().Be(Encoding.ASCII.GetString(NewFile));
        ExtImages.Debugfs(image, $"cat {rewritten}").Should().Be(Encoding.ASCII.GetString(Rewritten));

        // Freed blocks read as zeros; the deleted bytes are nowhere in the image.
        var stillUsed = BlocksInUse(image, oldBlocks);
        var freed = oldBlocks.Where(b => !stillUsed.Contains(b)).ToList();
        freed.Should().NotBeEmpty();
        NonZeroBlocks(image, freed, variant.BlockSize).Should().BeEmpty("every block the edit freed is zeroed");
        foreach (var (file, at) in new[] { ("f300k", 100_000), ("random-1m", 500_000), ("f5000", 1000) })
        {
            var secret = File.ReadAllBytes(Path.Combine(SampleExtImages.Tree, file)).AsSpan(at, 48).ToArray();
            Contains(image, secret).Should().BeFalse($"the old content of {file} must not be recoverable from the image");
        }
        DataBytes(image).Should().BeLessThanOrEqualTo(dataBefore, "the image must not get less sparse");
    }

    [Fact]
    public void A_file_kept_in_the_inode_is_refused_by_name_and_nothing_is_written()
    {
        var source = SampleExtImages.Image("ext4-4k-inline");
        using var temp = new TempDirectory("imagetools-editor-");
        var image = Copy(source, temp.File("inline.img"));
        var hash = FileFacts.Sha256(image);
        using (var editable = EditableImage.Open(image))
        using (var view = editable.OpenReadView())
        using (var editor = ExtEditor.Open(view, image))
        {
            var act = () => editor.Rewrite("/small.txt", "new"u8);
            act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.UnsupportedFeature && e.Message.Contains("inline_data"));
        }
        FileFacts.Sha256(image).Should().Be(hash);
    }

    [Theory]
    [InlineData("ext4", 1024)]
    [InlineData("ext3", 4096)]
    public void Names_added_to_an_htree_go_into_the_leaf_their_hash_selects_until_it_is_full_then_the_index_is_dropped(string type, int blockSize)
    {
        using var temp = new TempDirectory("imagetools-htree-");
        var tree = Directory.CreateDirectory(temp.File("tree")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "dir"));
        // Enough names for several leaf blocks; e2fsck -fD leaves room in each leaf.
        var count = blockSize == 1024 ? 120 : 400;
        for (var i = 0; i < count; i++)
        {
            File.WriteAllText(Path.Combine(tree, "dir", $"name-{i:D5}"), "");
        }
        var image = ExtImages.Make(temp.File("htree.img"), type, blockSize, tree, "16M");
        ExtImages.IndexDirectories(image);
        ExtImages.Debugfs(image, "htree /dir").Should().Contain("Root node dump");

        Edit(image, editor => editor.CreateFile("/dir/one-more", [], new NewInodeAttributes(0x1A4)));
        ShouldBeCleanForE2fsck(image, "after one insertion into the htree");
        ExtImages.Debugfs(image, "htree /dir").Should().Contain("one-more", "the new name is in a leaf the index reaches");
        var flags = Debugfs.ParseStat(ExtImages.Debugfs(image, "stat /dir")).Flags;
        (flags & (uint)InodeFlags.Index).Should().NotBe(0u, "the directory is still indexed");

        // Now far more names than the leaves can hold: the index goes, the names stay.
        var notes = new List<string>();
        Edit(image, editor =>
        {
            for (var i = 0; i < count; i++)
            {
                editor.CreateFile($"/dir/added-with-a-long-name-to-fill-blocks-{i:D5}", [], new NewInodeAttributes(0x1A4));
            }
            notes.AddRange(editor.Notes);
        });
        ShouldBeCleanForE2fsck(image, "after the index was dropped");
        notes.Should().Contain(n => n.Contains("index was dropped"));
        var listed = Debugfs.ParseList(ExtImages.Debugfs(image, "ls -l /dir")).Select(e => e.Name).ToHashSet();
        listed.Should().HaveCount(2 * count + 1);
        listed.Should().Contain(["one-more", "name-00000", $"added-with-a-long-name-to-fill-blocks-{count - 1:D5}"]);
    }

    [Fact]
    public void A_shared_xattr_block_loses_one_reference_per_deleted_owner_and_is_freed_with_the_last()
    {
        using var temp = new TempDirectory("imagetools-xattr-");
        var tree = Directory.CreateDirectory(temp.File("tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "a"), "a");
        File.WriteAllText(Path.Combine(tree, "b"), "b");
        ProcessRunner.Run("setfattr", "-n", "user.shared", "-v", "same value for both", Path.Combine(tree, "a")).ExitCode.Should().Be(0);
        // 128-byte inodes: the xattrs must live in a block.
        var image = ExtImages.Make(temp.File("xattr.img"), "ext2", 1024, tree, "4M", "-I", "128");
        var aBlock = ulong.Parse(ExtImages.Debugfs(image, "stat /a").Split("File ACL: ")[1].Split(' ', '\n')[0]);
        aBlock.Should().NotBe(0UL);
        // Share a's block with b, as the kernel's mbcache would: b points at it, the refcount becomes 2.
        ExtImages.Debugfs(image, $"sif /b file_acl {aBlock}", write: true);
        var raw = File.ReadAllBytes(image);
        raw[(int)aBlock * 1024 + 4] = 2;
        File.WriteAllBytes(image, raw);
        ExtImages.Debugfs(image, $"sif /b blocks 4", write: true);
        ShouldBeCleanForE2fsck(image, "with the shared block set up");

        Edit(image, editor => editor.Remove("/a").Should().BeTrue());
        ShouldBeCleanForE2fsck(image, "after deleting one owner");
        File.ReadAllBytes(image)[(int)aBlock * 1024 + 4].Should().Be(1, "one reference is left");
        ExtImages.Debugfs(image, "ea_list /b").Should().Contain("same value for both");

        Edit(image, editor => editor.Remove("/b").Should().BeTrue());
        ShouldBeCleanForE2fsck(image, "after deleting the last owner");
        NonZeroBlocks(image, [(long)aBlock], 1024).Should().BeEmpty("the block is freed and zeroed with its last owner");
    }

    [Theory]
    [InlineData("needs_recovery", "journal needs recovery")]
    [InlineData("quota", "quota")]
    public void Filesystems_the_editor_cannot_keep_consistent_are_refused_by_name(string feature, string expected)
    {
        using var temp = new TempDirectory("imagetools-refuse-");
        var tree = Directory.CreateDirectory(temp.File("tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "f"), "f");
        var image = feature == "quota"
            ? ExtImages.Make(temp.File("q.img"), "ext4", 4096, tree, "16M", "-O", "quota")
            : ExtImages.Make(temp.File("r.img"), "ext4", 4096, tree, "16M");
        if (feature == "needs_recovery")
        {
            ExtImages.Debugfs(image, "feature needs_recovery", write: true);
        }
        var hash = FileFacts.Sha256(image);
        var act = () => Edit(image, editor => editor.Remove("/f"));
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.UnsupportedFeature && e.Message.Contains(expected));
        FileFacts.Sha256(image).Should().Be(hash, "a refused image is not touched");
    }

    [Fact]
    public void A_filesystem_that_is_not_clean_is_refused()
    {
        using var temp = new TempDirectory("imagetools-refuse-");
        var tree = Directory.CreateDirectory(temp.File("tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "f"), "f");
        var image = ExtImages.Make(temp.File("r.img"), "ext3", 1024, tree, "8M");
        ExtImages.Debugfs(image, "ssv state 0", write: true);
        var act = () => Edit(image, editor => editor.Remove("/f"));
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage && e.Message.Contains("not marked clean"));
    }
}
