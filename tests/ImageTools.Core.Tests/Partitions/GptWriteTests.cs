using System.Text;
using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>
/// GPTs we write: sgdisk -v finds no problem, sfdisk reads them as laid out, our reader reads them back, and the
/// sectors are byte for byte what sgdisk writes for the same layout and identifiers.
/// </summary>
public class GptWriteTests
{
    private static readonly Guid DiskGuid = new("6A1F3E2B-0C4D-4E5F-8A9B-0C1D2E3F4A5B");
    private static readonly Guid BiosGuid = new("11111111-2222-4333-8444-555555555555");
    private static readonly Guid EspGuid = new("22222222-3333-4444-8555-666666666666");
    private static readonly Guid RootGuid = new("33333333-4444-4555-8666-777777777777");

    /// <summary>Debian's cloud layout: BIOS boot 14, ESP 15, root 1 last on the disk.</summary>
    private static GptDiskLayout Hybrid(long size, byte[]? seed = null)
    {
        var builder = new GptPartitionTableBuilder(size) { Seed = seed };
        if (seed == null)
        {
            builder.DiskGuid = DiskGuid;
        }
        return builder
            .Add(14, GptPartitionType.BiosBoot, "BIOS boot", 2048, seed == null ? BiosGuid : null)
            .Add(15, GptPartitionType.EfiSystem, "EFI System", 64 * 2048, seed == null ? EspGuid : null)
            .Add(1, GptPartitionType.LinuxRootX86_64, "root", null, seed == null ? RootGuid : null)
            .Build();
    }

    private static void Write(string image, GptDiskLayout layout)
    {
        using var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        layout.WriteTo(f);
    }

    private static void ShouldVerifyWithSgdisk(string image)
    {
        var r = ExternalTools.Run("sgdisk", "-v", image);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdOut.Should().Contain("No problems found", r.ToString());
    }

