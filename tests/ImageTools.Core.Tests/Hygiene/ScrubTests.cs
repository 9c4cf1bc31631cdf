using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.Core.Hygiene;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Hygiene;

/// <summary>
/// A default scrub (plus --remove) of the dirty root tree (<see cref="DirtyRootTree"/>) made into images by
/// mke2fs -d (ext2, ext3 with htree directories, ext4 with metadata_csum) and by our writer (ext2, ext3):
/// every item is handled (our reader and debugfs agree), everything else keeps its facts (content hash,
/// owner, mode, xattrs, links), no secret is left anywhere in the raw image, e2fsck -fn is clean, and the
/// image holds no more data than before. A dry run reports the same changes and writes nothing.
/// </summary>
public sealed class ScrubTests
{
    public static TheoryData<string> Kinds() => new("mke2fs-ext2-1k", "mke2fs-ext3-1k-htree", "mke2fs-ext4-4k", "writer-ext2-1k", "writer-ext3-4k");

    private static readonly object Gate = new();
    private static readonly Dictionary<string, string> Built = new();
    private static TempDirectory? _folder;

    /// <summary>The image of one kind (built once per test run; tests scrub copies).</summary>
    internal static string Image(string kind, bool systemd = true)
    {
        lock (Gate)
        {
            var key = kind + (systemd ? "" : "-nosystemd");
            if (Built.TryGetValue(key, out var done))
            {
                return done;
            }
            if (_folder == null)
            {
                var folder = new TempDirectory("imagetools-dirty-");
                AppDomain.CurrentDomain.ProcessExit += (_, _) => folder.Dispose();
                _folder = folder;
            }
            var tree = Path.Combine(_folder.Path, "tree" + (systemd ? "" : "-nosystemd"));
            if (!Directory.Exists(tree))
            {
                DirtyRootTree.Build(tree, systemd);
            }
            var image = Path.Combine(_folder.Path, key + ".img");
            switch (kind)
            {
                case "mke2fs-ext2-1k":
                    ExtImages.Make(image, "ext2", 1024, tree, "24M");
                    break;
                case "mke2fs-ext3-1k-htree":
                    ExtImages.Make(image, "ext3", 1024, tree, "24M");
                    ExtImages.IndexDirectories(image);
                    break;
                case "mke2fs-ext4-4k":
                    ExtImages.Make(image, "ext4", 4096, tree, "32M");
                    break;
                case "writer-ext2-1k":
                    new ExtFilesystemBuilder(new ExtFilesystemOptions { Type = ExtFilesystemType.Ext2, BlockSize = 1024, SizeBytes = 24 << 20, BuildTime = FixedNow })
                        .BuildImageFile(new DirectoryTreeSource(tree), image);
                    break;
                case "writer-ext3-4k":
                    new ExtFilesystemBuilder(new ExtFilesystemOptions { Type = ExtFilesystemType.Ext3, BlockSize = 4096, SizeBytes = 32 << 20, BuildTime = FixedNow })
                        .BuildImageFile(new DirectoryTreeSource(tree), image);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind));
            }
            Built[key] = image;
            return image;
        }
    }

    private static ScrubOptions Options(bool dryRun = false) => new()
    {
        RemovePaths = DirtyRootTree.RemovePatterns,
        Now = FixedNow,
        DryRun = dryRun,
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_default_scrub_handles_every_item_and_leaves_everything_else_as_it_was(string kind)
    {
        using var temp = new TempDirectory("imagetools-scrub-");
        var image = Copy(Image(kind), temp.File("scrubbed.img"));
        var before = Describe(image);
        var dataBefore = DataBytes(image);
        foreach (var secret in DirtyRootTree.Secrets)
        {
            Contains(image, Encoding.ASCII.GetBytes(secret)).Should().BeTrue($"the dirty image holds '{secret}' to begin with");
        }

        var report = Scrubber.Scrub(image, Options());

        ShouldBeCleanForE2fsck(image, $"after scrubbing {kind}");
        var after = Describe(image);
        report.Operations.Should().Equal("remove", "tmp", "package-cache", "logs", "login-records", "histories", "ssh-hostkeys", "machine-id", "random-seed", "credential-secret", "dhcp-client-state", "cloud-init", "udev-persistent-net", "net-hwaddr", "crash-data", "cron-spool", "mail-spool", "passwords", "journal", "free-space");

        foreach (var path in DirtyRootTree.Removed)
        {
            after.Should().NotContainKey(path, "it is scrubbed away");
        }
        foreach (var path in DirtyRootTree.Emptied)
        {
            after[path].Size.Should().Be(0, $"{path} is emptied");
            (after[path] with { Size = 0, Content = "" }).Should().Be(before[path] with { Size = 0, Content = "" }, $"{path} keeps owner, mode and xattrs");
        }
        foreach (var path in DirtyRootTree.Rewritten)
        {
            (after[path] with { Size = 0, Content = "" }).Should().Be(before[path] with { Size = 0, Content = "" }, $"{path} keeps owner, mode and xattrs");
        }
        // Directories stay, with their owners and modes.
        foreach (var dir in new[] { "/tmp", "/var/tmp", "/var/log", "/var/log/nginx", "/var/log/journal", "/var/cache/apt/archives/partial", "/opt", "/home/alice" })
        {
            (after[dir] with { Content = "", Links = 0, Size = 0 }).Should().Be(before[dir] with { Content = "", Links = 0, Size = 0 }, $"{dir} stays");
        }
        after["/tmp"].Content.Should().BeEmpty("/tmp is emptied");
        after["/var/tmp"].Content.Should().BeEmpty();

        // The account files, through debugfs.
        var shadow = ExtImages.Debugfs(image, "cat /etc/shadow");
        shadow.Should().Be(
            "root:!:19700:0:99999:7:::\n" + "daemon:*:19700:0:99999:7:::\n" + "alice:!:19700:0:99999:7:::\n" + "bob:!:19700:0:99999:7:::\n"
            + "carol:!:19700:0:99999:7:::\n" + "sshd:!:19700::::::\n" + "nopass:!!:19700::::::\n");
        ExtImages.Debugfs(image, "cat /etc/passwd").Should().Contain("legacy:!:1001:1001:").And.Contain("alice:x:1000");
        ExtImages.Debugfs(image, "cat /etc/gshadow").Should().Be("root:*::\nsudo:!::alice\nusers:!::alice,bob\nstaff:::\n");
        var stat = Debugfs.ParseStat(ExtImages.Debugfs(image, "stat /etc/shadow"));
        stat.Permissions.Should().Be(Convert.ToInt32("640", 8));
        stat.Gid.Should().Be(42u);
        ExtImages.Debugfs(image, "ea_get /etc/shadow security.selinux").Should().Contain("system_u:object_r:shadow_t:s0");
        ExtImages.Debugfs(image, "cat /etc/machine-id").Should().Be("uninitialized\n");
        report.Changes.Should().Contain(c => c.Operation == "passwords" && c.Path == "/etc/shadow" && c.Detail.Contains("root") && c.Detail.Contains("alice") && c.Detail.Contains("carol"));

        // Everything not named by an operation is as it was.
        var touched = new HashSet<string>(DirtyRootTree.Removed.Concat(DirtyRootTree.Emptied).Concat(DirtyRootTree.Rewritten));
        foreach (var (path, facts) in before)
        {
            var parentOfChange = before.Keys.Any(p => touched.Contains(p) && p.StartsWith(path == "/" ? "/" : path + "/", StringComparison.Ordinal));
            var belowRemoved = DirtyRootTree.Removed.Any(r => path.StartsWith(r + "/", StringComparison.Ordinal)) || path.StartsWith("/var/log/journal/", StringComparison.Ordinal);
            if (touched.Contains(path) || belowRemoved)
            {
                continue;
            }
            after.Should().ContainKey(path);
            if (parentOfChange && facts.Type == "Directory")
            {
                (after[path] with { Content = "", Links = 0, Size = 0 }).Should().Be(facts with { Content = "", Links = 0, Size = 0 }, path);
                continue;
            }
            after[path].Should().Be(facts, $"{path} is not named by any operation");
        }

        // Nothing secret is left anywhere in the image, and it holds no more data than before.
        foreach (var secret in DirtyRootTree.Secrets)
        {
            Contains(image, Encoding.ASCII.GetBytes(secret)).Should().BeFalse($"'{secret}' must not be recoverable from the scrubbed image");
        }
        DataBytes(image).Should().BeLessThanOrEqualTo(dataBefore, "scrubbing never makes an image less sparse");

        // A second scrub finds nothing left to do.
        var again = Scrubber.Scrub(image, Options());
        again.Changed.Should().BeFalse(string.Join("\n", again.Changes.Select(c => c.Describe(false))));
    }

    [Fact]
    public void A_dry_run_reports_what_the_scrub_does_and_writes_nothing()
    {
        using var temp = new TempDirectory("imagetools-scrub-");
        var source = Image("mke2fs-ext4-4k");
        var image = Copy(source, temp.File("dry.img"));
        var hash = FileFacts.Sha256(image);
        var dry = Scrubber.Scrub(image, Options(dryRun: true));
        FileFacts.Sha256(image).Should().Be(hash, "a dry run writes nothing");
        File.Exists(image + Core.Ext.Editor.RedoLog.Suffix).Should().BeFalse("not even a redo log");
        dry.Changes.Should().NotBeEmpty();
        dry.Changes.Select(c => c.Describe(true)).Should().OnlyContain(l => !l.Contains(": removed ") && !l.Contains(": emptied "));

        var real = Scrubber.Scrub(image, Options());
        real.Changes.Select(c => c.Describe(false)).Should().Equal(dry.Changes.Select(c => c.Describe(false)), "the dry run plans exactly what the scrub does");
        real.BytesZeroed.Should().Be(dry.BytesZeroed);
        real.BytesWritten.Should().Be(dry.BytesWritten);
    }

    [Fact]
    public void Without_systemd_the_machine_id_is_emptied_not_set_to_uninitialized()
    {
        using var temp = new TempDirectory("imagetools-scrub-");
        var image = Copy(Image("mke2fs-ext2-1k", systemd: false), temp.File("nosystemd.img"));
        var report = Scrubber.Scrub(image, Options());
        ExtImages.Debugfs(image, "stat /etc/machine-id").Should().Contain("Size: 0");
        report.Changes.Should().Contain(c => c.Operation == "machine-id" && c.Detail.Contains("no systemd"));
        ShouldBeCleanForE2fsck(image);
    }

    [Theory]
    [InlineData("passwords,ssh-hostkeys", new[] { "ssh-hostkeys", "passwords" })]
    [InlineData("-logs,-journal", new[] { "tmp", "package-cache", "login-records", "histories", "ssh-hostkeys", "machine-id", "random-seed", "credential-secret", "dhcp-client-state", "cloud-init", "udev-persistent-net", "net-hwaddr", "crash-data", "cron-spool", "mail-spool", "passwords", "free-space" })]
    [InlineData("defaults,-tmp", new[] { "package-cache", "logs", "login-records", "histories", "ssh-hostkeys", "machine-id", "random-seed", "credential-secret", "dhcp-client-state", "cloud-init", "udev-persistent-net", "net-hwaddr", "crash-data", "cron-spool", "mail-spool", "passwords", "journal", "free-space" })]
    [InlineData("none", new string[0])]
    public void Operations_are_selected_as_virt_sysprep_selects_them(string list, string[] expected)
    {
        OperationSelection.Parse(list, removePathsGiven: false).Select(o => o.Name).Should().Equal(expected);
        OperationSelection.Parse(list, removePathsGiven: true).Select(o => o.Name).Should().Equal(expected.Length == 0 && list == "none" ? ["remove"] : ["remove", .. expected]);
    }

    [Fact]
    public void An_unknown_operation_is_named_with_the_known_ones()
    {
        var act = () => OperationSelection.Parse("passwords,logfiles", false);
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidArgument && e.Message.Contains("'logfiles'") && e.Message.Contains("login-records"));
    }

    [Fact]
    public void Only_the_selected_operations_change_anything()
    {
        using var temp = new TempDirectory("imagetools-scrub-");
        var image = Copy(Image("mke2fs-ext3-1k-htree"), temp.File("some.img"));
        var before = Describe(image);
        Scrubber.Scrub(image, new ScrubOptions { Operations = OperationSelection.Parse("ssh-hostkeys", false), Now = FixedNow });
        ShouldBeCleanForE2fsck(image);
        var after = Describe(image);
        after.Keys.Should().BeEquivalentTo(before.Keys.Where(k => !k.StartsWith("/etc/ssh/ssh_host_", StringComparison.Ordinal)));
        foreach (var (path, facts) in after)
        {
            if (path != "/etc/ssh")
            {
                facts.Should().Be(before[path], path);
            }
        }
    }
}

