using System.Text;
using System.Text.Json;
using FluentAssertions;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.FsMaker;

using Cli = ImageTools.TestSupport.Cli;

/// <summary>The dirty root tree (<see cref="DirtyRootTree"/>), built once for the class: it takes a few hundred chmod/chown calls.</summary>
public sealed class DirtyTreeFixture : IDisposable
{
    private readonly TempDirectory _folder = new("imagetools-dirty-cli-");
    private string? _tree;
    private string? _ext4;

    /// <summary>The tree (needs root: files of other owners, security.* xattrs; skips otherwise).</summary>
    public string Tree => _tree ??= DirtyRootTree.Build(_folder.File("tree"));

    /// <summary>The tree as an ext4 image by mke2fs -d (extents, flex_bg, 64bit, metadata_csum), 4 KiB blocks.</summary>
    public string Ext4Image => _ext4 ??= ExtImages.Make(_folder.File("dirty.ext4"), "ext4", 4096, Tree, "32M");

    public void Dispose() => _folder.Dispose();
}

/// <summary>
/// Hygiene through the command line: <c>fsmaker ROOTIMAGE OUTPUTIMAGE --scrub / --first-boot</c> (the build
/// pipeline's root step) and <c>fsmaker scrub IMAGE[:N]</c> on the disk it makes. The disks are judged by the
/// reference tools (sfdisk, e2fsck -fn, debugfs) and by our reader; the raw disk is searched for every secret
/// of the dirty tree. Kernels are stand-ins (booting is the Boot tests' job: FirstBootTests).
/// </summary>
public sealed class ScrubCommandTests(DirtyTreeFixture dirty) : IClassFixture<DirtyTreeFixture>, IDisposable
{
    private readonly TempDirectory _work = new("imagetools-scrub-cli-");

    public void Dispose() => _work.Dispose();

    public static TheoryData<string> RootKinds() => new("directory", "tar", "ext4 image");

    [Theory]
    [MemberData(nameof(RootKinds))]
    public void A_build_with_scrub_writes_a_disk_whose_root_filesystem_has_every_secret_handled(string kind)
    {
        RequireGrub();
        var root = Root(kind);
        var rootHashBefore = kind == "ext4 image" ? FileFacts.Sha256(root) : null;
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker(["-k", Kernel(), "--scrub", .. RemoveOptions(), root, disk]);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("  scrub (remove, tmp, package-cache, logs, login-records, histories, ssh-hostkeys, machine-id, random-seed, credential-secret, dhcp-client-state, cloud-init, udev-persistent-net, net-hwaddr, crash-data, cron-spool, mail-spool, passwords, journal, free-space)\n")
            .And.Contain("    passwords: rewrote /etc/shadow (accounts locked: root");
        if (rootHashBefore != null)
        {
            FileFacts.Sha256(root).Should().Be(rootHashBefore, "ROOTIMAGE is never modified: the scrub works on the copy in the disk");
        }
        SaneLayout(disk);
        var partition = CheckedRootPartition(disk);

        // Our reader, on the disk itself.
        using (var opened = ExtImageOpener.Open(disk + ":1", cancellationToken: TestContext.Current.CancellationToken))
        {
            var fs = opened.FileSystem;
            foreach (var path in DirtyRootTree.Removed)
            {
                fs.TryResolve(path, followLast: false).Should().BeNull($"{path} is scrubbed away");
            }
            foreach (var path in DirtyRootTree.Emptied)
            {
                var inode = fs.TryResolve(path, followLast: false);
                inode.Should().NotBeNull($"{path} stays, emptied");
                inode!.Size.Should().Be(0UL, $"{path} is emptied");
            }
            foreach (var dir in new[] { "/tmp", "/var/tmp", "/var/log", "/var/log/nginx", "/var/cache/apt/archives/partial", "/home/alice" })
            {
                fs.TryResolve(dir, followLast: true)!.IsDirectory.Should().BeTrue($"{dir} stays");
            }
            fs.ListDirectory(fs.TryResolve("/tmp", followLast: true)!).Should().BeEmpty("/tmp is emptied");
            Read(fs, "/etc/shadow").Should().Be(ScrubbedShadow);
            Read(fs, "/etc/machine-id").Should().Be("uninitialized\n", "the tree has systemd 252");
            Read(fs, "/usr/bin/tool").Should().Be(Encoding.Latin1.GetString(File.ReadAllBytes(Path.Combine(dirty.Tree, "usr/bin/tool"))), "what no operation names stays");
            Read(fs, "/home/alice/notes.txt").Should().Be("Alice's notes: keep me\n");
            Read(fs, "/opt/keep.txt").Should().Be("outside the build directory\n");
            fs.ListDirectory(fs.TryResolve("/usr/share/doc/many", followLast: true)!).Should().HaveCount(300);
        }

        // debugfs agrees, and sees owners, modes and the SELinux label of the rewritten shadow kept.
        ExtImages.Debugfs(partition, "cat /etc/shadow").Should().Be(ScrubbedShadow);
        ExtImages.Debugfs(partition, "cat /etc/gshadow").Should().Be("root:*::\nsudo:!::alice\nusers:!::alice,bob\nstaff:::\n");
        ExtImages.Debugfs(partition, "cat /etc/passwd").Should().Contain("legacy:!:1001:1001:");
        var stat = Debugfs.ParseStat(ExtImages.Debugfs(partition, "stat /etc/shadow"));
        stat.Permissions.Should().Be(Convert.ToInt32("640", 8));
        stat.Gid.Should().Be(42u);
        ExtImages.Debugfs(partition, "ea_get /etc/shadow security.selinux").Should().Contain("system_u:object_r:shadow_t:s0");
        ExtImages.Debugfs(partition, "ls /etc/ssh").Should().Contain("sshd_config").And.NotContain("ssh_host_");
        ExtImages.Debugfs(partition, "cat /var/log/syslog").Should().BeEmpty();

        // Nothing of any secret is left anywhere in the disk: not in freed blocks, directory slack or the journal.
        foreach (var secret in DirtyRootTree.Secrets.Append(DeletedSecret))
        {
            FileContains(disk, secret).Should().BeFalse($"'{secret}' must not be anywhere in the published disk");
        }
        var original = File.Exists(root) ? root : Path.Combine(dirty.Tree, "etc", "shadow");
        FileContains(original, DirtyRootTree.RootHash).Should().BeTrue("the secrets were there to begin with");
    }

