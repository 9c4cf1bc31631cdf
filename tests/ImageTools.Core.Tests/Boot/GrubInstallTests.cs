using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class GrubInstallTests
{
    [Fact]
    public void Boot_sector_takes_the_code_from_boot_img_and_keeps_the_disks_bpb_signature_and_table()
    {
        var grub = GrubFiles.Open();
        var sector = new byte[512];
        new Random(42).NextBytes(sector);
        var original = (byte[])sector.Clone();

        GrubBootSector.Install(grub.BootImage, sector, coreImageLba: 1);

        // As the implementation note says grub-bios-setup writes it (ImageTools.Boot.Tests compares with the real thing):
        for (int i = 0; i < 512; i++)
        {
            byte expected = i switch
            {
                >= 0x03 and < 0x5A => original[i],           // BPB area: the disk's
                >= 0x5C and < 0x64 => i == 0x5C ? (byte)1 : (byte)0, // kernel sector: LBA 1
                0x64 => 0xFF,                                 // boot drive: from the BIOS
                0x66 or 0x67 => 0x90,                         // drive check: NOPs
                >= 0x1B8 and < 0x1FE => original[i],         // disk signature, reserved, partition table: the disk's
                _ => grub.BootImage[i],                       // code, messages, 55 AA: boot.img's
            };
            sector[i].Should().Be(expected, $"byte 0x{i:X3}");
        }
        grub.BootImage.AsSpan(0x66, 2).ToArray().Should().Equal(0xEB, 0x05);
        GrubBootSector.ReadCoreImageLba(sector).Should().Be(1);
    }

    [Fact]
    public void Installing_on_a_sfdisk_disk_keeps_the_table_that_sfdisk_reads_back()
    {
        var grub = GrubFiles.Open();
        using var work = new TempDirectory();
        // Partition 1 last on the disk, partition 2 first: the gap ends at the lowest start, not at slot 1's.
        var disk = MakeDisk(work, "disk.img1 : start=6144, size=2048, type=83\ndisk.img2 : start=2048, size=4096, type=83, bootable\n");
        var before = Sfdisk.Dump(disk);
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = GrubPrefix.ForMsdosPartition(1) });

        using (var stream = new FileStream(disk, FileMode.Open, FileAccess.ReadWrite))
        {
            GrubDiskInstaller.Install(stream, grub.BootImage, core).Should().Be(new GrubInstallation(1, core.SectorCount, 2048));
        }

        Sfdisk.Dump(disk).Should().Be(before);
        var bytes = File.ReadAllBytes(disk);
        bytes.AsSpan(512, core.Bytes.Length).ToArray().Should().Equal(core.Bytes);
        bytes.AsSpan(512 + core.Bytes.Length, core.SectorCount * 512 - core.Bytes.Length).ToArray().Should().OnlyContain(b => b == 0);
        bytes.AsSpan(0x5A, 0x1B8 - 0x5A).ToArray().Should().Equal(PatchedCode(grub));
    }

    [Fact]
    public void A_core_image_that_does_not_fit_before_the_first_partition_is_refused_with_the_numbers()
    {
        var grub = GrubFiles.Open();
        using var work = new TempDirectory();
        var disk = MakeDisk(work, "disk.img1 : start=40000, size=4096, type=83\ndisk.img3 : start=34, size=4096, type=83\n");
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = GrubPrefix.ForMsdosPartition(1) });
        var before = File.ReadAllBytes(disk);

        using (var stream = new FileStream(disk, FileMode.Open, FileAccess.ReadWrite))
        {
            var act = () => GrubDiskInstaller.Install(stream, grub.BootImage, core, "disk.img");
            act.Should().Throw<ImageToolsException>()
                .Where(e => e.Kind == ErrorKind.DoesNotFit)
                .WithMessage($"*LBA 1..{core.SectorCount}*first partition starts at LBA 34*");
        }
        File.ReadAllBytes(disk).Should().Equal(before, "nothing is written when the core does not fit");
    }

    [Fact]
    public void A_disk_without_a_partition_table_is_refused()
    {
        var grub = GrubFiles.Open();
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = GrubPrefix.ForMsdosPartition(1) });
        using var stream = new MemoryStream(new byte[4 << 20]);

        var act = () => GrubDiskInstaller.Install(stream, grub.BootImage, core);

        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidPartitionTable).WithMessage("*0x55AA*");
    }

    [Fact]
    public void A_gpt_disk_is_refused()
    {
        var grub = GrubFiles.Open();
        using var work = new TempDirectory();
        var disk = work.File("gpt.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(8 << 20);
        }
        Sfdisk.Apply(disk, "label: gpt\nstart=2048, size=4096, type=L\n");
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = GrubPrefix.ForMsdosPartition(1) });
        using var stream = new FileStream(disk, FileMode.Open, FileAccess.ReadWrite);

        var act = () => GrubDiskInstaller.Install(stream, grub.BootImage, core, "gpt.img");

        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.UnsupportedFeature).WithMessage("gpt.img has a GPT*");
    }

    private static byte[] PatchedCode(GrubPlatformDirectory grub)
    {
        var code = grub.BootImage[0x5A..0x1B8];
        BinaryPrimitives.WriteUInt64LittleEndian(code.AsSpan(0x5C - 0x5A), 1);
        code[0x64 - 0x5A] = 0xFF;
        code[0x66 - 0x5A] = 0x90;
        code[0x67 - 0x5A] = 0x90;
        return code;
    }

    private static string MakeDisk(TempDirectory work, string partitions)
    {
        var disk = work.File("disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(32 << 20);
        }
        Sfdisk.Apply(disk, "label: dos\nlabel-id: 0x0badf00d\nunit: sectors\n\n" + partitions);
        return disk;
    }
}
