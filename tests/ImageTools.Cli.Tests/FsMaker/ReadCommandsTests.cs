using System.Globalization;
using System.Text.Json;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.FsMaker;

using Cli = ImageTools.TestSupport.Cli;

/// <summary>A disk image with an ext4 root (the sample tree) in partition 1 and a swap area in partition 2, built once.</summary>
public sealed class SampleDisk : IDisposable
{
    private readonly TempDirectory _folder = new("imagetools-cli-disk-");
    private string? _disk;

    public string Folder => _folder.Path;

    /// <summary>The disk (building it on first use; needs root for the sample tree).</summary>
    public string Disk
    {
        get
        {
            lock (_folder)
            {
                return _disk ??= Build();
            }
        }
    }

    public long RootOffset { get; private set; }

    private string Build()
    {
        var root = SampleExtImages.Image("ext4-1k");
        var disk = Path.Combine(Folder, "disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(32 << 20);
        }
        Sfdisk.Apply(disk, "label: dos\nstart=2048, size=32768, type=83, bootable\nsize=8192, type=82\n");
        var table = Sfdisk.Json(disk);
        RootOffset = table.Partitions[0].Start * 512;
        Run("dd", $"if={root}", $"of={disk}", "bs=512", $"seek={table.Partitions[0].Start}", "conv=notrunc,sparse", "status=none");
        var swap = Path.Combine(Folder, "swap.img");
        Run("truncate", "-s", "4M", swap);
        Run(ExternalTools.Require("mkswap"), "-q", swap);
        Run("dd", $"if={swap}", $"of={disk}", "bs=512", $"seek={table.Partitions[1].Start}", "conv=notrunc,sparse", "status=none");
        return disk;
    }

    internal static void Run(string program, params string[] args)
    {
        var r = ProcessRunner.Run(program, args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {r}");
        }
    }

    public void Dispose() => _folder.Dispose();
}