    [Fact]
    public void Scrub_operations_choose_what_the_build_scrubs_and_json_lists_the_changes()
    {
        RequireGrub();
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("-k", Kernel(), "--scrub", "--scrub-operations", "passwords,ssh-hostkeys", "--json", dirty.Tree, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var step = json.RootElement.GetProperty("steps").EnumerateArray().Single();
        step.GetProperty("step").GetString().Should().Be("scrub (ssh-hostkeys, passwords)");
        var report = step.GetProperty("report").EnumerateArray().Select(e => e.GetString()!).ToList();
        report.Should().Contain(l => l.StartsWith("passwords: rewrote /etc/shadow", StringComparison.Ordinal));
        report.Should().Contain(l => l.StartsWith("ssh-hostkeys: removed /etc/ssh/ssh_host_rsa_key ", StringComparison.Ordinal));
        report.Should().NotContain(l => l.StartsWith("logs:", StringComparison.Ordinal));
        var partition = CheckedRootPartition(disk);
        ExtImages.Debugfs(partition, "cat /etc/shadow").Should().Be(ScrubbedShadow);
        ExtImages.Debugfs(partition, "ls /etc/ssh").Should().NotContain("ssh_host_");
        ExtImages.Debugfs(partition, "cat /var/log/syslog").Should().Contain("SECRETsyslogLINE", "logs was not selected");
        ExtImages.Debugfs(partition, "cat /etc/machine-id").Should().Be(DirtyRootTree.MachineId + "\n", "machine-id was not selected");
    }

    [Fact]
    public void A_build_with_first_boot_alone_installs_the_script_and_its_systemd_unit_and_locks_nothing()
    {
        RequireGrub();
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("-k", Kernel(), "--first-boot", "--metadata-url", "http://192.0.2.10:8080/pw", "--first-boot-user", "alice", dirty.Ext4Image, disk);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("  first-boot script\n").And.NotContain("passwords:");
        var partition = CheckedRootPartition(disk);
        var script = ExtImages.Debugfs(partition, "cat /usr/local/sbin/imagetools-first-boot");
        script.Should().StartWith("#!/bin/sh").And.Contain("http://192.0.2.10:8080/pw").And.Contain("alice");
        ExtImages.Debugfs(partition, "cat /etc/systemd/system/imagetools-first-boot.service").Should().Contain("After=network-online.target");
        ExtImages.Debugfs(partition, "stat /etc/systemd/system/multi-user.target.wants/imagetools-first-boot.service")
            .Should().Contain("Type: symlink").And.Contain("/etc/systemd/system/imagetools-first-boot.service");
        ExtImages.Debugfs(partition, "cat /etc/shadow").Should().Be(DirtyRootTree.Shadow, "--first-boot without --scrub leaves the accounts as they are");
    }

    [Fact]
    public void Under_one_SOURCE_DATE_EPOCH_a_scrubbed_build_with_first_boot_is_reproducible()
    {
        RequireGrub();
        var environment = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };
        string Build(string name)
        {
            var disk = _work.File(name);
            var r = Cli.Run("fsmaker", ["-q", "-k", Kernel(), "--scrub", "--first-boot", .. RemoveOptions(), dirty.Tree, disk], environment: environment);
            r.ExitCode.Should().Be(0, r.ToString());
            return disk;
        }

        var first = Build("first.img");
        var second = Build("second.img");

        FileFacts.Sha256(second).Should().Be(FileFacts.Sha256(first), "the scrub's times come from SOURCE_DATE_EPOCH and it draws nothing at random");
        var stat = Debugfs.ParseStat(ExtImages.Debugfs(CheckedRootPartition(first), "stat /etc/shadow"));
        stat.Ctime.Seconds.Should().Be(1700000000, "the rewritten file is stamped with SOURCE_DATE_EPOCH");
    }

