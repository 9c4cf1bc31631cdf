using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Imaging;

/// <summary>
/// inspect shows the GRUB menu a filesystem holds, and on a disk names the partition each entry's kernel is
/// read from (the one whose filesystem UUID the entry searches for). Disks made with the reference tools
/// (mke2fs -d, sfdisk, dd) and a grub.cfg written by GrubConfigWriter.
/// </summary>
public sealed class BootMenuInspectionTests
{
    [Fact]
    public void A_disk_with_a_boot_partition_shows_the_menu_and_where_each_kernel_comes_from()
    {
        using var work = new TempDirectory();
        var rootUuid = "5f0c6a3e-8d7b-4c1e-9a2f-0b1c2d3e4f50";
        var rootTree = Directory.CreateDirectory(work.File("root")).FullName;
        ExtImages.BuildSmallTree(rootTree);
        var bootTree = Directory.CreateDirectory(work.File("boot")).FullName;
        Directory.CreateDirectory(Path.Combine(bootTree, "boot", "grub"));
        var commandLine = KernelCommandLine.Build(new KernelCommandLineOptions { RootFilesystemUuid = rootUuid });
        var entries = new List<GrubMenuEntry>
        {
            new() { Title = "on the boot partition", KernelPath = "/boot/vmlinuz", InitrdPath = "/boot/initrd.img", CommandLine = commandLine },
            new() { Title = "inside the root", KernelPath = "/vmlinuz", Source = GrubFileSource.RootFilesystem, CommandLine = commandLine },
            new() { Title = "elsewhere", KernelPath = "/vmlinuz", Source = GrubFileSource.RootFilesystem, CommandLine = commandLine },
        };
        var cfg = GrubConfigWriter.Write(new GrubConfigOptions { RootFilesystemUuid = rootUuid }, entries[..2]);
        // A third entry searching a filesystem that is on no partition of this disk.
        cfg += GrubConfigWriter.Write(new GrubConfigOptions { RootFilesystemUuid = "00000000-1111-2222-3333-444444444444" }, entries[2..]).Split("\n\n")[1];
        File.WriteAllText(Path.Combine(bootTree, "boot", "grub", "grub.cfg"), cfg);

        var root = work.File("root.img");
        ExtImages.Make(root, "ext4", 1024, rootTree, "8M", "-U", rootUuid);
        var boot = work.File("boot.img");
        ExtImages.Make(boot, "ext2", 1024, bootTree, "4M");
        var disk = work.File("disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(16 << 20);
        }
        Sfdisk.Apply(disk, "label: dos\nstart=12288, size=16384, type=83\nstart=2048, size=8192, type=83, bootable\n");
        Dd(root, disk, 12288);
        Dd(boot, disk, 2048);

        var report = ImageInspector.Inspect(disk, TestContext.Current.CancellationToken);

        var partitions = report.Content.PartitionTable!.Partitions;
        partitions[0].Content!.Ext!.BootMenu.Should().BeNull();
        var menu = partitions[1].Content!.Ext!.BootMenu!;
        menu.Path.Should().Be("/boot/grub/grub.cfg");
        menu.Timeout.Should().Be("1");
        menu.Entries.Select(e => (e.Entry.Title, e.Entry.KernelPath, e.KernelFrom)).Should().Equal(
            ("on the boot partition", "/boot/vmlinuz", "this filesystem"),
            ("inside the root", "/vmlinuz", "partition 1"),
            ("elsewhere", "/vmlinuz", "the filesystem with UUID 00000000-1111-2222-3333-444444444444, which is not on this disk"));
        menu.Entries[0].Entry.CommandLine.Should().Be(commandLine);

        var text = ImageReportFormatter.ToText(report);
        text.Should().Contain("boot menu:     /boot/grub/grub.cfg (default 0, timeout 1 s)");
        text.Should().Contain($"'inside the root': linux /vmlinuz {commandLine} (from partition 1)");
        using var json = new MemoryStream();
        ImageReportFormatter.WriteJson(report, json);
        System.Text.Encoding.UTF8.GetString(json.ToArray()).Should().Contain("\"kernelFrom\": \"partition 1\"");
    }

    private static void Dd(string image, string disk, long sector)
    {
        var r = ProcessRunner.Run("dd", $"if={image}", $"of={disk}", "bs=512", $"seek={sector}", "conv=notrunc,sparse", "status=none");
        r.ExitCode.Should().Be(0, r.ToString());
    }
}
