using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Customization;
using ImageTools.Core.Customization.Passwords;
using ImageTools.Core.Ext.Editor;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Customization;

/// <summary>
/// <see cref="Customizer"/> on a small root tree made into ext4 by mke2fs -d and into ext3 by our writer: each
/// operation alone, each followed by e2fsck -fn and debugfs (content, mode, owner, link target); failures that
/// leave the image byte-identical (sha256 before and after); order; dry runs; the root password hash checked by
/// the system's libxcrypt.
/// </summary>
public sealed class CustomizeTests
{
    public static TheoryData<string> Kinds() => new("mke2fs-ext4", "writer-ext3");

    private const string AliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0Ym9vdGtleWZvcnRlc3RzMDEyMzQ1Njc4OWFiY2Rl alice@laptop";

    private static readonly CustomizeOperation.HostEnvironment NoHostKeys = new(SshDirectory: null);

    /// <summary>A small Debian-like root: accounts, hosts, login.defs asking for yescrypt, one zone, a link to follow.</summary>
    private static string BuildTree(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, "root"));
        Directory.CreateDirectory(Path.Combine(root, "home/alice"));
        Directory.CreateDirectory(Path.Combine(root, "usr/share/zoneinfo/Europe"));
        Directory.CreateDirectory(Path.Combine(root, "var/lib"));
        File.WriteAllText(Path.Combine(root, "etc/hostname"), "debian\n");
        File.WriteAllText(Path.Combine(root, "etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost\n");
        File.WriteAllText(Path.Combine(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001:Alice:/home/alice:/bin/bash\n");
        File.WriteAllText(Path.Combine(root, "etc/group"), "root:x:0:\nalice:x:1001:\nstaff:x:50:\n");
        File.WriteAllText(Path.Combine(root, "etc/shadow"), "root:*:19700:0:99999:7:::\nalice:!:19700:0:99999:7:::\n");
        File.WriteAllText(Path.Combine(root, "etc/login.defs"), "# shadow settings\nENCRYPT_METHOD YESCRYPT\n");
        File.WriteAllText(Path.Combine(root, "etc/motd"), "no final newline");
        File.WriteAllBytes(Path.Combine(root, "usr/share/zoneinfo/Europe/Paris"), Encoding.ASCII.GetBytes("TZif2 fake zone data"));
        File.CreateSymbolicLink(Path.Combine(root, "etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");
        // An absolute link to follow inside the image (never to the host's /var/lib).
        File.CreateSymbolicLink(Path.Combine(root, "data"), "/var/lib");
        return root;
    }

    private static readonly object Gate = new();
    private static readonly Dictionary<string, string> Built = new();
    private static TempDirectory? _folder;

    internal static string Image(string kind)
    {
        lock (Gate)
        {
            if (Built.TryGetValue(kind, out var done))
            {
                return done;
            }
            if (_folder == null)
            {
                var folder = new TempDirectory("imagetools-customize-");
                AppDomain.CurrentDomain.ProcessExit += (_, _) => folder.Dispose();
                _folder = folder;
                BuildTree(folder.File("tree"));
            }
            var image = _folder.File(kind + ".img");
            if (kind == "mke2fs-ext4")
            {
                ExtImages.Make(image, "ext4", 4096, _folder.File("tree"), "8M");
            }
            else
            {
                new ExtFilesystemBuilder(new ExtFilesystemOptions { Type = ExtFilesystemType.Ext3, BlockSize = 1024, SizeBytes = 8 << 20, BuildTime = FixedNow })
                    .BuildImageFile(new DirectoryTreeSource(_folder.File("tree")), image);
            }
            Built[kind] = image;
            return image;
        }
    }

    private static CustomizeReport Run(string image, params (string Name, string Argument)[] operations) =>
        Run(image, new CustomizeOptions { Now = FixedNow }, operations);

    private static CustomizeReport Run(string image, CustomizeOptions options, params (string Name, string Argument)[] operations) =>
        Customizer.Customize(image, operations.Select(o => CustomizeOperation.Parse(o.Name, o.Argument, NoHostKeys)).ToList(), options with { Now = FixedNow });

    private static string Sha256(string file)
    {
        using var s = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(s));
    }

    private static string Cat(string image, string path) => ExtImages.Debugfs(image, $"cat \"{path}\"");

    private static Debugfs.StatInfo Stat(string image, string path) => Debugfs.ParseStat(ExtImages.Debugfs(image, $"stat \"{path}\""));

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Each_operation_leaves_a_clean_filesystem_with_what_it_asked_for(string kind)
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image(kind), temp.File("image.img"));
        var local = Directory.CreateDirectory(temp.File("payload")).FullName;
        File.WriteAllText(Path.Combine(local, "app.conf"), "port=8080\n");
        Directory.CreateDirectory(Path.Combine(local, "bin"));
        File.WriteAllText(Path.Combine(local, "bin/run"), "#!/bin/sh\necho run\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(local, "bin/run"), (UnixFileMode)0x1ED);
        }
        File.CreateSymbolicLink(Path.Combine(local, "current"), "bin/run");

        void Step((string, string) operation, Action check, CustomizeOptions? options = null)
        {
            Run(image, options ?? new CustomizeOptions(), operation);
            ShouldBeCleanForE2fsck(image, $"after {operation.Item1} {operation.Item2} on {kind}");
            check();
        }

        Step(("hostname", "web01.example.com"), () =>
        {
            Cat(image, "/etc/hostname").Should().Be("web01.example.com\n");
            Cat(image, "/etc/hosts").Should().Be("127.0.0.1\tlocalhost\n127.0.1.1\tweb01.example.com web01\n::1\tlocalhost ip6-localhost\n");
        });
        Step(("ssh-inject", "alice:string:" + AliceKey), () =>
        {
            var dir = Stat(image, "/home/alice/.ssh");
            (dir.Type, dir.Permissions, dir.Uid, dir.Gid).Should().Be(("directory", 0x1C0, 1000u, 1001u));
            var keys = Stat(image, "/home/alice/.ssh/authorized_keys");
            (keys.Type, keys.Permissions, keys.Uid, keys.Gid).Should().Be(("regular", 0x180, 1000u, 1001u));
            Cat(image, "/home/alice/.ssh/authorized_keys").Should().Be(AliceKey + "\n");
        });
        Step(("copy-in", local + ":/data"), () =>
        {
            // /data is a link to /var/lib inside the image: the tree lands there, owned as --owner says.
            Cat(image, "/var/lib/payload/app.conf").Should().Be("port=8080\n");
            var run = Stat(image, "/var/lib/payload/bin/run");
            (run.Permissions, run.Uid, run.Gid).Should().Be((0x1ED, 1000u, 50u));
            Stat(image, "/var/lib/payload/current").FastLinkTarget.Should().Be("bin/run");
            Stat(image, "/var/lib/payload/bin").Type.Should().Be("directory");
        }, new CustomizeOptions { Owner = "alice:staff" });
        Step(("write", "/etc/issue:Welcome\\n"), () =>
        {
            Cat(image, "/etc/issue").Should().Be("Welcome\\n");
            var issue = Stat(image, "/etc/issue");
            (issue.Permissions, issue.Uid, issue.Gid).Should().Be((0x1A4, 0u, 0u));
        });
        Step(("append-line", "/etc/motd:second line"), () => Cat(image, "/etc/motd").Should().Be("no final newline\nsecond line\n"));
        Step(("append-line", "/etc/motd:third"), () => Cat(image, "/etc/motd").Should().Be("no final newline\nsecond line\nthird\n"));
        Step(("mkdir", "/opt/app/conf.d"), () =>
        {
            Stat(image, "/opt").Permissions.Should().Be(0x1ED);
            Stat(image, "/opt/app/conf.d").Type.Should().Be("directory");
        });
        Step(("chmod", "0600:/etc/motd"), () => Stat(image, "/etc/motd").Permissions.Should().Be(0x180));
        Step(("link", "/opt/app:/app:/opt/latest"), () =>
        {
            Stat(image, "/app").FastLinkTarget.Should().Be("/opt/app");
            Stat(image, "/opt/latest").FastLinkTarget.Should().Be("/opt/app");
        });
        Step(("delete", "/etc/hosts"), () => ExtImages.Debugfs(image, "ls /etc").Should().NotContain("hosts"));
        Step(("timezone", "Europe/Paris"), () =>
        {
            Stat(image, "/etc/localtime").FastLinkTarget.Should().Be("/usr/share/zoneinfo/Europe/Paris");
            Cat(image, "/etc/timezone").Should().Be("Europe/Paris\n");
        });
        Step(("root-password", "password:Tr0ub4dor&3"), () =>
        {
            var shadow = Cat(image, "/etc/shadow");
            var fields = shadow.Split('\n')[0].Split(':');
            fields[0].Should().Be("root");
            fields[1].Should().StartWith("$y$j9T$", "login.defs asks for yescrypt");
            PasswordHashTests.SystemCrypt("Tr0ub4dor&3", fields[1]).Should().Be(fields[1], "libxcrypt accepts the password");
            PasswordHashTests.SystemCrypt("wrong", fields[1]).Should().NotBe(fields[1]);
            shadow.Should().EndWith("\nalice:!:19700:0:99999:7:::\n", "the other lines stay");
        });
        Step(("root-password", "disabled"), () => Cat(image, "/etc/shadow").Should().StartWith("root:*:19700:"));
    }

    [Fact]
    public void The_link_step_on_ext4_made_both_links()
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image("mke2fs-ext4"), temp.File("image.img"));
        Run(image, ("mkdir", "/srv"), ("link", "/opt/app:/srv/app:/app"));
        ShouldBeCleanForE2fsck(image);
        Stat(image, "/srv/app").FastLinkTarget.Should().Be("/opt/app");
        Stat(image, "/app").FastLinkTarget.Should().Be("/opt/app");
    }

    public static TheoryData<string, string, string, ErrorKind, string> Failures() => new()
    {
        { "mke2fs-ext4", "ssh-inject", "bob:string:" + AliceKey, ErrorKind.NotFound, "user 'bob' has no entry" },
        { "writer-ext3", "ssh-inject", "bob:string:" + AliceKey, ErrorKind.NotFound, "user 'bob' has no entry" },
        { "mke2fs-ext4", "write", "/no/such/dir/file:x", ErrorKind.NotFound, "there is no directory '/no'" },
        { "mke2fs-ext4", "timezone", "Mars/Olympus_Mons", ErrorKind.NotFound, "has no /usr/share/zoneinfo/Mars/Olympus_Mons" },
        { "writer-ext3", "copy-in", "{big}:/root", ErrorKind.DoesNotFit, "" },
        { "mke2fs-ext4", "copy-in", "{big}:/root", ErrorKind.DoesNotFit, "" },
        { "mke2fs-ext4", "chmod", "0644:/etc/nothing", ErrorKind.NotFound, "does not exist" },
        { "mke2fs-ext4", "write", "/etc:x", ErrorKind.WrongInputKind, "not a regular file" },
        { "mke2fs-ext4", "link", "/x:/etc", ErrorKind.WrongInputKind, "is a directory" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_failing_operation_after_good_ones_leaves_the_image_byte_identical(string kind, string name, string argument, ErrorKind expected, string message)
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image(kind), temp.File("image.img"));
        if (argument.StartsWith("{big}", StringComparison.Ordinal))
        {
            var big = temp.File("big.bin");
            File.WriteAllBytes(big, RandomNumberGenerator.GetBytes(12 << 20));
            argument = big + argument["{big}".Length..];
        }
        var before = Sha256(image);

        var act = () => Run(image, ("hostname", "changed"), ("write", "/etc/new:content"), (name, argument));

        var error = act.Should().Throw<ImageToolsException>().Which;
        error.Kind.Should().Be(expected, error.Message);
        if (message.Length > 0)
        {
            error.Message.Should().Contain(message);
        }
        Sha256(image).Should().Be(before, "nothing is written unless every operation succeeds");
        File.Exists(image + ".imagetools-redo").Should().BeFalse();
        ShouldBeCleanForE2fsck(image);
    }

    [Fact]
    public void Operations_run_in_the_order_given()
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var a = Copy(Image("mke2fs-ext4"), temp.File("a.img"));
        var b = Copy(Image("mke2fs-ext4"), temp.File("b.img"));

        Run(a, ("write", "/etc/x:first"), ("append-line", "/etc/x:second"));
        Run(b, ("append-line", "/etc/x:second"), ("write", "/etc/x:first"));

        Cat(a, "/etc/x").Should().Be("first\nsecond\n");
        Cat(b, "/etc/x").Should().Be("first");
        // A later operation sees an earlier one: mkdir, then write into it; the reverse fails.
        Run(a, ("mkdir", "/opt/new"), ("write", "/opt/new/f:1"));
        Cat(a, "/opt/new/f").Should().Be("1");
        var reverse = () => Run(b, ("write", "/opt/new/f:1"), ("mkdir", "/opt/new"));
        reverse.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.NotFound);
        ShouldBeCleanForE2fsck(a);
        ShouldBeCleanForE2fsck(b);
    }

    [Fact]
    public void A_dry_run_reports_every_change_and_writes_nothing()
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image("writer-ext3"), temp.File("image.img"));
        var before = Sha256(image);

        var report = Run(image, new CustomizeOptions { DryRun = true }, ("hostname", "dry"), ("mkdir", "/a/b"), ("root-password", "password:x"), ("timezone", "Europe/Paris"));

        Sha256(image).Should().Be(before);
        report.DryRun.Should().BeTrue();
        report.Changes.Select(c => c.Describe(dryRun: true)).Should().Contain(new[]
        {
            "hostname: would write /etc/hostname (debian -> dry)",
            "mkdir: would create /a (directory, 0755)",
            "mkdir: would create /a/b (directory, 0755)",
            "timezone: would replace /etc/localtime -> /usr/share/zoneinfo/Europe/Paris",
        });
        report.BytesWritten.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Paths_never_leave_the_image_through_links()
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image("mke2fs-ext4"), temp.File("image.img"));
        // /etc/localtime -> /usr/share/zoneinfo/Etc/UTC (absent); .. above the root stays at the root.
        Run(image, ("link", "../../../../../tmp:/escape"), ("mkdir", "/escape/inside"), ("write", "/data/../../../etc/hostname:safe\n"));
        ShouldBeCleanForE2fsck(image);
        Stat(image, "/tmp/inside").Type.Should().Be("directory", "../../.. from / is / inside the image");
        Cat(image, "/etc/hostname").Should().Be("safe\n");
        Directory.Exists("/tmp/inside").Should().BeFalse();
    }

    [Fact]
    public void A_commands_file_is_parsed_as_virt_customize_reads_it()
    {
        var ops = CustomizeScript.Parse("# comment\n\n  hostname web\nwrite /etc/motd:line one\\\nline two\nappend-line /etc/x:y\n--mkdir /opt\n", "ops.txt", NoHostKeys);
        ops.Select(o => o.Name).Should().Equal("hostname", "write", "append-line", "mkdir");
        ((WriteFile)ops[1]).Content.Should().Be("line one\nline two");
        var bad = () => CustomizeScript.Parse("hostname web\nfrobnicate x\n", "ops.txt", NoHostKeys);
        bad.Should().Throw<ImageToolsException>().WithMessage("ops.txt:2: unknown customize operation 'frobnicate'*");
    }

    [Fact]
    public void Ssh_inject_without_a_key_uses_the_first_id_pub_of_the_host_user_and_does_not_add_it_twice()
    {
        using var temp = new TempDirectory("imagetools-customize-");
        var image = Copy(Image("mke2fs-ext4"), temp.File("image.img"));
        var ssh = Directory.CreateDirectory(temp.File("dot-ssh")).FullName;
        File.WriteAllText(Path.Combine(ssh, "id_ed25519.pub"), AliceKey + "\n");
        File.WriteAllText(Path.Combine(ssh, "id_rsa"), "private, never read");
        var host = new CustomizeOperation.HostEnvironment(ssh);

        Customizer.Customize(image, [CustomizeOperation.Parse("ssh-inject", "root", host), CustomizeOperation.Parse("ssh-inject", "root", host)], new CustomizeOptions { Now = FixedNow });

        ShouldBeCleanForE2fsck(image);
        Cat(image, "/root/.ssh/authorized_keys").Should().Be(AliceKey + "\n");
        var noKey = () => CustomizeOperation.Parse("ssh-inject", "root", new CustomizeOperation.HostEnvironment(temp.File("none")));
        noKey.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.NotFound);
    }
}