/// <summary>
/// fsmaker inspect, extract and export run as a user runs them, on real images, checked with sfdisk,
/// dumpe2fs, debugfs, GNU tar and stat; and each documented failure gives its documented exit code.
/// </summary>
public sealed class ReadCommandsTests(SampleDisk sample) : IClassFixture<SampleDisk>
{
    [Fact]
    public void Inspect_json_agrees_with_sfdisk_and_dumpe2fs()
    {
        var disk = sample.Disk;
        var r = Cli.FsMaker("inspect", disk, "--json");
        r.ExitCode.Should().Be(0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var content = json.RootElement.GetProperty("content");
        content.GetProperty("formats").EnumerateArray().Select(f => f.GetString()).Should().Equal("mbr");
        var table = content.GetProperty("partitionTable");
        var sfdisk = Sfdisk.Json(disk);
        table.GetProperty("diskIdentifier").GetString().Should().Be(sfdisk.Id);
        var partitions = table.GetProperty("partitions").EnumerateArray().ToList();
        partitions.Select(p => (p.GetProperty("number").GetInt32(), p.GetProperty("startSector").GetInt64(), p.GetProperty("sectorCount").GetInt64(), p.GetProperty("typeId").GetString(), p.GetProperty("bootable").GetBoolean()))
            .Should().Equal(sfdisk.Partitions.Select(p => (p.Number, p.Start, p.Size, (string?)p.Type, p.Bootable)));

        var ext = partitions[0].GetProperty("content").GetProperty("ext");
        var facts = Dumpe2fs.Header(disk, sample.RootOffset);
        ext.GetProperty("type").GetString().Should().Be("ext4");
        ext.GetProperty("uuid").GetString().Should().Be(facts["Filesystem UUID"]);
        ext.GetProperty("label").GetString().Should().Be(facts["Filesystem volume name"]);
        string.Join(' ', ext.GetProperty("features").EnumerateArray().Select(f => f.GetString())).Should().Be(facts["Filesystem features"]);
        ext.GetProperty("blockSize").GetInt32().ToString(CultureInfo.InvariantCulture).Should().Be(facts["Block size"]);
        ext.GetProperty("blockCount").GetUInt64().ToString(CultureInfo.InvariantCulture).Should().Be(facts["Block count"]);
        ext.GetProperty("freeBlocks").GetUInt64().ToString(CultureInfo.InvariantCulture).Should().Be(facts["Free blocks"]);
        ext.GetProperty("freeInodes").GetUInt32().ToString(CultureInfo.InvariantCulture).Should().Be(facts["Free inodes"]);
        ext.GetProperty("lastMountTime").ValueKind.Should().Be(JsonValueKind.Null);
        facts["Last mount time"].Should().Be("n/a");
        DateTimeOffset.Parse(ext.GetProperty("created").GetString()!, CultureInfo.InvariantCulture).Should().Be(Dumpe2fs.ParseTime(facts["Filesystem created"]));
        ext.GetProperty("kernels").EnumerateArray().Select(k => (k.GetProperty("path").GetString(), k.GetProperty("version").GetString()))
            .Should().Equal(("/boot/vmlinuz-6.1.0-18-amd64", "6.1.0-18-amd64"), ("/vmlinuz", "6.1.0-18-amd64"));
        partitions[1].GetProperty("content").GetProperty("otherFormat").GetString().Should().Contain("swap");
    }

    [Fact]
    public void Inspect_text_says_what_the_disk_holds()
    {
        var r = Cli.FsMaker("inspect", sample.Disk);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdOut.Should().Contain("MBR partition table").And.Contain("partition 1: sectors 2048-34815").And.Contain("type 83 (Linux), bootable")
            .And.Contain("ext4 filesystem").And.Contain("label:         sample-ext4")
            .And.Contain("kernels:       /boot/vmlinuz-6.1.0-18-amd64 (version 6.1.0-18-amd64")
            .And.Contain("/vmlinuz -> boot/vmlinuz-6.1.0-18-amd64").And.Contain("swap area");
    }

    [Fact]
    public void A_block_device_is_inspected_and_read_at_its_real_size()
    {
        ExternalTools.RequireRoot("attaching a loop device");
        var losetup = ExternalTools.Require("losetup");
        var attach = ProcessRunner.Run(losetup, "-r", "-f", "--show", sample.Disk);
        if (attach.ExitCode != 0)
        {
            Assert.Skip($"no loop device available here: {attach.StdErr.Trim()}");
        }
        var device = attach.StdOut.Trim();
        try
        {
            var r = Cli.FsMaker("inspect", device);
            r.ExitCode.Should().Be(0, r.ToString());
            r.StdOut.Should().StartWith($"{device}: 32.0 MiB").And.Contain("MBR partition table").And.Contain("ext4 filesystem");
            var x = Cli.FsMaker("extract", device + ":1", "/etc/hostname", "-o", "-");
            x.ExitCode.Should().Be(0, x.ToString());
            x.StdOut.Should().Be("sample\n");
        }
        finally
        {
            ProcessRunner.Run(losetup, "-d", device);
        }
    }

    [Fact]
    public void Extract_copies_files_and_trees_out_of_a_partition()
    {
        using var temp = new TempDirectory();
        var output = temp.File("out");
        var r = Cli.FsMaker("extract", sample.Disk + ":1", "/boot/vmlinuz-6.1.0-18-amd64", "/etc", "/vmlinuz", "-o", output);
        r.ExitCode.Should().Be(0, r.ToString());
        var tree = SampleExtImages.Tree;
        FileFacts.Sha256(Path.Combine(output, "vmlinuz-6.1.0-18-amd64")).Should().Be(FileFacts.Sha256(Path.Combine(tree, "boot/vmlinuz-6.1.0-18-amd64")));
        File.ReadAllText(Path.Combine(output, "etc/deep/er/still/deeper/leaf.txt")).Should().Be("leaf\n");
        new FileInfo(Path.Combine(output, "vmlinuz")).LinkTarget.Should().Be("boot/vmlinuz-6.1.0-18-amd64", "a symlink is extracted as a symlink");

        var again = Cli.FsMaker("extract", sample.Disk + ":1", "/etc/hostname", "-o", output);
        again.ExitCode.Should().Be(0, again.ToString());
        var twice = Cli.FsMaker("extract", sample.Disk + ":1", "/etc/hostname", "-o", output);
        twice.ExitCode.Should().Be(3, "nothing is overwritten");
        twice.StdErr.Should().Contain("already exists");

        var followed = Cli.FsMaker("extract", sample.Disk, "/vmlinuz", "-L", "-o", temp.File("followed"));
        followed.ExitCode.Should().Be(0, followed.ToString());
        FileFacts.Sha256(temp.File("followed/vmlinuz")).Should().Be(FileFacts.Sha256(Path.Combine(tree, "boot/vmlinuz-6.1.0-18-amd64")),
            "with -L the link's target is extracted (and the only ext partition is picked without :N)");
    }

    [Fact]
    public void Extract_to_stdout_writes_the_file()
    {
        var r = Cli.FsMaker("extract", SampleExtImages.Image("ext3-4k"), "/vmlinuz", "-o", "-");
        r.ExitCode.Should().Be(0, r.StdErr);
        FileFacts.Sha256(r.StdOutBytes).Should().Be(FileFacts.Sha256(Path.Combine(SampleExtImages.Tree, "boot/vmlinuz-6.1.0-18-amd64")));
    }

    [Theory]
    [InlineData("export.tar", "-xf")]
    [InlineData("export.tar.gz", "-xzf")]
    [InlineData("export.tar.zst", "--zstd -xf")]
    public void Export_writes_an_archive_gnu_tar_extracts(string name, string tarOptions)
    {
        using var temp = new TempDirectory();
        var archive = temp.File(name);
        var r = Cli.FsMaker("export", sample.Disk + ":1", archive);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("exported").And.Contain("hard links").And.Contain("socket left out");
        File.Exists(archive + ".partial").Should().BeFalse();
        var extracted = temp.File("x");
        Directory.CreateDirectory(extracted);
        var tar = ProcessRunner.Run("tar", tarOptions.Split(' ').Append(archive).Concat(new[] { "-C", extracted }));
        tar.ExitCode.Should().Be(0, tar.ToString());
        FileFacts.Sha256(Path.Combine(extracted, "random-1m")).Should().Be(FileFacts.Sha256(Path.Combine(SampleExtImages.Tree, "random-1m")));
        Directory.GetFiles(Path.Combine(extracted, "many")).Should().HaveCount(400);
    }

    [Fact]
    public void Export_to_stdout_and_to_a_directory()
    {
        using var temp = new TempDirectory();
        var image = SampleExtImages.Image("ext2-4k");
        var r = Cli.FsMaker("export", image, "-", "--quiet");
        r.ExitCode.Should().Be(0, r.StdErr);
        File.WriteAllBytes(temp.File("stdout.tar"), r.StdOutBytes);
        var list = ProcessRunner.Run("tar", "-tf", temp.File("stdout.tar"));
        list.ExitCode.Should().Be(0, list.ToString());
        list.StdOut.Split('\n').Should().Contain("./etc/hostname");

        var directory = temp.File("restored");
        var d = Cli.FsMaker("export", image, directory);
        d.ExitCode.Should().Be(0, d.ToString());
        File.ReadAllText(Path.Combine(directory, "small.txt")).Should().Be("hello, ext\n");
        var stat = ProcessRunner.Run("stat", "-c", "%a %u:%g %Y", Path.Combine(directory, "small.txt"));
        stat.StdOut.Trim().Should().Be($"600 0:0 {new DateTimeOffset(1999, 12, 31, 23, 59, 59, TimeSpan.Zero).ToUnixTimeSeconds() - (long)TimeZoneInfo.Local.GetUtcOffset(new DateTime(1999, 12, 31)).TotalSeconds}");

        var again = Cli.FsMaker("export", image, directory);
        again.ExitCode.Should().Be(3, "a non-empty destination directory is refused");
        again.StdErr.Should().Contain("is not empty");
    }

    [Fact]
    public void A_compressed_image_is_exported_through_decompression()
    {
        using var temp = new TempDirectory();
        var compressed = temp.File("root.img.zst");
        var z = ProcessRunner.Run(ExternalTools.Require("zstd"), "-q", SampleExtImages.Image("ext4-4k"), "-o", compressed);
        z.ExitCode.Should().Be(0, z.ToString());
        var r = Cli.FsMaker("extract", compressed, "/small.txt", "-o", temp.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        File.ReadAllText(temp.File("out/small.txt")).Should().Be("hello, ext\n");
    }

    [Fact]
    public void Each_failure_has_its_documented_exit_code()
    {
        using var temp = new TempDirectory();
        Expect(Cli.FsMaker("inspect", temp.File("missing.img")), 12, "cannot open it");
        Expect(Cli.FsMaker("extract", sample.Disk + ":9", "/etc"), 12, "has no partition 9");
        Expect(Cli.FsMaker("extract", sample.Disk + ":2", "/etc"), 6, "not an ext2/3/4 filesystem");
        Expect(Cli.FsMaker("extract", sample.Disk + ":1", "/no/such/file", "-o", temp.File("o")), 12, "does not exist in the filesystem");

        var iso = temp.File("cd.iso");
        Directory.CreateDirectory(temp.File("iso"));
        File.WriteAllText(temp.File("iso/a"), "a");
        SampleDisk.Run(ExternalTools.Require("xorriso"), "-as", "mkisofs", "-quiet", "-o", iso, temp.File("iso"));
        Expect(Cli.FsMaker("export", iso, temp.File("iso.tar")), 6, "it is an ISO 9660 image");
        File.Exists(temp.File("iso.tar")).Should().BeFalse();

        var encrypted = temp.File("encrypted.img");
        File.Copy(SampleExtImages.Image("ext2-1k"), encrypted);
        SampleDisk.Run(ExternalTools.Require("debugfs"), "-w", "-R", "feature encrypt", encrypted);
        Expect(Cli.FsMaker("export", encrypted, temp.File("e.tar")), 5, "'encrypt'");
        Cli.FsMaker("inspect", encrypted).StdOut.Should().Contain("files:").And.Contain("encrypt", "inspect still describes it and says why its files are not read");
    }

    [Fact]
    public void Damage_stops_an_export_unless_told_to_keep_going()
    {
        using var temp = new TempDirectory();
        var corpus = TestPaths.RequireSharedCorpus();
        var source = Path.Combine(corpus, "e2fsprogs", "f_baddir.img.gz");
        if (!File.Exists(source))
        {
            Assert.Skip($"{source} is absent");
        }
        var strict = Cli.FsMaker("export", source, temp.File("strict.tar"));
        strict.ExitCode.Should().Be(4, strict.ToString());
        strict.StdErr.Should().Contain("contains '/' or NUL");
        File.Exists(temp.File("strict.tar")).Should().BeFalse("a failed export leaves no half-written archive behind");

        var lenient = Cli.FsMaker("export", source, temp.File("lenient.tar"), "--keep-going");
        lenient.ExitCode.Should().Be(4, lenient.ToString());
        lenient.StdErr.Should().Contain("fsmaker: skipped /").And.Contain("damaged entries skipped");
        var list = ProcessRunner.Run("tar", "-tf", temp.File("lenient.tar"));
        list.ExitCode.Should().Be(0, list.ToString());
        list.StdOut.Should().Contain("./lost+found/");
    }

    private static void Expect(ProcessResult r, int exitCode, string message)
    {
        r.ExitCode.Should().Be(exitCode, r.ToString());
        r.StdErr.Should().StartWith("fsmaker: ").And.Contain(message);
    }
}
