using System.Text;
using FluentAssertions;
using ImageTools.Core.Hygiene.FirstBoot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Hygiene;

/// <summary>
/// The first-boot script itself, run as root in a chroot holding a minimal busybox system (the same
/// userland the QEMU test boots), against a metadata service on the host's loopback. Covers what a
/// boot test cannot cover cheaply: the service down or answering 404, a password with quotes and spaces,
/// each way of disabling itself, and that the password never reaches the log.
/// </summary>
public sealed class FirstBootScriptTests
{
    private const string Shadow = "root:!:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nalice:!:19700:0:99999:7:::\n";

    private sealed class Chroot : IDisposable
    {
        private readonly TempDirectory _temp = new("imagetools-chroot-");

        public Chroot(FirstBootOptions options, FirstBootInit hook)
        {
            ExternalTools.RequireRoot("the script runs in a chroot");
            var busybox = ExternalTools.Find("busybox");
            if (busybox == null)
            {
                Assert.Skip("busybox is not installed (scripts/install-test-deps.sh installs busybox-static)");
            }
            Root = _temp.Path;
            foreach (var dir in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "usr/local/sbin", "etc", "dev", "tmp", "var/lib", "etc/init.d", "etc/rc2.d", "etc/rc3.d", "etc/systemd/system/multi-user.target.wants" })
            {
                Directory.CreateDirectory(Path.Combine(Root, dir));
            }
            File.Copy(busybox, Path.Combine(Root, "bin/busybox"));
            if (ProcessRunner.Run("chroot", Root, "/bin/busybox", "true").ExitCode != 0)
            {
                Assert.Skip($"{busybox} does not run alone in a chroot (not the static build; scripts/install-test-deps.sh installs busybox-static)");
            }
            foreach (var applet in ProcessRunner.Run(busybox, "--list").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var link = Path.Combine(Root, "bin", applet);
                if (!File.Exists(link))
                {
                    File.CreateSymbolicLink(link, "busybox");
                }
            }
            Run("mknod", Path.Combine(Root, "dev/null"), "c", "1", "3");
            Run("mknod", Path.Combine(Root, "dev/urandom"), "c", "1", "9");
            Run("chmod", "666", Path.Combine(Root, "dev/null"), Path.Combine(Root, "dev/urandom"));
            File.WriteAllText(Path.Combine(Root, "etc/shadow"), Shadow);
            Run("chmod", "640", Path.Combine(Root, "etc/shadow"));
            File.WriteAllText(Path.Combine(Root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
            File.WriteAllText(Path.Combine(Root, "etc/machine-id"), "");
            File.WriteAllText(Path.Combine(Root, "etc/inittab"), "::sysinit:/etc/init.d/rcS\n" + FirstBootPayload.InittabLine + "\n::askfirst:-/bin/sh\n");
            File.WriteAllText(Path.Combine(Root, "etc/systemd/system/" + FirstBootPayload.UnitName), FirstBootPayload.Unit());
            File.CreateSymbolicLink(Path.Combine(Root, FirstBootPayload.WantsLink.TrimStart('/')), FirstBootPayload.UnitPath);
            File.WriteAllText(Path.Combine(Root, FirstBootPayload.InitScriptPath.TrimStart('/')), FirstBootPayload.InitScript());
            foreach (var link in FirstBootPayload.RcLinks.Take(2))
            {
                File.CreateSymbolicLink(Path.Combine(Root, link.TrimStart('/')), "../init.d/imagetools-first-boot");
            }
            var script = Path.Combine(Root, FirstBootPayload.ScriptPath.TrimStart('/'));
            File.WriteAllText(script, FirstBootPayload.Script(options, hook, "0123456789abcdef0123456789abcdef"));
            Run("chmod", "755", script);
        }

        public string Root { get; }

        public string Read(string path) => File.ReadAllText(Path.Combine(Root, path.TrimStart('/')));

        /// <summary>Copies a dynamically linked host program into the chroot with the libraries ldd names.</summary>
        public void CopyProgram(string program, string inside)
        {
            void Put(string source, string target)
            {
                var destination = Path.Combine(Root, target.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                if (!File.Exists(destination))
                {
                    File.Copy(source, destination);
                    Run("chmod", "755", destination);
                }
            }
            Put(program, inside);
            foreach (var line in ProcessRunner.Run("ldd", program).StdOut.Split('\n'))
            {
                var library = line.Split("=>").Last().Trim().Split(' ')[0];
                if (library.StartsWith('/') && File.Exists(library))
                {
                    Put(library, library);
                }
            }
        }

        public bool Exists(string path) => Path.Exists(Path.Combine(Root, path.TrimStart('/')));

        public ProcessResult RunScript() =>
            ProcessRunner.Run("chroot", new[] { Root, "/bin/sh", FirstBootPayload.ScriptPath }, timeout: TimeSpan.FromMinutes(2),
                environment: new Dictionary<string, string?> { ["PATH"] = "/bin" });

        private static void Run(string program, params string[] args)
        {
            var r = ProcessRunner.Run(program, args);
            r.ExitCode.Should().Be(0, r.ToString());
        }

        public void Dispose() => _temp.Dispose();
    }

    private static FirstBootOptions Options(string url, string user = "root") => new()
    {
        MetadataUrl = url,
        User = user,
        Attempts = 3,
        RetryDelaySeconds = 0,
        RequestTimeoutSeconds = 5,
    };

    private static string ShadowField(string shadow, string account) =>
        shadow.Split('\n').Single(l => l.StartsWith(account + ":", StringComparison.Ordinal)).Split(':')[1];

    [Theory]
    [InlineData(FirstBootInit.Busybox, "hunter2-Correct-Horse")]
    [InlineData(FirstBootInit.SysV, "with spaces, 'quotes' and \"double\" $dollars :colons")]
    [InlineData(FirstBootInit.Systemd, "Zq7-only-once")]
    public void The_served_password_is_set_once_then_the_script_disables_itself(FirstBootInit hook, string password)
    {
        using var service = new MetadataService(password);
        using var chroot = new Chroot(Options(service.HostUrl), hook);

        var first = chroot.RunScript();
        first.ExitCode.Should().Be(0, first.ToString());
        first.StdOut.Should().Contain("password set for account root");
        (first.StdOut + first.StdErr).Should().NotContain(password, "the password is never logged");
        service.Requests.Should().Equal(MetadataService.PasswordPath);

        var shadow = chroot.Read("/etc/shadow");
        var hash = ShadowField(shadow, "root");
        hash.Should().StartWith("$6$");
        CryptHash.Matches(hash, password).Should().BeTrue("the shadow entry is a hash of the served password");
        ShadowField(shadow, "alice").Should().Be("!", "other accounts stay as they were");
        shadow.Replace(hash, "!").Should().Be(Shadow);
        ProcessRunner.Run("stat", "-c", "%a", Path.Combine(chroot.Root, "etc/shadow")).StdOut.Trim().Should().Be("640", "the mode of /etc/shadow is kept");
        chroot.Read("/etc/machine-id").Trim().Should().MatchRegex("^[0-9a-f]{32}$");
        first.StdOut.Should().Contain("new machine-id").And.Contain("no OpenSSH server");
        chroot.Exists(FirstBootPayload.StateDirectory + "/done").Should().BeTrue();
        switch (hook)
        {
            case FirstBootInit.Busybox:
                chroot.Read("/etc/inittab").Should().Be("::sysinit:/etc/init.d/rcS\n::askfirst:-/bin/sh\n", "the hook line is gone, the rest kept");
                break;
            case FirstBootInit.SysV:
                chroot.Exists(FirstBootPayload.RcLinks[0]).Should().BeFalse();
                chroot.Exists(FirstBootPayload.RcLinks[1]).Should().BeFalse();
                break;
            case FirstBootInit.Systemd:
                File.Exists(Path.Combine(chroot.Root, FirstBootPayload.WantsLink.TrimStart('/'))).Should().BeFalse();
                new FileInfo(Path.Combine(chroot.Root, FirstBootPayload.WantsLink.TrimStart('/'))).LinkTarget.Should().BeNull();
                break;
        }

        // A second start changes nothing and asks for nothing.
        var second = chroot.RunScript();
        second.ExitCode.Should().Be(0, second.ToString());
        second.StdOut.Should().Contain("already done").And.NotContain("password set");
        chroot.Read("/etc/shadow").Should().Be(shadow);
        service.Requests.Should().HaveCount(1);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_an_answer_the_account_stays_locked_the_failure_is_logged_and_the_script_stays_enabled(bool serviceUp)
    {
        using var service = new MetadataService(password: null);
        var url = serviceUp ? service.HostUrl : "http://127.0.0.1:9/2009-04-04/meta-data/initial-password";
        using var chroot = new Chroot(Options(url), FirstBootInit.Busybox);

        var run = chroot.RunScript();
        run.ExitCode.Should().NotBe(0);
        run.StdOut.Should().Contain("attempt 1 of 3").And.Contain("attempt 3 of 3");
        run.StdOut.Should().Contain("FAILED: no password from").And.Contain("account root stays locked");
        // Issue 17: the client's own reason reaches the log (busybox wget was run with -q, which hid a 404).
        run.StdOut.Should().NotContain("())").And.NotContain("( )");
        if (serviceUp)
        {
            run.StdOut.Should().Contain("404", "the HTTP status is shown");
        }
        chroot.Read("/etc/shadow").Should().Be(Shadow, "the account is never left without a password");
        chroot.Exists(FirstBootPayload.StateDirectory + "/done").Should().BeFalse();
        chroot.Read("/etc/inittab").Should().Contain(FirstBootPayload.InittabLine, "it tries again at the next boot");
        if (serviceUp)
        {
            service.Requests.Should().HaveCount(3, "a bounded number of attempts");
        }

        // The next boot, with the service back: the password is set, the identity is not made twice.
        var machineId = chroot.Read("/etc/machine-id");
        service.Password = "second-boot";
        if (serviceUp)
        {
            var next = chroot.RunScript();
            next.ExitCode.Should().Be(0, next.ToString());
            next.StdOut.Should().Contain("password set").And.NotContain("new machine-id");
            chroot.Read("/etc/machine-id").Should().Be(machineId);
            CryptHash.Matches(ShadowField(chroot.Read("/etc/shadow"), "root"), "second-boot").Should().BeTrue();
        }
    }

    [Fact]
    public void Where_an_OpenSSH_server_is_configured_new_host_keys_are_made_and_their_fingerprints_logged()
    {
        var keygen = ExternalTools.Find("ssh-keygen");
        if (keygen == null)
        {
            Assert.Skip("ssh-keygen is not installed (package openssh-client)");
        }
        using var service = new MetadataService("key-test");
        using var chroot = new Chroot(Options(service.HostUrl), FirstBootInit.Busybox);
        chroot.CopyProgram(keygen, "/usr/bin/ssh-keygen");
        Directory.CreateDirectory(Path.Combine(chroot.Root, "etc/ssh"));
        File.WriteAllText(Path.Combine(chroot.Root, "etc/ssh/sshd_config"), "PermitRootLogin prohibit-password\n");
        File.WriteAllText(Path.Combine(chroot.Root, "etc/ssh/ssh_host_rsa_key"), "the image's old key\n");

        var run = chroot.RunScript();
        run.ExitCode.Should().Be(0, run.ToString());
        var keys = Directory.GetFiles(Path.Combine(chroot.Root, "etc/ssh"), "ssh_host_*").Select(Path.GetFileName).Order().ToList();
        keys.Should().Contain(["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "ssh_host_rsa_key", "ssh_host_rsa_key.pub"]);
        chroot.Read("/etc/ssh/ssh_host_rsa_key").Should().Contain("OPENSSH PRIVATE KEY", "the old key is replaced by a new one");
        var fingerprint = ProcessRunner.Run(keygen, "-l", "-f", Path.Combine(chroot.Root, "etc/ssh/ssh_host_ed25519_key.pub")).StdOut.Split(' ')[1];
        run.StdOut.Should().Contain("new SSH host key: ").And.Contain(fingerprint, "the console shows the new fingerprints");

        // A second run (the password failing the first time, say) does not make keys again.
        var rsa = chroot.Read("/etc/ssh/ssh_host_rsa_key");
        File.Delete(Path.Combine(chroot.Root, FirstBootPayload.StateDirectory.TrimStart('/'), "done"));
        chroot.RunScript().ExitCode.Should().Be(0);
        chroot.Read("/etc/ssh/ssh_host_rsa_key").Should().Be(rsa);
    }

    [Fact]
    public void An_account_missing_from_shadow_is_a_logged_failure_not_a_new_account()
    {
        using var service = new MetadataService("pw");
        using var chroot = new Chroot(Options(service.HostUrl, user: "nobody"), FirstBootInit.Busybox);
        var run = chroot.RunScript();
        run.ExitCode.Should().NotBe(0);
        run.StdOut.Should().Contain("account nobody has no entry in /etc/shadow");
        chroot.Read("/etc/shadow").Should().Be(Shadow);
    }

    [Theory]
    [InlineData("ftp://host/x")]
    [InlineData("http://host/with space")]
    [InlineData("http://host/it's")]
    public void Settings_that_do_not_belong_in_a_script_are_refused(string url)
    {
        var act = () => FirstBootPayload.Script(new FirstBootOptions { MetadataUrl = url }, FirstBootInit.Busybox, "");
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidArgument && e.Message.Contains("--metadata-url"));
        var user = () => new FirstBootOptions { User = "root; rm -rf /" }.Validate();
        user.Should().Throw<ImageToolsException>().Where(e => e.Message.Contains("--first-boot-user"));
    }

    [Fact]
    public void The_script_is_valid_for_dash_bash_and_busybox_sh()
    {
        using var temp = new TempDirectory("imagetools-sh-");
        var script = temp.File("first-boot");
        File.WriteAllText(script, FirstBootPayload.Script(new FirstBootOptions(), FirstBootInit.Systemd, ""), new UTF8Encoding(false));
        var init = temp.File("init");
        File.WriteAllText(init, FirstBootPayload.InitScript());
        foreach (var shell in new[] { "dash", "bash", "busybox" })
        {
            var path = ExternalTools.Find(shell);
            if (path == null)
            {
                continue;
            }
            foreach (var file in new[] { script, init })
            {
                var r = shell == "busybox" ? ProcessRunner.Run(path, "sh", "-n", file) : ProcessRunner.Run(path, "-n", file);
                r.ExitCode.Should().Be(0, $"{shell} -n {Path.GetFileName(file)}: {r}");
            }
        }
    }

    [Fact]
    public void Without_any_HTTP_client_the_reason_is_logged_not_taken_for_a_password()
    {
        using var service = new MetadataService("never-fetched");
        using var chroot = new Chroot(Options(service.HostUrl), FirstBootInit.Busybox);
        // No curl, no wget, no busybox to call wget through: the chroot's busybox is reached only as /bin/busybox.
        File.Delete(Path.Combine(chroot.Root, "bin/wget"));
        File.Move(Path.Combine(chroot.Root, "bin/busybox"), Path.Combine(chroot.Root, "bin/bb"));
        foreach (var link in Directory.GetFiles(Path.Combine(chroot.Root, "bin")))
        {
            if (new FileInfo(link).LinkTarget == "busybox")
            {
                File.Delete(link);
                File.CreateSymbolicLink(link, "bb");
            }
        }
        var run = chroot.RunScript();
        run.ExitCode.Should().NotBe(0);
        // busybox sh may still offer its wget applet to `command -v`; either way the reason is the client's own
        // words, never empty brackets and never taken for a password.
        run.StdOut.Should().Contain("no answer from").And.MatchRegex(@"no answer from \S+ \((neither curl nor wget|.*wget.*No such file)");
        chroot.Read("/etc/shadow").Should().Be(Shadow);
    }

    [Fact]
    public void The_unit_runs_before_any_login_is_possible()
    {
        var unit = FirstBootPayload.Unit();
        // Issue 17: ordered only before ssh, the serial getty offered a login before the password was set.
        unit.Should().MatchRegex(@"(?m)^Before=.*\bsystemd-user-sessions\.service\b");
        unit.Should().MatchRegex(@"(?m)^Before=.*\bssh\.service\b");
    }

    [Fact]
    public void The_systemd_unit_passes_systemd_analyze_verify()
    {
        var analyze = ExternalTools.Find("systemd-analyze");
        if (analyze == null)
        {
            Assert.Skip("systemd-analyze is not installed (package systemd); scripts/install-test-deps.sh installs it");
        }
        using var temp = new TempDirectory("imagetools-unit-");
        // verify checks that ExecStart exists and is executable and that the units named exist: lay out a root
        // with the script, the unit, and the host's own units (multi-user.target, network-online.target...).
        var root = temp.Path;
        var hostUnits = "/usr/lib/systemd/system";
        if (!Directory.Exists(hostUnits))
        {
            Assert.Skip($"{hostUnits} is absent: no systemd units to verify against");
        }
        Directory.CreateDirectory(Path.Combine(root, "usr/lib/systemd"));
        ProcessRunner.Run("cp", "-a", hostUnits, Path.Combine(root, "usr/lib/systemd/")).ExitCode.Should().Be(0);
        var script = Path.Combine(root, FirstBootPayload.ScriptPath.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(script)!);
        File.WriteAllText(script, FirstBootPayload.Script(new FirstBootOptions(), FirstBootInit.Systemd, ""));
        ProcessRunner.Run("chmod", "755", script).ExitCode.Should().Be(0);
        var unit = Path.Combine(root, FirstBootPayload.UnitPath.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(unit)!);
        File.WriteAllText(unit, FirstBootPayload.Unit());
        var r = ProcessRunner.Run(analyze, "verify", "--root=" + root, "--man=no", unit);
        var complaints = (r.StdOut + r.StdErr).Split('\n')
            .Where(l => l.Contains(FirstBootPayload.UnitName, StringComparison.Ordinal) || l.Contains(FirstBootPayload.ScriptPath, StringComparison.Ordinal))
            .Where(l => !l.Contains("ssh.service", StringComparison.Ordinal) && !l.Contains("sshd.service", StringComparison.Ordinal))
            .ToList();
        complaints.Should().BeEmpty($"systemd-analyze verify found problems in the unit:\n{r}");
        r.ExitCode.Should().Be(0, r.ToString());
    }
}