    [Fact]
    public void Hybrid_layout_verifies_with_sgdisk_and_reads_back_through_sfdisk()
    {
        using var dir = new TempDirectory();
        const long size = 300L << 20;
        var image = TestDisk.Create(dir, "gpt.img", size);
        var layout = Hybrid(size);
        Write(image, layout);

        ShouldVerifyWithSgdisk(image);
        var sfdisk = Sfdisk.Json(image);
        sfdisk.Label.Should().Be("gpt");
        sfdisk.Id.Should().Be(DiskGuid.ToString("D").ToUpperInvariant());
        sfdisk.FirstLba.Should().Be(34);
        sfdisk.LastLba.Should().Be(size / 512 - 34);
        sfdisk.Partitions.Select(p => (p.Number, p.Start, p.Size, p.Type, p.Uuid, p.Name)).Should().Equal(
            (1, 135168L, size / 512 - 34 - 135168 + 1, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", RootGuid.ToString("D").ToUpperInvariant(), "root"),
            (14, 2048L, 2048L, "21686148-6449-6E6F-744E-656564454649", BiosGuid.ToString("D").ToUpperInvariant(), "BIOS boot"),
            (15, 4096L, 131072L, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", EspGuid.ToString("D").ToUpperInvariant(), "EFI System"));

        var table = TestDisk.ReadTable(image);
        table.Scheme.Should().Be(PartitionScheme.Gpt);
        table.FindProblems().Should().BeEmpty();
        table.Gpt!.UsesBackupHeader.Should().BeFalse();
        table.Partitions.Select(p => p.Number).Should().Equal(1, 14, 15);
    }

    [Fact]
    public void Sectors_match_what_sgdisk_writes_for_the_same_layout()
    {
        using var dir = new TempDirectory();
        const long size = 300L << 20;
        var ours = TestDisk.Create(dir, "ours.img", size);
        var theirs = TestDisk.Create(dir, "sgdisk.img", size);
        Write(ours, Hybrid(size));

        var r = ExternalTools.Run("sgdisk", "-o", "-U", DiskGuid.ToString(),
            "-n", "14:2048:+1M", "-t", "14:EF02", "-u", $"14:{BiosGuid}", "-c", "14:BIOS boot",
            "-n", "15:4096:+64M", "-t", "15:EF00", "-u", $"15:{EspGuid}", "-c", "15:EFI System",
            "-n", "1:135168:0", "-t", "1:8304", "-u", $"1:{RootGuid}", "-c", "1:root", theirs);
        r.ExitCode.Should().Be(0, r.ToString());

        var sectors = size / 512;
        foreach (var lba in Enumerable.Range(0, 34).Select(i => (long)i).Concat(Enumerable.Range(0, 33).Select(i => sectors - 33 + i)))
        {
            TestDisk.ReadSector(ours, lba).Should().Equal(TestDisk.ReadSector(theirs, lba), $"sector {lba} holds the GPT or the protective MBR");
        }
    }

    [Fact]
    public void Boot_code_is_installed_in_the_protective_mbr()
    {
        using var dir = new TempDirectory();
        const long size = 64L << 20;
        var image = TestDisk.Create(dir, "gpt.img", size);
        var code = Enumerable.Range(0, MasterBootRecord.BootCodeLength).Select(i => (byte)(i * 7)).ToArray();
        var layout = new GptPartitionTableBuilder(size) { BootCode = code }
            .Add(1, GptPartitionType.LinuxFilesystem, "data").Build();
        Write(image, layout);

        TestDisk.ReadSector(image, 0)[..MasterBootRecord.BootCodeLength].Should().Equal(code);
        ShouldVerifyWithSgdisk(image);
    }

    [Fact]
    public void Seeded_identifiers_are_reproducible_and_differ_between_seeds()
    {
        const long size = 300L << 20;
        var a = Hybrid(size, Encoding.UTF8.GetBytes("seed one"));
        var b = Hybrid(size, Encoding.UTF8.GetBytes("seed one"));
        var c = Hybrid(size, Encoding.UTF8.GetBytes("seed two"));

        a.EncodeTableSectors().SelectMany(s => s.Bytes).Should().Equal(b.EncodeTableSectors().SelectMany(s => s.Bytes));
        a.DiskGuid.Should().NotBe(c.DiskGuid);
        a.Partitions.Select(p => p.Entry.UniqueGuid).Should().OnlyHaveUniqueItems();
        a.Partitions.Select(p => p.Entry.UniqueGuid).Should().NotIntersectWith(c.Partitions.Select(p => p.Entry.UniqueGuid));
        // Version 4, RFC variant: tools that check the shape of a GUID accept them.
        a.DiskGuid.ToString()[14].Should().Be('4');
        "89ab".Should().Contain(a.DiskGuid.ToString()[19].ToString());
    }

    [Fact]
    public void Table_moved_to_a_larger_disk_verifies_and_keeps_every_entry()
    {
        using var dir = new TempDirectory();
        const long size = 100L << 20;
        var image = TestDisk.Create(dir, "gpt.img", size);
        Write(image, new GptPartitionTableBuilder(size) { DiskGuid = DiskGuid }
            .Add(1, GptPartitionType.LinuxFilesystem, "one", 20480)
            .Add(2, GptPartitionType.LinuxSwap, "two").Build());
        var table = TestDisk.ReadTable(image).Gpt!;

        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.SetLength(size * 3);
            var moved = GptDiskLayout.From(table, size * 3 / 512);
            foreach (var (lba, bytes) in moved.EncodeTableSectors())
            {
                f.Position = lba * 512;
                f.Write(bytes);
            }
            f.Position = 0;
            var sector0 = new byte[512];
            f.ReadExactly(sector0);
            f.Position = 0;
            f.Write(moved.PatchProtectiveMbr(sector0, image));
        }

        ShouldVerifyWithSgdisk(image);
        var reread = TestDisk.ReadTable(image).Gpt!;
        reread.Header.AlternateLba.Should().Be((ulong)(size * 3 / 512 - 1));
        reread.Partitions.Should().Equal(table.Partitions);
    }

    [Fact]
    public void Layouts_that_do_not_fit_or_overlap_are_refused_before_writing()
    {
        var tooBig = () => new GptPartitionTableBuilder(10L << 20).Add(1, GptPartitionType.LinuxFilesystem, "big", 40000).Build();
        tooBig.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.DoesNotFit && e.Message.Contains("partition 1"));

        var longName = () => new GptPartitionTableBuilder(10L << 20).Add(1, GptPartitionType.LinuxFilesystem, new string('x', 37)).Build();
        longName.Should().Throw<ImageToolsException>().WithMessage("*longer than 36*");

        var twice = () => new GptPartitionTableBuilder(10L << 20).Add(1, GptPartitionType.LinuxFilesystem, "a", 100).Add(1, GptPartitionType.LinuxSwap, "b");
        twice.Should().Throw<ImageToolsException>().WithMessage("*added twice*");

        var entries = Enumerable.Repeat(new GptPartitionEntry(), 128).ToArray();
        entries[0] = new GptPartitionEntry { TypeGuid = GptPartitionType.LinuxFilesystem, UniqueGuid = RootGuid, StartingLba = 2048, EndingLba = 4095 };
        entries[1] = new GptPartitionEntry { TypeGuid = GptPartitionType.LinuxSwap, UniqueGuid = EspGuid, StartingLba = 4000, EndingLba = 8191 };
        entries[2] = new GptPartitionEntry { TypeGuid = GptPartitionType.LinuxSwap, UniqueGuid = EspGuid, StartingLba = 10000, EndingLba = 10001 };
        entries[3] = new GptPartitionEntry { TypeGuid = GptPartitionType.LinuxSwap, UniqueGuid = BiosGuid, StartingLba = 16, EndingLba = 100 };
        var layout = new GptDiskLayout { DiskSectors = 20480, DiskGuid = DiskGuid, Entries = entries };
        var problems = layout.FindProblems();
        problems.Should().Contain(p => p.Contains("partition 1") && p.Contains("partition 2") && p.Contains("overlap"));
        problems.Should().Contain(p => p.Contains("partition 3") && p.Contains("same unique GUID as partition 2"));
        problems.Should().Contain(p => p.Contains("partition 4") && p.Contains("outside the usable sectors 34-20446"));
        layout.Invoking(l => l.EncodeTableSectors()).Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidArgument);
    }

