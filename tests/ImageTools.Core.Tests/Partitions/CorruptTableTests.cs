using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>
/// One field of a good sfdisk-made table is corrupted at a time; each gives its own precise error (and where
/// sfdisk has an opinion, it agrees that the table is bad).
/// </summary>
public class CorruptTableTests : IDisposable
{
    // Layout (100 MiB = 204800 sectors): 1 = 2048-22527 bootable, 2 = extended 22528-122527,
    // 3 = 122880-142879, 4 = 143360-163839; logical 5 = 24576-34815, 6 = 36864-47103, 7 = 49152-59151.
    private const long ExtendedStart = 22528;
    private readonly TempDirectory _dir = new();
    private readonly string _image;

    public CorruptTableTests()
    {
        _image = TestDisk.Create(_dir, "good.img", 100L << 20);
        Sfdisk.Apply(_image, $"""
            label: dos
            label-id: 0x11223344
            start=2048, size=20480, type=83, bootable
            start=22528, size=100000, type=5
            start=122880, size=20000, type=83
            start=143360, size=20480, type=82
            {_image}5 : start=24576, size=10240, type=83
            {_image}6 : start=36864, size=10240, type=83
            {_image}7 : start=49152, size=10000, type=7
            """);
    }

    public void Dispose() => _dir.Dispose();

    private static long EntryOffset(long sector, int slot) => sector * TestDisk.Sector + MasterBootRecord.EntryOffset(slot);

    private ImageToolsException ReadFails()
    {
        var read = () => TestDisk.ReadTable(_image);
        return read.Should().Throw<ImageToolsException>().Which;
    }

    [Fact]
    public void The_fixture_is_sound()
    {
        var table = TestDisk.ReadTable(_image);
        table.Partitions.Select(p => p.Number).Should().Equal(1, 2, 3, 4, 5, 6, 7);
        table.Mbr.ExtendedBootRecords.Select(e => e.Sector).Should().Equal(22528, 34816, 47104);
        table.FindProblems().Should().BeEmpty();
    }

    [Fact]
    public void Bad_signature()
    {
        TestDisk.WriteBytes(_image, 510, new byte[] { 0x55, 0xAB });

        var e = ReadFails();
        e.Kind.Should().Be(ErrorKind.InvalidPartitionTable);
        e.Message.Should().Be($"{_image}: no partition table: sector 0 ends in 0x55ab at byte 0x1FE, not the MBR signature 0x55AA");
        e.Path.Should().Be(_image);
        ExternalTools.Run("sfdisk", "--dump", _image).StdErr.Should().Contain("does not contain a recognized partition table");
    }

    [Fact]
    public void Bad_status_byte()
    {
        TestDisk.WriteBytes(_image, EntryOffset(0, 2), new byte[] { 0x12 });

        var e = ReadFails();
        e.Kind.Should().Be(ErrorKind.InvalidPartitionTable);
        e.Message.Should().Be($"{_image}: MBR entry of partition 3 (byte 0x1DE of sector 0) has status byte 0x12; only 0x00 and 0x80 (bootable) are valid");
    }