/// <summary>A customization interrupted after its commit point is completed by the next edit, giving the same bytes as an uninterrupted one.</summary>
public sealed class CustomizeAtomicityTests
{
    private sealed class Crash : Exception;

    private static IReadOnlyList<CustomizeOperation> Operations() =>
    [
        CustomizeOperation.Parse("hostname", "crashed"),
        CustomizeOperation.Parse("mkdir", "/opt/a/b"),
        CustomizeOperation.Parse("write", "/opt/a/b/f:" + new string('x', 50_000)),
        CustomizeOperation.Parse("timezone", "Europe/Paris"),
    ];

    [Theory]
    [InlineData(CommitStage.RedoLogCommitted, 0)]
    [InlineData(CommitStage.Applying, 3)]
    public void A_crash_during_the_commit_is_completed_at_the_next_edit(CommitStage stage, int step)
    {
        using var temp = new TempDirectory("imagetools-customize-atomic-");
        var source = CustomizeTests.Image("mke2fs-ext4");
        var reference = Copy(source!, temp.File("reference.img"));
        var crashed = Copy(source!, temp.File("crashed.img"));
        Customizer.Customize(reference, Operations(), new CustomizeOptions { Now = FixedNow });

        var act = () => Customizer.Customize(crashed, Operations(), new CustomizeOptions
        {
            Now = FixedNow,
            OnCommitProgress = p =>
            {
                if (p.Stage == stage && p.Done >= step)
                {
                    throw new Crash();
                }
            },
        });

        act.Should().Throw<Crash>();
        File.Exists(crashed + RedoLog.Suffix).Should().BeTrue();
        using (var reopened = EditableImage.Open(crashed))
        {
            reopened.RecoveryNote.Should().Contain("completed an edit that was interrupted");
        }
        Sha256(crashed).Should().Be(Sha256(reference));
        ShouldBeCleanForE2fsck(crashed);
    }