    [Fact]
    public void Header_write_refuses_what_read_refuses()
    {
        var header = Hybrid(300L << 20).PrimaryHeader;
        var sector = new byte[512];
        header.Write(sector);
        GptHeader.Read(sector, "test").Should().Be(header);

        var same = () => (header with { AlternateLba = header.MyLba }).Write(new byte[512]);
        same.Should().Throw<ImageToolsException>().WithMessage("*alternate LBA*");
        var entrySize = () => (header with { EntrySize = 100 }).Write(new byte[512]);
        entrySize.Should().Throw<ImageToolsException>().WithMessage("*128 × 2^n*");
        var array = () => (header with { EntryArrayLba = 1 }).Write(new byte[512]);
        array.Should().Throw<ImageToolsException>().WithMessage("*overlap the MBR*");
    }

    [Fact]
    public void Seeded_mutations_of_the_tables_never_crash_the_reader()
    {
        const long size = 4L << 20;
        var layout = new GptPartitionTableBuilder(size) { DiskGuid = DiskGuid }
            .Add(1, GptPartitionType.EfiSystem, "esp", 2048)
            .Add(2, GptPartitionType.LinuxFilesystem, "root").Build();
        var pristine = new byte[size];
        using (var ms = new MemoryStream(pristine))
        {
            layout.WriteTo(ms);
        }
        var random = new Random(1212);
        var metadata = Enumerable.Range(0, 34).Concat(Enumerable.Range((int)(size / 512) - 33, 33)).ToArray();
        var read = 0;
        for (var round = 0; round < 400; round++)
        {
            var disk = (byte[])pristine.Clone();
            for (var flips = random.Next(1, 6); flips > 0; flips--)
            {
                var lba = metadata[random.Next(metadata.Length)];
                // Aim at the headers and the used entries half of the time: that is where the checks are.
                var offset = random.Next(2) == 0 ? lba * 512 + random.Next(512) : (random.Next(2) == 0 ? 512 : 1024) + random.Next(256);
                disk[offset] = (byte)random.Next(256);
            }
            try
            {
                var table = PartitionTable.Read(new MemoryStream(disk), size, "mutated");
                table.FindProblems();
                read++;
            }
            catch (ImageToolsException)
            {
                // Refusing with a diagnosis is a correct outcome.
            }
        }
        read.Should().BeGreaterThan(0, "some mutations leave a readable table (e.g. through the backup header)");
    }
}
