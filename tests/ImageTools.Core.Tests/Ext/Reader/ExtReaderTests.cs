using System.Buffers.Binary;
using System.Security.Cryptography;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Ext.Reader;

/// <summary>
/// The reader's specific promises, each on a real mke2fs image (damaged on a copy where needed):
/// the variants hold what they claim, holes are not read, paths resolve inside the image, features it
/// cannot read are refused by name, checksums are checked, and loops, out-of-range extents, absurd
/// sizes and rec_lens that do not advance are caught where they are read.
/// </summary>
public sealed class ExtReaderTests
{
    private static ExtFileSystem Open(string image, ExtOpenOptions? options = null) =>
        ExtFileSystem.Open(File.OpenRead(image), image, options, leaveOpen: false);

    private static ExtFileSystem OpenWritable(string image, ExtOpenOptions? options = null) =>
        ExtFileSystem.Open(new FileStream(image, FileMode.Open, FileAccess.ReadWrite), image, options, leaveOpen: false);

    /// <summary>A sparse copy of a sample image that a test may damage.</summary>
    private static string Copy(string variant, TempDirectory temp)
    {
        var copy = temp.File(variant + ".img");
        var r = ProcessRunner.Run("cp", "--sparse=always", SampleExtImages.Image(variant), copy);
        r.ExitCode.Should().Be(0, r.ToString());
        return copy;
    }

    [Fact]
    public void The_sample_variants_exercise_what_they_claim()
    {
        using (var fs = Open(SampleExtImages.Image("ext4-4k-htree")))
        {
            fs.Resolve("/many").Flags.Should().HaveFlag(InodeFlags.Index, "e2fsck -D indexed the 400-entry directory");
            fs.ListDirectory(fs.Resolve("/many")).Should().HaveCount(400);
        }
        using (var fs = Open(SampleExtImages.Image("ext3-1k-htree")))
        {
            fs.Resolve("/many").Flags.Should().HaveFlag(InodeFlags.Index);
        }
        using (var fs = Open(SampleExtImages.Image("ext4-4k")))
        {
            var islands = fs.Resolve("/islands");
            islands.UsesExtents.Should().BeTrue();
            ExtentHeader.TryRead(islands.Record.Block)!.Value.Depth.Should().BeGreaterThan(0, "8 data islands need more extents than the inode holds");
            var preallocated = fs.Resolve(SampleExtImages.UnwrittenFile);
            var runs = fs.EnumerateRuns(preallocated).ToList();
            runs.Should().Contain(r => r.Kind == BlockRunKind.Unwritten);
            runs.Where(r => r.Kind == BlockRunKind.Unwritten).Sum(r => (long)r.Count).Should().Be(SampleExtImages.UnwrittenBlocks);
            using var content = fs.OpenContent(preallocated);
            var bytes = new byte[content.Length];
            content.ReadExactly(bytes);
            bytes.Should().OnlyContain(b => b == 0, "unwritten extents read as zeros");
        }
        using (var fs = Open(SampleExtImages.Image("ext4-4k-inline")))
        {
            fs.Resolve("/etc").HasInlineData.Should().BeTrue("a small directory is stored in its inode");
            fs.Resolve("/small.txt").HasInlineData.Should().BeTrue();
        }
        using (var fs = Open(SampleExtImages.Image("ext2-1k-128-byte-inodes")))
        {
            fs.InodeSize.Should().Be(128);
            fs.Resolve("/small.txt").CreationTime.Should().BeNull();
        }
        using (var fs = Open(SampleExtImages.Image("ext4-1k-meta_bg")))
        {
            fs.Superblock.FeatureIncompat.Should().HaveFlag(IncompatFeatures.MetaBg);
            fs.GroupCount.Should().BeGreaterThan(32, "more groups than one descriptor block holds");
            for (uint g = 0; g < fs.GroupCount; g++)
            {
                fs.GetGroupDescriptor(g).InodeTable.Should().BeLessThan(fs.BlockCount);
            }
            fs.Warnings.Should().BeEmpty("every descriptor, read from its meta_bg location, has a valid checksum");
        }
        using (var fs = Open(SampleExtImages.Image("ext2-1k")))
        {
            var f300k = fs.Resolve("/f300k");
            f300k.Record.BlockWord(12).Should().NotBe(0u, "300 KiB at 1K blocks reaches the indirect block");
            fs.Kind.Should().Be(ExtKind.Ext2);
        }
    }