    private static string Sha256(string file)
    {
        using var s = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(s));
    }
}

/// <summary>Seeded mutations of commands files and yescrypt settings: an error is an ImageToolsException, never a crash or a hang.</summary>
public sealed class CustomizeParsingMutationTests
{
    private const string Script = "# c\nhostname web\nwrite /etc/motd:a\\\nb\nappend-line /etc/x:y\nmkdir /opt\nchmod 0755:/opt\nlink /a:/b:/c\ndelete /tmp/*\ntimezone Europe/Paris\nroot-password disabled\n";

    [Fact]
    public void Mutated_commands_files_parse_or_fail_with_a_clear_error()
    {
        var random = new Random(1515);
        var host = new CustomizeOperation.HostEnvironment(null);
        for (var i = 0; i < 3000; i++)
        {
            var chars = Script.ToCharArray();
            var n = random.Next(1, 6);
            for (var k = 0; k < n; k++)
            {
                chars[random.Next(chars.Length)] = (char)random.Next(0, 128);
            }
            var text = new string(chars);
            try
            {
                CustomizeScript.Parse(text, "fuzz.txt", host);
            }
            catch (ImageToolsException e)
            {
                e.Message.Should().StartWith("fuzz.txt:", $"mutation {i} names the file and line: {e.Message}");
            }
        }
    }

