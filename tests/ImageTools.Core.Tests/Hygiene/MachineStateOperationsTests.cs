using FluentAssertions;
using ImageTools.Core.Hygiene;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Core.Tests.Ext.Editor.EditorTestKit;

namespace ImageTools.Core.Tests.Hygiene;

/// <summary>
/// Issue 17: the state a default scrub used to keep, which made clones start alike (random seed) or carry the
/// builder's (leases, cloud-init instance, MAC-bound network configuration, crash dumps, cron and mail spools):
/// each is removed by its named operation (virt-sysprep's name where it has one), the directories daemons expect
/// stay, and each operation can be left out.
/// </summary>
public sealed class MachineStateOperationsTests
{
    private static readonly (string Path, string Content)[] Stale =
    [
        ("/var/lib/systemd/random-seed", "SEEDSEEDSEED"),
        ("/var/lib/systemd/credential.secret", "CREDSECRET"),
        ("/var/lib/dhcp/dhclient.eth0.leases", "lease { fixed-address 10.0.0.5; }"),
        ("/var/lib/NetworkManager/internal-abc-eth0.lease", "ADDRESS=10.0.0.5"),
        ("/var/lib/dhcpcd/eth0.lease", "LEASE"),
        ("/var/lib/cloud/instances/i-123/obj.pkl", "INSTANCE"),
        ("/var/lib/cloud/data/instance-id", "i-123"),
        ("/var/lib/cloud/sem/config_scripts_per_once.once", "SEM"),
        ("/etc/udev/rules.d/70-persistent-net.rules", "SUBSYSTEM==\"net\", ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\""),
        ("/var/crash/linux-image.crash", "CRASH"),
        ("/var/lib/systemd/coredump/core.bash.0.zst", "CORE"),
        ("/var/spool/cron/crontabs/root", "* * * * * /root/backup.sh"),
        ("/var/spool/mail/root", "From cron: output"),
        ("/var/mail/alice", "From bob: hi"),
    ];

    private static string Image(TempDirectory temp)
    {
        var tree = temp.File("tree");
        foreach (var (path, content) in Stale)
        {
            var full = Path.Combine(tree, path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
        }
        File.CreateSymbolicLink(Path.Combine(tree, "var/lib/cloud/instance"), "/var/lib/cloud/instances/i-123");
        Directory.CreateDirectory(Path.Combine(tree, "etc/NetworkManager/system-connections"));
        File.WriteAllText(Path.Combine(tree, "etc/NetworkManager/system-connections/wired.nmconnection"),
            "[connection]\nid=wired\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:12:34:56\n\n[ipv4]\nmethod=auto\n");
        Directory.CreateDirectory(Path.Combine(tree, "etc/sysconfig/network-scripts"));
        File.WriteAllText(Path.Combine(tree, "etc/sysconfig/network-scripts/ifcfg-eth0"), "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\n");
        File.WriteAllText(Path.Combine(tree, "etc/hostname"), "keep\n");
        return ExtImages.Make(temp.File("root.img"), "ext4", 4096, tree, "16M");
    }

    [Fact]
    public void A_default_scrub_removes_every_item_and_keeps_the_directories()
    {
        using var temp = new TempDirectory("imagetools-state-");
        var image = Image(temp);
        Scrubber.Scrub(image, new ScrubOptions { Now = FixedNow });
        foreach (var (path, _) in Stale)
        {
            ExtImages.Debugfs(image, "stat " + path).Should().NotContain("Type:", $"{path} is removed");
        }
        ExtImages.Debugfs(image, "stat /var/lib/cloud/instance").Should().NotContain("Type:");
        ExtImages.Debugfs(image, "stat /var/spool/cron/crontabs").Should().Contain("Type: directory", "spool directories stay");
        ExtImages.Debugfs(image, "stat /var/lib/dhcp").Should().Contain("Type: directory");
        ExtImages.Debugfs(image, "cat /etc/NetworkManager/system-connections/wired.nmconnection")
            .Should().Be("[connection]\nid=wired\ntype=ethernet\n\n[ethernet]\n\n[ipv4]\nmethod=auto\n");
        ExtImages.Debugfs(image, "cat /etc/sysconfig/network-scripts/ifcfg-eth0").Should().Be("DEVICE=eth0\nBOOTPROTO=dhcp\n");
        ExtImages.Debugfs(image, "cat /etc/hostname").Should().Be("keep\n");
        System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(image)).Should().NotContain("SEEDSEEDSEED").And.NotContain("CREDSECRET");
        ShouldBeCleanForE2fsck(image);
    }

    [Theory]
    [InlineData("random-seed", "/var/lib/systemd/random-seed")]
    [InlineData("dhcp-client-state", "/var/lib/dhcp/dhclient.eth0.leases")]
    [InlineData("cron-spool", "/var/spool/cron/crontabs/root")]
    [InlineData("udev-persistent-net", "/etc/udev/rules.d/70-persistent-net.rules")]
    public void Each_operation_can_be_left_out(string operation, string kept)
    {
        using var temp = new TempDirectory("imagetools-state-");
        var image = Image(temp);
        Scrubber.Scrub(image, new ScrubOptions { Now = FixedNow, Operations = OperationSelection.Parse("-" + operation, false) });
        ExtImages.Debugfs(image, "stat " + kept).Should().Contain("Type: regular");
        ScrubOperations.Find(operation)!.EnabledByDefault.Should().BeTrue();
    }
}
