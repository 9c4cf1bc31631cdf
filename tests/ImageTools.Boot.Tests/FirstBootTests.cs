using System.Text;
using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// The first-boot script end to end, in QEMU with user-mode networking and a metadata service the test runs on
/// 127.0.0.1 (the guest reaches it as 10.0.2.2). The guest is a small busybox system (busybox init, udhcpc, an
/// account with an old password hash, an old machine-id) that the test initramfs hands over to
/// (<c>imagetools.action=init</c>). Two ways to get the script in:
/// <list type="bullet">
/// <item><c>fsmaker ROOTDIR OUTPUT -k -i --scrub --first-boot --metadata-url ...</c>: the whole disk by the build
/// pipeline (ext3 by our writer), booted twice;</item>
/// <item><c>fsmaker scrub --first-boot DISK:1</c> on an existing disk whose root is ext4 as mke2fs makes it
/// (metadata_csum, flex_bg, 64bit), booted once.</item>
/// </list>
/// The guest logs that the password was set (never the password); after power-off our reader finds the account's
/// shadow entry to be a hash of the served password (checked with openssl and the hash's salt), a new
/// machine-id and the hook gone; e2fsck finds the filesystem the guest left clean. A second boot does not run the
/// script and does not ask the service again.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class FirstBootTests
{
    private const string OldHash = "$6$oldsalt$OLDrootHASHfromTheBuilder0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
    private const string OldMachineId = "0badc0de0badc0de0badc0de0badc0de";
    private const string FinishedMarker = "guest finished";

    [Fact]
    public void A_disk_built_with_first_boot_sets_the_served_password_at_the_first_boot_and_never_again()
    {
        var fixtures = BootFixtures.Require();
        var busybox = fixtures.RequireBusybox();
        ExternalTools.Require(QemuBoot.Emulator);
        GrubTestDisk.RequireGrub();
        using var work = new TempDirectory("imagetools-firstboot-");
        var tree = Directory.CreateDirectory(work.File("root-tree")).FullName;
        BuildBusyboxRoot(tree, busybox);
        var disk = work.File("disk.img");
        var password = "first-" + Guid.NewGuid().ToString("N")[..12];
        using var service = new MetadataService(password);

        var build = Cli.FsMaker("-k", fixtures.Kernel, "-i", fixtures.Initrd, "--cmdline", "panic=1 imagetools.action=init",
            "--scrub", "--first-boot", "--metadata-url", service.GuestUrl, tree, disk);

        build.ExitCode.Should().Be(0, build.ToString());
        build.StdErr.Should().Contain("passwords: rewrote /etc/shadow (accounts locked: root")
            .And.Contain("first-boot: rewrote /etc/inittab").And.Contain("first-boot: created /usr/local/sbin/imagetools-first-boot");
        var root = disk + ":1";
        ReadFile(root, "/etc/shadow").Should().StartWith("root:!:", "the scrub locks the account until the first boot");
        ReadFile(root, "/etc/machine-id").Should().BeEmpty("the scrub resets the machine-id (no systemd here: empty)");
        ShouldBeClean(disk, work, "as built");

        var machineId = FirstBootSetsThePassword(disk, root, service, password, work);

        var second = Boot(disk);
        second.Outcome.Should().Be(BootOutcome.Marker, second.Diagnostics);
        second.Marker.Should().Be(FinishedMarker, second.Diagnostics);
        second.SerialLog.Should().NotContain("imagetools-first-boot:", "the second boot does not run the script");
        service.Requests.Should().HaveCount(1, "nor asks for a password");
        var shadowRoot = ShadowField(ReadFile(root, "/etc/shadow"), "root");
        CryptHash.Matches(shadowRoot, password).Should().BeTrue("the password set at the first boot stays");
        ReadFile(root, "/etc/machine-id").Trim().Should().Be(machineId);
    }

    [Fact]
    public void Scrubbing_an_existing_ext4_disk_with_first_boot_makes_it_take_the_served_password()
    {
        var fixtures = BootFixtures.Require();
        var busybox = fixtures.RequireBusybox();
        ExternalTools.Require(QemuBoot.Emulator);
        using var work = new TempDirectory("imagetools-firstboot-scrub-");
        BuildBusyboxRoot(Directory.CreateDirectory(work.File("root-tree")).FullName, busybox);
        var disk = GrubTestDisk.Build(work, fixtures, new GrubTestDiskOptions
        {
            Kernel = KernelPlacement.BootPartition,
            RootFsType = "ext4",
            ExtraKernelArguments = "imagetools.action=init",
        });
        var root = $"{disk.Path}:{disk.Scaffold.Spec.RootPartitionNumber}";
        var password = "scrub-" + Guid.NewGuid().ToString("N")[..12];
        using var service = new MetadataService(password);

        var scrub = Cli.FsMaker("scrub", "--first-boot", "--metadata-url", service.GuestUrl, root);

        scrub.ExitCode.Should().Be(0, scrub.ToString());
        scrub.StdOut.Should().Contain("passwords: rewrote /etc/shadow").And.Contain("first-boot: rewrote /etc/inittab");
        ReadFile(root, "/etc/shadow").Should().StartWith("root:!:", "the scrub locks the account until the first boot");
        FirstBootSetsThePassword(disk.Path, root, service, password, work);
    }

    /// <summary>Boots once; checks the log, the shadow entry, the machine-id, the hook gone and a clean filesystem. Returns the new machine-id.</summary>
    private static string FirstBootSetsThePassword(string disk, string root, MetadataService service, string password, TempDirectory work)
    {
        var first = Boot(disk);
        first.Outcome.Should().Be(BootOutcome.Marker, first.Diagnostics);
        first.Marker.Should().Be(FinishedMarker, first.Diagnostics);
        first.SerialLog.Should().Contain("imagetools-first-boot: password set for account root", first.Diagnostics);
        first.SerialLog.Should().Contain("imagetools-first-boot: new machine-id", first.Diagnostics);
        first.SerialLog.Should().Contain("imagetools-first-boot: no OpenSSH server", first.Diagnostics);
        first.SerialLog.Should().NotContain(password, "the password is never logged");
        service.Requests.Should().Equal(MetadataService.PasswordPath);

        var shadowRoot = ShadowField(ReadFile(root, "/etc/shadow"), "root");
        shadowRoot.Should().StartWith("$6$").And.NotBe(OldHash);
        CryptHash.Matches(shadowRoot, password).Should().BeTrue("root's shadow entry is a hash of the served password");
        var machineId = ReadFile(root, "/etc/machine-id").Trim();
        machineId.Should().MatchRegex("^[0-9a-f]{32}$").And.NotBe(OldMachineId);
        ReadFile(root, "/etc/inittab").Should().NotContain("imagetools-first-boot", "the script disabled itself");
        ReadFile(root, "/var/lib/imagetools-first-boot/done").Should().BeEmpty();
        ShouldBeClean(disk, work, "after the first boot");
        return machineId;
    }

    /// <summary>e2fsck -fn on the root partition (1), as the guest left it.</summary>
    private static void ShouldBeClean(string disk, TempDirectory work, string when)
    {
        var part = DiskPartitions.Extract(disk, 1, work.File("root.part"));
        var (exitCode, problems, output) = ExtImageChecks.Fsck(part);
        exitCode.Should().Be(0, $"e2fsck -fn on the root partition {when}: {string.Join("; ", problems)}\n{output}");
        File.Delete(part);
    }

    private static string ShadowField(string shadow, string account) =>
        shadow.Split('\n').Single(l => l.StartsWith(account + ":", StringComparison.Ordinal)).Split(':')[1];

    /// <summary>
    /// Boots with the disk writable (the test reads what the guest wrote) and a virtio NIC on QEMU's user-mode
    /// network, which has no route out but to the host: 10.0.2.2 is the host's 127.0.0.1.
    /// </summary>
    private static BootResult Boot(string disk) => QemuBoot.Run(disk, new QemuBootOptions
    {
        Interface = DiskInterface.Virtio,
        Snapshot = false,
        Timeout = TimeSpan.FromSeconds(240),
        ExtraArguments = ["-nic", "user,model=virtio-net-pci"],
    });

    /// <summary>A file of the root partition (DISK:N), read with our reader.</summary>
    private static string ReadFile(string root, string path)
    {
        using var opened = ExtImageOpener.Open(root);
        var inode = opened.FileSystem.Resolve(path, followLast: true);
        using var content = opened.FileSystem.OpenContent(inode);
        using var reader = new StreamReader(content, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// A minimal busybox system: /sbin/init is busybox, /etc/inittab runs rcS (proc, sys, DHCP on eth0 with
    /// udhcpc) and then, once everything at sysinit is done, a script that syncs, remounts / read-only and
    /// prints the marker before powering off (QEMU is killed at the marker, so the disk must be clean by then).
    /// </summary>
    private static void BuildBusyboxRoot(string root, string busybox)
    {
        string P(string relative) => Path.Combine(root, relative.TrimStart('/'));
        void Write(string relative, string text, string mode = "644")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(P(relative))!);
            File.WriteAllText(P(relative), text);
            ProcessRunner.Run("chmod", mode, P(relative)).ExitCode.Should().Be(0);
        }
        foreach (var dir in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "root", "var/log", "var/lib" })
        {
            Directory.CreateDirectory(P(dir));
        }
        File.Copy(busybox, P("/bin/busybox"));
        ProcessRunner.Run("chmod", "755", P("/bin/busybox")).ExitCode.Should().Be(0);
        foreach (var applet in ProcessRunner.Run(busybox, "--list").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!File.Exists(P("/bin/" + applet)))
            {
                File.CreateSymbolicLink(P("/bin/" + applet), "busybox");
            }
        }
        File.CreateSymbolicLink(P("/sbin/init"), "/bin/busybox");
        Write("/etc/inittab", "::sysinit:/etc/init.d/rcS\n::once:/etc/imagetools-test/finish\n");
        Write("/etc/init.d/rcS", """
            #!/bin/sh
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            [ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
            hostname -F /etc/hostname
            ip link set lo up
            ip link set eth0 up
            udhcpc -i eth0 -n -q -t 10 -T 2 -s /etc/udhcpc.script || echo "IMAGETOOLS: no DHCP lease"
            echo "IMAGETOOLS: network: $(ip -4 addr show eth0 | grep inet)"

            """, "755");
        Write("/etc/udhcpc.script", """
            #!/bin/sh
            case "$1" in
                deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
                bound | renew)
                    ip addr flush dev "$interface"
                    ip addr add "$ip/${mask:-24}" dev "$interface"
                    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
                    ;;
            esac
            exit 0

            """, "755");
        Write("/etc/imagetools-test/finish", $"""
            #!/bin/sh
            sync
            mount -o remount,ro /
            echo "IMAGETOOLS-MARKER: {FinishedMarker}"
            poweroff -f

            """, "755");
        Write("/etc/hostname", "firstboot-guest\n");
        Write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        Write("/etc/group", "root:x:0:\n");
        Write("/etc/shadow", $"root:{OldHash}:19700:0:99999:7:::\n", "640");
        Write("/etc/machine-id", OldMachineId + "\n", "444");
    }
}
