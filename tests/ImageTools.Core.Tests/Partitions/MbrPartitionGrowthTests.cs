using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>
/// Growing the last partition of a table: the patched sectors are what sfdisk writes for the grown layout
/// (across the CHS limit too), the 2 TiB limit of the MBR's size field, and the cases with nothing to do.
/// </summary>
public class MbrPartitionGrowthTests
{
    private static MbrPartitionTable Logicals(long diskBytes) => new MbrPartitionTableBuilder(diskBytes)
        .WithDiskSignature(0x9e0e0001)
        .AddPrimary(MbrPartitionType.Linux, sizeSectors: 20480)
        .AddExtended()
        .AddLogical(MbrPartitionType.Linux, sizeSectors: 10000)
        .AddLogical(MbrPartitionType.Linux)
        .Build();

    [Fact]
    public void A_last_logical_partition_grows_as_sfdisk_would_lay_it_out_on_the_larger_disk()
    {
        using var dir = new TempDirectory();
        const long small = 1L << 30, large = 20L << 30; // the large disk's end is past the CHS limit
        var table = Logicals(small);
        var ours = TestDisk.Create(dir, "ours.img", large);
        using (var f = new FileStream(ours, FileMode.Open, FileAccess.ReadWrite))
        {
            table.WriteTo(f);
        }

        var growth = MbrPartitionGrowth.Plan(table, large / 512);

        growth.Should().NotBeNull();
        growth!.PartitionNumber.Should().Be(6);
        growth.ExtendedPartitionNumber.Should().Be(2);
        growth.NewEndSector.Should().Be(large / 512 - 1);
        growth.LimitedByMbr.Should().BeFalse();
        growth.Sectors.Should().BeEquivalentTo(new[] { 0L, table.ExtendedBootRecords[0].Sector, table.ExtendedBootRecords[1].Sector });
        foreach (var sector in growth.Sectors)
        {
            var bytes = TestDisk.ReadSector(ours, sector);
            growth.Apply(sector, bytes).Should().BeTrue();
            TestDisk.WriteBytes(ours, sector * 512, bytes);
        }

        var theirs = TestDisk.Create(dir, "sfdisk.img", large);
        Sfdisk.Apply(theirs, """
            label: dos
            label-id: 0x9e0e0001
            size=20480, type=83
            type=5
            size=10000, type=83
            type=83
            """);
        Sfdisk.Dump(ours).Should().Be(Sfdisk.Dump(theirs));
        foreach (var sector in growth.Sectors)
        {
            TestDisk.ReadSector(ours, sector).Should().Equal(TestDisk.ReadSector(theirs, sector), $"sector {sector}");
        }
        Sfdisk.Verify(ours).ExitCode.Should().Be(0);
    }

    [Fact]
    public void The_MBR_size_field_stops_growth_at_2_TiB()
    {
        var table = new MbrPartitionTableBuilder(1L << 30).WithDiskSignature(1).AddPrimary(MbrPartitionType.Linux).Build();

        var growth = MbrPartitionGrowth.Plan(table, (3L << 40) / 512)!;

        growth.LimitedByMbr.Should().BeTrue();
        growth.NewSectorCount.Should().Be(uint.MaxValue);
        growth.Patches.Single().Entry.SectorCount.Should().Be(uint.MaxValue);
    }

    [Fact]
    public void Nothing_to_grow_and_a_damaged_table()
    {
        var table = Logicals(1L << 30);
        MbrPartitionGrowth.Plan(table, (1L << 30) / 512).Should().BeNull("the last partition already ends on the last sector");
        MbrPartitionGrowth.Plan(table, (512L << 20) / 512).Should().BeNull("a smaller disk gives nothing to grow");

        var overlapping = new MbrPartitionTable(new MasterBootRecord(new[]
        {
            MbrPartitionEntry.Create(MbrPartitionType.Linux, 2048, 20480, 0, false, DiskGeometry.Lba),
            MbrPartitionEntry.Create(MbrPartitionType.Linux, 10000, 20480, 0, false, DiskGeometry.Lba),
            MbrPartitionEntry.Empty, MbrPartitionEntry.Empty,
        }, 7), [], (64L << 20) / 512);
        var plan = () => MbrPartitionGrowth.Plan(overlapping, (128L << 20) / 512);
        plan.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidPartitionTable).WithMessage("*overlap*");
    }
}
