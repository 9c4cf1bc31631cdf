using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Writer.WriterTestKit;

namespace ImageTools.Core.Tests.Ext.Writer;

/// <summary>
/// The writer against e2fsprogs: every image passes e2fsck -fn with no message and is an e2fsck -fy
/// fixpoint; what debugfs reads back equals what went in.
/// </summary>
public class ExtWriterTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>Every file type and the awkward cases: setuid/sticky, 32-bit ids, ns and post-2038 times, xattrs in inode and block, ACLs, sparse and > 4 GiB files, an htree directory.</summary>
    internal static List<FileEntry> RichTree(int blockSize, bool small = false)
    {
        var cap = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(cap, 0x02000001);
        BinaryPrimitives.WriteUInt32LittleEndian(cap.AsSpan(4), 1 << 13); // CAP_NET_RAW
        var acl = AclVfs((0x01, 7, uint.MaxValue), (0x02, 5, 1000), (0x04, 5, uint.MaxValue), (0x10, 7, uint.MaxValue), (0x20, 4, uint.MaxValue));
        var list = new List<FileEntry>
        {
            Dir("", 0x1ED, 0, 0, 1_700_000_000, new ExtendedAttribute("user.root-note", "root"u8.ToArray())),
            Dir("bin"),
            File("bin/sh", Bytes(70_000, 1), Convert.ToInt32("4755", 8), xattrs: new ExtendedAttribute("security.capability", cap)),
            HardLink("bin/sh-again", "bin/sh"),
            Dir("tmp", Convert.ToInt32("1777", 8)),
            Dir("etc", Convert.ToInt32("2750", 8), 70000, 80000, 1_650_000_000, new ExtendedAttribute("system.posix_acl_access", acl), new ExtendedAttribute("system.posix_acl_default", acl)),
            File("etc/hostname", "imagetools\n"u8.ToArray(), uid: 70000, gid: 80000),
            File("etc/empty", Array.Empty<byte>()),
            File("etc/xattrs", "x"u8.ToArray(), xattrs:
            [
                new ExtendedAttribute("user.small", "s"u8.ToArray()),
                new ExtendedAttribute("user.big", Encoding.ASCII.GetBytes(new string('Z', Math.Min(900, blockSize - 120)))),
                new ExtendedAttribute("trusted.empty", Array.Empty<byte>()),
                new ExtendedAttribute("security.selinux", "system_u:object_r:etc_t:s0\0"u8.ToArray()),
            ]),
            File("future", "2040"u8.ToArray(), mtime: T(2_208_988_800, 500_000_000)),
            File("far-future", "2200"u8.ToArray(), mtime: T(7_258_118_400, 999_999_999)),
            File("past", "1960"u8.ToArray(), mtime: T(-315_619_200, 250_000_000)),
            Symlink("fast-link", "bin/sh"),
            Symlink("slow-link", new string('d', 59) + "/" + new string('e', 100)),
            Symlink("links/deep/relative", "../../etc/hostname"),
            Node("dev/console", FileEntryType.CharacterDevice, 5, 1),
            Node("dev/sda1", FileEntryType.BlockDevice, 8, 1),
            Node("dev/big", FileEntryType.BlockDevice, 300, 70000),
            Node("run/fifo", FileEntryType.Fifo),
            Node("run/socket", FileEntryType.Socket),
            SparseFile("sparse-1m", 1 << 20, 512 * 1024),
            SparseFile("huge-5g", 5L << 30, 0, (5L << 30) - 4096),
            File("zeros", new byte[3 * blockSize + 17]),
        };
        var count = small ? 60 : 600;
        list.Add(Dir("many"));
        for (var i = 0; i < count; i++)
        {
            list.Add(File($"many/entry-with-a-reasonably-long-name-{i:D4}", Encoding.ASCII.GetBytes(i.ToString(CultureInfo.InvariantCulture))));
        }
        return list;
    }

    internal static byte[] AclVfs(params (ushort Tag, ushort Perm, uint Id)[] entries)
    {
        var b = new byte[4 + 8 * entries.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 2);
        for (var i = 0; i < entries.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4 + 8 * i), entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6 + 8 * i), entries[i].Perm);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8 + 8 * i), entries[i].Id);
        }
        return b;
    }

    [Theory]
    [InlineData("ext2", 1024, 1L)]
    [InlineData("ext2", 1024, 8L)]
    [InlineData("ext3", 1024, 8L)]
    [InlineData("ext2", 4096, 8L)]
    [InlineData("ext3", 4096, 8L)]
    [InlineData("ext3", 1024, 64L)]
    [InlineData("ext2", 4096, 1024L)]
    [InlineData("ext3", 4096, 1024L)]
    [InlineData("ext2", 4096, 8192L)]
    [InlineData("ext3", 4096, 8192L)]
    public void Images_pass_e2fsck_and_are_fixpoints(string type, int blockSize, long sizeMiB)
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = RichTree(blockSize, small: sizeMiB < 2);
        var options = new ExtFilesystemOptions
        {
            Type = type == "ext2" ? ExtFilesystemType.Ext2 : ExtFilesystemType.Ext3,
            BlockSize = blockSize,
            SizeBytes = sizeMiB * MiB,
        };
        var result = Build(new EntryListSource(entries), image, options);

        result.BlocksCount.Should().Be(ExtGeometry.Compute(options, sizeMiB * MiB).BlocksCount);
        new FileInfo(image).Length.Should().Be(result.BlocksCount * blockSize);
        FileFacts.AllocatedBytes(image).Should().BeLessThan(Math.Min(16 * MiB, sizeMiB * MiB) + 1, "unused blocks, unused inodes and the journal body are never written");
        AssertClean(image);
    }

    [Theory]
    [InlineData("ext3", 1024, 16L)]
    [InlineData("ext2", 4096, 64L)]
    public void What_goes_in_comes_out(string type, int blockSize, long sizeMiB)
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = RichTree(blockSize);
        var options = new ExtFilesystemOptions
        {
            Type = type == "ext2" ? ExtFilesystemType.Ext2 : ExtFilesystemType.Ext3,
            BlockSize = blockSize,
            SizeBytes = sizeMiB * MiB,
        };
        Build(new EntryListSource(entries), image, options);
        AssertClean(image);
        // Every entry but most of the 600 in many/ (checked by count below): one debugfs run per check.
        VerifyEntries(image, entries.Where(e => !e.Path.StartsWith("many/", StringComparison.Ordinal) || e.Path.EndsWith("00", StringComparison.Ordinal)).ToList(), options);

        // Holes and zero blocks take no space; the 5 GiB file holds two data blocks and its map.
        var huge = ExtImageChecks.Stat(image, "/huge-5g");
        huge.Size.Should().Be(5UL << 30);
        // Two 4 KiB data runs (at 0 and at the end: past 12 + apb + apb² blocks at both block sizes, so a
        // TIND, a DIND and an IND map the tail) and nothing for the 5 GiB of hole in between.
        var dataBlocks = 2 * 4096 / blockSize;
        huge.BlockCount.Should().Be((dataBlocks + 3) * (blockSize / 512));
        ExtImageChecks.Stat(image, "/zeros").BlockCount.Should().Be(0, "all-zero blocks become holes");
        var tail = ExtImageChecks.Debugfs(image, $"bmap /huge-5g {((5L << 30) - 4096) / blockSize}").Trim();
        var block = long.Parse(tail, CultureInfo.InvariantCulture);
        using (var f = System.IO.File.OpenRead(image))
        {
            var data = new byte[4096];
            f.Position = block * blockSize;
            f.ReadExactly(data.AsSpan(0, blockSize));
            var expected = new byte[blockSize];
            Pattern((5L << 30) - 4096, expected);
            data.AsSpan(0, blockSize).ToArray().Should().Equal(expected);
        }

        // The big directory is indexed; lost+found is not, and has mke2fs' size.
        ExtImageChecks.Stat(image, "/many").Flags.Should().Be("0x1000");
        ExtImageChecks.List(image, "/many").Should().HaveCount(600);
        ExtImageChecks.Stat(image, "/lost+found").Size.Should().Be((ulong)(blockSize == 1024 ? 12288 : 16384));
        ExtImageChecks.Stat(image, "/lost+found").Mode.Should().Be(Convert.ToInt32("700", 8));
        ExtImageChecks.Stat(image, "/").Inode.Should().Be(2);
        ExtImageChecks.Stat(image, "/lost+found").Inode.Should().Be(11);
    }

    [Fact]
    public void Owner_squash_and_source_date_epoch_clamp()
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = RichTree(1024, small: true);
        var options = new ExtFilesystemOptions { SizeBytes = 16 * MiB, OwnerUid = 1234, OwnerGid = 5678, SourceDateEpoch = 1_650_000_000 };
        Build(new EntryListSource(entries), image, options);
        AssertClean(image);
        VerifyEntries(image, entries.Where(e => !e.Path.StartsWith("many/", StringComparison.Ordinal)).ToList(), options);
        var sb = ExtImageChecks.SuperblockFields(image);
        sb["Filesystem created"].Should().Contain("2022"); // 1_650_000_000 is 2022-04-15
        ExtImageChecks.Stat(image, "/future").Ctime.Should().Be((1_650_000_000L, 0u));
    }

    [Fact]
    public void Same_epoch_and_input_give_identical_bytes_and_different_input_a_different_uuid()
    {
        using var dir = new TempDirectory();
        var options = new ExtFilesystemOptions { SizeBytes = 32 * MiB, SourceDateEpoch = 1_700_000_000 };
        var a = dir.File("a.img");
        var b = dir.File("b.img");
        var c = dir.File("c.img");
        new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource(RichTree(1024)), a, TestContext.Current.CancellationToken);
        new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource(RichTree(1024)), b, TestContext.Current.CancellationToken);
        var changed = RichTree(1024);
        changed[6] = File("etc/hostname", "other\n"u8.ToArray(), uid: 70000, gid: 80000);
        new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource(changed), c, TestContext.Current.CancellationToken);

        FileFacts.Sha256(a).Should().Be(FileFacts.Sha256(b));
        var uuidA = ExtImageChecks.SuperblockFields(a)["Filesystem UUID"];
        ExtImageChecks.SuperblockFields(c)["Filesystem UUID"].Should().NotBe(uuidA);
        ExtImageChecks.SuperblockFields(a)["Directory Hash Seed"].Should().NotBe(uuidA);
    }

    [Fact]
    public void Default_size_fits_the_content_with_headroom()
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = RichTree(1024);
        var result = Build(new EntryListSource(entries), image, new ExtFilesystemOptions());
        result.SizeWasComputed.Should().BeTrue();
        var freeBytes = (result.FreeBlocks) * result.BlockSize;
        freeBytes.Should().BeGreaterThanOrEqualTo(8 * MiB);
        result.SizeBytes.Should().BeLessThan(24 * MiB);
        AssertClean(image);
    }

    [Fact]
    public void Content_that_does_not_fit_says_how_much_is_needed_and_leaves_nothing()
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = new List<FileEntry> { File("big", Bytes(3 * (int)MiB, 7)) };
        var act = () => Build(new EntryListSource(entries), image, new ExtFilesystemOptions { Type = ExtFilesystemType.Ext2, SizeBytes = 2 * MiB });
        var e = act.Should().Throw<ImageToolsException>().Which;
        e.Kind.Should().Be(ErrorKind.DoesNotFit);
        e.Message.Should().Contain("does not fit").And.Contain("smallest filesystem that holds it is 4 MiB");
        Directory.GetFiles(dir.Path).Should().BeEmpty();

        // And the size it names is enough.
        Build(new EntryListSource(entries), image, new ExtFilesystemOptions { Type = ExtFilesystemType.Ext2, SizeBytes = 4 * MiB });
        AssertClean(image);
    }

    [Theory]
    [InlineData("../escape", "'..'")]
    [InlineData("/absolute", "absolute")]
    public void Bad_paths_are_refused(string path, string expected)
    {
        using var dir = new TempDirectory();
        var act = () => Build(new EntryListSource([File(path, "x"u8.ToArray())]), dir.File("fs.img"), new ExtFilesystemOptions { SizeBytes = 4 * MiB });
        act.Should().Throw<ImageToolsException>().Which.Message.Should().Contain(expected);
        Directory.GetFiles(dir.Path).Should().BeEmpty();
    }

    [Fact]
    public void A_name_longer_than_255_bytes_is_refused_naming_the_entry()
    {
        using var dir = new TempDirectory();
        var name = "dir/" + new string('n', 256);
        var act = () => Build(new EntryListSource([File(name, "x"u8.ToArray())]), dir.File("fs.img"), new ExtFilesystemOptions { SizeBytes = 4 * MiB });
        var e = act.Should().Throw<ImageToolsException>().Which;
        e.Kind.Should().Be(ErrorKind.InvalidArgument);
        e.Message.Should().Contain("256 bytes long").And.Contain("dir/nnnn");
    }

    [Fact]
    public void A_hard_link_to_a_missing_target_is_refused()
    {
        using var dir = new TempDirectory();
        var act = () => Build(new EntryListSource([HardLink("a", "missing")]), dir.File("fs.img"), new ExtFilesystemOptions { SizeBytes = 4 * MiB });
        var e = act.Should().Throw<ImageToolsException>().Which;
        e.Kind.Should().Be(ErrorKind.NotFound);
        e.Message.Should().Contain("'missing'").And.Contain("a:");
    }

    [Fact]
    public void Xattrs_that_do_not_fit_one_block_are_a_clear_error()
    {
        using var dir = new TempDirectory();
        var entries = new List<FileEntry> { File("f", "x"u8.ToArray(), xattrs: new ExtendedAttribute("user.huge", new byte[3000])) };
        var act = () => Build(new EntryListSource(entries), dir.File("fs.img"), new ExtFilesystemOptions { SizeBytes = 8 * MiB, BlockSize = 1024 });
        var e = act.Should().Throw<ImageToolsException>().Which;
        e.Kind.Should().Be(ErrorKind.DoesNotFit);
        e.Message.Should().Contain("f:").And.Contain("user.huge");
    }

    [Fact]
    public void Writes_into_a_window_of_a_larger_stream_and_nowhere_else()
    {
        using var dir = new TempDirectory();
        var path = dir.File("disk.img");
        const long offset = 1 * MiB;
        const long size = 8 * MiB;
        using (var disk = new FileStream(path, FileMode.Create, FileAccess.ReadWrite))
        {
            // Old garbage everywhere: the writer must zero what must read as zero, and touch nothing outside.
            var junk = new byte[MiB];
            Array.Fill(junk, (byte)0xA5);
            for (var i = 0; i < 10; i++)
            {
                disk.Write(junk);
            }
            using var target = ExtImageTarget.ForStream(disk, offset, size, knownZero: false);
            new ExtFilesystemBuilder(new ExtFilesystemOptions { SizeBytes = size, BuildTime = FixedBuildTime }).Build(new EntryListSource(RichTree(1024, small: true)), target, TestContext.Current.CancellationToken);
        }
        var bytes = System.IO.File.ReadAllBytes(path);
        bytes.AsSpan(0, (int)offset).IndexOfAnyExcept((byte)0xA5).Should().Be(-1);
        bytes.AsSpan((int)(offset + size)).IndexOfAnyExcept((byte)0xA5).Should().Be(-1);
        var fs = dir.File("fs.img");
        System.IO.File.WriteAllBytes(fs, bytes.AsSpan((int)offset, (int)size).ToArray());
        AssertClean(fs);
    }

    [Theory]
    [InlineData(1024, 30_000)]
    [InlineData(4096, 100_000)]
    public void A_directory_of_tens_of_thousands_of_entries_gets_a_two_level_index(int blockSize, int count)
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var entries = new List<FileEntry> { Dir("big") };
        for (var i = 0; i < count; i++)
        {
            entries.Add(new FileEntry { Path = $"big/file-{i:D6}", Type = FileEntryType.RegularFile, ModificationTime = T(1_600_000_000) });
        }
        Build(new EntryListSource(entries), image, new ExtFilesystemOptions { Type = ExtFilesystemType.Ext2, BlockSize = blockSize });
        AssertClean(image);
        var htree = ExtImageChecks.Debugfs(image, "htree /big");
        htree.Should().Contain("Indirect levels: 1");
        ExtImageChecks.List(image, "/big").Should().HaveCount(count);
        ExtImageChecks.Stat(image, $"/big/file-{count - 1:D6}").Type.Should().Be("regular");
    }

    [Fact]
    public void Small_inodes_keep_everything_they_can_hold()
    {
        using var dir = new TempDirectory();
        var image = dir.File("fs.img");
        var options = new ExtFilesystemOptions { Type = ExtFilesystemType.Ext3, BlockSize = 4096, InodeSize = 128, SizeBytes = 64 * MiB };
        Build(new EntryListSource(RichTree(4096, small: true)), image, options);
        AssertClean(image);
        ExtImageChecks.SuperblockFields(image)["Inode size"].Should().Be("128");
        // No extra fields: whole seconds, and 2040 does not fit 32 signed bits, so it is clamped to 2038-01-19.
        ExtImageChecks.Stat(image, "/future").Mtime.Should().Be((int.MaxValue, 0u));
        ExtImageChecks.Stat(image, "/past").Mtime.Should().Be((-315_619_200L, 0u));
        // All xattrs go to the block.
        ExtImageChecks.Xattrs(image, "/etc/xattrs").Keys.Should().BeEquivalentTo("user.small", "user.big", "trusted.empty", "security.selinux");
    }
}
