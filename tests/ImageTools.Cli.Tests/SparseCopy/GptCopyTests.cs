using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// GPT disks through sparsecopy: one partition out and in, and whole-disk copies to a larger DEST (the backup GPT
/// moved to DEST's end, as <c>sgdisk -e</c> does after a <c>dd</c>, which alone leaves a table sgdisk calls
/// damaged), with <c>--grow</c>, to a smaller DEST, and from compressed input. Judged by <c>sgdisk -v</c>,
/// <c>sfdisk -J</c>, the sectors <c>sgdisk -e</c> writes, e2fsck and hashes of the partitions.
/// </summary>
public sealed class GptCopyTests : IDisposable
{
    private const long Size = 64L << 20;
    private readonly TempDirectory _dir = new("sparsecopy-gpt-");

    public void Dispose() => _dir.Dispose();

    private const string Script = """
        label: gpt
        label-id: 6A1F3E2B-0C4D-4E5F-8A9B-0C1D2E3F4A5B
        size=10M, type=uefi, name=esp
        size=20M, type=L, name=root
        """;

    /// <summary>64 MiB, partitions 1 (10 MiB) and 2 (20 MiB, an ext4 file system with a file), 34 MiB free after them.</summary>
    private string Image(string name = "gpt.img")
    {
        var image = DiskImages.Create(_dir.File(name), Size, Script, DiskImages.Scattered(1 << 20, 11L << 20));
        var p = DiskImages.Partition(image, 2);
        var root = Directory.CreateDirectory(_dir.File(name + ".root")).FullName;
        File.WriteAllBytes(Path.Combine(root, "data.bin"), SparseFiles.RandomBytes(new Random(12), 300_000));
        var r = ExternalTools.Run("mke2fs", "-q", "-F", "-t", "ext4", "-d", root, "-E", $"offset={p.Start * 512}", image, $"{p.Size / 2}k");
        r.ExitCode.Should().Be(0, r.ToString());
        return image;
    }

    private static void SgdiskClean(string image)
    {
        var r = ExternalTools.Run("sgdisk", "-v", image);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdOut.Should().Contain("No problems found", r.ToString());
    }

    private void Fsck(string image, int number)
    {
        var p = DiskImages.Partition(image, number);
        var extracted = _dir.File($"fsck-{number}.ext4");
        DiskImages.Dd(image, p.Start, p.Size, extracted);
        var fsck = ExternalTools.Run("e2fsck", "-fn", extracted);
        fsck.ExitCode.Should().Be(0, fsck.ToString());
        File.Delete(extracted);
    }

    private static string PartitionHash(string image, int number)
    {
        var p = DiskImages.Partition(image, number);
        return DiskImages.RangeSha256(image, p.Start * 512, p.Size * 512);
    }

