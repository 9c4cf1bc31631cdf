using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

/// <summary>Judged by grub-fstest, which runs GRUB's own ext2 driver on an image file.</summary>
public sealed class GrubExtSupportTests
{
    [Theory]
    [InlineData("ext2", "", true)]
    [InlineData("ext3", "", true)]
    [InlineData("ext4", "", true)]
    [InlineData("ext4", "metadata_csum_seed,large_dir", true)]
    [InlineData("ext4", "encrypt", true)]
    [InlineData("ext4", "inline_data", false)]
    [InlineData("ext4", "ea_inode", false)]
    [InlineData("ext4", "casefold", false)]
    public void Agrees_with_grub_on_which_filesystems_it_can_read(string type, string features, bool readable)
    {
        var fstest = ExternalTools.Require("grub-fstest");
        var mke2fs = ExternalTools.Require("mke2fs");
        using var work = new TempDirectory();
        var tree = Directory.CreateDirectory(work.File("tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "vmlinuz"), "kernel");
        var image = work.File("fs.img");
        var args = new List<string> { "-q", "-F", "-t", type, "-d", tree };
        if (features.Length > 0)
        {
            args.AddRange(["-O", features]);
        }
        args.AddRange([image, "16M"]);
        ProcessRunner.Run(mke2fs, args).ExitCode.Should().Be(0);
        uint incompat;
        using (var f = File.OpenRead(image))
        {
            var superblock = new byte[1024];
            f.Position = 1024;
            f.ReadExactly(superblock);
            incompat = BinaryPrimitives.ReadUInt32LittleEndian(superblock.AsSpan(0x60));
        }

        var grubReads = ProcessRunner.Run(fstest, image, "cat", "/vmlinuz").StdOut == "kernel";

        grubReads.Should().Be(readable, "grub-fstest is the judge");
        GrubExtSupport.UnreadableFeatures(incompat).Should().HaveCount(readable ? 0 : 1);
        if (!readable)
        {
            GrubExtSupport.UnreadableFeatures(incompat).Should().Equal(features);
        }
    }
}
