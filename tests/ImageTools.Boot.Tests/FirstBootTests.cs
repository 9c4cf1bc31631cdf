using System.Globalization;
using System.Text;
using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// The first-boot script end to end: a small busybox system (busybox init, udhcpc, a locked root account
/// with an old hash, an old machine-id) on an ext4 root partition, scrubbed with
/// <c>fsmaker scrub --first-boot --metadata-url http://10.0.2.2:PORT/...</c> (the disk is made with the
/// harness helpers: partitions by the reference tools, GRUB by our code), booted in QEMU with user-mode
/// networking and a metadata service the test runs on 127.0.0.1. The guest logs that the password was set;
/// after power-off our reader finds root's shadow entry to be a hash of the served password (checked with
/// openssl and the hash's salt), a new machine-id, the script disabled. A second boot does not run it.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class FirstBootTests
{
    private const string OldHash = "$6$oldsalt$OLDrootHASHfromTheBuilder0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
    private const string OldMachineId = "0badc0de0badc0de0badc0de0badc0de";
    private const string FinishedMarker = "guest finished";

    [Fact]
    public void The_first_boot_sets_the_served_password_once_and_never_again()
    {
        var fixtures = BootFixtures.Require();
        var busybox = fixtures.RequireBusybox();
        ExternalTools.Require(QemuBoot.Emulator);
        using var work = new TempDirectory("imagetools-firstboot-");
        BuildBusyboxRoot(Directory.CreateDirectory(work.File("root-tree")).FullName, busybox);
        var disk = GrubTestDisk.Build(work, fixtures, new GrubTestDiskOptions
        {
            Kernel = KernelPlacement.BootPartition,
            RootFsType = "ext4",
            ExtraKernelArguments = "imagetools.action=init",
        });
        var root = $"{disk.Path}:{disk.Scaffold.Spec.RootPartitionNumber}";
        var password = "first-" + Guid.NewGuid().ToString("N")[..12];
        using var service = new MetadataService(password);

        var scrub = Cli.FsMaker("scrub", "--first-boot", "--metadata-url", service.GuestUrl, root);
        scrub.ExitCode.Should().Be(0, scrub.ToString());
        scrub.StdOut.Should().Contain("passwords: rewrote /etc/shadow").And.Contain("first-boot: rewrote /etc/inittab");
        ReadFile(disk, "/etc/shadow").Should().StartWith("root:!:", "the scrub locks the account until the first boot");

        var first = Boot(disk);
        first.Outcome.Should().Be(BootOutcome.Marker, first.Diagnostics);
        first.Marker.Should().Be(FinishedMarker, first.Diagnostics);
        first.SerialLog.Should().Contain("imagetools-first-boot: password set for account root", first.Diagnostics);
        first.SerialLog.Should().Contain("imagetools-first-boot: new machine-id", first.Diagnostics);
        first.SerialLog.Should().NotContain(password, "the password is never logged");
        service.Requests.Should().Equal(MetadataService.PasswordPath);

        var shadowRoot = ReadFile(disk, "/etc/shadow").Split('\n').Single(l => l.StartsWith("root:", StringComparison.Ordinal)).Split(':')[1];
        shadowRoot.Should().StartWith("$6$");
        CryptHash.Matches(shadowRoot, password).Should().BeTrue("root's shadow entry is a hash of the served password");
        var machineId = ReadFile(disk, "/etc/machine-id").Trim();
        machineId.Should().MatchRegex("^[0-9a-f]{32}$").And.NotBe(OldMachineId);
        ReadFile(disk, "/etc/inittab").Should().NotContain("imagetools-first-boot", "the script disabled itself");
        ReadFile(disk, "/var/lib/imagetools-first-boot/done").Should().BeEmpty();
        var offset = disk.Scaffold.RootStartLba * 512;
        var fsck = ProcessRunner.Run(ExternalTools.Require("e2fsck"), "-fn", $"{disk.Path}?offset={offset.ToString(CultureInfo.InvariantCulture)}");
        fsck.ExitCode.Should().Be(0, $"the guest left a clean filesystem: {fsck}");

        var second = Boot(disk);
        second.Outcome.Should().Be(BootOutcome.Marker, second.Diagnostics);
        second.SerialLog.Should().NotContain("imagetools-first-boot:", "the second boot does not run the script");
        service.Requests.Should().HaveCount(1, "nor asks for a password");
        ReadFile(disk, "/etc/shadow").Should().Contain("root:" + shadowRoot + ":");
        ReadFile(disk, "/etc/machine-id").Trim().Should().Be(machineId);
    }

    private static BootResult Boot(GrubTestDisk disk) => QemuBoot.Run(disk.Path, new QemuBootOptions
    {
        Interface = DiskInterface.Virtio,
        Snapshot = false,
        Timeout = TimeSpan.FromSeconds(240),
        ExtraArguments = ["-nic", "user,model=virtio-net-pci"],
    });

    /// <summary>A file of the root partition, read with our reader.</summary>
    private static string ReadFile(GrubTestDisk disk, string path)
    {
        using var opened = ExtImageOpener.Open($"{disk.Path}:{disk.Scaffold.Spec.RootPartitionNumber}");
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
