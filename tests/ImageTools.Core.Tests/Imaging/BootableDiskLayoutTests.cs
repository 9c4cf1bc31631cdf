using FluentAssertions;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Imaging;

/// <summary>The bootable disk's layout, written as a partition table and read back by sfdisk.</summary>
public sealed class BootableDiskLayoutTests
{
    private const long MiB = 1 << 20;

    [Fact]
    public void Boot_partition_at_1_MiB_root_after_it_to_the_end_as_entry_1_and_sfdisk_reads_it_so()
    {
        // A boot filesystem of 17.3 MiB takes 18 MiB; the root filesystem (40 MiB) starts at 19 MiB.
        var layout = BootableDiskLayout.Plan(bootPartitionBytes: 17 * MiB + 300 * 1024, rootMinimumBytes: 40 * MiB, requestedDiskBytes: null, "disk.img");

        layout.DiskSizeBytes.Should().Be(59 * MiB);
        using var work = new TempDirectory();
        var disk = work.File("disk.img");
        using (var file = new FileStream(disk, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            file.SetLength(layout.DiskSizeBytes);
            layout.BuildTable(0x46534d4b).WriteTo(file);
        }

        var table = Sfdisk.Json(disk);
        table.Id.Should().Be("0x46534d4b");
        table.Partitions.Should().HaveCount(2);
        table.Partitions[0].Should().Be(new SfdiskPartition(1, 19 * 2048, 40 * 2048, "83", false, null, null));
        table.Partitions[1].Should().Be(new SfdiskPartition(2, 2048, 18 * 2048, "83", true, null, null));
        // The entries are not in disk order, and sfdisk says so; it finds no error in the table.
        var listing = ExternalTools.Run("sfdisk", "-l", disk);
        listing.StdOut.Should().Contain("Partition table entries are not in disk order");
        var verify = ExternalTools.Run("sfdisk", "--verify", disk);
        verify.ExitCode.Should().Be(0, verify.ToString());
        verify.StdOut.Should().Contain("No errors detected");
    }

    [Fact]
    public void A_given_size_gives_the_root_partition_the_rest_of_the_disk_up_to_its_last_whole_sector()
    {
        var layout = BootableDiskLayout.Plan(2 * MiB, 10 * MiB, requestedDiskBytes: 100 * MiB + 700, "disk.img");

        layout.DiskSizeBytes.Should().Be(100 * MiB + 700);
        layout.BootPartitionOffset.Should().Be(MiB);
        layout.BootPartitionLength.Should().Be(2 * MiB);
        layout.RootPartitionOffset.Should().Be(3 * MiB);
        layout.RootPartitionEnd.Should().Be(100 * MiB + 512);
    }

    [Fact]
    public void Too_small_a_size_is_refused_with_the_minimum_and_the_minimum_itself_is_accepted()
    {
        var minimum = BootableDiskLayout.MinimumDiskBytes(2 * MiB, 64 * MiB);
        minimum.Should().Be(67 * MiB);

        FluentActions.Invoking(() => BootableDiskLayout.Plan(2 * MiB, 64 * MiB, 50 * MiB, "disk.img"))
            .Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.DoesNotFit)
            .WithMessage("disk.img: a disk of 50 MiB is too small*root filesystem needs 64 MiB*at least 67 MiB (-s 67M)");
        BootableDiskLayout.Plan(2 * MiB, 64 * MiB, minimum, "disk.img").RootPartitionLength.Should().Be(64 * MiB);
    }

    [Fact]
    public void A_disk_past_what_an_MBR_addresses_is_refused()
    {
        FluentActions.Invoking(() => BootableDiskLayout.Plan(2 * MiB, 64 * MiB, 3L << 40, "disk.img"))
            .Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.DoesNotFit)
            .WithMessage("*past what an MBR partition table addresses*");
    }
}
