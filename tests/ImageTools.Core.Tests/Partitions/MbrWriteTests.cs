using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>
/// Tables we write read back through sfdisk as intended, and their sectors are byte for byte what sfdisk
/// writes for the same layout (CHS fields included).
/// </summary>
public class MbrWriteTests
{
    private static void Write(string image, MbrPartitionTable table)
    {
        using var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        table.WriteTo(f);
    }

    /// <summary>The sectors holding the table (MBR and EBRs) must be identical in both images.</summary>
    private static void TableSectorsShouldBeIdentical(string ours, string sfdisks, MbrPartitionTable table)
    {
        var sectors = new[] { 0L }.Concat(table.ExtendedBootRecords.Select(e => e.Sector)).ToList();
        foreach (var lba in sectors)
        {
            TestDisk.ReadSector(ours, lba).Should().Equal(TestDisk.ReadSector(sfdisks, lba), $"sector {lba} holds a table");
        }
    }

    [Fact]
    public void Primaries_beyond_1024_cylinders_match_sfdisk_byte_for_byte()
    {
        using var dir = new TempDirectory();
        const long size = 20L << 30;
        var ours = TestDisk.Create(dir, "ours.img", size);
        var theirs = TestDisk.Create(dir, "sfdisk.img", size);

        var table = new MbrPartitionTableBuilder(size)
            .WithDiskSignature(0xc0ffee01)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: 1_048_576, bootable: true) // /boot, 512 MiB
            .AddPrimary(MbrPartitionType.LinuxSwap, sizeSectors: 15_999_999)           // ends inside cylinder 1000-odd
            .AddPrimary(MbrPartitionType.Fat32Lba, sizeSectors: 2_000_001)              // starts beyond cylinder 1023
            .AddPrimary(MbrPartitionType.Linux)                                         // the rest of the disk
            .Build();
        Write(ours, table);

        Sfdisk.Apply(theirs, """
            label: dos
            label-id: 0xc0ffee01
            size=1048576, type=83, bootable
            size=15999999, type=82
            size=2000001, type=c
            type=83
            """);

