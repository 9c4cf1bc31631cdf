using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// The partition and bmap options on block devices, through loop devices over files (root only; skipped with
/// the reason elsewhere). Only whole loop devices are used: the partitions of a loop device (/dev/loopNpM)
/// appear only when the kernel reads MBR tables (CONFIG_MSDOS_PARTITION), which some kernels lack, so every
/// check reads the whole device or its backing file at the partition's offset instead.
/// </summary>
public sealed class PartitionDeviceTests : IDisposable
{
    private const long ImageSize = 64L << 20;
    private readonly TempDirectory _dir = new("sparsecopy-partdev-");

    public void Dispose() => _dir.Dispose();

    private const string Script = """
        label: dos
        label-id: 0x10000b1e
        2048,20480,83
        ,,5
        ,8192,83
        ,,83
        """;

    private string Image() => DiskImages.Create(_dir.File("disk.img"), ImageSize, Script, DiskImages.Scattered(1 << 20, ImageSize));

    /// <summary>A loop device over a backing file of <paramref name="size"/> random bytes (a used disk), or over <paramref name="image"/>.</summary>
    private (LoopDevice Device, string Backing) Loop(long size, string? image = null, int seed = 5)
    {
        ExternalTools.RequireRoot("loop devices need root");
        var backing = image ?? SparseFiles.CreateRandom(_dir.File($"backing-{size}-{seed}.img"), size, seed);
        return (LoopDevice.Attach(backing, partitionScan: false), backing);
    }