    public static TheoryData<string> Failures() => new()
    {
        "first-boot user without a shadow entry", "journal needs recovery", "scrub-operations without scrub", "unknown operation",
        "metadata-url without first-boot", "metadata-url not http", "bad remove pattern",
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_failing_scrub_or_first_boot_exits_with_its_code_and_leaves_no_output(string failure)
    {
        RequireGrub();
        var output = Directory.CreateDirectory(_work.File("out")).FullName;
        var disk = Path.Combine(output, "disk.img");
        var root = dirty.Ext4Image;
        string[] args;
        int code;
        string message;
        switch (failure)
        {
            case "first-boot user without a shadow entry":
                (args, code, message) = (["--first-boot", "--first-boot-user", "nobody"], 12, "--first-boot-user nobody has no entry in /etc/shadow");
                break;
            case "journal needs recovery":
                root = _work.File("dirty-journal.ext4");
                File.Copy(dirty.Ext4Image, root);
                ExtImages.Debugfs(root, "feature needs_recovery", write: true);
                (args, code, message) = (["--scrub"], 5, "its journal needs recovery");
                break;
            case "scrub-operations without scrub":
                (args, code, message) = (["--scrub-operations", "passwords"], 1, "--scrub-operations and --scrub-remove go with --scrub");
                break;
            case "unknown operation":
                (args, code, message) = (["--scrub", "--scrub-operations", "passwords,bogus"], 1, "unknown scrub operation 'bogus'");
                break;
            case "metadata-url without first-boot":
                (args, code, message) = (["--metadata-url", "http://10.0.0.1/x"], 1, "--metadata-url, --first-boot-user and --first-boot-init go with --first-boot");
                break;
            case "metadata-url not http":
                (args, code, message) = (["--first-boot", "--metadata-url", "ftp://10.0.0.1/x"], 1, "is not an http:// or https:// URL");
                break;
            case "bad remove pattern":
                (args, code, message) = (["--scrub", "--scrub-remove", "relative/path"], 1, "'relative/path': paths inside the image are absolute");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(failure));
        }
        var rootHash = FileFacts.Sha256(root);

        var r = Cli.FsMaker(["-k", Kernel(), .. args, root, disk]);

        r.ExitCode.Should().Be(code, r.ToString());
        r.StdErr.Should().StartWith("fsmaker: ").And.Contain(message);
        Directory.GetFileSystemEntries(output).Should().BeEmpty("a failed build leaves no output and no temporary file");
        FileFacts.Sha256(root).Should().Be(rootHash, "ROOTIMAGE is never modified");
    }

    [Fact]
    public void A_failing_step_keeps_an_existing_output_as_it_was()
    {
        RequireGrub();
        var output = Directory.CreateDirectory(_work.File("out")).FullName;
        var disk = Path.Combine(output, "disk.img");
        File.WriteAllText(disk, "an older disk");

        var r = Cli.FsMaker("-k", Kernel(), "--scrub", "--first-boot", "--first-boot-user", "nobody", dirty.Tree, disk);

        r.ExitCode.Should().Be(12, r.ToString());
        Directory.GetFiles(output).Should().Equal(disk);
        File.ReadAllText(disk).Should().Be("an older disk");
    }

