using System.Globalization;
using System.Text.Json;
using FluentAssertions;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Imaging;

/// <summary>
/// What the inspector says about real images agrees with the reference tools: ext facts with
/// <c>dumpe2fs -h</c>, partition tables with <c>sfdisk --json</c>, ISO images as xorriso made them;
/// compressed images are inspected through decompression; other formats are named.
/// </summary>
public sealed class ImageInspectorTests
{
    public static TheoryData<string> Variants() => new(SampleExtImages.All.Select(v => v.Name));

    [Theory]
    [MemberData(nameof(Variants))]
    public void Ext_facts_agree_with_dumpe2fs(string variant)
    {
        var image = SampleExtImages.Image(variant);
        var report = ImageInspector.Inspect(image, TestContext.Current.CancellationToken);
        report.Compression.Should().BeNull();
        var ext = report.Content.Ext!;
        ext.Should().NotBeNull();
        report.Content.Formats.Should().Equal(ext.Type);
        CheckAgainstDumpe2fs(image, ext);
        ext.FilesUnreadable.Should().BeNull();
        ext.Kernels.Select(k => k.Path).Should().Equal("/boot/vmlinuz-6.1.0-18-amd64", "/vmlinuz");
        ext.Kernels.Should().OnlyContain(k => k.Version == "6.1.0-18-amd64" && k.SizeBytes == 40000);
        ext.Kernels.Single(k => k.Path == "/vmlinuz").LinkTarget.Should().Be("boot/vmlinuz-6.1.0-18-amd64");
        ext.Initrds.Select(k => k.Path).Should().Equal("/boot/initrd.img-6.1.0-18-amd64", "/initrd.img");
        ext.Initrds.Should().OnlyContain(k => k.Version == "6.1.0-18-amd64" && k.SizeBytes == 30000);
    }

    /// <summary>Each fact fsmaker reports, against the line dumpe2fs -h prints for it.</summary>
    internal static void CheckAgainstDumpe2fs(string image, ExtReport ext, long offset = 0)
    {
        var facts = Dumpe2fs.Header(image, offset);
        ext.Label.Should().Be(facts["Filesystem volume name"] == "<none>" ? "" : facts["Filesystem volume name"]);
        ext.Uuid.Should().Be(facts["Filesystem UUID"]);
        string.Join(' ', ext.Features).Should().Be(facts["Filesystem features"]);
        ext.BlockSize.Should().Be(int.Parse(facts["Block size"], CultureInfo.InvariantCulture));
        ext.BlockCount.Should().Be(ulong.Parse(facts["Block count"], CultureInfo.InvariantCulture));
        ext.FreeBlocks.Should().Be(ulong.Parse(facts["Free blocks"], CultureInfo.InvariantCulture));
        ext.ReservedBlocks.Should().Be(ulong.Parse(facts["Reserved block count"], CultureInfo.InvariantCulture));
        ext.InodeCount.Should().Be(uint.Parse(facts["Inode count"], CultureInfo.InvariantCulture));
        ext.FreeInodes.Should().Be(uint.Parse(facts["Free inodes"], CultureInfo.InvariantCulture));
        ext.State.Should().Be(facts["Filesystem state"]);
        ext.LastMountedOn.Should().Be(facts["Last mounted on"] == "<not available>" ? "" : facts["Last mounted on"]);
        if (facts["Last mount time"] == "n/a")
        {
            ext.LastMountTime.Should().BeNull();
        }
        else
        {
            ext.LastMountTime.Should().Be(Dumpe2fs.ParseTime(facts["Last mount time"]));
        }
        ext.CreatedTime.Should().Be(Dumpe2fs.ParseTime(facts["Filesystem created"]));
        ext.LastWriteTime.Should().Be(Dumpe2fs.ParseTime(facts["Last write time"]));
    }