    [Fact]
    public void Holes_come_back_as_zeros_without_being_read()
    {
        var image = SampleExtImages.Image("ext4-4k");
        using var counting = new CountingStream(File.OpenRead(image));
        using var fs = ExtFileSystem.Open(counting, image);
        var sparse = fs.Resolve("/sparse");
        sparse.Size.Should().Be(2 * 1024 * 1024);
        var before = counting.BytesRead;
        using var content = fs.OpenContent(sparse);
        var bytes = new byte[content.Length];
        content.ReadExactly(bytes);
        var read = counting.BytesRead - before;
        read.Should().BeLessThan(64 * 1024, "only the one data block (and no hole) is read from the image");
        System.Text.Encoding.ASCII.GetString(bytes, 700000, 29).Should().Be("data in the middle of nothing");
        bytes.AsSpan(0, 700000).IndexOfAnyExcept((byte)0).Should().Be(-1);
        fs.EnumerateRuns(sparse).Count(r => r.Kind == BlockRunKind.Data).Should().Be(1);
    }

    [Fact]
    public void File_content_is_a_seekable_stream_read_lazily()
    {
        var image = SampleExtImages.Image("ext3-1k");
        using var fs = Open(image);
        var file = fs.Resolve("/random-1m");
        using var content = fs.OpenContent(file);
        content.Length.Should().Be(1024 * 1024);
        var whole = new byte[content.Length];
        content.ReadExactly(whole);
        var expected = File.ReadAllBytes(Path.Combine(SampleExtImages.Tree, "random-1m"));
        whole.Should().Equal(expected);
        content.Position = 300_001;
        var piece = new byte[5000];
        content.ReadExactly(piece);
        piece.Should().Equal(expected.AsSpan(300_001, 5000).ToArray());
        content.Seek(-10, SeekOrigin.End);
        content.Read(new byte[100]).Should().Be(10);
    }