    [Fact]
    public void List_a_disk_device_as_sfdisk_does()
    {
        var image = Image();
        var (device, _) = Loop(0, image);
        using (device)
        {
            var sfdisk = Sfdisk.List(device.Path);
            var r = Run("--list", device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
            var ours = SfdiskListing.Parse(r.StdOut);
            ours.Rows.Select(x => (x["Device"], x["Start"], x["End"], x["Sectors"], x["Size"], x["Id"], x["Type"]))
                .Should().Equal(sfdisk.Rows.Select(x => (x["Device"], x["Start"], x["End"], x["Sectors"], x["Size"], x["Id"], x["Type"])));
            ours.Header("Disk ").Should().Be(sfdisk.Header("Disk "));
            ours.Rows[0]["Device"].Should().Be(device.Path + "p1", "a device name ending in a digit takes 'p' before the number");
        }
    }

    [Fact]
    public void Partition_of_a_disk_device_equals_dd()
    {
        var image = Image();
        var p = DiskImages.Partition(image, 6);
        var (device, _) = Loop(0, image);
        using (device)
        {
            var r = Run("--partition", "6", device.Path, _dir.File("p6.img"));
            r.ExitCode.Should().Be(0, r.ToString());
        }
        FileFacts.Sha256(_dir.File("p6.img")).Should().Be(DiskImages.Dd(image, p.Start, p.Size, _dir.File("dd6.img")));
    }

    [Fact]
    public void To_partition_of_a_disk_device_writes_only_that_partition_and_refuses_what_does_not_fit()
    {
        var image = Image();
        var p5 = DiskImages.Partition(image, 5);
        var fs = _dir.File("fs.ext4");
        ExternalTools.Run("mke2fs", "-q", "-F", "-t", "ext4", fs, "3M").ExitCode.Should().Be(0);
        var big = SparseFiles.CreateRandom(_dir.File("big.img"), p5.Size * 512 + 512);
        var (device, backing) = Loop(ImageSize);
        using (device)
        {
            Run("-q", image, device.Path).ExitCode.Should().Be(0);
            var before = DiskImages.RangeSha256(backing, 0, ImageSize);

            var tooBig = Run("--to-partition", "5", big, device.Path);
            tooBig.ExitCode.Should().Be(18, tooBig.ToString());
            tooBig.StdErr.Should().Contain($"does not fit in partition 5 of {device.Path}").And.Contain("nothing was written");
            DiskImages.RangeSha256(backing, 0, ImageSize).Should().Be(before);

            var r = Run("--to-partition", "5", fs, device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
        }
        DiskImages.RangeSha256(backing, p5.Start * 512, new FileInfo(fs).Length).Should().Be(FileFacts.Sha256(fs));
        DiskImages.RangeSha256(backing, 0, p5.Start * 512).Should().Be(DiskImages.RangeSha256(image, 0, p5.Start * 512));
        var after = (p5.Start + p5.Size) * 512;
        DiskImages.RangeSha256(backing, after, ImageSize - after).Should().Be(DiskImages.RangeSha256(image, after, ImageSize - after));
    }

    [Fact]
    public void Grow_to_a_larger_disk_device()
    {
        var image = Image();
        var (device, backing) = Loop(96L << 20);
        using (device)
        {
            var r = Run("--grow", image, device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
            r.StdErr.Should().Contain("grew logical partition 6 and extended partition 2 to the end of DEST")
                .And.Contain($"resize2fs {device.Path}p6");
            var dump = Sfdisk.Json(device.Path);
            var p6 = dump.Partitions.Single(p => p.Number == 6);
            (p6.Start + p6.Size).Should().Be((96L << 20) / 512, "partition 6 ends on the device's last sector");
            var verify = Sfdisk.Verify(device.Path);
            verify.ExitCode.Should().Be(0, verify.ToString());
        }
        // Up to the first EBR (whose link to the last EBR grows too), the device holds the image.
        DiskImages.RangeSha256(backing, 512, 22528L * 512 - 512).Should().Be(DiskImages.RangeSha256(image, 512, 22528L * 512 - 512));
    }

    [Fact]
    public void A_smaller_disk_device_takes_the_partitions_that_fit_and_refuses_otherwise()
    {
        var image = DiskImages.Create(_dir.File("short.img"), ImageSize, "label: dos\n2048,20480,83\n,30000,83\n",
            DiskImages.Scattered(1 << 20, ImageSize));
        var end = (22528L + 30000) * 512;
        var (fits, fitsBacking) = Loop(40L << 20, seed: 6);
        using (fits)
        {
            var r = Run(image, fits.Path);
            r.ExitCode.Should().Be(0, r.ToString());
            r.StdErr.Should().Contain("DEST is smaller than SOURCE");
        }
        DiskImages.RangeSha256(fitsBacking, 0, end).Should().Be(DiskImages.RangeSha256(image, 0, end));

        var (tooSmall, smallBacking) = Loop(20L << 20, seed: 7);
        var before = FileFacts.Sha256(smallBacking);
        using (tooSmall)
        {
            var r = Run(image, tooSmall.Path);
            r.ExitCode.Should().Be(18, r.ToString());
            r.StdErr.Should().Contain("partition 2 (sectors 22528-52527) ends past DEST's last sector").And.Contain("nothing was written");
        }
        FileFacts.Sha256(smallBacking).Should().Be(before);
    }

    [Fact]
    public void Bmap_copy_to_a_used_disk_writes_the_mapped_ranges_and_leaves_the_rest_as_bmaptool_does()
    {
        var image = Image();
        var bmap = _dir.File("disk.bmap");
        ExternalTools.Run("bmaptool", "create", "-o", bmap, image).ExitCode.Should().Be(0);
        var map = Core.Sparse.Bmap.BmapReader.Read(bmap);
        var (device, backing) = Loop(ImageSize, seed: 8);
        var unmapped = (Offset: (40L << 20) + (512 << 10), Length: 4096L); // inside a hole of the image (data sits at +1234 of each MiB)
        map.Ranges.Should().NotContain(r => r.FirstBlock * map.BlockSize < unmapped.Offset + unmapped.Length && (r.LastBlock + 1) * map.BlockSize > unmapped.Offset);
        var stale = DiskImages.RangeSha256(backing, unmapped.Offset, unmapped.Length);
        using (device)
        {
            var r = Run("--verify", "--bmap", bmap, image, device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
        }
        foreach (var range in map.Ranges)
        {
            var (offset, length) = map.ByteRangeOf(range);
            DiskImages.RangeSha256(backing, offset, length).Should().Be(DiskImages.RangeSha256(image, offset, length), $"mapped {map.Describe(range)}");
        }
        DiskImages.RangeSha256(backing, unmapped.Offset, unmapped.Length).Should().Be(stale, "unmapped blocks are not touched");
    }
}
