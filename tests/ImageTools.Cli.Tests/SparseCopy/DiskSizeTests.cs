using System.Text.RegularExpressions;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// A whole disk copied to a DEST of another size: <c>--grow</c> on a larger one (the table read back by
/// <c>sfdisk --dump</c> and compared sector for sector with the table sfdisk itself writes for the grown layout,
/// <c>sfdisk --verify</c> clean, the file system inside still clean), and a smaller one (fine when every partition
/// ends within it, refused before writing otherwise).
/// </summary>
public sealed class DiskSizeTests : IDisposable
{
    private const long Size = 64L << 20;
    private readonly TempDirectory _dir = new("sparsecopy-disksize-");

    public void Dispose() => _dir.Dispose();

    private const string PrimaryScript = """
        label: dos
        label-id: 0x600d0001
        2048,20480,83,*
        ,,83
        """;

    private const string LogicalScript = """
        label: dos
        label-id: 0x600d0002
        2048,20480,83
        ,,5
        ,10000,83
        ,,83
        """;

    /// <summary>The image of a script with an ext4 file system (holding a file) made in partition <paramref name="number"/>.</summary>
    private string ImageWithFileSystem(string name, string script, int number)
    {
        var image = DiskImages.Create(_dir.File(name), Size, script, DiskImages.Scattered(1 << 20, 2 << 20));
        var p = DiskImages.Partition(image, number);
        var root = Directory.CreateDirectory(_dir.File(name + ".root")).FullName;
        File.WriteAllBytes(Path.Combine(root, "data.bin"), SparseFiles.RandomBytes(new Random(8), 300_000));
        var r = ExternalTools.Run("mke2fs", "-q", "-F", "-t", "ext4", "-d", root, "-E", $"offset={p.Start * 512}", image, $"{p.Size / 2}k");
        r.ExitCode.Should().Be(0, r.ToString());
        return image;
    }

    /// <summary>What sfdisk writes for the same script on a disk of <paramref name="size"/> bytes.</summary>
    private string Reference(string script, long size)
    {
        var path = _dir.File($"reference-{size}.img");
        File.Delete(path);
        return DiskImages.Create(path, size, script);
    }

    private static void Fsck(string image, int number, TempDirectory dir)
    {
        var p = DiskImages.Partition(image, number);
        var extracted = dir.File($"fsck-{number}.ext4");
        DiskImages.Dd(image, p.Start, p.Size, extracted);
        var fsck = ExternalTools.Run("e2fsck", "-fn", extracted);
        fsck.ExitCode.Should().Be(0, fsck.ToString());
        File.Delete(extracted);
    }

    private static void TableSectorsShouldEqual(string ours, string reference)
    {
        var sectors = new[] { 0L }.Concat(Sfdisk.Json(reference).Partitions.Where(p => p.Number >= 5).Select(p => p.Start - 2048)).ToList();
        // sfdisk puts the first EBR at the extended partition's start.
        var extended = Sfdisk.Json(reference).Partitions.FirstOrDefault(p => p.Type == "5");
        if (extended != null)
        {
            sectors[1] = extended.Start;
        }
        foreach (var sector in sectors)
        {
            SparseFiles.ReadRange(ours, sector * 512, 512).Should().Equal(SparseFiles.ReadRange(reference, sector * 512, 512),
                $"sector {sector} should be what sfdisk writes for the grown layout");
        }
    }