        Sfdisk.Dump(ours).Should().Be(Sfdisk.Dump(theirs));
        TableSectorsShouldBeIdentical(ours, theirs, table);
        table.Partitions[2].StartSector.Should().BeGreaterThan(1024L * 255 * 63, "the test must exercise the CHS cap");
        Sfdisk.Verify(ours).ExitCode.Should().Be(0);
    }

    [Fact]
    public void Extended_partition_with_logical_ones_matches_sfdisk_byte_for_byte()
    {
        using var dir = new TempDirectory();
        const long size = 100L << 20;
        var ours = TestDisk.Create(dir, "ours.img", size);
        var theirs = TestDisk.Create(dir, "sfdisk.img", size);

        var table = new MbrPartitionTableBuilder(size)
            .WithDiskSignature(0x600dd15c)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: 20480, bootable: true)
            .AddExtended(sizeSectors: 150000)
            .AddPrimary(MbrPartitionType.Fat32Lba, sizeSectors: 10000)
            .AddLogical(MbrPartitionType.Linux, sizeSectors: 10240)
            .AddLogical(MbrPartitionType.LinuxSwap, sizeSectors: 10001)
            .AddLogical(MbrPartitionType.Ntfs, sizeSectors: 3333, bootable: true)
            .AddLogical(MbrPartitionType.LinuxLvm)
            .Build();
        Write(ours, table);

        Sfdisk.Apply(theirs, $"""
            label: dos
            label-id: 0x600dd15c
            size=20480, type=83, bootable
            size=150000, type=5
            size=10000, type=c
            {theirs}5 : size=10240, type=83
            {theirs}6 : size=10001, type=82
            {theirs}7 : size=3333, type=7, bootable
            {theirs}8 : type=8e
            """);

        Sfdisk.Dump(ours).Should().Be(Sfdisk.Dump(theirs));
        TableSectorsShouldBeIdentical(ours, theirs, table);
        table.ExtendedBootRecords.Should().HaveCount(4);
        Sfdisk.Verify(ours).ExitCode.Should().Be(0);
    }

    [Fact]
    public void What_we_write_is_what_we_asked_for()
    {
        using var dir = new TempDirectory();
        const long size = 64L << 20;
        var image = TestDisk.Create(dir, "intent.img", size);
        var table = new MbrPartitionTableBuilder(size)
            .WithDiskSignature(0x0000beef)
            .WithAlignment(1)
            .AddPrimary(MbrPartitionType.EfiSystem, sizeSectors: 777, startSector: 100)
            .AddExtended(startSector: 2000, sizeSectors: 50000, type: MbrPartitionType.ExtendedLba)
            .AddLogical(MbrPartitionType.Linux, sizeSectors: 1000, startSector: 2010)
            .AddLogical(MbrPartitionType.Linux, sizeSectors: 999)
            .Build();
        Write(image, table);

        var sfdisk = Sfdisk.Json(image);
        sfdisk.Id.Should().Be("0x0000beef");
        sfdisk.Partitions.Should().Equal(
            new SfdiskPartition(1, 100, 777, "ef", false, null, null),
            new SfdiskPartition(2, 2000, 50000, "f", false, null, null),
            new SfdiskPartition(5, 2010, 1000, "83", false, null, null),
            // unaligned: the second EBR right after partition 5, the partition right after its EBR
            new SfdiskPartition(6, 3011, 999, "83", false, null, null));
        Sfdisk.Verify(image).ExitCode.Should().Be(0);
    }

    [Fact]
    public void A_table_read_from_sfdisk_and_written_elsewhere_is_the_same_bytes()
    {
        using var dir = new TempDirectory();
        const long size = 100L << 20;
        var original = TestDisk.Create(dir, "original.img", size);
        var copy = TestDisk.Create(dir, "copy.img", size);
        Sfdisk.Apply(original, $"""
            label: dos
            start=2048, size=20480, type=83
            start=22528, size=100000, type=85
            {original}5 : start=24576, size=10240, type=83
            {original}6 : start=36864, size=10240, type=82
            """);

        var table = TestDisk.ReadTable(original).Mbr;
        Write(copy, table);

        TableSectorsShouldBeIdentical(copy, original, table);
    }

    [Fact]
    public void Boot_code_is_left_untouched_unless_asked()
    {
        using var dir = new TempDirectory();
        const long size = 16L << 20;
        var image = TestDisk.Create(dir, "boot.img", size);
        var bootCode = new byte[MasterBootRecord.BootCodeLength];
        new Random(7).NextBytes(bootCode);
        TestDisk.WriteBytes(image, 0, bootCode);

        Write(image, new MbrPartitionTableBuilder(size).WithDiskSignature(1).AddPrimary(MbrPartitionType.Linux).Build());
        TestDisk.ReadBytes(image, 0, bootCode.Length).Should().Equal(bootCode, "a table update keeps the installed boot loader");
        Sfdisk.Json(image).Partitions.Should().ContainSingle();

        var newCode = new byte[MasterBootRecord.BootCodeLength];
        new Random(8).NextBytes(newCode);
        var builder = new MbrPartitionTableBuilder(size) { BootCode = newCode };
        Write(image, builder.WithDiskSignature(2).AddPrimary(MbrPartitionType.Linux).Build());
        TestDisk.ReadBytes(image, 0, newCode.Length).Should().Equal(newCode, "boot code given to the builder is installed");
        Sfdisk.Json(image).Id.Should().Be("0x00000002");
    }

    [Fact]
    public void Impossible_layouts_are_refused_with_the_partition_and_sectors()
    {
        const long size = 16L << 20; // 32768 sectors
        var tooBig = () => new MbrPartitionTableBuilder(size).AddPrimary(MbrPartitionType.Linux, sizeSectors: 40000).Build();
        tooBig.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.DoesNotFit)
            .WithMessage("partition 1 (sectors 2048-42047) does not fit in the disk, which allows sectors 1-32767");

        var overlapping = () => new MbrPartitionTableBuilder(size)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: 4096, startSector: 2048)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: 4096, startSector: 4096)
            .Build();
        overlapping.Should().Throw<ImageToolsException>()
            .WithMessage("*partition 1 (sectors 2048-6143) and partition 2 (sectors 4096-8191) overlap on sectors 4096-6143*");

        var five = () =>
        {
            var b = new MbrPartitionTableBuilder(size);
            for (var i = 0; i < 5; i++)
            {
                b.AddPrimary(MbrPartitionType.Linux, sizeSectors: 2048);
            }
            return b.Build();
        };
        five.Should().Throw<ImageToolsException>().WithMessage("*4 primary entries*");

        var logicalWithoutExtended = () => new MbrPartitionTableBuilder(size).AddLogical(MbrPartitionType.Linux);
        logicalWithoutExtended.Should().Throw<ImageToolsException>().WithMessage("*needs an extended partition*");
    }
}
