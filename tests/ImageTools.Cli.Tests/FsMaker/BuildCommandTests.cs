using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.FsMaker;

using Cli = ImageTools.TestSupport.Cli;

/// <summary>
/// <c>fsmaker ROOTIMAGE OUTPUTIMAGE</c> run as a user runs it, the disk it writes judged by the reference tools:
/// sfdisk reads the layout, e2fsck checks both filesystems, debugfs and dumpe2fs read what is in them, sha256
/// compares a copied root filesystem with its source. Kernels here are stand-ins (booting is the Boot tests' job).
/// </summary>
public sealed class BuildCommandTests : IDisposable
{
    private readonly TempDirectory _work = new("imagetools-build-");

    public void Dispose() => _work.Dispose();

    [Fact]
    public void A_directory_root_with_kernel_and_initrd_becomes_boot_partition_2_at_1_MiB_and_root_partition_1_last()
    {
        RequireGrub();
        var tree = RootTree("dir", "marker from the tree");
        var (kernel, initrd) = KernelFiles();
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("-k", kernel, "-i", initrd, tree, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        var table = Sfdisk.Json(disk);
        table.Label.Should().Be("dos");
        table.Partitions.Select(p => p.Number).Should().Equal(1, 2);
        var root = table.Partitions[0];
        var boot = table.Partitions[1];
        boot.Should().BeEquivalentTo(new { Start = 2048L, Type = "83", Bootable = true });
        root.Type.Should().Be("83");
        root.Bootable.Should().BeFalse();
        root.Start.Should().Be(boot.Start + boot.Size, "the root partition comes right after the boot partition");
        (root.Start % 2048).Should().Be(0, "partitions are aligned to 1 MiB");
        var length = new FileInfo(disk).Length;
        (length % (1 << 20)).Should().Be(0, "the default size is rounded up to a MiB");
        (root.Start + root.Size).Should().Be(length / 512, "the root partition runs to the end of the disk");
        FileFacts.AllocatedBytes(disk).Should().BeLessThan(length, "the image is sparse");

        var rootImage = CheckedPartition(disk, 1);
        var bootImage = CheckedPartition(disk, 2);
        ExtImageChecks.Utf8(ExtImageChecks.Dump(rootImage, "/imagetools-marker")).Should().Be("marker from the tree\n");
        ExtImageChecks.Dump(rootImage, "/etc/big").Should().Equal(File.ReadAllBytes(Path.Combine(tree, "etc", "big")));
        Dumpe2fs.Header(rootImage)["Filesystem features"].Should().Contain("has_journal", "a tree becomes ext4 by default")
            .And.Contain("extent").And.Contain("64bit").And.Contain("metadata_csum");
        Dumpe2fs.Header(bootImage)["Filesystem volume name"].Should().Be("boot");
        ExtImageChecks.Dump(bootImage, "/boot/vmlinuz").Should().Equal(File.ReadAllBytes(kernel));
        ExtImageChecks.Dump(bootImage, "/boot/initrd.img").Should().Equal(File.ReadAllBytes(initrd));
        ExtImageChecks.Dump(bootImage, "/boot/grub/i386-pc/normal.mod").Should().Equal(File.ReadAllBytes("/usr/lib/grub/i386-pc/normal.mod"));
        var uuid = Dumpe2fs.Header(rootImage)["Filesystem UUID"];
        var cfg = ExtImageChecks.Utf8(ExtImageChecks.Dump(bootImage, "/boot/grub/grub.cfg"));
        cfg.Should().Contain($"    linux /boot/vmlinuz root=UUID={uuid} ro console=tty0 console=ttyS0,115200\n");
        cfg.Should().Contain("    initrd /boot/initrd.img\n");
        ScriptCheck(cfg);

        // GRUB's core image is in the gap: boot.img's code in the MBR, diskboot.img at LBA 1.
        var head = new byte[1024];
        using (var f = File.OpenRead(disk))
        {
            f.ReadExactly(head);
        }
        var bootImg = File.ReadAllBytes("/usr/lib/grub/i386-pc/boot.img");
        head.AsSpan(0x68, 0x1B8 - 0x68).SequenceEqual(bootImg.AsSpan(0x68, 0x1B8 - 0x68)).Should().BeTrue("the MBR holds boot.img's code");
        var diskboot = File.ReadAllBytes("/usr/lib/grub/i386-pc/diskboot.img");
        head.AsSpan(512, 0x100).SequenceEqual(diskboot.AsSpan(0, 0x100)).Should().BeTrue("LBA 1 holds diskboot.img");
        r.StdErr.Should().Contain($"fsmaker: {disk}: bootable MBR disk");
    }

    [Fact]
    public void An_ext4_image_is_copied_bit_for_bit_and_the_kernels_inside_it_fill_the_menu_links_first_then_newest()
    {
        RequireGrub();
        var tree = RootTree("ext4", "marker from the ext4 image");
        var boot = Path.Combine(tree, "boot");
        foreach (var version in new[] { "6.1.0-9-amd64", "6.1.0-10-amd64" })
        {
            WriteKernel(Path.Combine(boot, "vmlinuz-" + version), 150_000, version.Length);
            File.WriteAllBytes(Path.Combine(boot, "initrd.img-" + version), Random(60_000, version.Length + 1));
        }
        File.CreateSymbolicLink(Path.Combine(tree, "vmlinuz"), "boot/vmlinuz-6.1.0-10-amd64");
        File.CreateSymbolicLink(Path.Combine(tree, "initrd.img"), "boot/initrd.img-6.1.0-10-amd64");
        var image = _work.File("root.ext4");
        ExtImages.Make(image, "ext4", 4096, tree, "64M", "-L", "rootfs");
        var before = FileFacts.Sha256(image);
        var modified = File.GetLastWriteTimeUtc(image);
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker(image, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(image).Should().Be(before, "ROOTIMAGE is never modified");
        File.GetLastWriteTimeUtc(image).Should().Be(modified);
        var partition = CheckedPartition(disk, 1);
        FileFacts.Sha256(partition).Should().Be(before, "partition 1 is the image, bit for bit");
        var bootImage = CheckedPartition(disk, 2);
        ExtImageChecks.List(bootImage, "/boot").Should().NotContain(n => n.StartsWith("vmlinuz", StringComparison.Ordinal), "the kernels stay in the root filesystem");
        var cfg = GrubConfigFrom(bootImage);
        var uuid = Dumpe2fs.Header(image)["Filesystem UUID"];
        var search = $"    search --no-floppy --fs-uuid --set=root --hint=hd0,msdos1 {uuid}\n";
        Lines(cfg).Where(l => l.StartsWith("    linux ", StringComparison.Ordinal)).Select(l => l.Split(' ', 7)[5]).Should().Equal(
            "/vmlinuz", "/boot/vmlinuz-6.1.0-10-amd64", "/boot/vmlinuz-6.1.0-9-amd64");
        Lines(cfg).Where(l => l.StartsWith("    initrd ", StringComparison.Ordinal)).Should().Equal(
            "    initrd /initrd.img", "    initrd /boot/initrd.img-6.1.0-10-amd64", "    initrd /boot/initrd.img-6.1.0-9-amd64");
        Regex(cfg, Regexp(search)).Should().Be(3, "every entry finds the root filesystem by its UUID");
        ScriptCheck(cfg);

        // The same image compressed is unpacked on the fly into the same partition, and stays sparse.
        var compressed = _work.File("root.ext4.zst");
        ProcessRunner.Run(ExternalTools.Require("zstd"), "-q", "-o", compressed, image).ExitCode.Should().Be(0);
        var fromZstd = _work.File("from-zstd.img");
        var z = Cli.FsMaker(compressed, fromZstd, "--json");
        z.ExitCode.Should().Be(0, z.ToString());
        FileFacts.Sha256(DiskPartitions.Extract(fromZstd, 1, _work.File("p1-zstd"))).Should().Be(before);
        FileFacts.AllocatedBytes(fromZstd).Should().BeLessThan(FileFacts.AllocatedBytes(image) + (24L << 20), "zero blocks of the image stay holes");
        using var json = JsonDocument.Parse(z.StdOut);
        json.RootElement.GetProperty("root").GetProperty("kind").GetString().Should().Be("image");
        json.RootElement.GetProperty("root").GetProperty("compression").GetString().Should().Be("zstd");
        json.RootElement.GetProperty("bootEntries").EnumerateArray().Select(e => e.GetProperty("kernel").GetString())
            .Should().Equal("/vmlinuz", "/boot/vmlinuz-6.1.0-10-amd64", "/boot/vmlinuz-6.1.0-9-amd64");
    }

    [Fact]
    public void A_tar_archive_root_is_built_into_ext3_with_the_given_label_uuid_and_size()
    {
        RequireGrub();
        var tree = RootTree("tar", "marker from the archive");
        var archive = _work.File("root.tar.gz");
        ProcessRunner.Run("tar", "-C", tree, "-czf", archive, ".").ExitCode.Should().Be(0);
        var (kernel, _) = KernelFiles();
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("-k", kernel, "-s", "100M", "--fs-type", "ext2", "--label", "tarroot", "--uuid", "01234567-89ab-cdef-0123-456789abcdef", archive, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(disk).Length.Should().Be(100L << 20, "-s is the total disk size");
        var table = Sfdisk.Json(disk);
        (table.Partitions[0].Start + table.Partitions[0].Size).Should().Be(100L * 2048, "the root partition takes the rest of the disk");
        var root = CheckedPartition(disk, 1);
        var header = Dumpe2fs.Header(root);
        header["Filesystem volume name"].Should().Be("tarroot");
        header["Filesystem UUID"].Should().Be("01234567-89ab-cdef-0123-456789abcdef");
        header["Filesystem features"].Should().NotContain("has_journal");
        (long.Parse(header["Block count"]) * long.Parse(header["Block size"])).Should().Be(table.Partitions[0].Size * 512, "the filesystem fills its partition");
        ExtImageChecks.Utf8(ExtImageChecks.Dump(root, "/imagetools-marker")).Should().Be("marker from the archive\n");
        GrubConfigFrom(CheckedPartition(disk, 2)).Should().Contain("root=UUID=01234567-89ab-cdef-0123-456789abcdef ro");
    }

    [Fact]
    public void The_same_input_under_one_SOURCE_DATE_EPOCH_gives_identical_disks()
    {
        RequireGrub();
        var tree = RootTree("repro", "reproducible");
        var (kernel, initrd) = KernelFiles();
        var environment = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };
        string Build(string name, IDictionary<string, string?>? env)
        {
            var disk = _work.File(name);
            var r = Cli.Run("fsmaker", ["-q", "-k", kernel, "-i", initrd, tree, disk], environment: env);
            r.ExitCode.Should().Be(0, r.ToString());
            return disk;
        }

        var first = Build("a.img", environment);
        Thread.Sleep(1100); // a clock that moves on must not matter
        var second = Build("b.img", environment);
        var unpinned = Build("c.img", null);

        FileFacts.Sha256(second).Should().Be(FileFacts.Sha256(first));
        FileFacts.Sha256(unpinned).Should().NotBe(FileFacts.Sha256(first), "without SOURCE_DATE_EPOCH the disk signature and UUIDs are drawn at random");
        Sfdisk.Json(first).Id.Should().NotBe(Sfdisk.Json(unpinned).Id);
        var boot = DiskPartitions.Extract(first, 2, _work.File("boot-a"));
        Dumpe2fs.Header(boot)["Filesystem created"].Should().Be("Tue Nov 14 22:13:20 2023");
    }

    [Fact]
    public void No_kernel_is_accepted_with_no_kernel_and_gives_an_empty_menu_with_the_minimal_modules()
    {
        RequireGrub();
        var tree = RootTree("nokernel", "no kernel");
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("--no-kernel", "--grub-modules", "minimal", "--timeout", "7", tree, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        var boot = CheckedPartition(disk, 2);
        var cfg = GrubConfigFrom(boot);
        cfg.Should().Contain("set timeout=7\n").And.NotContain("menuentry");
        ScriptCheck(cfg);
        var modules = ExtImageChecks.List(boot, "/boot/grub/i386-pc");
        modules.Should().Contain(["normal.mod", "linux.mod", "search.mod", "serial.mod", "ext2.mod", "command.lst"]);
        modules.Should().NotContain("lvm.mod", "the minimal set holds what the menu needs, not every module");
        modules.Count(m => m.EndsWith(".mod", StringComparison.Ordinal)).Should()
            .BeLessThan(Directory.GetFiles("/usr/lib/grub/i386-pc", "*.mod").Length / 3);
    }

    [Fact]
    public void The_kernel_command_line_follows_root_device_cmdline_and_no_default_console()
    {
        RequireGrub();
        var tree = RootTree("cmdline", "command line");
        var (kernel, _) = KernelFiles();
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("-k", kernel, "--root-device", "LABEL=rootfs", "--cmdline", "quiet init=/bin/sh;x", "--no-default-console", tree, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        var cfg = GrubConfigFrom(CheckedPartition(disk, 2));
        cfg.Should().Contain("    linux /boot/vmlinuz root=LABEL=rootfs ro quiet 'init=/bin/sh;x'\n");
        cfg.Should().NotContain("initrd");
        ScriptCheck(cfg);
    }

    [Fact]
    public void Inspect_shows_the_layout_the_root_filesystem_and_the_boot_entries()
    {
        RequireGrub();
        var tree = RootTree("inspect", "inspect me");
        var (kernel, initrd) = KernelFiles();
        var disk = _work.File("disk.img");
        Cli.FsMaker("-q", "-k", kernel, "-i", initrd, tree, disk).ExitCode.Should().Be(0);

        var r = Cli.FsMaker("inspect", "--json", disk);

        r.ExitCode.Should().Be(0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var partitions = json.RootElement.GetProperty("content").GetProperty("partitionTable").GetProperty("partitions").EnumerateArray().ToList();
        partitions.Select(p => p.GetProperty("number").GetInt32()).Should().Equal(1, 2);
        var rootUuid = partitions[0].GetProperty("content").GetProperty("ext").GetProperty("uuid").GetString();
        var bootExt = partitions[1].GetProperty("content").GetProperty("ext");
        bootExt.GetProperty("kernels").EnumerateArray().Select(k => k.GetProperty("path").GetString()).Should().Equal("/boot/vmlinuz");
        var entries = bootExt.GetProperty("bootMenu").GetProperty("entries").EnumerateArray().ToList();
        entries.Should().ContainSingle();
        entries[0].GetProperty("kernel").GetString().Should().Be("/boot/vmlinuz");
        entries[0].GetProperty("commandLine").GetString().Should().StartWith($"root=UUID={rootUuid} ro");
        entries[0].GetProperty("kernelFrom").GetString().Should().Be("this filesystem");
        var text = Cli.FsMaker("inspect", disk).StdOut;
        text.Should().Contain("partition 2: sectors 2048-").And.Contain("boot menu:");
    }

    [Fact]
    public void A_root_filesystem_GRUB_cannot_read_needs_the_kernel_on_the_boot_partition()
    {
        RequireGrub();
        var tree = RootTree("inline", "inline data");
        WriteKernel(Path.Combine(tree, "boot", "vmlinuz-6.1.0-9-amd64"), 100_000, 3);
        var image = _work.File("inline.ext4");
        ExtImages.Make(image, "ext4", 1024, tree, "16M", "-O", "inline_data");
        var disk = _work.File("disk.img");

        var refused = Cli.FsMaker(image, disk);

        refused.ExitCode.Should().Be(5, refused.ToString());
        refused.StdErr.Should().Contain("inline_data").And.Contain("GRUB").And.Contain("-k");
        File.Exists(disk).Should().BeFalse();

        var (kernel, _) = KernelFiles();
        var accepted = Cli.FsMaker("-k", kernel, image, disk);
        accepted.ExitCode.Should().Be(0, accepted.ToString());
        accepted.StdErr.Should().Contain("warning: GRUB cannot read the root filesystem (inline_data)");
    }

    [Fact]
    public void Help_shows_the_default_command_and_names_the_subcommands_whose_help_stays_their_own()
    {
        var help = Cli.FsMaker("--help");
        help.ExitCode.Should().Be(0, help.ToString());
        help.StdOut.Should().Contain("fsmaker <ROOTIMAGE> <OUTPUTIMAGE> [options]").And.Contain("-k, --kernel <KERNEL>")
            .And.Contain("Other commands: mkfs, inspect, extract, export");

        var inspect = Cli.FsMaker("inspect", "--help");
        inspect.ExitCode.Should().Be(0, inspect.ToString());
        inspect.StdOut.Should().Contain("fsmaker inspect <IMAGE> [options]").And.NotContain("ROOTIMAGE");

        var missing = Cli.FsMaker();
        missing.ExitCode.Should().Be(1);
        missing.StdErr.Should().Contain("Required argument 'ROOTIMAGE' missing");
    }

    public static TheoryData<string> Failures() => new()
    {
        "no kernel", "no GRUB files", "GRUB_DIR without GRUB files", "size too small", "random bytes", "an ISO", "a whole disk", "an empty file",
        "label on an image", "initrd without kernel", "output is the input",
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Each_failure_has_a_clear_message_its_own_exit_code_and_leaves_nothing_behind(string failure)
    {
        RequireGrub();
        var tree = RootTree("fail", "x");
        var (kernel, _) = KernelFiles();
        var image = _work.File("root.ext3");
        ExtImages.Make(image, "ext3", 1024, tree, "8M");
        var output = Directory.CreateDirectory(_work.File("out")).FullName;
        var disk = Path.Combine(output, "disk.img");
        var environment = new Dictionary<string, string?>();
        string[] args;
        int code;
        string message;
        switch (failure)
        {
            case "no kernel":
                (args, code, message) = ([tree, disk], 12, "no kernel to boot: directory " + tree + " has no /vmlinuz");
                break;
            case "no GRUB files":
                var empty = Directory.CreateDirectory(_work.File("empty-grub")).FullName;
                (args, code, message) = (["--grub-dir", empty, "-k", kernel, tree, disk], 8, $"GRUB platform directory {empty} (given with --grub-dir) has no boot.img");
                break;
            case "GRUB_DIR without GRUB files":
                environment["GRUB_DIR"] = _work.File("missing-grub");
                (args, code, message) = (["-k", kernel, tree, disk], 8, "(from $GRUB_DIR) does not exist. GRUB's i386-pc files come with the package grub-pc-bin");
                break;
            case "size too small":
                (args, code, message) = (["-s", "8M", "-k", kernel, image, disk], 7, "a disk of 8 MiB is too small");
                break;
            case "random bytes":
                File.WriteAllBytes(image, Random(1 << 20, 5));
                (args, code, message) = ([image, disk], 6, "is not a format fsmaker recognises (first bytes");
                break;
            case "an ISO":
                var iso = _work.File("cd.iso");
                ProcessRunner.Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-V", "DEMO_CD", "-o", iso, tree).ExitCode.Should().Be(0);
                (args, code, message) = ([iso, disk], 6, "is an ISO 9660 image (volume \"DEMO_CD\"), a CD/DVD image, not a root filesystem");
                break;
            case "a whole disk":
                var whole = _work.File("whole.img");
                Cli.FsMaker("-q", "-k", kernel, tree, whole).ExitCode.Should().Be(0);
                (args, code, message) = ([whole, disk], 6, "is a whole disk image with an MBR partition table (1: ext4, 2: ext2), not a root filesystem");
                break;
            case "an empty file":
                File.WriteAllBytes(image, []);
                (args, code, message) = ([image, disk], 6, "is empty");
                break;
            case "label on an image":
                (args, code, message) = (["--label", "x", "-k", kernel, image, disk], 1, "--label shape a filesystem fsmaker builds from a directory or a tar archive");
                break;
            case "initrd without kernel":
                (args, code, message) = (["-i", kernel, image, disk], 1, "-i INITRD needs -k KERNEL");
                break;
            case "output is the input":
                File.Copy(image, disk);
                (args, code, message) = (["-k", kernel, disk, disk], 10, "is ROOTIMAGE");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(failure));
        }
        var existing = failure == "output is the input" ? FileFacts.Sha256(disk) : null;

        var r = Cli.Run("fsmaker", args, environment: environment);

        r.ExitCode.Should().Be(code, r.ToString());
        r.StdErr.Should().StartWith("fsmaker: ").And.Contain(message);
        r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle("one line says what is wrong");
        if (existing != null)
        {
            Directory.GetFiles(output).Should().Equal(disk);
            FileFacts.Sha256(disk).Should().Be(existing);
        }
        else
        {
            Directory.GetFiles(output).Should().BeEmpty("a failed build leaves no output and no temporary file");
        }
    }

    [Fact]
    public void A_failure_after_writing_has_started_keeps_an_existing_output_and_leaves_no_temporary_file()
    {
        RequireGrub();
        var tree = RootTree("late", "late failure");
        var output = Directory.CreateDirectory(_work.File("out")).FullName;
        var disk = Path.Combine(output, "disk.img");
        File.WriteAllText(disk, "an older disk");

        // A tree whose /vmlinuz leads nowhere is only known to hold no kernel once it is a filesystem in the disk.
        File.CreateSymbolicLink(Path.Combine(tree, "vmlinuz"), "boot/vmlinuz-gone");
        var r = Cli.FsMaker(tree, disk);

        r.ExitCode.Should().Be(12, r.ToString());
        Directory.GetFiles(output).Should().Equal(disk);
        File.ReadAllText(disk).Should().Be("an older disk");
    }

    [Fact]
    public void Ctrl_C_while_the_root_is_being_written_exits_130_and_leaves_no_file()
    {
        RequireGrub();
        ExternalTools.Require("mkfifo");
        var (kernel, _) = KernelFiles();
        var fifo = _work.File("root.tar");
        var output = Directory.CreateDirectory(_work.File("out")).FullName;
        ProcessRunner.Run("mkfifo", fifo).ExitCode.Should().Be(0);
        var psi = new ProcessStartInfo(Cli.PathOf("fsmaker")) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-s", "64M", "-k", kernel, fifo, Path.Combine(output, "disk.img") })
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        try
        {
            // The start of an archive, then silence: the build waits in a read. Opened read-write, a FIFO does not
            // wait for its other end, so a failing fsmaker cannot hang the test.
            using var writer = new FileStream(fifo, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None);
            var archive = new MemoryStream();
            using (var w = new TarWriter(archive, TarEntryFormat.Pax, leaveOpen: true))
            {
                w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "big") { DataStream = new MemoryStream(new byte[1 << 20]) });
            }
            writer.Write(archive.ToArray().AsSpan(0, 64 * 1024));
            writer.Flush();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Directory.GetFileSystemEntries(output).Length == 0 && DateTime.UtcNow < deadline && !p.HasExited)
            {
                Thread.Sleep(50);
            }
            Directory.GetFileSystemEntries(output).Should().NotBeEmpty("the build has started writing its temporary file");
            ProcessRunner.Run("kill", "-INT", p.Id.ToString(CultureInfo.InvariantCulture)).ExitCode.Should().Be(0);
            p.WaitForExit(60_000).Should().BeTrue("fsmaker stops on Ctrl-C");
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill();
            }
        }
        p.ExitCode.Should().Be(130, p.StandardError.ReadToEnd());
        Directory.GetFileSystemEntries(output).Should().BeEmpty("an interrupted build leaves no file, not even a temporary one");
    }

    // ---- Helpers -----------------------------------------------------------------------------------

    private static void RequireGrub()
    {
        if (!File.Exists("/usr/lib/grub/i386-pc/kernel.img"))
        {
            Assert.Skip("GRUB's i386-pc files are not in /usr/lib/grub/i386-pc; run scripts/install-test-deps.sh (package grub-pc-bin)");
        }
    }

    /// <summary>A small root tree: the marker the boot tests' initramfs prints, /etc, a symlink, a hard link and a file of some size.</summary>
    private string RootTree(string name, string marker)
    {
        var root = Directory.CreateDirectory(_work.File(name)).FullName;
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, "boot"));
        File.WriteAllText(Path.Combine(root, "imagetools-marker"), marker + "\n");
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "fsmaker-test\n");
        File.WriteAllBytes(Path.Combine(root, "etc", "big"), Random(300_000, 1));
        File.CreateSymbolicLink(Path.Combine(root, "etc", "mtab"), "/proc/self/mounts");
        ProcessRunner.Run("ln", Path.Combine(root, "etc", "hostname"), Path.Combine(root, "etc", "hostname.link")).ExitCode.Should().Be(0);
        return root;
    }

    private (string Kernel, string Initrd) KernelFiles()
    {
        var kernel = _work.File("vmlinuz-test");
        var initrd = _work.File("initrd-test");
        if (!File.Exists(kernel))
        {
            WriteKernel(kernel, 200_000, 7);
            File.WriteAllBytes(initrd, Random(80_000, 8));
        }
        return (kernel, initrd);
    }

    /// <summary>A stand-in kernel: random bytes with the x86 boot protocol's "HdrS" magic at 0x202.</summary>
    private static void WriteKernel(string path, int size, int seed)
    {
        var bytes = Random(size, seed);
        "HdrS"u8.CopyTo(bytes.AsSpan(0x202));
        File.WriteAllBytes(path, bytes);
    }

    private static byte[] Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Partition <paramref name="number"/> as a file, after e2fsck -fn found it clean.</summary>
    private string CheckedPartition(string disk, int number)
    {
        var file = DiskPartitions.Extract(disk, number, _work.File($"{Path.GetFileNameWithoutExtension(disk)}-p{number}-{Guid.NewGuid():N}"));
        var (exitCode, problems, output) = ExtImageChecks.Fsck(file);
        exitCode.Should().Be(0, $"e2fsck -fn on partition {number}: {string.Join("; ", problems)}\n{output}");
        return file;
    }

    private static string GrubConfigFrom(string bootPartition) => ExtImageChecks.Utf8(ExtImageChecks.Dump(bootPartition, "/boot/grub/grub.cfg"));

    private static string[] Lines(string text) => text.Split('\n');

    private static string Regexp(string literal) => System.Text.RegularExpressions.Regex.Escape(literal);

    private static int Regex(string text, string pattern) => System.Text.RegularExpressions.Regex.Matches(text, pattern).Count;

    private static void ScriptCheck(string cfg)
    {
        var check = ExternalTools.Require("grub-script-check");
        using var work = new TempDirectory();
        var file = work.File("grub.cfg");
        File.WriteAllText(file, cfg, new UTF8Encoding(false));
        var r = ProcessRunner.Run(check, file);
        r.ExitCode.Should().Be(0, $"grub-script-check rejects:\n{cfg}\n{r}");
    }
}
