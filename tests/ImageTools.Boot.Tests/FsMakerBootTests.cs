using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// <c>fsmaker ROOTIMAGE OUTPUTIMAGE</c> end to end: the disk fsmaker writes (nothing else touches it) boots in QEMU
/// through SeaBIOS, our boot.img and core.img, GRUB's menu from the boot partition, the Debian cloud kernel and
/// the test initramfs, which prints the marker file of the root filesystem named on the kernel command line.
/// Only that marker passes. One boot per kind of ROOTIMAGE; virtio and IDE both.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class FsMakerBootTests
{
    [Fact]
    public void A_directory_root_with_kernel_and_initrd_boots_on_virtio()
    {
        var (fixtures, work) = Prepare();
        using (work)
        {
            var (tree, marker) = RootTree(work, "dir");
            var disk = work.File("disk.img");

            Build(["-k", fixtures.Kernel, "-i", fixtures.Initrd, "--cmdline", "panic=1", tree, disk]);

            BootsToMarker(disk, marker, DiskInterface.Virtio, "/dev/vda1");
        }
    }

    [Fact]
    public void A_tar_root_boots_on_IDE()
    {
        var (fixtures, work) = Prepare();
        using (work)
        {
            var (tree, marker) = RootTree(work, "tar");
            var archive = work.File("root.tar.zst");
            ProcessResultOk(ProcessRunner.Shell($"tar -C '{tree}' -cf - . | zstd -q -o '{archive}'"));
            var disk = work.File("disk.img");

            Build(["-k", fixtures.Kernel, "-i", fixtures.Initrd, "--cmdline", "panic=1", archive, disk]);

            BootsToMarker(disk, marker, DiskInterface.Ide, "/dev/sda1");
        }
    }

    [Fact]
    public void An_ext4_image_with_its_own_kernel_behind_the_vmlinuz_links_boots_without_k()
    {
        var (fixtures, work) = Prepare();
        using (work)
        {
            var (tree, marker) = RootTree(work, "ext4");
            var release = fixtures.KernelRelease;
            File.Copy(fixtures.Kernel, Path.Combine(tree, "boot", "vmlinuz-" + release));
            File.Copy(fixtures.Initrd, Path.Combine(tree, "boot", "initrd.img-" + release));
            File.CreateSymbolicLink(Path.Combine(tree, "vmlinuz"), "boot/vmlinuz-" + release);
            File.CreateSymbolicLink(Path.Combine(tree, "initrd.img"), "boot/initrd.img-" + release);
            var image = work.File("root.ext4");
            ExtImages.Make(image, "ext4", 4096, tree, "48M");
            var disk = work.File("disk.img");

            Build(["--cmdline", "panic=1", image, disk]);

            // The kernel GRUB loads can only come from the root partition: the boot partition holds none.
            var boot = DiskPartitions.Extract(disk, 2, work.File("boot.part"));
            ExtImageChecks.List(boot, "/boot").Should().NotContain(n => n.StartsWith("vmlinuz", StringComparison.Ordinal));
            FileFacts.Sha256(DiskPartitions.Extract(disk, 1, work.File("root.part"))).Should().Be(FileFacts.Sha256(image));
            BootsToMarker(disk, marker, DiskInterface.Virtio, "/dev/vda1");
        }
    }

    [Fact]
    public void A_directory_root_written_as_our_ext4_boots_its_own_kernel_and_mounts_as_ext4()
    {
        var (fixtures, work) = Prepare();
        using (work)
        {
            var (tree, marker) = RootTree(work, "ext4-dir");
            var release = fixtures.KernelRelease;
            File.Copy(fixtures.Kernel, Path.Combine(tree, "boot", "vmlinuz-" + release));
            File.Copy(fixtures.Initrd, Path.Combine(tree, "boot", "initrd.img-" + release));
            File.CreateSymbolicLink(Path.Combine(tree, "vmlinuz"), "boot/vmlinuz-" + release);
            File.CreateSymbolicLink(Path.Combine(tree, "initrd.img"), "boot/initrd.img-" + release);
            var disk = work.File("disk.img");

            // No -t: ext4 is the default for a directory root. The initramfs mounts it with -t ext4.
            Build(["--cmdline", "panic=1 rootfstype=ext4", tree, disk]);

            var root = DiskPartitions.Extract(disk, 1, work.File("root.part"));
            ExtImageChecks.SuperblockFields(root)["Filesystem features"].Should().Contain("extent").And.Contain("64bit")
                .And.Contain("flex_bg").And.Contain("metadata_csum");
            // GRUB reads the kernel and initrd out of our ext4 root: the boot partition holds none.
            var boot = DiskPartitions.Extract(disk, 2, work.File("boot.part"));
            ExtImageChecks.List(boot, "/boot").Should().NotContain(n => n.StartsWith("vmlinuz", StringComparison.Ordinal));
            BootsToMarker(disk, marker, DiskInterface.Virtio, "/dev/vda1");
        }
    }

    [Fact]
    public void An_ext2_image_with_kernel_and_initrd_boots_with_a_root_device_named_on_the_command_line()
    {
        var (fixtures, work) = Prepare();
        using (work)
        {
            var (tree, marker) = RootTree(work, "ext2");
            var image = work.File("root.ext2");
            ExtImages.Make(image, "ext2", 1024, tree, "8M");
            var disk = work.File("disk.img");

            Build(["-k", fixtures.Kernel, "-i", fixtures.Initrd, "--root-device", "/dev/vda1", "--cmdline", "panic=1", image, disk]);

            BootsToMarker(disk, marker, DiskInterface.Virtio, "/dev/vda1");
        }
    }

    private static (BootFixtures Fixtures, TempDirectory Work) Prepare()
    {
        var fixtures = BootFixtures.Require();
        ExternalTools.Require(QemuBoot.Emulator);
        GrubTestDisk.RequireGrub();
        return (fixtures, new TempDirectory("imagetools-fsmaker-boot-"));
    }

    /// <summary>A small root tree whose marker file holds a fresh random value that only a real boot to it can print.</summary>
    private static (string Tree, string Marker) RootTree(TempDirectory work, string name)
    {
        var tree = Directory.CreateDirectory(work.File(name)).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.WriteAllText(Path.Combine(tree, "etc", "hostname"), "fsmaker-boot-test\n");
        var marker = $"fsmaker-{name}-{Guid.NewGuid():N}";
        File.WriteAllText(Path.Combine(tree, BootFixtures.MarkerFile), marker + "\n");
        return (tree, marker);
    }

    private static void Build(string[] args)
    {
        var r = ImageTools.TestSupport.Cli.Run("fsmaker", args);
        r.ExitCode.Should().Be(0, r.ToString());
        var disk = args[^1];
        // Both filesystems are clean, as e2fsck sees them.
        foreach (var number in new[] { 1, 2 })
        {
            var part = DiskPartitions.Extract(disk, number, disk + $".p{number}");
            var (exitCode, problems, output) = ExtImageChecks.Fsck(part);
            exitCode.Should().Be(0, $"e2fsck -fn on partition {number}: {string.Join("; ", problems)}\n{output}");
            File.Delete(part);
        }
    }

    private static void BootsToMarker(string disk, string marker, DiskInterface diskInterface, string rootDevice)
    {
        var result = QemuBoot.Run(disk, new QemuBootOptions { Interface = diskInterface });

        result.Outcome.Should().Be(BootOutcome.Marker, result.Diagnostics);
        result.Marker.Should().Be(marker, result.Diagnostics);
        result.SerialLog.Should().Contain("GRUB loading", result.Diagnostics);
        result.SerialLog.Should().Contain(rootDevice, result.Diagnostics);
    }

    private static void ProcessResultOk(ProcessResult r) => r.ExitCode.Should().Be(0, r.ToString());
}
