using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>Tables made by sfdisk are read exactly as <c>sfdisk -J</c> reports them, field by field.</summary>
public class SfdiskReadTests
{
    /// <summary>What sfdisk -J says, in our terms, for comparison.</summary>
    internal static IEnumerable<SfdiskPartition> AsSfdiskReports(PartitionTable table) =>
        table.Partitions.Select(p => new SfdiskPartition(p.Number, p.StartSector, p.SectorCount, p.TypeId,
            table.Scheme == PartitionScheme.Mbr && p.IsBootable,
            p.UniqueGuid?.ToString("D").ToUpperInvariant(), string.IsNullOrEmpty(p.Name) ? null : p.Name));

    [Fact]
    public void Four_primaries_with_odd_sizes_a_bootable_flag_and_starts_beyond_1024_cylinders()
    {
        using var dir = new TempDirectory();
        // 20 GiB sparse: cylinder 1024 begins at sector 1024 × 255 × 63 = 16450560.
        var image = TestDisk.Create(dir, "four.img", 20L << 30);
        Sfdisk.Apply(image, """
            label: dos
            label-id: 0x1234abcd
            start=63, size=1001, type=83
            start=2048, size=16000000, type=7, bootable
            start=16777216, size=999999, type=82
            start=30000001, size=2000003, type=ef
            """);

        var table = TestDisk.ReadTable(image);
        var sfdisk = Sfdisk.Json(image);

        sfdisk.Label.Should().Be("dos");
        table.Scheme.Should().Be(PartitionScheme.Mbr);
        table.DiskIdentifier.Should().Be(sfdisk.Id);
        sfdisk.Partitions.Should().HaveCount(4);
        AsSfdiskReports(table).Should().Equal(sfdisk.Partitions);
        table.Partitions.Select(p => p.Kind).Should().AllBeEquivalentTo(PartitionKind.Primary);
        table.FindProblems().Should().BeEmpty();
        Sfdisk.Verify(image).ExitCode.Should().Be(0);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("f")]
    [InlineData("85")]
    public void Extended_partition_with_several_logical_ones(string extendedType)
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "logical.img", 100L << 20);
        Sfdisk.Apply(image, $"""
            label: dos
            label-id: 0x0badf00d
            start=2048, size=20480, type=83, bootable
            size=150000, type={extendedType}
            size=10000, type=c
            {image}5 : size=10240, type=83
            {image}6 : size=10001, type=82
            {image}7 : size=3333, type=7, bootable
            {image}8 : type=8e
            """);

        var table = TestDisk.ReadTable(image);
        var sfdisk = Sfdisk.Json(image);

        sfdisk.Partitions.Select(p => p.Number).Should().Equal(1, 2, 3, 5, 6, 7, 8);
        table.DiskIdentifier.Should().Be(sfdisk.Id);
        AsSfdiskReports(table).Should().Equal(sfdisk.Partitions);
        table.Partitions.Single(p => p.Number == 2).Kind.Should().Be(PartitionKind.Extended);
        table.Partitions.Where(p => p.Number >= 5).Select(p => p.Kind).Should().AllBeEquivalentTo(PartitionKind.Logical);
        table.Mbr.ExtendedBootRecords.Should().HaveCount(4);
        table.FindProblems().Should().BeEmpty();
    }

    [Fact]
    public void An_ebr_without_a_partition_takes_no_number()
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "gap.img", 100L << 20);
        Sfdisk.Apply(image, $"""
            label: dos
            start=2048, size=20480, type=83
            start=22528, size=100000, type=5
            {image}5 : start=24576, size=10240, type=83
            {image}6 : start=36864, size=10240, type=83
            {image}7 : start=49152, size=10000, type=7
            """);
        // Clear partition 6's entry in its EBR (sector 34816); the EBR still links on to the next one.
        TestDisk.WriteBytes(image, 34816L * 512 + MasterBootRecord.EntryOffset(0), new byte[MbrPartitionEntry.Size]);

        var table = TestDisk.ReadTable(image);
        var sfdisk = Sfdisk.Json(image);

        sfdisk.Partitions.Select(p => p.Number).Should().Equal(1, 2, 5, 6);
        AsSfdiskReports(table).Should().Equal(sfdisk.Partitions);
        table.Mbr.ExtendedBootRecords.Should().HaveCount(3, "the empty EBR is still part of the chain");
    }

    [Fact]
    public void Type_names_are_sfdisk_names()
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "names.img", 64L << 20);
        Sfdisk.Apply(image, """
            label: dos
            start=2048, size=2048, type=83
            start=4096, size=2048, type=c
            start=6144, size=2048, type=fd
            start=8192, size=2048, type=a5
            """);
        var table = TestDisk.ReadTable(image);

        // sfdisk -l prints "Device Boot Start End Sectors Size Id Type"; the type name is the rest of each line.
        var listing = ExternalTools.Run("sfdisk", "-l", image).StdOut.Split('\n')
            .Where(l => l.StartsWith(image, StringComparison.Ordinal)).ToList();
        listing.Should().HaveCount(4);
        foreach (var p in table.Partitions)
        {
            listing[p.Number - 1].Should().EndWith($" {p.TypeId} {p.TypeName}");
        }
    }

    [Fact]
    public void Gpt_disk_is_reported_as_gpt_with_its_guid_and_partitions()
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "gpt.img", 64L << 20);
        Sfdisk.Apply(image, """
            label: gpt
            label-id: 0E2B4F0A-7C8B-4D5E-9F10-112233445566
            start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
            start=6144, size=20001, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555555, name="root fs"
            start=30000, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
            """);

        var table = TestDisk.ReadTable(image);
        var sfdisk = Sfdisk.Json(image);

        sfdisk.Label.Should().Be("gpt");
        table.Scheme.Should().Be(PartitionScheme.Gpt);
        table.Mbr.HasGptProtectiveEntry.Should().BeTrue();
        table.DiskIdentifier.Should().Be(sfdisk.Id);
        AsSfdiskReports(table).Should().Equal(sfdisk.Partitions);
        table.Gpt!.Header.FirstUsableLba.Should().Be((ulong)sfdisk.FirstLba!.Value);
        table.Gpt.Header.LastUsableLba.Should().Be((ulong)sfdisk.LastLba!.Value);
        table.Partitions[1].TypeName.Should().Be("Linux filesystem");
        table.FindProblems().Should().BeEmpty();
    }

    [Fact]
    public void Gpt_with_a_damaged_primary_header_is_read_from_the_backup_and_says_so()
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "gpt-backup.img", 32L << 20);
        Sfdisk.Apply(image, """
            label: gpt
            start=2048, size=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
            """);
        var before = Sfdisk.Json(image);
        // One flipped byte in the primary header's disk GUID breaks its CRC.
        TestDisk.WriteBytes(image, 512 + GptHeader.DiskGuidOffset, new byte[] { (byte)(TestDisk.ReadBytes(image, 512 + GptHeader.DiskGuidOffset, 1)[0] ^ 0xFF) });

        var table = TestDisk.ReadTable(image);

        table.Scheme.Should().Be(PartitionScheme.Gpt);
        table.Gpt!.UsesBackupHeader.Should().BeTrue();
        table.DiskIdentifier.Should().Be(before.Id);
        AsSfdiskReports(table).Should().Equal(before.Partitions);
        table.FindProblems().Should().ContainSingle().Which.Should().Contain("primary GPT header at LBA 1").And.Contain("CRC32");
    }
}
