using System.Text;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.FsMaker;

using Cli = ImageTools.TestSupport.Cli;

/// <summary>
/// <c>fsmaker customize</c> and the build's <c>--customize-...</c>/<c>--customize FILE</c> through the command line:
/// the order of the options is the order of the operations, failures have their documented exit codes and leave
/// the image byte-identical, and the disk a build customizes is judged by e2fsck -fn and debugfs.
/// </summary>
public sealed class CustomizeCommandTests : IDisposable
{
    private readonly TempDirectory _work = new("imagetools-customize-cli-");

    public void Dispose() => _work.Dispose();

    private string Tree()
    {
        var root = _work.File("tree");
        if (Directory.Exists(root))
        {
            return root;
        }
        foreach (var dir in new[] { "etc", "root", "home/alice", "boot", "usr/share/zoneinfo/Europe" })
        {
            Directory.CreateDirectory(Path.Combine(root, dir));
        }
        File.WriteAllText(Path.Combine(root, "etc/hostname"), "debian\n");
        File.WriteAllText(Path.Combine(root, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
        File.WriteAllText(Path.Combine(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc/shadow"), "root:*:19700:0:99999:7:::\nalice:!:19700:0:99999:7:::\n");
        File.WriteAllText(Path.Combine(root, "etc/login.defs"), "ENCRYPT_METHOD SHA512\n");
        File.WriteAllText(Path.Combine(root, "usr/share/zoneinfo/Europe/Paris"), "TZif2 stand-in");
        var kernel = new byte[200_000];
        new Random(7).NextBytes(kernel);
        "HdrS"u8.CopyTo(kernel.AsSpan(0x202));
        File.WriteAllBytes(Path.Combine(root, "boot/vmlinuz-6.1.0-18-amd64"), kernel);
        return root;
    }

    private string Image(string name = "root.img") => ExtImages.Make(_work.File(name), "ext4", 4096, Tree(), "16M");

    private static string Cat(string image, string path) => ExtImages.Debugfs(image, $"cat \"{path}\"");

    [Fact]
    public void The_operations_run_in_command_line_order_and_the_image_passes_e2fsck()
    {
        var a = Image("a.img");
        var b = Image("b.img");

        var ra = Cli.FsMaker("customize", a, "--write", "/etc/x:first", "--append-line", "/etc/x:second", "--hostname", "web01");
        var rb = Cli.FsMaker("customize", b, "--append-line", "/etc/x:second", "--hostname", "web01", "--write", "/etc/x:first");

        ra.ExitCode.Should().Be(0, ra.ToString());
        rb.ExitCode.Should().Be(0, rb.ToString());
        ra.StdOut.Should().Be(
            "write: created /etc/x (5 bytes)\n"
            + "append-line: appended to /etc/x (8 bytes, a line break first)\n"
            + "hostname: wrote /etc/hostname (debian -> web01)\n"
            + "hostname: rewrote /etc/hosts (127.0.1.1 web01)\n"
            + $"fsmaker: customized {a} (ext4): 3 operations, " + ra.StdOut.Split("3 operations, ")[1]);
        Cat(a, "/etc/x").Should().Be("first\nsecond\n");
        Cat(b, "/etc/x").Should().Be("first");
        ExtImageChecks.Fsck(a).ExitCode.Should().Be(0);
        ExtImageChecks.Fsck(b).ExitCode.Should().Be(0);
    }

    [Theory]
    [InlineData(12, "user 'bob' has no entry in the image's /etc/passwd", "--ssh-inject", "bob:string:ssh-ed25519 AAAAC3Nza bob@x")]
    [InlineData(12, "timezone Mars/Base: the image has no /usr/share/zoneinfo/Mars/Base", "--timezone", "Mars/Base")]
    [InlineData(12, "there is no directory '/nowhere' in the image", "--write", "/nowhere/file:x")]
    [InlineData(1, "hostname 'bad_name!' is not a valid host name", "--hostname", "bad_name!")]
    [InlineData(1, "--chmod '755x:/etc/hosts': '755x' is not octal permissions", "--chmod", "755x:/etc/hosts")]
    [InlineData(1, "root-password: expected password:PASSWORD, file:FILENAME, random or disabled", "--root-password", "plain")]
    public void A_failure_has_its_exit_code_and_leaves_the_image_byte_identical(int exitCode, string message, string option, string value)
    {
        var image = Image();
        var before = FileFacts.Sha256(image);

        var r = Cli.FsMaker("customize", image, "--hostname", "changed", "--mkdir", "/opt/a", option, value);

        r.ExitCode.Should().Be(exitCode, r.ToString());
        r.StdErr.Should().Contain(message);
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void No_space_left_is_exit_code_7_and_changes_nothing()
    {
        var image = Image();
        var big = _work.File("big.bin");
        File.WriteAllBytes(big, new Random(1).GetItems<byte>(Enumerable.Range(1, 255).Select(i => (byte)i).ToArray(), 20 << 20));
        var before = FileFacts.Sha256(image);

        var r = Cli.FsMaker("customize", image, "--write", "/etc/motd:hi", "--copy-in", big + ":/root");

        r.ExitCode.Should().Be(7, r.ToString());
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void A_dry_run_says_what_would_change_and_writes_nothing()
    {
        var image = Image();
        var before = FileFacts.Sha256(image);

        var r = Cli.FsMaker("customize", "--dry-run", image, "--timezone", "Europe/Paris", "--root-password", "password:pw");

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdOut.Should().Contain("timezone: would create /etc/localtime -> /usr/share/zoneinfo/Europe/Paris\n")
            .And.Contain("root-password: would set root's password in /etc/shadow (a SHA-512 crypt hash; ENCRYPT_METHOD SHA512 in /etc/login.defs)")
            .And.Contain("nothing was written");
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void A_build_customizes_the_root_filesystem_before_the_scrub_from_options_and_a_file_in_order()
    {
        if (!File.Exists("/usr/lib/grub/i386-pc/kernel.img"))
        {
            Assert.Skip("GRUB's i386-pc files are not in /usr/lib/grub/i386-pc; run scripts/install-test-deps.sh (package grub-pc-bin)");
        }
        var ops = _work.File("ops.txt");
        File.WriteAllText(ops, "# the same syntax as virt-customize --commands-from-file\nhostname built01\nwrite /etc/motd:line one\\\nline two\nappend-line /etc/motd:three\nroot-password password:Secret1\n");
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("--customize-mkdir", "/opt/app", "--customize", ops, "--customize-timezone", "Europe/Paris",
            "--scrub", "--scrub-operations", "passwords", Tree(), disk);

        r.ExitCode.Should().Be(0, r.ToString());
        var stderr = r.StdErr;
        stderr.Should().Contain("  customize (mkdir, hostname, write, append-line, root-password, timezone)\n");
        stderr.IndexOf("  customize (", StringComparison.Ordinal).Should().BeLessThan(stderr.IndexOf("  scrub (passwords)", StringComparison.Ordinal), "customize runs before the scrub");
        var root = DiskPartitions.Extract(disk, 1, _work.File("root.part"));
        ExtImageChecks.Fsck(root).ExitCode.Should().Be(0);
        Cat(root, "/etc/hostname").Should().Be("built01\n");
        Cat(root, "/etc/motd").Should().Be("line one\nline two\nthree\n");
        Debugfs.ParseStat(ExtImages.Debugfs(root, "stat /etc/localtime")).FastLinkTarget.Should().Be("/usr/share/zoneinfo/Europe/Paris");
        Debugfs.ParseStat(ExtImages.Debugfs(root, "stat /opt/app")).Type.Should().Be("directory");
        Cat(root, "/etc/shadow").Should().StartWith("root:!:", "the scrub after the customization locks the password it set");
    }

    [Fact]
    public void A_build_with_a_bad_customize_option_leaves_no_disk()
    {
        var disk = _work.File("disk.img");

        var r = Cli.FsMaker("--customize-ssh-inject", "nobody:string:ssh-ed25519 AAAA x", Tree(), disk);

        r.ExitCode.Should().NotBe(0, r.ToString());
        File.Exists(disk).Should().BeFalse();
        Directory.GetFiles(_work.Path, "disk.img*").Should().BeEmpty();
    }
}