    [Fact]
    public void Paths_resolve_inside_the_image_following_symlinks_there()
    {
        using var fs = Open(SampleExtImages.Image("ext4-1k"));
        var kernel = fs.Resolve("/boot/vmlinuz-6.1.0-18-amd64");
        fs.Resolve("/vmlinuz", followLast: true).Number.Should().Be(kernel.Number);
        fs.Resolve("/vmlinuz").IsSymbolicLink.Should().BeTrue();
        fs.Resolve("/etc/deep/../../boot/./vmlinuz-6.1.0-18-amd64").Number.Should().Be(kernel.Number);
        fs.Resolve("/../../boot").IsDirectory.Should().BeTrue("'..' at the root stays at the root");
        var missing = () => fs.Resolve("/link-dangling", followLast: true);
        missing.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.NotFound);
        fs.TryResolve("/nope/nothing").Should().BeNull();
        var throughFile = () => fs.Resolve("/small.txt/x");
        throughFile.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.NotFound);
    }

    [Fact]
    public void A_symlink_loop_is_refused_not_followed_forever()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext2-1k", temp);
        ExtImages.Debugfs(image, "symlink /loop-a /loop-b", write: true);
        ExtImages.Debugfs(image, "symlink /loop-b /loop-a", write: true);
        using var fs = Open(image);
        var act = () => fs.Resolve("/loop-a", followLast: true);
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("more than 40 symbolic links");
    }

    [Theory]
    [InlineData(IncompatFeatures.Encrypt, "encrypt")]
    [InlineData(IncompatFeatures.Compression, "compression")]
    [InlineData(IncompatFeatures.DirData, "dirdata")]
    [InlineData((IncompatFeatures)0x80000000, "FEATURE_I31")]
    [InlineData(IncompatFeatures.NeedsRecovery, "needs_recovery")]
    public void Features_it_cannot_read_are_refused_by_name(IncompatFeatures feature, string name)
    {
        using var temp = new TempDirectory();
        var image = Copy("ext4-1k", temp);
        EditSuperblock(image, sb => sb.FeatureIncompat |= feature);
        var act = () => Open(image);
        var error = act.Should().Throw<ImageToolsException>().Which;
        error.Kind.Should().Be(ErrorKind.UnsupportedFeature);
        error.Message.Should().Contain(name).And.Contain(image);
        if (feature == IncompatFeatures.NeedsRecovery)
        {
            using var stale = Open(image, new ExtOpenOptions { AllowStaleJournal = true });
            stale.IsStaleRead.Should().BeTrue();
            stale.ListDirectory(stale.Root).Should().NotBeEmpty();
        }
    }

    [Fact]
    public void An_external_journal_device_is_named_as_such()
    {
        using var temp = new TempDirectory();
        var journal = temp.File("journal.img");
        var r = ProcessRunner.Run(ExternalTools.Require("mke2fs"), "-q", "-F", "-O", "journal_dev", "-b", "1024", journal, "4M");
        r.ExitCode.Should().Be(0, r.ToString());
        var act = () => Open(journal);
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("journal_dev").And.Contain("not a filesystem");
    }

    [Fact]
    public void A_damaged_inode_fails_its_checksum_unless_checksums_are_off()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext4-4k", temp);
        uint number;
        long location;
        using (var fs = Open(image))
        {
            number = fs.Resolve("/small.txt").Number;
            location = fs.InodeLocation(number);
        }
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = location + 0x10; // i_mtime
            f.WriteByte(0x42);
        }
        using (var fs = Open(image))
        {
            var act = () => fs.ReadInode(number);
            act.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.ChecksumMismatch);
        }
        using (var fs = Open(image, new ExtOpenOptions { VerifyChecksums = false }))
        {
            fs.ReadInode(number).IsRegularFile.Should().BeTrue();
        }
    }

    [Fact]
    public void A_directory_loop_is_caught_where_it_is_met()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext2-1k", temp);
        // A second name for a directory, inside itself: following it would never end.
        ExtImages.Debugfs(image, "link /etc /etc/deep/loop", write: true);
        using var fs = Open(image);
        var act = () => ExtTreeWalker.Walk(fs, cancellationToken: TestContext.Current.CancellationToken).ToList();
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("/etc/deep/loop").And.Contain("already reached as '/etc'");
        var problems = new List<ExtProblem>();
        var items = ExtTreeWalker.Walk(fs, onProblem: problems.Add, cancellationToken: TestContext.Current.CancellationToken).ToList();
        problems.Should().ContainSingle().Which.Path.Should().Be("/etc/deep/loop");
        items.Should().Contain(i => i.Path == "/etc/deep/er/still/deeper/leaf.txt", "the rest of the tree is still walked");
    }

    [Fact]
    public void An_extent_pointing_outside_the_filesystem_is_caught()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext4-4k", temp);
        using (var fs = OpenWritable(image))
        {
            var inode = fs.Resolve("/f5000");
            var extent = ExtentLeaf.Read(inode.Record.Block.AsSpan(ExtentHeader.Size));
            new ExtentLeaf(extent.LogicalBlock, extent.RawLength, fs.BlockCount - 1).Write(inode.Record.Block.AsSpan(ExtentHeader.Size));
            RewriteInode(fs, inode);
        }
        using (var fs = Open(image))
        {
            var inode = fs.Resolve("/f5000");
            var act = () => fs.EnumerateRuns(inode).ToList();
            act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("outside the filesystem").And.Contain($"inode {inode.Number}");
        }
    }

    [Fact]
    public void An_absurd_directory_size_is_caught()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext4-4k", temp);
        using (var fs = OpenWritable(image))
        {
            var inode = fs.Resolve("/etc");
            inode.Record.Size = ulong.MaxValue / 2;
            RewriteInode(fs, inode);
        }
        using (var fs = Open(image))
        {
            var act = () => fs.ListDirectory(fs.Resolve("/etc"));
            act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("is larger than the filesystem");
        }
    }

    [Fact]
    public void A_rec_len_that_does_not_advance_is_caught()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext2-4k", temp);
        ulong block;
        using (var fs = Open(image))
        {
            block = fs.EnumerateRuns(fs.Resolve("/etc")).First(r => r.Kind == BlockRunKind.Data).Physical;
        }
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            // The third entry (after '.' and '..', each 12 bytes): its rec_len becomes 0.
            f.Position = (long)block * 4096 + 24 + 4;
            f.Write(new byte[2]);
        }
        using (var fs = Open(image))
        {
            var act = () => fs.ListDirectory(fs.Resolve("/etc"));
            act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("rec_len 0 is too short to advance").And.Contain($"block {block}");
        }
    }

    [Fact]
    public void A_damaged_htree_index_is_a_warning_since_names_come_from_the_leaves()
    {
        using var temp = new TempDirectory();
        var image = Copy("ext4-4k-htree", temp);
        ulong root;
        using (var fs = Open(image))
        {
            var many = fs.Resolve("/many");
            many.Flags.Should().HaveFlag(InodeFlags.Index);
            root = fs.EnumerateRuns(many).First(r => r.Kind == BlockRunKind.Data).Physical;
        }
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            // Byte 44 of the root block: the hash of the second dx_entry (after '.', '..', dx_root_info, count/limit, block 0).
            f.Position = (long)root * 4096 + 44;
            var b = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(b ^ 0x10));
        }
        ProcessRunner.Run(ExternalTools.Require("e2fsck"), "-fn", image).StdOut.Should().Contain("fails checksum", "e2fsck sees the damage too");
        using (var fs = Open(image))
        {
            fs.ListDirectory(fs.Resolve("/many")).Should().HaveCount(400);
            fs.Warnings.Should().ContainSingle().Which.Should().Contain("htree index node checksum");
        }
    }

    [Fact]
    public void A_non_seekable_input_is_refused_clearly()
    {
        using var pipe = new NonSeekableStream(new MemoryStream(new byte[4096]));
        var act = () => ExtFileSystem.Open(pipe, "stdin");
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain("seekable").And.Contain("stdin");
    }

    [Fact]
    public void Not_an_ext_filesystem_is_said_plainly()
    {
        var act = () => ExtFileSystem.Open(new MemoryStream(new byte[8192]), "zeros.img");
        var error = act.Should().Throw<ImageToolsException>().Which;
        error.Kind.Should().Be(ErrorKind.WrongInputKind);
        error.Message.Should().Contain("zeros.img: not an ext2/3/4 filesystem");
    }

    [Fact]
    public void Hard_links_are_reported_once_in_full_then_as_links()
    {
        using var fs = Open(SampleExtImages.Image("ext3-4k"));
        var items = ExtTreeWalker.Walk(fs, cancellationToken: TestContext.Current.CancellationToken).ToList();
        var f5000 = items.Where(i => i.Inode.Number == fs.Resolve("/f5000").Number).ToList();
        f5000.Should().HaveCount(3);
        f5000.Count(i => i.HardLinkTo == null).Should().Be(1);
        f5000.Where(i => i.HardLinkTo != null).Select(i => i.HardLinkToText).Should().AllBe(f5000.Single(i => i.HardLinkTo == null).Path);
    }

    [Fact]
    public void An_xattr_value_kept_in_an_ea_inode_is_read()
    {
        using var temp = new TempDirectory();
        var tree = temp.File("tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "f"), "x");
        var value = string.Concat(Enumerable.Range(0, 300).Select(i => $"{i:D9}|"));
        ProcessRunner.Run(ExternalTools.Require("setfattr"), "-n", "user.big", "-v", value, Path.Combine(tree, "f")).ExitCode.Should().Be(0);
        // 3000 bytes do not fit a 1 KiB xattr block: with ea_inode, mke2fs puts the value in an inode of its own.
        var image = ExtImages.Make(temp.File("ea.img"), "ext4", 1024, tree, "8M", "-O", "ea_inode");
        using var fs = Open(image);
        var inode = fs.Resolve("/f");
        var valueInodes = Enumerable.Range(12, 8).Select(n => TryRead(fs, (uint)n)).Where(i => i != null && i.Flags.HasFlag(InodeFlags.EaInode)).ToList();
        valueInodes.Should().ContainSingle("the value lives in an EA_INODE_FL inode");
        var big = fs.ReadXattrs(inode).Single(x => x.Name == "user.big");
        System.Text.Encoding.ASCII.GetString(big.Value).Should().Be(value);
        ExtImages.Debugfs(image, $"ea_get -f {temp.File("value")} /f user.big");
        File.ReadAllBytes(temp.File("value")).Should().Equal(big.Value);
    }

    private static ExtInode? TryRead(ExtFileSystem fs, uint number)
    {
        try
        {
            return fs.ReadInode(number);
        }
        catch (ImageToolsException)
        {
            return null;
        }
    }

    [Fact]
    public void Device_numbers_decode_both_encodings()
    {
        using var fs = Open(SampleExtImages.Image("ext2-1k"));
        fs.Resolve("/dev-char").Device.Should().Be(new DeviceNumber(4, 5));
        fs.Resolve("/dev-block").Device.Should().Be(new DeviceNumber(8, 1));
        fs.Resolve("/dev-big").Device.Should().Be(new DeviceNumber(300, 70000));
    }

    [Fact]
    public void The_content_of_every_sample_file_equals_its_source()
    {
        var tree = SampleExtImages.Tree;
        using var fs = Open(SampleExtImages.Image("ext4-1k"));
        foreach (var file in new[] { "f5000", "f300k", "random-1m", "islands", "sparse", "zeros-8k", "small.txt" })
        {
            using var content = fs.OpenContent(fs.Resolve("/" + file));
            Convert.ToHexStringLower(SHA256.HashData(content)).Should().Be(FileFacts.Sha256(Path.Combine(tree, file)), file);
        }
    }

    private static void EditSuperblock(string image, Action<Superblock> edit)
    {
        using var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        var raw = new byte[Superblock.Size];
        f.Position = Superblock.PrimaryOffset;
        f.ReadExactly(raw);
        var sb = Superblock.Read(raw);
        edit(sb);
        sb.UpdateChecksum();
        sb.Write(raw);
        f.Position = Superblock.PrimaryOffset;
        f.Write(raw);
    }

    // What the editor will do: change the record, recompute its checksum, write it back in place.
    private static void RewriteInode(ExtFileSystem fs, ExtInode inode)
    {
        if (fs.Superblock.HasMetadataChecksums)
        {
            inode.Record.UpdateChecksum(fs.Superblock.MetadataChecksumSeed, inode.Number);
        }
        var bytes = new byte[fs.InodeSize];
        inode.Record.Write(bytes);
        fs.Device.WriteBytes(fs.InodeLocation(inode.Number), bytes);
        fs.Device.Flush();
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            BytesRead += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