    [Fact]
    public void A_partitioned_disk_lists_its_table_as_sfdisk_does_and_what_each_partition_holds()
    {
        using var temp = new TempDirectory();
        var disk = BuildDisk(temp, "dos");
        var report = ImageInspector.Inspect(disk, TestContext.Current.CancellationToken);
        report.Content.Formats.Should().Equal("mbr");
        var table = report.Content.PartitionTable!;
        var sfdisk = Sfdisk.Json(disk);
        table.Scheme.Should().Be("MBR");
        table.DiskIdentifier.Should().Be(sfdisk.Id);
        table.Partitions.Select(p => (p.Number, p.StartSector, p.SectorCount, p.Bootable))
            .Should().Equal(sfdisk.Partitions.Select(p => (p.Number, p.Start, p.Size, p.Bootable)));
        table.Partitions.Select(p => p.TypeId).Should().Equal(sfdisk.Partitions.Select(p => p.Type));
        table.Problems.Should().BeEmpty();

        var root = table.Partitions[0].Content!;
        root.Formats.Should().Equal("ext4");
        CheckAgainstDumpe2fs(disk, root.Ext!, table.Partitions[0].StartSector * 512);
        root.Ext!.Kernels.Should().Contain(k => k.Path == "/boot/vmlinuz-6.1.0-18-amd64" && k.Version == "6.1.0-18-amd64");
        table.Partitions[1].Content!.OtherFormat.Should().Contain("swap");
        table.Partitions[2].Content!.OtherFormat.Should().Contain("FAT");
    }

    [Fact]
    public void A_gpt_disk_is_recognised_with_its_partitions()
    {
        using var temp = new TempDirectory();
        var disk = BuildDisk(temp, "gpt");
        var report = ImageInspector.Inspect(disk, TestContext.Current.CancellationToken);
        report.Content.Formats.Should().Equal("gpt");
        var table = report.Content.PartitionTable!;
        var sfdisk = Sfdisk.Json(disk);
        table.Scheme.Should().Be("GPT");
        table.DiskIdentifier.Should().Be(sfdisk.Id);
        table.Partitions.Select(p => (p.Number, p.StartSector, p.SectorCount)).Should().Equal(sfdisk.Partitions.Select(p => (p.Number, p.Start, p.Size)));
        table.Partitions.Select(p => p.Uuid).Should().Equal(sfdisk.Partitions.Select(p => p.Uuid!.ToLowerInvariant()));
        table.Partitions[0].Content!.Ext!.Type.Should().Be("ext4");
    }

    /// <summary>A 48 MiB disk: an ext4 root (the sample tree's boot files), a swap area, a FAT filesystem.</summary>
    private static string BuildDisk(TempDirectory temp, string label)
    {
        var tree = temp.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        foreach (var f in ExtImages.SampleKernelFiles)
        {
            File.Copy(Path.Combine(SampleExtImages.Tree, f.TrimStart('/')), Path.Combine(tree, f.TrimStart('/')));
        }
        var root = ExtImages.Make(temp.File("root.img"), "ext4", 1024, tree, "20M");
        var disk = temp.File("disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(48 << 20);
        }
        Sfdisk.Apply(disk, $"label: {label}\nstart=2048, size=40960, type={(label == "gpt" ? "L" : "83")}, bootable\nsize=8192, type={(label == "gpt" ? "S" : "82")}\nsize=20480, type={(label == "gpt" ? "U" : "c")}\n");
        var table = Sfdisk.Json(disk);
        Run("dd", $"if={root}", $"of={disk}", "bs=512", $"seek={table.Partitions[0].Start}", "conv=notrunc,sparse", "status=none");
        var swap = temp.File("swap.img");
        Run("truncate", "-s", "4M", swap);
        Run(ExternalTools.Require("mkswap"), "-q", swap);
        Run("dd", $"if={swap}", $"of={disk}", "bs=512", $"seek={table.Partitions[1].Start}", "conv=notrunc,sparse", "status=none");
        var fat = temp.File("fat.img");
        Run("truncate", "-s", "10M", fat);
        Run(ExternalTools.Require("mkfs.vfat"), "-F", "32", fat);
        Run("dd", $"if={fat}", $"of={disk}", "bs=512", $"seek={table.Partitions[2].Start}", "conv=notrunc,sparse", "status=none");
        return disk;
    }

