using FluentAssertions;
using ImageTools.Core.Hygiene;
using ImageTools.Core.Hygiene.FirstBoot;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Hygiene;

/// <summary>
/// Issue 17, first boot 2 and 3: an image the first-boot script could not work in (no HTTP client) is refused
/// when the script is installed, not discovered at the first boot; and a scrub that removes the host keys of an
/// image whose init makes none installs a hook that makes them before sshd starts (Debian 12's ssh.service
/// fails without keys), for systemd, sysvinit and busybox, and leaves alone an image that makes its own.
/// </summary>
public sealed class SshAndFirstBootRequirementTests
{
    private static void Put(string root, string path, string text, string mode = "644")
    {
        var full = Path.Combine(root, path.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        ProcessRunner.Run("chmod", mode, full).ExitCode.Should().Be(0);
    }

    /// <summary>A root with sshd, ssh-keygen and host keys, started by <paramref name="init"/>.</summary>
    private static string Tree(TempDirectory temp, string init, bool curl = false, bool distroKeygen = false)
    {
        var root = temp.File("tree");
        Put(root, "/etc/shadow", "root:!:19700:0:99999:7:::\n", "640");
        Put(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        Put(root, "/usr/sbin/sshd", "#!/bin/sh\n", "755");
        Put(root, "/usr/bin/ssh-keygen", "#!/bin/sh\n", "755");
        Put(root, "/usr/sbin/chpasswd", "#!/bin/sh\n", "755");
        Put(root, "/etc/ssh/sshd_config", "PermitRootLogin yes\n");
        Put(root, "/etc/ssh/ssh_host_ed25519_key", "PRIVATE KEY\n", "600");
        Put(root, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA\n");
        if (curl)
        {
            Put(root, "/usr/bin/curl", "#!/bin/sh\n", "755");
        }
        Directory.CreateDirectory(Path.Combine(root, "sbin"));
        switch (init)
        {
            case "systemd":
                Put(root, "/usr/lib/systemd/systemd", "stand-in", "755");
                Put(root, "/usr/lib/systemd/system/ssh.service", "[Service]\nExecStart=/usr/sbin/sshd -D\n");
                File.CreateSymbolicLink(Path.Combine(root, "sbin/init"), "/usr/lib/systemd/systemd");
                if (distroKeygen)
                {
                    Put(root, "/usr/lib/systemd/system/sshd-keygen@.service", "[Service]\nExecStart=/usr/libexec/openssh/sshd-keygen %i\n");
                }
                break;
            case "sysv":
                Put(root, "/sbin/init", "sysvinit stand-in", "755");
                Put(root, "/etc/inittab", "id:2:initdefault:\n");
                Put(root, "/etc/init.d/ssh", distroKeygen ? "#!/bin/sh\nssh-keygen -A\n" : "#!/bin/sh\n/usr/sbin/sshd\n", "755");
                break;
            case "busybox":
                Put(root, "/bin/busybox", "busybox stand-in\0wget\0", "755");
                File.CreateSymbolicLink(Path.Combine(root, "sbin/init"), "/bin/busybox");
                Put(root, "/etc/inittab", "::sysinit:/etc/init.d/rcS\n::respawn:/sbin/getty 115200 ttyS0\n");
                break;
        }
        return root;
    }

    private static ScrubOptions Scrub(FirstBootOptions? firstBoot = null) => new()
    {
        Now = FixedNow,
        Operations = OperationSelection.Parse("-free-space,-journal", false),
        FirstBoot = firstBoot,
    };

    [Fact]
    public void Systemd_without_a_keygen_unit_gets_one_before_sshd()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, "systemd"), "16M");
        var report = Scrubber.Scrub(image, Scrub());
        report.Changes.Should().Contain(c => c.Path == "/etc/ssh/ssh_host_ed25519_key" && c.Action == ScrubAction.Removed);
        var unit = ExtImages.Debugfs(image, "cat " + SshHostKeyRegeneration.UnitPath);
        unit.Should().Contain("ExecStart=/usr/bin/ssh-keygen -A").And.Contain("Before=ssh.service sshd.service");
        ExtImages.Debugfs(image, "stat /etc/systemd/system/multi-user.target.wants/" + SshHostKeyRegeneration.UnitName).Should().Contain("Type: symlink");
        ExtImages.Debugfs(image, "stat /etc/systemd/system/ssh.service.wants/" + SshHostKeyRegeneration.UnitName).Should().Contain("Type: symlink");
        ShouldBeCleanForE2fsck(image);
        // A second scrub finds nothing more to do.
        Scrubber.Scrub(image, Scrub()).Changes.Where(c => c.Action != ScrubAction.Note).Should().BeEmpty();
    }

    [Fact]
    public void Sysvinit_gets_an_init_script_sorted_before_debians_S01ssh()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, "sysv"), "16M");
        Scrubber.Scrub(image, Scrub());
        ExtImages.Debugfs(image, "cat " + SshHostKeyRegeneration.InitScriptPath).Should().Contain("exec /usr/bin/ssh-keygen -A");
        string.CompareOrdinal("S01imagetools-ssh-keygen", "S01ssh").Should().BeNegative();
        ExtImages.Debugfs(image, "stat /etc/rc2.d/S01imagetools-ssh-keygen").Should().Contain("Type: symlink");
        ShouldBeCleanForE2fsck(image);
    }

    [Fact]
    public void Busybox_init_gets_a_sysinit_line()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, "busybox"), "16M");
        Scrubber.Scrub(image, Scrub());
        ExtImages.Debugfs(image, "cat /etc/inittab").Should().Be("::sysinit:/etc/init.d/rcS\n::sysinit:/usr/bin/ssh-keygen -A\n::respawn:/sbin/getty 115200 ttyS0\n");
    }

    [Theory]
    [InlineData("systemd")]
    [InlineData("sysv")]
    public void An_image_that_makes_its_own_keys_is_left_alone(string init)
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, init, distroKeygen: true), "16M");
        var report = Scrubber.Scrub(image, Scrub());
        report.Changes.Should().Contain(c => c.Action == ScrubAction.Note && c.Detail.Contains("new host keys are made at boot by"));
        report.Changes.Should().NotContain(c => c.Path.Contains("imagetools-ssh-keygen"));
    }

    [Fact]
    public void With_the_first_boot_script_no_separate_hook_is_installed()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, "systemd", curl: true), "16M");
        var report = Scrubber.Scrub(image, Scrub(new FirstBootOptions()));
        report.Changes.Should().NotContain(c => c.Path.Contains("imagetools-ssh-keygen"));
        report.Changes.Should().Contain(c => c.Path == FirstBootPayload.ScriptPath);
    }

    [Fact]
    public void First_boot_in_an_image_without_an_HTTP_client_is_refused_and_nothing_is_written()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, Tree(temp, "systemd", curl: false), "16M");
        var before = FileFacts.Sha256(image);
        var act = () => Scrubber.Scrub(image, Scrub(new FirstBootOptions()));
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.MissingResource
            && e.Message.Contains("no curl, wget or busybox with wget") && e.Message.Contains("nobody could log in"));
        FileFacts.Sha256(image).Should().Be(before);
    }

    [Fact]
    public void Busybox_wget_counts_as_an_HTTP_client()
    {
        using var temp = new TempDirectory("imagetools-sshkeys-");
        var tree = Tree(temp, "busybox");
        var image = ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M");
        var report = Scrubber.Scrub(image, Scrub(new FirstBootOptions()));
        report.Changes.Should().Contain(c => c.Path == FirstBootPayload.ScriptPath);
    }
}
