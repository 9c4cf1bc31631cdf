using System.Globalization;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Ext.Writer;

/// <summary>
/// Geometry against mke2fs 1.47 on the same size (an empty filesystem from each, compared field by
/// field in dumpe2fs -h), and the directory hash against debugfs' dx_hash.
/// </summary>
public class GeometryAndHashTests
{
    private static readonly string[] GeometryFields =
    [
        "Filesystem revision #", "Filesystem features", "Filesystem flags", "Default mount options", "Inode count", "Block count",
        "Reserved block count", "Overhead clusters", "Free blocks", "Free inodes", "First block", "Block size", "Fragment size",
        "Reserved GDT blocks", "Blocks per group", "Fragments per group", "Inodes per group", "Inode blocks per group",
        "Maximum mount count", "Check interval", "Reserved blocks uid", "Reserved blocks gid", "First inode", "Inode size",
        "Required extra isize", "Desired extra isize", "Journal inode", "Default directory hash", "Journal backup",
        "Journal features", "Total journal size", "Total journal blocks", "Max transaction length", "Fast commit length",
        "Journal sequence", "Journal start", "Errors behavior", "Filesystem OS type", "Filesystem state",
    ];

    [Theory]
    [InlineData("ext2", "1500K", null)]
    [InlineData("ext2", "3M", null)]
    [InlineData("ext3", "8M", null)]
    [InlineData("ext2", "8M", 4096)]
    [InlineData("ext3", "64M", null)]
    [InlineData("ext3", "100M", 4096)]
    [InlineData("ext2", "300M", null)]
    [InlineData("ext3", "511M", null)]
    [InlineData("ext3", "512M", null)]
    [InlineData("ext3", "2G", null)]
    [InlineData("ext2", "2G", 1024)]
    [InlineData("ext3", "8G", null)]
    [InlineData("ext3", "1100M", null)]
    [InlineData("ext4", "2500K", null)]
    [InlineData("ext4", "8M", null)]
    [InlineData("ext4", "64M", null)]
    [InlineData("ext4", "200M", null)]
    [InlineData("ext4", "511M", null)]
    [InlineData("ext4", "1G", null)]
    [InlineData("ext4", "1100M", null)]
    [InlineData("ext4", "2G", null)]
    [InlineData("ext4", "8G", null)]
    [InlineData("ext4", "2G", 1024)]
    public void Geometry_matches_mke2fs(string type, string size, int? blockSize)
    {
        using var dir = new TempDirectory();
        var ours = dir.File("ours.img");
        var theirs = dir.File("theirs.img");
        var bytes = ParseSize(size);
        var options = new ExtFilesystemOptions
        {
            Type = type switch { "ext2" => ExtFilesystemType.Ext2, "ext3" => ExtFilesystemType.Ext3, _ => ExtFilesystemType.Ext4 },
            SizeBytes = bytes,
            BlockSize = blockSize,
        };
        new ExtFilesystemBuilder(options).BuildImageFile(new EntryListSource([]), ours, TestContext.Current.CancellationToken);

        var args = new List<string> { "-q", "-F", "-t", type };
        if (blockSize != null)
        {
            args.AddRange(["-b", blockSize.Value.ToString(CultureInfo.InvariantCulture)]);
        }
        args.AddRange([theirs, (bytes / 1024).ToString(CultureInfo.InvariantCulture) + "k"]);
        var r = ProcessRunner.Run(ExternalTools.Require("mke2fs"), args, environment: new Dictionary<string, string?> { ["MKE2FS_CONFIG"] = WriteReferenceConfig(dir) });
        r.ExitCode.Should().Be(0, r.ToString());

        var a = ExtImageChecks.SuperblockFields(ours);
        var b = ExtImageChecks.SuperblockFields(theirs);
        foreach (var field in GeometryFields.Concat(["Group descriptor size", "Flex block group size", "Checksum type"]))
        {
            if (type == "ext4" && field == "Journal features")
            {
                continue; // ours says journal_checksum_v3, which the kernel sets at the first mount of a metadata_csum filesystem
            }
            a.GetValueOrDefault(field).Should().Be(b.GetValueOrDefault(field), $"dumpe2fs field '{field}' for {type} {size}");
        }
        // Where every group's superblock copy, descriptors, bitmaps and inode table sit (flex_bg packs them).
        GroupLocations(ours).Should().Equal(GroupLocations(theirs), $"group metadata locations for {type} {size}");
        if (type != "ext4")
        {
            WriterTestKit.AssertClean(ours);
        }
        else
        {
            var (exit, problems, output) = ExtImageChecks.Fsck(ours);
            exit.Should().Be(0, output);
            problems.Should().BeEmpty(output);
        }
    }