    [Fact]
    public void Scrub_lists_its_operations_dry_runs_without_writing_then_scrubs_a_partition_in_place_once()
    {
        RequireGrub();
        var list = Cli.FsMaker("scrub", "--list");
        list.ExitCode.Should().Be(0, list.ToString());
        foreach (var name in new[] { "remove", "tmp", "package-cache", "logs", "login-records", "histories", "ssh-hostkeys", "machine-id", "random-seed", "credential-secret", "dhcp-client-state", "cloud-init", "udev-persistent-net", "net-hwaddr", "crash-data", "cron-spool", "mail-spool", "passwords", "journal", "free-space", "first-boot" })
        {
            list.StdOut.Should().MatchRegex($"(?m)^{System.Text.RegularExpressions.Regex.Escape(name)} ");
        }

        var disk = _work.File("disk.img");
        Cli.FsMaker("-q", "-k", Kernel(), dirty.Tree, disk).ExitCode.Should().Be(0);
        var before = FileFacts.Sha256(disk);

        var dry = Cli.FsMaker(["scrub", "--dry-run", .. RemoveOptions("--remove"), disk + ":1"]);
        dry.ExitCode.Should().Be(0, dry.ToString());
        dry.StdOut.Should().Contain("passwords: would rewrite /etc/shadow").And.Contain("remove: would remove /opt/build")
            .And.Contain($"fsmaker: dry run of {disk} partition 1 (ext4)").And.Contain("nothing was written");
        FileFacts.Sha256(disk).Should().Be(before, "a dry run writes nothing");

        var scrub = Cli.FsMaker(["scrub", .. RemoveOptions("--remove"), disk + ":1"]);
        scrub.ExitCode.Should().Be(0, scrub.ToString());
        scrub.StdOut.Should().Contain("passwords: rewrote /etc/shadow").And.Contain($"fsmaker: scrubbed {disk} partition 1 (ext4)");
        File.Exists(disk + ".imagetools-redo").Should().BeFalse("the redo log is gone once the edit is applied");
        var partition = CheckedRootPartition(disk);
        ExtImages.Debugfs(partition, "cat /etc/shadow").Should().Be(ScrubbedShadow);
        foreach (var secret in DirtyRootTree.Secrets)
        {
            FileContains(disk, secret).Should().BeFalse($"'{secret}' must not be anywhere in the scrubbed disk");
        }

        var again = Cli.FsMaker(["scrub", .. RemoveOptions("--remove"), disk + ":1"]);
        again.ExitCode.Should().Be(0, again.ToString());
        again.StdOut.Should().Contain("is already clean: nothing changed");

        var unknown = Cli.FsMaker("scrub", "--operations", "nope", disk + ":1");
        unknown.ExitCode.Should().Be(1, unknown.ToString());
        unknown.StdErr.Should().Contain("unknown scrub operation 'nope'");
    }

    [Fact]
    public void Scrub_refuses_a_compressed_image_and_leaves_it_as_it_was()
    {
        var compressed = _work.File("root.ext4.zst");
        ProcessRunner.Run(ExternalTools.Require("zstd"), "-q", "-o", compressed, dirty.Ext4Image).ExitCode.Should().Be(0);
        var before = FileFacts.Sha256(compressed);

        var r = Cli.FsMaker("scrub", compressed);

        r.ExitCode.Should().Be(6, r.ToString());
        r.StdErr.Should().Contain($"{compressed} is zstd-compressed; an image is edited in place, so decompress it first");
        FileFacts.Sha256(compressed).Should().Be(before);
        File.Exists(compressed + ".imagetools-redo").Should().BeFalse();
    }

    // ---- Helpers -----------------------------------------------------------------------------------

    /// <summary>What a file deleted before the scrub held (only in the ext4 image's free blocks).</summary>
    private const string DeletedSecret = "SECRETdeletedBEFOREtheSCRUB";

    /// <summary>/etc/shadow of the dirty tree after the passwords operation: every hash locked, '*' and '!!' kept.</summary>
    private const string ScrubbedShadow =
        "root:!:19700:0:99999:7:::\n" + "daemon:*:19700:0:99999:7:::\n" + "alice:!:19700:0:99999:7:::\n" + "bob:!:19700:0:99999:7:::\n"
        + "carol:!:19700:0:99999:7:::\n" + "sshd:!:19700::::::\n" + "nopass:!!:19700::::::\n";