    [Fact]
    public void Overlapping_partitions()
    {
        // Partition 3 made to start inside partition 1 (and so cross the extended partition too).
        TestDisk.WriteUInt32(_image, EntryOffset(0, 2) + MbrPartitionEntry.StartLbaOffset, 10000);

        var table = TestDisk.ReadTable(_image);
        table.FindProblems().Should().Equal(
            "partition 1 (sectors 2048-22527) and partition 3 (sectors 10000-29999) overlap on sectors 10000-22527",
            "partition 2 (sectors 22528-122527) and partition 3 (sectors 10000-29999) overlap on sectors 22528-29999");
        var validate = () => table.Validate();
        validate.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidPartitionTable)
            .WithMessage($"{_image}: invalid MBR partition table: partition 1 (sectors 2048-22527) and partition 3*");
        Sfdisk.Verify(_image).StdErr.Should().Contain("overlaps");
    }

    [Fact]
    public void Partition_past_the_end_of_the_disk()
    {
        // Cut the image inside partition 4: its last 480 sectors are gone.
        using (var f = new FileStream(_image, FileMode.Open)) f.SetLength(163360L * 512);

        TestDisk.ReadTable(_image).FindProblems().Should().Equal(
            "partition 4 (sectors 143360-163839) ends past the end of the disk (last sector 163359, 163360 sectors)");
    }

    [Fact]
    public void Zero_sized_entry_with_a_type()
    {
        TestDisk.WriteUInt32(_image, EntryOffset(0, 3) + MbrPartitionEntry.SectorCountOffset, 0);

        var table = TestDisk.ReadTable(_image);
        table.Partitions.Select(p => p.Number).Should().Equal(1, 2, 3, 5, 6, 7);
        table.FindProblems().Should().Equal("partition 4 has type 0x82 (Linux swap / Solaris) but 0 sectors");
    }

    [Fact]
    public async Task Ebr_chain_loop_is_an_error_not_a_hang()
    {
        // The last EBR (partition 7's, at 47104) links back to the first one (relative start 0).
        var link = EntryOffset(47104, 1);
        TestDisk.WriteBytes(_image, link + MbrPartitionEntry.TypeOffset, new byte[] { MbrPartitionType.Extended });
        TestDisk.WriteUInt32(_image, link + MbrPartitionEntry.StartLbaOffset, 0);
        TestDisk.WriteUInt32(_image, link + MbrPartitionEntry.SectorCountOffset, 12288);

        var read = Task.Run(() => TestDisk.ReadTable(_image), TestContext.Current.CancellationToken);
        (await Task.WhenAny(read, Task.Delay(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken))).Should().BeSameAs(read, "reading must not hang");
        var act = async () => await read;
        (await act.Should().ThrowAsync<ImageToolsException>()).Which.Message.Should().Be(
            $"{_image}: the EBR chain of extended partition 2 loops: the EBR of partition 7 at sector 47104 links to sector 22528, " +
            "already read as the EBR of partition 5");
    }

    [Fact]
    public void Ebr_past_the_end_of_the_disk()
    {
        // Partition 6's link sent far beyond the 204800-sector disk, and the extended partition stretched to match.
        TestDisk.WriteUInt32(_image, EntryOffset(0, 1) + MbrPartitionEntry.SectorCountOffset, 3_000_000);
        TestDisk.WriteUInt32(_image, EntryOffset(34816, 1) + MbrPartitionEntry.StartLbaOffset, 2_000_000);

        var e = ReadFails();
        e.Kind.Should().Be(ErrorKind.InvalidPartitionTable);
        e.Message.Should().Be($"{_image}: EBR at sector {ExtendedStart + 2_000_000} (for partition 7, linked from the EBR of partition 6 " +
                              "at sector 34816) lies past the end of the disk (204800 sectors)");
    }

    [Fact]
    public void Ebr_outside_the_extended_partition()
    {
        // Inside the disk but beyond the extended partition's last sector 122527: on partition 3.
        TestDisk.WriteUInt32(_image, EntryOffset(34816, 1) + MbrPartitionEntry.StartLbaOffset, 110000);

        var e = ReadFails();
        e.Message.Should().Be($"{_image}: EBR at sector 132528 (for partition 7, linked from the EBR of partition 6 at sector 34816) " +
                              "lies outside extended partition 2 (sectors 22528-122527)");
    }

    [Fact]
    public void Ebr_without_its_signature()
    {
        TestDisk.WriteBytes(_image, 34816L * 512 + 510, new byte[] { 0, 0 });

        var e = ReadFails();
        e.Message.Should().Be($"{_image}: EBR at sector 34816 (for partition 6, linked from the EBR of partition 5 at sector 22528): " +
                              "bytes 0x1FE-0x1FF are 0x0000, not the EBR signature 0x55AA (the chain of logical partitions is broken)");
    }

    [Fact]
    public void Logical_partition_outside_the_extended_one()
    {
        // Partition 7 grown past the extended partition's end (122527), over partition 3.
        TestDisk.WriteUInt32(_image, EntryOffset(47104, 0) + MbrPartitionEntry.SectorCountOffset, 80000);

        TestDisk.ReadTable(_image).FindProblems().Should().Equal(
            "logical partition 7 (sectors 49152-129151) is not entirely inside extended partition 2 (sectors 22528-122527)");
        Sfdisk.Verify(_image).StdErr.Should().Contain("Logical partition 7: not entirely in partition 2");
    }

    [Fact]
    public void Logical_partition_over_the_next_ebr()
    {
        // Partition 5 grown over partition 6's EBR at 34816.
        TestDisk.WriteUInt32(_image, EntryOffset(22528, 0) + MbrPartitionEntry.SectorCountOffset, 11000);

        TestDisk.ReadTable(_image).FindProblems().Should().Equal(
            "partition 5 (sectors 24576-35575) covers sector 34816, the EBR of partition 6");
    }

    [Fact]
    public void Absurdly_long_ebr_chain()
    {
        // 300 one-sector logical partitions, each EBR linking to the next: well-formed, but absurd.
        var extendedSectors = 2 * 300 + 10;
        TestDisk.WriteUInt32(_image, EntryOffset(0, 1) + MbrPartitionEntry.SectorCountOffset, (uint)extendedSectors);
        var sector = new byte[512];
        using (var f = new FileStream(_image, FileMode.Open))
        {
            for (var i = 0; i < 300; i++)
            {
                long ebr = ExtendedStart + 2 * i;
                var logical = MbrPartitionEntry.Create(MbrPartitionType.Linux, ebr + 1, 1, ebr, false, DiskGeometry.Lba);
                var next = MbrPartitionEntry.Create(MbrPartitionType.Extended, ebr + 2, 2, ExtendedStart, false, DiskGeometry.Lba);
                new ExtendedBootRecord(logical, next).Write(sector);
                f.Position = ebr * 512;
                f.Write(sector);
            }
        }

        var e = ReadFails();
        e.Kind.Should().Be(ErrorKind.InvalidPartitionTable);
        e.Message.Should().Be($"{_image}: the EBR chain of extended partition 2 goes on past 256 links (next at sector {ExtendedStart + 2 * 256}); " +
                              "no sane table has that many logical partitions");
    }

    [Fact]
    public void A_filesystem_boot_sector_is_not_taken_for_a_partition_table()
    {
        // A FAT boot sector ends in 0x55AA too, and mkfs.fat leaves the "entries" zero: an empty MBR to a naive reader.
        var fat = TestDisk.Create(_dir, "fat.img", 40L << 20);
        var mkfs = ExternalTools.Run("mkfs.fat", "-F", "32", fat);
        mkfs.ExitCode.Should().Be(0, mkfs.ToString());
        MasterBootRecord.HasBootSignature(TestDisk.ReadSector(fat, 0)).Should().BeTrue();

        PartitionTable.LooksPartitioned(TestDisk.ReadSector(fat, 0)).Should().BeFalse();
        var read = () => TestDisk.ReadTable(fat);
        read.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.WrongInputKind)
            .WithMessage($"{fat}: no partition table: sector 0 is a FAT32 boot sector, so the image is a bare filesystem");
    }
}
