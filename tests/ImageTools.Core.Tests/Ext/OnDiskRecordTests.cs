using System.Buffers.Binary;
using System.Globalization;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Ext;

/// <summary>
/// The on-disk record types against images made by the real mke2fs: fields agree with dumpe2fs,
/// every checksum we compute equals the one mke2fs stored, and Read followed by Write gives back
/// the same bytes.
/// </summary>
public class OnDiskRecordTests
{
    private static (TempDirectory Dir, string Image) MakeImage(string type, int blockSize, string size = "8M")
    {
        var dir = new TempDirectory();
        var tree = dir.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "sub"));
        File.WriteAllText(Path.Combine(tree, "hello.txt"), "hello\n");
        File.WriteAllBytes(Path.Combine(tree, "sub", "data.bin"), Enumerable.Range(0, 70000).Select(i => (byte)(i * 7)).ToArray());
        for (var i = 0; i < 40; i++)
        {
            File.WriteAllText(Path.Combine(tree, "sub", $"file-with-a-longish-name-{i:D3}"), i.ToString(CultureInfo.InvariantCulture));
        }
        var image = dir.File("fs.img");
        var r = ExternalTools.Run("mke2fs", "-q", "-F", "-t", type, "-b", blockSize.ToString(CultureInfo.InvariantCulture),
            "-U", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "-L", "testlabel", "-d", tree, image, size);
        r.ExitCode.Should().Be(0, r.ToString());
        return (dir, image);
    }

    private static Dictionary<string, string> DumpE2fsHeader(string image)
    {
        var r = ExternalTools.Run("dumpe2fs", "-h", image);
        r.ExitCode.Should().Be(0, r.ToString());
        var result = new Dictionary<string, string>();
        foreach (var line in r.StdOut.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                result[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        return result;
    }

    private static byte[] ReadAt(string image, long offset, int length)
    {
        using var f = File.OpenRead(image);
        f.Position = offset;
        var buffer = new byte[length];
        f.ReadExactly(buffer);
        return buffer;
    }

    [Theory]
    [InlineData("ext2", 1024)]
    [InlineData("ext3", 4096)]
    [InlineData("ext4", 1024)]
    [InlineData("ext4", 4096)]
    public void Superblock_fields_agree_with_dumpe2fs_and_round_trip(string type, int blockSize)
    {
        var (dir, image) = MakeImage(type, blockSize);
        using var _ = dir;
        var raw = ReadAt(image, Superblock.PrimaryOffset, Superblock.Size);
        var sb = Superblock.Read(raw);
        var dump = DumpE2fsHeader(image);

        sb.Validate(image, new FileInfo(image).Length);
        sb.BlockSize.Should().Be(int.Parse(dump["Block size"], CultureInfo.InvariantCulture));
        sb.BlocksCount.Should().Be(ulong.Parse(dump["Block count"], CultureInfo.InvariantCulture));
        sb.InodesCount.Should().Be(uint.Parse(dump["Inode count"], CultureInfo.InvariantCulture));
        sb.FreeBlocksCount.Should().Be(ulong.Parse(dump["Free blocks"], CultureInfo.InvariantCulture));
        sb.FreeInodesCount.Should().Be(uint.Parse(dump["Free inodes"], CultureInfo.InvariantCulture));
        sb.InodeSize.Should().Be(ushort.Parse(dump["Inode size"], CultureInfo.InvariantCulture));
        sb.InodesPerGroup.Should().Be(uint.Parse(dump["Inodes per group"], CultureInfo.InvariantCulture));
        sb.UuidAsGuid.ToString().Should().Be(dump["Filesystem UUID"]);
        sb.VolumeName.Should().Be(dump["Filesystem volume name"]);
        string.Join(' ', ExtFeatureNames.Describe(sb.FeatureCompat, sb.FeatureIncompat, sb.FeatureRoCompat))
            .Should().Be(dump["Filesystem features"]);

        var written = new byte[Superblock.Size];
        sb.Write(written);
        written.Should().Equal(raw, "Read then Write must reproduce every byte");

        if (sb.HasMetadataChecksums)
        {
            sb.ComputeChecksum().Should().Be(sb.Checksum, "our crc32c must equal the one mke2fs stored");
            dump["Checksum"].Should().Be("0x" + sb.Checksum.ToString("x8", CultureInfo.InvariantCulture));
        }
    }

    [Theory]
    [InlineData("ext2", 1024)]
    [InlineData("ext4", 1024)]
    [InlineData("ext4", 4096)]
    public void Group_descriptors_round_trip_and_their_checksums_match(string type, int blockSize)
    {
        var (dir, image) = MakeImage(type, blockSize, "80M");
        using var _ = dir;
        var sb = Superblock.Read(ReadAt(image, Superblock.PrimaryOffset, Superblock.Size));
        var descSize = sb.GroupDescriptorSize;
        var gdtOffset = (long)(sb.FirstDataBlock + 1) * sb.BlockSize;
        var groups = (int)sb.GroupCount;
        var table = ReadAt(image, gdtOffset, groups * descSize);
        var dumpe2fs = ExternalTools.Run("dumpe2fs", image).StdOut;

        for (var g = 0; g < groups; g++)
        {
            var slice = table.AsSpan(g * descSize, descSize);
            var gd = GroupDescriptor.Read(slice, descSize);
            var back = new byte[descSize];
            gd.Write(back, descSize);
            back.Should().Equal(slice.ToArray(), $"descriptor {g} must round-trip");
            gd.ComputeChecksum(sb, (uint)g).Should().Be(gd.Checksum, $"descriptor {g} checksum");
            dumpe2fs.Should().Contain($"Inode table at {gd.InodeTable}-");
        }
    }

    [Theory]
    [InlineData("ext4", 4096)]
    [InlineData("ext4", 1024)]
    [InlineData("ext3", 1024)]
    public void Every_inode_round_trips_and_in_use_inodes_have_valid_checksums(string type, int blockSize)
    {
        var (dir, image) = MakeImage(type, blockSize);
        using var _ = dir;
        var sb = Superblock.Read(ReadAt(image, Superblock.PrimaryOffset, Superblock.Size));
        var gd = GroupDescriptor.Read(ReadAt(image, (long)(sb.FirstDataBlock + 1) * sb.BlockSize, sb.GroupDescriptorSize), sb.GroupDescriptorSize);
        var inodeSize = sb.InodeSize;
        var count = 64;
        var table = ReadAt(image, (long)gd.InodeTable * sb.BlockSize, count * inodeSize);
        var seed = sb.MetadataChecksumSeed;
        var checkedInodes = 0;

        for (var i = 0; i < count; i++)
        {
            var slice = table.AsSpan(i * inodeSize, inodeSize);
            var inode = Inode.Read(slice);
            var back = new byte[inodeSize];
            inode.Write(back);
            back.Should().Equal(slice.ToArray(), $"inode {i + 1} must round-trip");
            if (sb.HasMetadataChecksums && inode.IsInUse)
            {
                inode.ChecksumMatches(seed, (uint)(i + 1)).Should().BeTrue($"inode {i + 1} checksum");
                checkedInodes++;
            }
        }

        var root = Inode.Read(table.AsSpan(inodeSize, inodeSize));
        root.Type.Should().Be(InodeType.Directory);
        root.Permissions.Should().Be(0x1ED); // 0755
        if (sb.HasMetadataChecksums)
        {
            checkedInodes.Should().BeGreaterThan(10);
        }
    }

    [Fact]
    public void Directory_blocks_extents_and_tails_of_an_ext4_image_parse_and_checksum()
    {
        var (dir, image) = MakeImage("ext4", 4096);
        using var _ = dir;
        var sb = Superblock.Read(ReadAt(image, Superblock.PrimaryOffset, Superblock.Size));
        var gd = GroupDescriptor.Read(ReadAt(image, (long)(sb.FirstDataBlock + 1) * sb.BlockSize, sb.GroupDescriptorSize), sb.GroupDescriptorSize);
        var root = Inode.Read(ReadAt(image, (long)gd.InodeTable * sb.BlockSize + sb.InodeSize, sb.InodeSize));

        root.Flags.Should().HaveFlag(InodeFlags.Extents);
        var header = ExtentHeader.TryRead(root.Block);
        header.Should().NotBeNull();
        header!.Value.Depth.Should().Be(0);
        header.Value.Max.Should().Be((ushort)ExtentHeader.Capacity(Inode.BlockAreaSize));
        var leaf = ExtentLeaf.Read(root.Block.AsSpan(ExtentHeader.Size));
        leaf.LogicalBlock.Should().Be(0u);
        leaf.Length.Should().BeGreaterThan(0);

        var block = ReadAt(image, (long)leaf.PhysicalBlock * sb.BlockSize, sb.BlockSize);
        var names = new List<string>();
        for (var offset = 0; offset < block.Length;)
        {
            var entry = DirectoryEntry.TryRead(block, offset, hasFileType: true);
            entry.Should().NotBeNull($"entry at {offset}");
            if (entry!.Value.Inode != 0)
            {
                names.Add(System.Text.Encoding.UTF8.GetString(entry.Value.Name));
            }
            offset += entry.Value.RecordLength;
        }
        names.Should().Contain(new[] { ".", "..", "lost+found", "hello.txt", "sub" });

        DirectoryBlockTail.IsPresent(block).Should().BeTrue("metadata_csum directory blocks end in a tail");
        DirectoryBlockTail.Compute(sb.MetadataChecksumSeed, 2, root.Generation, block)
            .Should().Be(DirectoryBlockTail.Read(block).Checksum);
    }

    [Fact]
    public void Xattr_hashes_match_the_values_mke2fs_wrote()
    {
        // Check values from docs/ext-format.md §8.4, verified against mke2fs there.
        XattrEntry.ComputeHash("big"u8, Enumerable.Repeat((byte)'Z', 900).ToArray()).Should().Be(0xDF1D5A5Bu);
        XattrEntry.ComputeHash("foo"u8, Enumerable.Repeat((byte)'T', 10).ToArray()).Should().Be(0x958F5455u);
    }

    [Fact]
    public void Xattr_names_split_and_join_by_namespace()
    {
        XattrNamespaces.Split("user.comment").Should().BeEquivalentTo((XattrNamespaces.User, "comment"u8.ToArray()));
        XattrNamespaces.Split("security.selinux").Index.Should().Be(XattrNamespaces.Security);
        XattrNamespaces.Split("system.posix_acl_access").Should().BeEquivalentTo((XattrNamespaces.PosixAclAccess, Array.Empty<byte>()));
        XattrNamespaces.Join(XattrNamespaces.PosixAclDefault, ReadOnlySpan<byte>.Empty).Should().Be("system.posix_acl_default");
        XattrNamespaces.Join(XattrNamespaces.Trusted, "foo"u8).Should().Be("trusted.foo");
    }

    [Fact]
    public void Posix_acl_converts_between_vfs_and_disk_forms()
    {
        // user::rw-, user:1000:r--, group::r--, mask::r--, other::---  (44 bytes in VFS form)
        var vfs = new byte[4 + 5 * 8];
        BinaryPrimitives.WriteUInt32LittleEndian(vfs, 2);
        void Entry(int i, ushort tag, ushort perm, uint id)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(vfs.AsSpan(4 + i * 8), tag);
            BinaryPrimitives.WriteUInt16LittleEndian(vfs.AsSpan(6 + i * 8), perm);
            BinaryPrimitives.WriteUInt32LittleEndian(vfs.AsSpan(8 + i * 8), id);
        }
        Entry(0, PosixAcl.TagUserObj, 6, uint.MaxValue);
        Entry(1, PosixAcl.TagUser, 4, 1000);
        Entry(2, PosixAcl.TagGroupObj, 4, uint.MaxValue);
        Entry(3, PosixAcl.TagMask, 4, uint.MaxValue);
        Entry(4, PosixAcl.TagOther, 0, uint.MaxValue);

        var disk = PosixAcl.VfsToDisk(vfs, "test");
        disk.Length.Should().Be(4 + 4 + 8 + 4 + 4 + 4, "short entries for *_OBJ, MASK and OTHER; long ones for named users");
        PosixAcl.DiskToVfs(disk, "test").Should().Equal(vfs);
    }

    [Theory]
    // Examples from docs/ext-format.md §5.2, checked there with debugfs.
    [InlineData("2040-01-01T00:00:00.5Z", 0x83AA7E80u, 0x77359401u)]
    [InlineData("1960-01-01T00:00:00Z", 0xED300880u, 0u)]
    [InlineData("1970-01-01T00:00:00Z", 0u, 0u)]
    public void Timestamps_encode_epoch_and_nanoseconds(string iso, uint expectedBase, uint expectedExtra)
    {
        var t = ExtTimestamp.FromDateTimeOffset(DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture));
        t.Base.Should().Be(expectedBase);
        t.Extra.Should().Be(expectedExtra);
        ExtTimestamp.Decode(t.Base, t.Extra).Should().Be(t);
    }

    [Fact]
    public void Journal_superblock_of_an_ext3_image_is_big_endian_and_round_trips()
    {
        var (dir, image) = MakeImage("ext3", 1024);
        using var _ = dir;
        var sb = Superblock.Read(ReadAt(image, Superblock.PrimaryOffset, Superblock.Size));
        sb.JournalInode.Should().Be(8u);
        // s_jnl_blocks[0] is the journal's first block (block-mapped journal on ext3).
        var first = sb.JournalBlocks[0];
        var raw = ReadAt(image, (long)first * sb.BlockSize, JournalSuperblock.Size);
        var jsb = JournalSuperblock.Read(raw);
        jsb.IsSuperblock.Should().BeTrue();
        jsb.BlockSize.Should().Be((uint)sb.BlockSize);
        jsb.MaxLength.Should().Be(sb.JournalBlocks[16] / (uint)sb.BlockSize);
        jsb.Start.Should().Be(0u);
        var back = new byte[JournalSuperblock.Size];
        jsb.Write(back);
        back.Should().Equal(raw);
    }
}