    [Fact]
    public void Partition_out_and_to_partition_in_work_on_GPT()
    {
        var image = Image();
        var p2 = DiskImages.Partition(image, 2);
        var output = _dir.File("p2.img");

        var r = Run("--partition", "2", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(output).Should().Be(DiskImages.Dd(image, p2.Start, p2.Size, _dir.File("dd2.img")));
        ExternalTools.Run("e2fsck", "-fn", output).ExitCode.Should().Be(0);

        // Into partition 1 of the same disk: its bytes and nothing else change; the GPT stays valid.
        var small = _dir.File("small.img");
        File.WriteAllBytes(small, SparseFiles.RandomBytes(new Random(3), 4 << 20));
        var p1 = DiskImages.Partition(image, 1);
        var outside = DiskImages.RangeSha256(image, 0, p1.Start * 512) + DiskImages.RangeSha256(image, (p1.Start + p1.Size) * 512, Size - (p1.Start + p1.Size) * 512);
        var into = Run("--to-partition", "1", small, image);
        into.ExitCode.Should().Be(0, into.ToString());
        DiskImages.RangeSha256(image, p1.Start * 512, 4 << 20).Should().Be(FileFacts.Sha256(small));
        (DiskImages.RangeSha256(image, 0, p1.Start * 512) + DiskImages.RangeSha256(image, (p1.Start + p1.Size) * 512, Size - (p1.Start + p1.Size) * 512))
            .Should().Be(outside);
        SgdiskClean(image);

        var tooBig = _dir.File("big.bin");
        File.WriteAllBytes(tooBig, new byte[11 << 20]);
        var refused = Run("--to-partition", "1", tooBig, image);
        refused.ExitCode.Should().Be(18, refused.ToString());
        refused.StdErr.Should().Contain("does not fit in partition 1");
    }

    [Fact]
    public void A_larger_DEST_gets_the_backup_GPT_at_its_end_as_sgdisk_e_puts_it_where_dd_leaves_it_damaged()
    {
        var image = Image();
        var output = _dir.File("big.img");

        var r = Run("-f", "128M", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("backup header moved from sector 131071 to DEST's last sector 262143")
            .And.Contain("the old backup header's sector 131071 was cleared");
        new FileInfo(output).Length.Should().Be(128L << 20);
        SgdiskClean(output);
        var table = Sfdisk.Json(output);
        table.LastLba.Should().Be(262143 - 33);
        table.Partitions.Select(p => (p.Number, p.Start, p.Size, p.Name)).Should().Equal((1, 2048L, 20480L, "esp"), (2, 22528L, 40960L, "root"));
        PartitionHash(output, 1).Should().Be(PartitionHash(image, 1));
        PartitionHash(output, 2).Should().Be(PartitionHash(image, 2));
        Fsck(output, 2);

        // The peer way: dd (here: a plain copy) leaves a GPT that sgdisk calls damaged. sfdisk --relocate
        // gpt-bak-std then moves the backup as we do (sfdisk's first usable sector 2048 kept, the last one 33
        // sectors before the backup header), and sgdisk -e mends the protective MBR as we do; (sgdisk -e alone
        // would also leave 2048 sectors unusable at the end, mirroring the first usable sector).
        var peer = _dir.File("peer.img");
        File.Copy(image, peer);
        using (var f = new FileStream(peer, FileMode.Open))
        {
            f.SetLength(128L << 20);
        }
        ExternalTools.Run("sgdisk", "-v", peer).StdOut.Should().NotContain("No problems found");
        var pmbr = _dir.File("pmbr.img");
        File.Copy(peer, pmbr);
        ExternalTools.Run("sgdisk", "-e", pmbr).ExitCode.Should().Be(0);
        SparseFiles.ReadRange(output, 0, 512).Should().Equal(SparseFiles.ReadRange(pmbr, 0, 512), "the protective MBR is what sgdisk -e writes");
        ExternalTools.Run("sfdisk", "--relocate", "gpt-bak-std", peer).ExitCode.Should().Be(0);
        foreach (var lba in Enumerable.Range(1, 33).Select(i => (long)i).Concat(Enumerable.Range(262143 - 32, 33).Select(i => (long)i)))
        {
            SparseFiles.ReadRange(output, lba * 512, 512).Should().Equal(SparseFiles.ReadRange(peer, lba * 512, 512), $"sector {lba} is what sfdisk --relocate writes");
        }
        SparseFiles.ReadRange(output, 131071L * 512, 512).Should().OnlyContain(b => b == 0, "the old backup header is cleared");
    }

    [Fact]
    public void Grow_extends_the_last_partition_to_the_last_usable_sector()
    {
        var image = Image();
        var output = _dir.File("grown.img");

        var summary = Json("-f", "128M", "--grow", image, output);

        var grown = summary.GetProperty("grown");
        grown.GetProperty("partition").GetInt32().Should().Be(2);
        grown.GetProperty("oldEndSector").GetInt64().Should().Be(63487);
        grown.GetProperty("newEndSector").GetInt64().Should().Be(262110);
        summary.GetProperty("gpt").GetProperty("backupHeaderLba").GetInt64().Should().Be(262143);
        SgdiskClean(output);
        var p2 = DiskImages.Partition(output, 2);
        (p2.Start, p2.Size).Should().Be((22528L, 262110L - 22528 + 1));
        DiskImages.RangeSha256(output, 22528L * 512, 40960L * 512).Should().Be(PartitionHash(image, 2), "the file system's bytes are unchanged");
        Fsck(output, 2);

        // resize2fs then fills the grown partition.
        var part = _dir.File("part.img");
        Run("-q", "--partition", "2", output, part).ExitCode.Should().Be(0);
        ExternalTools.Run("resize2fs", part).ExitCode.Should().Be(0);
        Run("-q", "--to-partition", "2", part, output).ExitCode.Should().Be(0);
        Fsck(output, 2);
        SgdiskClean(output);
    }

    [Fact]
    public void A_smaller_DEST_takes_the_partitions_and_a_new_backup_GPT_or_is_refused_untouched()
    {
        var image = Image();
        var output = _dir.File("small.img");

        var r = Run("-f", "40M", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("DEST is smaller than SOURCE: copied only the first 32505856 bytes")
            .And.Contain("DEST's last sector 81919");
        new FileInfo(output).Length.Should().Be(40L << 20);
        SgdiskClean(output);
        PartitionHash(output, 1).Should().Be(PartitionHash(image, 1));
        PartitionHash(output, 2).Should().Be(PartitionHash(image, 2));
        Fsck(output, 2);

        var grown = Run("-f", "40M", "--grow", image, _dir.File("small-grown.img"));
        grown.ExitCode.Should().Be(0, grown.ToString());
        SgdiskClean(_dir.File("small-grown.img"));
        DiskImages.Partition(_dir.File("small-grown.img"), 2).Size.Should().Be(81886 - 22528 + 1);

        // 31 MiB: partition 2 ends at sector 63487, the backup entries would start at 63455.
        var refused = Run("-f", "31M", image, _dir.File("tiny.img"));
        refused.ExitCode.Should().Be(18, refused.ToString());
        refused.StdErr.Should().Contain("partition 2 (sectors 22528-63487) ends past sector 63454, the last one before the backup GPT").And.Contain("nothing was written");
        File.Exists(_dir.File("tiny.img")).Should().BeFalse();
        Leftovers(_dir.Path, "gpt.img", "small.img", "small-grown.img").Should().BeEmpty();
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public void A_compressed_GPT_disk_to_a_larger_or_smaller_DEST(string compressor)
    {
        var image = Image();
        var packed = DiskImages.Compress(image, compressor);

        var big = _dir.File("big.img");
        var r = Run("-f", "100M", "--grow", packed, big);
        r.ExitCode.Should().Be(0, r.ToString());
        SgdiskClean(big);
        DiskImages.Partition(big, 2).Size.Should().Be(204766 - 22528 + 1);
        Fsck(big, 2);

        var small = _dir.File("small.img");
        var s = Run("-f", "40M", packed, small);
        s.ExitCode.Should().Be(0, s.ToString());
        SgdiskClean(small);
        PartitionHash(small, 2).Should().Be(PartitionHash(image, 2));
    }
}
