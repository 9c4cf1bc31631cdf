using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// Real boots: a disk whose partitions are made by the reference tools (scaffolding) and whose GRUB is
/// installed by our code alone boots in QEMU through SeaBIOS → boot.img → core.img → grub.cfg → Linux →
/// the test initramfs, which prints a marker read from the root filesystem. Only that marker passes.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class GrubBootTests
{
    [Theory]
    [InlineData(DiskInterface.Virtio)]
    [InlineData(DiskInterface.Ide)]
    public void Kernel_on_the_boot_partition_boots_to_the_root_filesystem(DiskInterface diskInterface)
    {
        var fixtures = BootFixtures.Require();
        ExternalTools.Require(QemuBoot.Emulator);
        using var work = new TempDirectory();
        var disk = GrubTestDisk.Build(work, fixtures, new GrubTestDiskOptions { Kernel = KernelPlacement.BootPartition });

        var result = QemuBoot.Run(disk.Path, new QemuBootOptions { Interface = diskInterface });

        result.Outcome.Should().Be(BootOutcome.Marker, result.Diagnostics);
        result.Marker.Should().Be(disk.Marker, result.Diagnostics);
        // The way there: our boot sector and core image ran (SeaBIOS mirrors "GRUB loading."), GRUB read
        // our grub.cfg from the boot partition (its serial terminal), and the guest found the root by UUID.
        result.SerialLog.Should().Contain("GRUB loading", result.Diagnostics);
        result.SerialLog.Should().Contain($"root UUID={disk.Scaffold.Spec.RootUuid}", result.Diagnostics);
        result.SerialLog.Should().Contain(diskInterface == DiskInterface.Virtio ? "/dev/vda1" : "/dev/sda1", result.Diagnostics);
    }

    [Fact]
    public void Kernel_inside_the_root_filesystem_is_read_by_grub_through_the_vmlinuz_link()
    {
        var fixtures = BootFixtures.Require();
        ExternalTools.Require(QemuBoot.Emulator);
        using var work = new TempDirectory();
        var disk = GrubTestDisk.Build(work, fixtures, new GrubTestDiskOptions
        {
            Kernel = KernelPlacement.RootFilesystem,
            RootFsType = "ext4",
            ModuleSet = GrubModuleSet.Minimal,
        });

        // The boot partition holds no kernel at all: GRUB can only have read /vmlinuz from the root partition.
        disk.GrubConfig.Should().Contain("search --no-floppy --fs-uuid --set=root");
        disk.GrubConfig.Should().Contain("linux /vmlinuz ");
        Directory.EnumerateFiles(Path.Combine(work.Path, "boot-tree"), "vmlinuz*", SearchOption.AllDirectories).Should().BeEmpty();

        var result = QemuBoot.Run(disk.Path, new QemuBootOptions { Interface = DiskInterface.Virtio });

        result.Outcome.Should().Be(BootOutcome.Marker, result.Diagnostics);
        result.Marker.Should().Be(disk.Marker, result.Diagnostics);
    }

    [Fact]
    public void A_failure_in_the_guest_is_reported_at_once_with_its_reason()
    {
        var fixtures = BootFixtures.Require();
        ExternalTools.Require(QemuBoot.Emulator);
        using var work = new TempDirectory();
        var disk = GrubTestDisk.Build(work, fixtures, new GrubTestDiskOptions { ExtraKernelArguments = "imagetools.marker=/no-such-marker" });

        var result = QemuBoot.Run(disk.Path, new QemuBootOptions { Interface = DiskInterface.Virtio });

        result.Outcome.Should().Be(BootOutcome.Failure, result.Diagnostics);
        result.FailureLine.Should().StartWith("IMAGETOOLS-FAIL: no /no-such-marker in the root filesystem on /dev/vda1", result.Diagnostics);
        result.Marker.Should().BeNull();
        // The initramfs powers the guest off after a failure, so a broken image costs seconds, not the whole bound.
        result.Elapsed.Should().BeLessThan(new QemuBootOptions().Timeout);
    }
}