    [Fact]
    public void Grow_extends_the_last_primary_partition_to_the_end_of_a_larger_file()
    {
        var image = ImageWithFileSystem("disk.img", PrimaryScript, 2);
        var output = _dir.File("grown.img");

        var r = Run("-f", "128M", "--grow", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("grew partition 2 to the end of DEST: partition 2 is now sectors 22528-262143")
            .And.Contain("still has its old size: grow it with resize2fs");
        new FileInfo(output).Length.Should().Be(128L << 20);
        var reference = Reference(PrimaryScript, 128L << 20);
        Sfdisk.Dump(output).Should().Be(Sfdisk.Dump(reference).Replace(reference, output));
        TableSectorsShouldEqual(output, reference);
        var verify = Sfdisk.Verify(output);
        verify.ExitCode.Should().Be(0, verify.ToString());
        verify.StdOut.Should().Contain("No errors detected");
        DiskImages.RangeSha256(output, 512, Size - 512).Should().Be(DiskImages.RangeSha256(image, 512, Size - 512), "only the table changed");
        Fsck(output, 2, _dir);

        // The way the message says to grow the file system works as written.
        var hint = Regex.Match(r.StdErr, "e.g. '(.*)'").Groups[1].Value;
        hint.Should().StartWith($"sparsecopy --partition 2 {output} part.img && resize2fs part.img && sparsecopy --to-partition 2 part.img {output}");
        var sc = TestSupport.Cli.PathOf("sparsecopy");
        var follow = ProcessRunner.Run("/bin/bash", "-c", $"cd '{_dir.Path}' && {hint.Replace("sparsecopy ", $"'{sc}' -q ")}");
        follow.ExitCode.Should().Be(0, follow.ToString());
        Fsck(output, 2, _dir);
        var blocks = Dumpe2fsBytes(_dir.File("part.img"));
        blocks.Should().Be((262144L - 22528) * 512, "the file system now fills the grown partition");
    }

    private static long Dumpe2fsBytes(string fs)
    {
        var r = ExternalTools.Run("dumpe2fs", "-h", fs);
        r.ExitCode.Should().Be(0, r.ToString());
        long Field(string name) => long.Parse(Regex.Match(r.StdOut, $@"^{name}:\s+(\d+)", RegexOptions.Multiline).Groups[1].Value);
        return Field("Block count") * Field("Block size");
    }

    [Fact]
    public void Grow_extends_a_last_logical_partition_with_its_extended_partition_and_EBR_link()
    {
        var image = ImageWithFileSystem("disk.img", LogicalScript, 6);
        var output = _dir.File("grown.img");

        var summary = Json("-f", "128M", "--grow", image, output);

        var grown = summary.GetProperty("grown");
        grown.GetProperty("partition").GetInt32().Should().Be(6);
        grown.GetProperty("extendedPartition").GetInt32().Should().Be(2);
        grown.GetProperty("newEndSector").GetInt64().Should().Be(262143);
        var reference = Reference(LogicalScript, 128L << 20);
        Sfdisk.Dump(output).Should().Be(Sfdisk.Dump(reference).Replace(reference, output));
        TableSectorsShouldEqual(output, reference);
        Sfdisk.Verify(output).ExitCode.Should().Be(0);
        Fsck(output, 6, _dir);
    }

    [Fact]
    public void Grow_is_refused_without_a_known_size()
    {
        // GPT disks: GptCopyTests.
        var image = DiskImages.Create(_dir.File("disk.img"), Size, PrimaryScript);
        var gz = DiskImages.Compress(image, "gzip");
        var unknown = Run("--grow", gz, _dir.File("out.img"));
        unknown.ExitCode.Should().Be(1, unknown.ToString());
        unknown.StdErr.Should().Contain("give -f SIZE");

        var conflict = Run("--grow", "--partition", "1", image, _dir.File("out.img"));
        conflict.ExitCode.Should().Be(1, conflict.ToString());

        var same = Run("--grow", image, _dir.File("same.img"));
        same.ExitCode.Should().Be(0, same.ToString());
        same.StdErr.Should().Contain("nothing to grow");
        FileFacts.Sha256(_dir.File("same.img")).Should().Be(FileFacts.Sha256(image));
    }

    /// <summary>Partitions ending at 25.6 MiB on a 64 MiB disk that holds data past them, at 60 MiB.</summary>
    private string ShortPartitions() => DiskImages.Create(_dir.File("short.img"), Size, """
        label: dos
        2048,20480,83
        ,30000,83
        """, DiskImages.Scattered(1 << 20, 26L << 20).Append((60L << 20, 4096)));

    [Fact]
    public void A_smaller_DEST_takes_the_disk_up_to_its_last_partition()
    {
        var image = ShortPartitions();
        var end = (22528L + 30000) * 512;
        var output = _dir.File("small.img");

        var r = Run("-f", "40M", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain($"DEST is smaller than SOURCE: copied only the first {end} bytes")
            .And.Contain("up to the end of partition 2 (sectors 22528-52527)")
            .And.Contain($"the last {Size - end} bytes of SOURCE lie outside every partition and were not copied");
        FinalLine(r).Total.Should().Be(end);
        new FileInfo(output).Length.Should().Be(40L << 20);
        DiskImages.RangeSha256(output, 0, end).Should().Be(DiskImages.RangeSha256(image, 0, end));
        SparseFiles.DataRanges(output).Should().OnlyContain(d => d.End <= end, "nothing past the last partition was copied");
        Sfdisk.Verify(output).ExitCode.Should().Be(0);

        var gz = DiskImages.Compress(image, "gzip");
        var compressed = Run("-f", "40M", gz, _dir.File("smallz.img"));
        compressed.ExitCode.Should().Be(0, compressed.ToString());
        compressed.StdErr.Should().Contain("SOURCE goes on past DEST's end");
        FileFacts.Sha256(_dir.File("smallz.img")).Should().Be(FileFacts.Sha256(output));
    }

    [Fact]
    public void Grow_on_a_smaller_DEST_that_holds_every_partition_extends_the_last_one_to_its_end()
    {
        // An image with free space after its partitions, written to a smaller card: the partitions fit, and
        // --grow should still make the last one fill the card, as it does on a larger one.
        var image = ShortPartitions();
        var end = (22528L + 30000) * 512;
        var output = _dir.File("small.img");

        var r = Run("-f", "40M", "--grow", image, output);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain($"DEST is smaller than SOURCE: copied only the first {end} bytes")
            .And.Contain("grew partition 2 to the end of DEST: partition 2 is now sectors 22528-81919")
            .And.NotContain("nothing to grow");
        new FileInfo(output).Length.Should().Be(40L << 20);
        var source = Sfdisk.Json(image);
        var grown = Sfdisk.Json(output);
        grown.Partitions.Should().HaveCount(2);
        grown.Id.Should().Be(source.Id);
        grown.Partitions[0].Should().Be(source.Partitions[0]);
        grown.Partitions[1].Start.Should().Be(22528);
        grown.Partitions[1].Size.Should().Be((40L << 20) / 512 - 22528, "partition 2 now ends on DEST's last sector");
        var verify = Sfdisk.Verify(output);
        verify.ExitCode.Should().Be(0, verify.ToString());
        verify.StdOut.Should().Contain("No errors detected");
        DiskImages.RangeSha256(output, 512, end - 512).Should().Be(DiskImages.RangeSha256(image, 512, end - 512), "only the table changed");
    }

    [Fact]
    public void A_DEST_too_small_for_a_partition_is_refused_naming_it_and_nothing_is_written()
    {
        var image = ShortPartitions();
        var r = Run("-f", "20M", image, _dir.File("tiny.img"));
        r.ExitCode.Should().Be(18, r.ToString());
        r.StdErr.Should().Contain("partition 2 (sectors 22528-52527) ends past DEST's last sector 40959; nothing was written");
        Leftovers(_dir.Path, "short.img").Should().BeEmpty();

        var gz = DiskImages.Compress(image, "gzip");
        var compressed = Run("-f", "20M", gz, _dir.File("tiny.img"));
        compressed.ExitCode.Should().Be(18, compressed.ToString());
        compressed.StdErr.Should().Contain("partition 2 (sectors 22528-52527)");
        Leftovers(_dir.Path, "short.img", "short.img.gz").Should().BeEmpty();

        var logical = DiskImages.Create(_dir.File("logical.img"), Size, LogicalScript);
        var p6 = DiskImages.Partition(logical, 6);
        var cut = Run("-f", "40M", logical, _dir.File("tiny.img"));
        cut.ExitCode.Should().Be(18, cut.ToString());
        cut.StdErr.Should().Contain($"partition 2 (sectors 22528-131071) (extended), partition 6 (sectors {p6.Start}-{p6.Start + p6.Size - 1}) end past DEST's last sector");
    }
}