    private static List<string> GroupLocations(string image)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("dumpe2fs"), [image]);
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut.Split('\n')
            .Where(l => l.Contains("superblock at", StringComparison.Ordinal) || l.Contains("Reserved GDT blocks at", StringComparison.Ordinal)
                        || l.Contains("bitmap at", StringComparison.Ordinal) || l.Contains("Inode table at", StringComparison.Ordinal))
            .Select(l => System.Text.RegularExpressions.Regex.Replace(l.Trim(), @", csum 0x[0-9a-f]+", ""))
            .ToList();
    }

    /// <summary>The [defaults] and [fs_types] of the upstream mke2fs.conf, so that a distribution's changes do not matter.</summary>
    private static string WriteReferenceConfig(TempDirectory dir)
    {
        var path = dir.File("mke2fs.conf");
        File.WriteAllText(path, """
            [defaults]
            	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
            	default_mntopts = acl,user_xattr
            	enable_periodic_fsck = 0
            	blocksize = 4096
            	inode_size = 256
            	inode_ratio = 16384
            [fs_types]
            	ext3 = {
            		features = has_journal
            	}
            	ext4 = {
            		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
            	}
            	small = {
            		blocksize = 1024
            		inode_ratio = 4096
            	}
            	floppy = {
            		blocksize = 1024
            		inode_ratio = 8192
            	}
            	big = {
            		inode_ratio = 32768
            	}
            	huge = {
            		inode_ratio = 65536
            	}
            """);
        return path;
    }

    private static long ParseSize(string s)
    {
        var unit = s[^1];
        var n = long.Parse(s[..^1], CultureInfo.InvariantCulture);
        return unit switch { 'K' => n << 10, 'M' => n << 20, 'G' => n << 30, _ => throw new ArgumentException(s) };
    }

    [Theory]
    [InlineData("half_md4", DirectoryHashVersion.HalfMd4)]
    [InlineData("tea", DirectoryHashVersion.Tea)]
    [InlineData("legacy", DirectoryHashVersion.Legacy)]
    public void Directory_hash_matches_debugfs(string algorithm, DirectoryHashVersion version)
    {
        var debugfs = ExternalTools.Require("debugfs");
        var seed = Guid.Parse("6f1c2a3b-4d5e-4f60-8172-839495a6b7c8");
        var names = new[]
        {
            "a", "hello", "lost+found", "a-name-of-exactly-thirty-two-by", "a-name-that-is-longer-than-thirty-two-bytes-for-two-rounds",
            "caf\u00e9", "\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9-\u65e5\u672c", new string('x', 255),
        };
        foreach (var name in names)
        {
            foreach (var s in new[] { seed, Guid.Empty })
            {
                var r = ProcessRunner.Run(debugfs, ["-R", $"dx_hash -h {algorithm} -s {s} \"{name}\"", "/dev/null"]);
                var m = System.Text.RegularExpressions.Regex.Match(r.StdOut + r.StdErr, @"is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)");
                m.Success.Should().BeTrue(r.ToString());
                var expectedMajor = uint.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var expectedMinor = uint.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var (major, minor) = DirectoryHash.Compute(version, Encoding.UTF8.GetBytes(name), s.ToByteArray(bigEndian: true));
                major.Should().Be(expectedMajor, $"{algorithm} major hash of '{name}' with seed {s}");
                minor.Should().Be(expectedMinor, $"{algorithm} minor hash of '{name}' with seed {s}");
            }
        }
    }

    [Fact]
    public void Unsigned_variants_differ_from_signed_only_for_bytes_above_127()
    {
        // debugfs 1.47.0 cannot compute the unsigned variants (dx_hash knows only the base names); they
        // are the same functions with name bytes taken as unsigned, so ASCII names hash alike.
        var seed = Guid.Parse("6f1c2a3b-4d5e-4f60-8172-839495a6b7c8").ToByteArray(bigEndian: true);
        foreach (var (signed, unsignedVersion) in new[]
        {
            (DirectoryHashVersion.Legacy, DirectoryHashVersion.LegacyUnsigned),
            (DirectoryHashVersion.HalfMd4, DirectoryHashVersion.HalfMd4Unsigned),
            (DirectoryHashVersion.Tea, DirectoryHashVersion.TeaUnsigned),
        })
        {
            DirectoryHash.Compute(unsignedVersion, "plain-ascii-name"u8, seed).Should().Be(DirectoryHash.Compute(signed, "plain-ascii-name"u8, seed));
            DirectoryHash.Compute(unsignedVersion, "café"u8, seed).Should().NotBe(DirectoryHash.Compute(signed, "café"u8, seed));
        }
        DirectoryHash.Effective(DirectoryHashVersion.HalfMd4, DirectoryHash.UnsignedHashFlag).Should().Be(DirectoryHashVersion.HalfMd4Unsigned);
        DirectoryHash.Effective(DirectoryHashVersion.HalfMd4, DirectoryHash.SignedHashFlag).Should().Be(DirectoryHashVersion.HalfMd4);
    }
}