    [Fact]
    public void A_bootable_iso_reports_its_volume_and_el_torito_entries()
    {
        using var temp = new TempDirectory();
        var source = temp.File("iso");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "readme.txt"), "hello\n");
        File.WriteAllBytes(Path.Combine(source, "boot.img"), new byte[2048]);
        File.WriteAllBytes(Path.Combine(source, "efi.img"), new byte[4096]);
        var iso = temp.File("test.iso");
        Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-V", "SAMPLE_VOL", "-J",
            "-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4",
            "-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", "-o", iso, source);

        var report = ImageInspector.Inspect(iso, TestContext.Current.CancellationToken);
        report.Content.Formats.Should().Equal("iso9660");
        var info = report.Content.Iso!;
        info.VolumeIdentifier.Should().Be("SAMPLE_VOL");
        info.SizeBytes.Should().Be(new FileInfo(iso).Length, "xorriso writes exactly the volume");
        info.Joliet.Should().BeTrue();
        info.Bootable.Should().BeTrue();
        info.BootEntries.Select(e => (e.Platform, e.Emulation, e.Bootable)).Should().Equal(("x86 BIOS", "no emulation", true), ("UEFI", "no emulation", true));
        info.Note.Should().Contain("CD/DVD drive");
        ImageReportFormatter.ToText(report).Should().Contain("El Torito bootable: x86 BIOS, no emulation; UEFI, no emulation");
    }

    [Fact]
    public void A_plain_iso_is_not_bootable_and_a_hybrid_one_shows_both_formats()
    {
        using var temp = new TempDirectory();
        var source = temp.File("iso");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "readme.txt"), "hello\n");
        var plain = temp.File("plain.iso");
        Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-V", "PLAIN", "-o", plain, source);
        var report = ImageInspector.Inspect(plain, TestContext.Current.CancellationToken);
        report.Content.Iso!.Bootable.Should().BeFalse();
        report.Content.Iso.BootEntries.Should().BeEmpty();

        var part = temp.File("part.img");
        Run("truncate", "-s", "1M", part);
        var hybrid = temp.File("hybrid.iso");
        Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-V", "HYBRID", "-append_partition", "2", "0x83", part, "-o", hybrid, source);
        var both = ImageInspector.Inspect(hybrid, TestContext.Current.CancellationToken);
        both.Content.Formats.Should().Equal("iso9660", "mbr");
        both.Content.Iso!.VolumeIdentifier.Should().Be("HYBRID");
        both.Content.PartitionTable!.Partitions.Should().Contain(p => p.TypeId == "83");
    }

    [Theory]
    [InlineData("gzip", "gzip", ".gz")]
    [InlineData("zstd", "zstd", ".zst")]
    [InlineData("xz", "xz", ".xz")]
    [InlineData("bzip2", "bzip2", ".bz2")]
    public void A_compressed_image_is_inspected_through_decompression(string tool, string format, string suffix)
    {
        using var temp = new TempDirectory();
        var image = temp.File("root.img");
        File.Copy(SampleExtImages.Image("ext4-1k"), image);
        Run(ExternalTools.Require(tool), "-q", "-k", image);
        var compressed = image + suffix;
        var report = ImageInspector.Inspect(compressed, TestContext.Current.CancellationToken);
        report.Compression.Should().Be(new CompressionReport(format, new FileInfo(compressed).Length, new FileInfo(image).Length));
        report.Content.Formats.Should().Equal("ext4");
        CheckAgainstDumpe2fs(image, report.Content.Ext!);
        report.Content.Ext!.Kernels.Should().HaveCount(2);
        Directory.GetFiles(Path.GetTempPath(), $"fsmaker-{Environment.ProcessId}-*").Should().BeEmpty("the temporary decompressed copy is deleted");
    }

    [Fact]
    public void Other_formats_are_unrecognised_with_what_their_first_bytes_mean()
    {
        using var temp = new TempDirectory();
        var qcow = temp.File("disk.qcow2");
        Run(ExternalTools.Require("qemu-img"), "create", "-q", "-f", "qcow2", qcow, "64M");
        Describe(qcow).Should().Contain("qcow");

        var squash = temp.File("fs.squashfs");
        var tree = temp.File("tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "a"), "a");
        Run(ExternalTools.Require("mksquashfs"), tree, squash, "-quiet", "-noappend");
        Describe(squash).Should().Contain("squashfs");

        var swap = temp.File("swap.img");
        Run("truncate", "-s", "1M", swap);
        Run(ExternalTools.Require("mkswap"), "-q", swap);
        Describe(swap).Should().Contain("swap");

        var junk = temp.File("junk.bin");
        var bytes = new byte[70000];
        new Random(1).NextBytes(bytes);
        File.WriteAllBytes(junk, bytes);
        var report = ImageInspector.Inspect(junk, TestContext.Current.CancellationToken);
        report.Content.Formats.Should().BeEmpty();
        report.Content.Unrecognised!.Meaning.Should().BeNull();
        report.Content.Unrecognised.FirstBytesHex.Should().Be(Convert.ToHexStringLower(bytes.AsSpan(0, 16)));
        ImageReportFormatter.ToText(report).Should().Contain("unrecognised (first bytes " + string.Join(' ', bytes.Take(4).Select(b => b.ToString("x2", CultureInfo.InvariantCulture))));
    }

    private static string Describe(string path)
    {
        var report = ImageInspector.Inspect(path, TestContext.Current.CancellationToken);
        report.Content.Formats.Should().BeEmpty(path);
        report.Content.Unrecognised.Should().NotBeNull();
        return report.Content.Unrecognised!.Meaning ?? "";
    }

    [Fact]
    public void A_filesystem_whose_journal_needs_recovery_still_has_its_kernels_listed()
    {
        using var temp = new TempDirectory();
        var image = temp.File("dirty.img");
        File.Copy(SampleExtImages.Image("ext4-1k"), image);
        ExtImages.Debugfs(image, "feature needs_recovery", write: true);
        Dumpe2fs.Header(image)["Filesystem features"].Should().Contain("needs_recovery");
        var ext = ImageInspector.Inspect(image, TestContext.Current.CancellationToken).Content.Ext!;
        ext.NeedsRecovery.Should().BeTrue();
        ext.FilesUnreadable.Should().BeNull();
        ext.Kernels.Should().HaveCount(2);
        ext.Warnings.Should().ContainSingle().Which.Should().Contain("journal needs recovery");
    }

    [Fact]
    public void The_json_report_is_valid_json_with_the_same_facts()
    {
        var image = SampleExtImages.Image("ext3-4k");
        var report = ImageInspector.Inspect(image, TestContext.Current.CancellationToken);
        using var buffer = new MemoryStream();
        ImageReportFormatter.WriteJson(report, buffer);
        using var json = JsonDocument.Parse(buffer.ToArray());
        var ext = json.RootElement.GetProperty("content").GetProperty("ext");
        ext.GetProperty("type").GetString().Should().Be("ext3");
        ext.GetProperty("uuid").GetString().Should().Be(report.Content.Ext!.Uuid);
        ext.GetProperty("blockCount").GetUInt64().Should().Be(report.Content.Ext.BlockCount);
        ext.GetProperty("kernels")[0].GetProperty("version").GetString().Should().Be("6.1.0-18-amd64");
        json.RootElement.GetProperty("compression").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Theory]
    [InlineData("vmlinuz-6.1.0-18-amd64", "6.1.0-18-amd64")]
    [InlineData("initrd.img-6.1.0-18-amd64", "6.1.0-18-amd64")]
    [InlineData("initramfs-6.5.6-300.fc39.x86_64.img", "6.5.6-300.fc39.x86_64")]
    [InlineData("initrd-6.4.0-150600.21-default", "6.4.0-150600.21-default")]
    [InlineData("vmlinuz-linux", null)]
    [InlineData("initramfs-linux-fallback.img", null)]
    [InlineData("vmlinuz", null)]
    public void Kernel_versions_come_from_the_file_names(string name, string? version) =>
        KernelFinder.VersionFrom(name).Should().Be(version);

    private static void Run(string program, params string[] args)
    {
        var r = ProcessRunner.Run(program, args);
        r.ExitCode.Should().Be(0, $"{program} {string.Join(' ', args)}: {r}");
    }
}