/// <summary>
/// What the kernel leaves behind when files are deleted on a mounted filesystem: their blocks in the free
/// space (never cleared) and, with data=journal, copies in the journal. The journal and free-space
/// operations zero both. The history is made by a real loop mount (root only).
/// </summary>
public sealed class LeftoverTests
{
    [Fact]
    public void Deleted_files_left_in_the_journal_and_the_free_space_by_the_kernel_are_zeroed()
    {
        ExternalTools.RequireRoot("the test mounts an image through a loop device to let the kernel delete a file");
        using var temp = new TempDirectory("imagetools-leftover-");
        var tree = Directory.CreateDirectory(temp.File("tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "keep.txt"), "kept\n");
        var image = ExtImages.Make(temp.File("used.img"), "ext4", 4096, tree, "32M");
        var mountPoint = Directory.CreateDirectory(temp.File("mnt")).FullName;
        var mount = ProcessRunner.Run("mount", "-o", "loop,data=journal", image, mountPoint);
        if (mount.ExitCode != 0)
        {
            Assert.Skip($"cannot loop-mount an image here: {mount.StdErr.Trim()}");
        }
        try
        {
            var content = string.Concat(Enumerable.Repeat("SECRETdeletedCONTENT of a file the builder removed\n", 2000));
            File.WriteAllText(Path.Combine(mountPoint, "SECRETleftBEHINDname.txt"), content);
            ProcessRunner.Run("sync").ExitCode.Should().Be(0);
            File.Delete(Path.Combine(mountPoint, "SECRETleftBEHINDname.txt"));
            ProcessRunner.Run("sync").ExitCode.Should().Be(0);
        }
        finally
        {
            ProcessRunner.Run("umount", mountPoint).ExitCode.Should().Be(0);
        }
        Contains(image, "SECRETdeletedCONTENT"u8.ToArray()).Should().BeTrue("the kernel left the content behind");
        Contains(image, "SECRETleftBEHINDname"u8.ToArray()).Should().BeTrue("the journal or a directory block still names the file");
        var dataBefore = DataBytes(image);

        var report = Scrubber.Scrub(image, new ScrubOptions { Operations = OperationSelection.Parse("journal,free-space", false), Now = FixedNow });

        ShouldBeCleanForE2fsck(image);
        report.Changes.Should().Contain(c => c.Operation == "journal" && c.Action == ScrubAction.Zeroed);
        report.Changes.Should().Contain(c => c.Operation == "free-space" && c.Action == ScrubAction.Zeroed);
        Contains(image, "SECRETdeletedCONTENT"u8.ToArray()).Should().BeFalse("free space and journal are zeroed");
        ExtImages.Debugfs(image, "cat /keep.txt").Should().Be("kept\n");
        DataBytes(image).Should().BeLessThanOrEqualTo(dataBefore);
        // The journal still works: e2fsck accepts it, and it is empty but for its superblock.
        var journalBlocks = BlocksOf(image, "<8>");
        NonZeroBlocks(image, journalBlocks, 4096).Should().Equal([journalBlocks[0]], "only the journal superblock holds anything");
    }
}