    private static string[] RemoveOptions(string option = "--scrub-remove") =>
        DirtyRootTree.RemovePatterns.SelectMany(p => new[] { option, p }).ToArray();

    private string Root(string kind)
    {
        switch (kind)
        {
            case "directory":
                return dirty.Tree;
            case "tar":
                var archive = _work.File("root.tar");
                var tar = ProcessRunner.Run("tar", "--xattrs", "--xattrs-include=*", "--format=pax", "-C", dirty.Tree, "-cf", archive, ".");
                tar.ExitCode.Should().Be(0, tar.ToString());
                return archive;
            case "ext4 image":
                // A copy with a file deleted the way the kernel deletes: its data stays in the free blocks.
                var image = _work.File("dirty-with-deleted.ext4");
                File.Copy(dirty.Ext4Image, image);
                var deleted = _work.File("deleted.txt");
                File.WriteAllText(deleted, string.Concat(Enumerable.Repeat(DeletedSecret + "\n", 200)));
                ExtImages.Debugfs(image, $"write {deleted} /deleted.txt", write: true);
                ExtImages.Debugfs(image, "rm /deleted.txt", write: true);
                FileContains(image, DeletedSecret).Should().BeTrue("the deleted file's data is still in the image's free blocks");
                return image;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static void RequireGrub()
    {
        if (!File.Exists("/usr/lib/grub/i386-pc/kernel.img"))
        {
            Assert.Skip("GRUB's i386-pc files are not in /usr/lib/grub/i386-pc; run scripts/install-test-deps.sh (package grub-pc-bin)");
        }
    }

    /// <summary>A stand-in kernel: random bytes with the x86 boot protocol's "HdrS" magic at 0x202.</summary>
    private string Kernel()
    {
        var kernel = _work.File("vmlinuz-test");
        if (!File.Exists(kernel))
        {
            var bytes = new byte[200_000];
            new Random(7).NextBytes(bytes);
            "HdrS"u8.CopyTo(bytes.AsSpan(0x202));
            File.WriteAllBytes(kernel, bytes);
        }
        return kernel;
    }

    /// <summary>sfdisk reads the table fsmaker wrote: boot partition 2 at 1 MiB, root partition 1 after it, to the end; --verify finds nothing.</summary>
    private static void SaneLayout(string disk)
    {
        var table = Sfdisk.Json(disk);
        table.Label.Should().Be("dos");
        table.Partitions.Select(p => p.Number).Should().Equal(1, 2);
        var (root, boot) = (table.Partitions[0], table.Partitions[1]);
        boot.Start.Should().Be(2048);
        boot.Bootable.Should().BeTrue();
        root.Start.Should().Be(boot.Start + boot.Size);
        (root.Start + root.Size).Should().Be(new FileInfo(disk).Length / 512);
        var verify = Sfdisk.Verify(disk);
        verify.ExitCode.Should().Be(0, verify.ToString());
        Sfdisk.Dump(disk).Should().Contain("type=83, bootable");
    }

    /// <summary>Partition 1 as a file of its own, after e2fsck -fn found it clean.</summary>
    private string CheckedRootPartition(string disk)
    {
        var file = DiskPartitions.Extract(disk, 1, _work.File($"root-{Guid.NewGuid():N}.part"));
        var (exitCode, problems, output) = ExtImageChecks.Fsck(file);
        exitCode.Should().Be(0, $"e2fsck -fn on the root partition: {string.Join("; ", problems)}\n{output}");
        return file;
    }

    private static string Read(ImageTools.Core.Ext.Reader.ExtFileSystem fs, string path)
    {
        using var content = fs.OpenContent(fs.Resolve(path, followLast: true));
        using var copy = new MemoryStream();
        content.CopyTo(copy);
        return Encoding.Latin1.GetString(copy.ToArray());
    }

    /// <summary>Whether the file holds the text anywhere (read in pieces that overlap by the text's length).</summary>
    private static bool FileContains(string file, string text)
    {
        var needle = Encoding.ASCII.GetBytes(text);
        using var stream = File.OpenRead(file);
        var buffer = new byte[(1 << 20) + needle.Length];
        var kept = 0;
        int n;
        while ((n = stream.Read(buffer, kept, buffer.Length - kept)) > 0)
        {
            var filled = kept + n;
            if (buffer.AsSpan(0, filled).IndexOf(needle) >= 0)
            {
                return true;
            }
            kept = Math.Min(needle.Length - 1, filled);
            buffer.AsSpan(filled - kept, kept).CopyTo(buffer);
        }
        return false;
    }
}
