using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// <c>--partition N</c> (one partition out, checked against dd) and <c>--to-partition N</c> (into a partition of an
/// existing image, checked with dd, hashes of everything around it and e2fsck), primary and logical, compressed
/// and piped SOURCE, and the refusals that must leave DEST untouched.
/// </summary>
public sealed class PartitionCopyTests : IDisposable
{
    private const long DiskSize = 48L << 20;
    private readonly TempDirectory _dir = new("sparsecopy-partition-");
    private readonly string _image;

    public PartitionCopyTests()
    {
        // Data scattered through the whole disk (holes between), a primary, an extended partition with an odd-sized
        // logical partition and a second one.
        _image = DiskImages.Create(_dir.File("disk.img"), DiskSize, """
            label: dos
            label-id: 0x0ddba11
            2048,20480,83
            ,,5
            ,4097,83
            ,16384,83
            """, DiskImages.Scattered(512 * 1024, DiskSize).Append((22528L * 512 + 2048 * 512 + 4097 * 512 - 100, 100)));
    }

    public void Dispose() => _dir.Dispose();

    private long DataBytesWithin(long start, long end) =>
        SparseFiles.DataRanges(_image).Sum(r => Math.Max(0, Math.Min(r.End, end) - Math.Max(r.Start, start)));

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(6)]
    public void Partition_copy_equals_dd_of_that_range_and_reads_only_its_data(int number)
    {
        var p = DiskImages.Partition(_image, number);
        var output = _dir.File($"p{number}.img");

        var summary = Json("--partition", $"{number}", _image, output);

        FileFacts.Sha256(output).Should().Be(DiskImages.Dd(_image, p.Start, p.Size, _dir.File($"dd{number}.img")));
        new FileInfo(output).Length.Should().Be(p.Size * 512);
        summary.GetProperty("sourcePartition").GetInt32().Should().Be(number);
        summary.GetProperty("totalBytes").GetInt64().Should().Be(p.Size * 512);
        summary.GetProperty("bytesRead").GetInt64().Should().Be(DataBytesWithin(p.Start * 512, (p.Start + p.Size) * 512),
            "only the data ranges of the image inside the partition are read: holes never are");
        FileFacts.AllocatedBytes(output).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, _dir.File($"dd{number}.img")));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public void A_logical_partition_of_a_compressed_image(string compressor)
    {
        var compressed = DiskImages.Compress(_image, compressor);
        var p = DiskImages.Partition(_image, 6);
        var output = _dir.File("p6.img");

        var r = Run("--partition", "6", compressed, output);

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(output).Should().Be(DiskImages.Dd(_image, p.Start, p.Size, _dir.File("dd6.img")));
    }

    [Fact]
    public void The_extended_partition_and_a_missing_one_are_refused_naming_what_there_is()
    {
        var extended = Run("--partition", "2", _image, _dir.File("out.img"));
        extended.ExitCode.Should().Be(1, extended.ToString());
        extended.StdErr.Should().Contain("partition 2 is the extended partition").And.Contain("logical partitions 5, 6");

        var missing = Run("--partition", "7", _image, _dir.File("out.img"));
        missing.ExitCode.Should().Be(21, missing.ToString());
        missing.StdErr.Should().Contain($"{_image} has no partition 7 (it has 1, 2, 5, 6)");
        Leftovers(_dir.Path, "disk.img").Should().BeEmpty();
    }

    [Fact]
    public void A_partition_past_the_end_of_a_truncated_image_is_refused()
    {
        var truncated = _dir.File("truncated.img");
        File.Copy(_image, truncated);
        var p6 = DiskImages.Partition(_image, 6);
        using (var f = new FileStream(truncated, FileMode.Open))
        {
            f.SetLength((p6.Start + 100) * 512);
        }

        var r = Run("--partition", "6", truncated, _dir.File("out.img"));

        r.ExitCode.Should().Be(19, r.ToString());
        r.StdErr.Should().Contain($"partition 6 (sectors {p6.Start}-{p6.Start + p6.Size - 1}) ends past the end of the image");
        File.Exists(_dir.File("out.img")).Should().BeFalse();
    }

    /// <summary>An ext4 file system image of <paramref name="kib"/> KiB with a file in it, made by mke2fs.</summary>
    private string FileSystem(string name, long kib)
    {
        var root = Directory.CreateDirectory(_dir.File(name + ".root")).FullName;
        File.WriteAllBytes(Path.Combine(root, "hello.bin"), SparseFiles.RandomBytes(new Random(4), 70_000));
        var path = _dir.File(name);
        var r = ExternalTools.Run("mke2fs", "-q", "-F", "-t", "ext4", "-d", root, path, $"{kib}k");
        r.ExitCode.Should().Be(0, r.ToString());
        return path;
    }

    private (string Before, string After) OutsideHashes(SfdiskPartition p) =>
        (DiskImages.RangeSha256(_image, 0, p.Start * 512), DiskImages.RangeSha256(_image, (p.Start + p.Size) * 512, DiskSize));

    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    public void To_partition_writes_the_file_system_into_the_partition_and_nothing_else(int number)
    {
        var p = DiskImages.Partition(_image, number);
        var fs = FileSystem("fs.ext4", 6 * 1024);
        var outside = OutsideHashes(p);

        var summary = Json("--to-partition", $"{number}", fs, _image);

        summary.GetProperty("destinationPartition").GetInt32().Should().Be(number);
        OutsideHashes(p).Should().Be(outside, "the bytes before and after the partition are untouched");
        DiskImages.RangeSha256(_image, p.Start * 512, new FileInfo(fs).Length).Should().Be(FileFacts.Sha256(fs));
        var extracted = _dir.File("extracted.ext4");
        DiskImages.Dd(_image, p.Start, p.Size, extracted);
        var fsck = ExternalTools.Run("e2fsck", "-fn", extracted);
        fsck.ExitCode.Should().Be(0, fsck.ToString());

        // Round trip: the partition read back with --partition starts with the file system.
        var back = _dir.File("back.img");
        Run("-q", "--partition", $"{number}", _image, back).ExitCode.Should().Be(0);
        DiskImages.RangeSha256(back, 0, new FileInfo(fs).Length).Should().Be(FileFacts.Sha256(fs));
    }

    [Fact]
    public void To_partition_refuses_a_source_that_does_not_fit_before_writing_anything()
    {
        var fs = FileSystem("big.ext4", 9 * 1024); // partition 1 is 10 MiB, partition 5 only 4097 sectors
        var before = FileFacts.Sha256(_image);

        var r = Run("--to-partition", "5", fs, _image);

        r.ExitCode.Should().Be(18, r.ToString());
        r.StdErr.Should().Contain($"SOURCE {fs} ({new FileInfo(fs).Length} bytes) does not fit in partition 5 of {_image} ({4097 * 512} bytes); nothing was written");
        FileFacts.Sha256(_image).Should().Be(before);

        var gz = DiskImages.Compress(fs, "gzip");
        var compressed = Run("--to-partition", "5", gz, _image);
        compressed.ExitCode.Should().Be(18, compressed.ToString());
        compressed.StdErr.Should().Contain("does not fit in partition 5").And.Contain("nothing was written");
        FileFacts.Sha256(_image).Should().Be(before, "a compressed SOURCE is measured before anything is written");
    }

    [Fact]
    public void To_partition_from_compressed_input_and_from_another_image_partition()
    {
        var p6 = DiskImages.Partition(_image, 6);
        var fs = FileSystem("fs.ext4", 4 * 1024);
        var gz = DiskImages.Compress(fs, "gzip");

        Run("-q", "--to-partition", "6", gz, _image).ExitCode.Should().Be(0);
        DiskImages.RangeSha256(_image, p6.Start * 512, new FileInfo(fs).Length).Should().Be(FileFacts.Sha256(fs));

        // Partition 6 of this image into partition 1 of another one made by sfdisk.
        var other = DiskImages.Create(_dir.File("other.img"), 32L << 20, "label: dos\n2048,16384,83\n,,83\n");
        var r = Run("--partition", "6", "--to-partition", "1", _image, other);
        r.ExitCode.Should().Be(0, r.ToString());
        var p1 = DiskImages.Partition(other, 1);
        DiskImages.RangeSha256(other, p1.Start * 512, p6.Size * 512).Should().Be(DiskImages.RangeSha256(_image, p6.Start * 512, p6.Size * 512));
    }

    [Fact]
    public void To_partition_from_a_pipe_that_is_too_long_writes_nothing_past_the_partition()
    {
        var p5 = DiskImages.Partition(_image, 5);
        var after = DiskImages.RangeSha256(_image, (p5.Start + p5.Size) * 512, DiskSize - (p5.Start + p5.Size) * 512);
        var data = SparseFiles.RandomBytes(new Random(9), (int)(p5.Size * 512) + 4096);

        var r = RunWithStdin(new MemoryStream(data), "--to-partition", "5", "-", _image);

        r.ExitCode.Should().Be(18, r.ToString());
        r.StdErr.Should().Contain($"SOURCE passes the end of {_image} partition 5");
        DiskImages.RangeSha256(_image, (p5.Start + p5.Size) * 512, DiskSize - (p5.Start + p5.Size) * 512).Should().Be(after);
    }

    [Fact]
    public void To_partition_refusals()
    {
        var fs = FileSystem("fs.ext4", 1024);
        var before = FileFacts.Sha256(_image);

        var extended = Run("--to-partition", "2", fs, _image);
        extended.ExitCode.Should().Be(1, extended.ToString());
        extended.StdErr.Should().Contain("extended partition");

        var missing = Run("--to-partition", "9", fs, _image);
        missing.ExitCode.Should().Be(21, missing.ToString());

        var newFile = Run("--to-partition", "1", fs, _dir.File("new.img"));
        newFile.ExitCode.Should().Be(21, newFile.ToString());
        newFile.StdErr.Should().Contain("does not exist");
        File.Exists(_dir.File("new.img")).Should().BeFalse();

        var withSize = Run("--to-partition", "1", "-f", "1G", fs, _image);
        withSize.ExitCode.Should().Be(1, withSize.ToString());

        FileFacts.Sha256(_image).Should().Be(before);

        // A damaged table (partition 6 made to run past the end of the disk): writing into any partition is refused.
        var p6 = DiskImages.Partition(_image, 6);
        var ebr6 = p6.Start - 2048;
        DiskImages.PokeUInt32(_image, ebr6 * 512 + 0x1BE + 12, 200_000);
        var damaged = FileFacts.Sha256(_image);
        var r = Run("--to-partition", "1", fs, _image);
        r.ExitCode.Should().Be(19, r.ToString());
        r.StdErr.Should().Contain("refusing to write into partition 1").And.Contain("ends past the end of the disk");
        FileFacts.Sha256(_image).Should().Be(damaged);
    }
}