    [Fact]
    public void Mutated_yescrypt_settings_hash_or_fail_with_a_clear_error()
    {
        var random = new Random(1516);
        const string setting = "$y$j75$abcdefghijklmnopqrstu.$";
        for (var i = 0; i < 300; i++)
        {
            var chars = setting.ToCharArray();
            // Every position but N's (index 5): a mutated N may ask for up to 1 GiB, which is legal but not for a unit test.
            var at = random.Next(3, chars.Length - 1);
            chars[at >= 5 ? at + 1 : at] = CustomizeAlphabet[random.Next(CustomizeAlphabet.Length)];
            try
            {
                Yescrypt.Hash("pw", new string(chars)).Should().StartWith("$y$");
            }
            catch (ImageToolsException e)
            {
                e.Kind.Should().Be(ErrorKind.InvalidArgument);
            }
        }
    }

    [Theory]
    [InlineData("$y$jZ5$abcdefghijklmnopqrstu.$")]
    [InlineData("$y$jJ5$abcdefghijklmnopqrstu.$")]
    [InlineData("$y$j7z$abcdefghijklmnopqrstu.$")]
    public void A_setting_asking_for_more_than_1_GiB_is_refused(string setting)
    {
        var act = () => Yescrypt.Hash("pw", setting);
        act.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.InvalidArgument);
    }

    private const string CustomizeAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$!~";
}
