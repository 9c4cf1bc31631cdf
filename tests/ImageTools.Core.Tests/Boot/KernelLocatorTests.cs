using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class KernelLocatorTests
{
    [Fact]
    public void Debian_layout_links_first_then_versions_newest_first_with_their_initrds()
    {
        var found = KernelLocator.FindInRootFilesystem([
            "/vmlinuz", "/initrd.img", "/vmlinuz.old", "/initrd.img.old",
            "/boot/vmlinuz-6.1.0-9-amd64", "/boot/initrd.img-6.1.0-9-amd64",
            "/boot/vmlinuz-6.1.0-10-amd64", "/boot/initrd.img-6.1.0-10-amd64",
            "/boot/vmlinuz-5.10.0-28-amd64",
            "/boot/config-6.1.0-10-amd64", "/boot/System.map-6.1.0-10-amd64",
        ]);

        found.Should().Equal(
            new KernelCandidate("/vmlinuz", "/initrd.img", null),
            new KernelCandidate("/boot/vmlinuz-6.1.0-10-amd64", "/boot/initrd.img-6.1.0-10-amd64", "6.1.0-10-amd64"),
            new KernelCandidate("/boot/vmlinuz-6.1.0-9-amd64", "/boot/initrd.img-6.1.0-9-amd64", "6.1.0-9-amd64"),
            new KernelCandidate("/boot/vmlinuz-5.10.0-28-amd64", null, "5.10.0-28-amd64"));
        found[0].IsLink.Should().BeTrue();
    }

    [Fact]
    public void Links_in_boot_other_initrd_names_and_leftovers()
    {
        var found = KernelLocator.FindInRootFilesystem([
            "/boot/vmlinuz", "/boot/initrd.img",
            "/boot/vmlinuz-6.8.0-1-generic.dpkg-tmp", "/boot/vmlinuz-6.8.0-2-generic.bak",
            "/boot/vmlinuz-6.9.1-200.fc40.x86_64", "/boot/initramfs-6.9.1-200.fc40.x86_64.img",
            "/boot/vmlinuz-linux", "/boot/initramfs-linux.img",
        ]);

        found.Select(k => (k.KernelPath, k.InitrdPath)).Should().Equal(
            ("/boot/vmlinuz", "/boot/initrd.img"),
            ("/boot/vmlinuz-linux", "/boot/initramfs-linux.img"),
            ("/boot/vmlinuz-6.9.1-200.fc40.x86_64", "/boot/initramfs-6.9.1-200.fc40.x86_64.img"));
    }

    [Fact]
    public void No_kernel_no_candidates()
    {
        KernelLocator.FindInRootFilesystem(["/etc/os-release", "/boot/grub/grub.cfg"]).Should().BeEmpty();
    }

    /// <summary>The order agrees with dpkg's own comparison, pair by pair.</summary>
    [Theory]
    [InlineData("6.1.0-10-amd64", "6.1.0-9-amd64")]
    [InlineData("6.1.0-9-amd64", "6.1.0-10-amd64")]
    [InlineData("6.1.0~rc1-amd64", "6.1.0-amd64")]
    [InlineData("5.15.0-91-generic", "5.15.0-101-generic")]
    [InlineData("6.9.1-200.fc40.x86_64", "6.9.10-100.fc40.x86_64")]
    [InlineData("4.19.0-0.bpo.1-amd64", "4.19.0-1-amd64")]
    [InlineData("6.1.0-10-cloud-amd64", "6.1.0-10-amd64")]
    [InlineData("6.1.00-1", "6.1.0-1")]
    [InlineData("2.6.32", "2.6.32")]
    public void Version_order_agrees_with_dpkg(string a, string b)
    {
        var dpkg = ExternalTools.Require("dpkg");
        bool greater = ProcessRunner.Run(dpkg, "--compare-versions", a, "gt", b).ExitCode == 0;
        bool less = ProcessRunner.Run(dpkg, "--compare-versions", a, "lt", b).ExitCode == 0;
        int expected = greater ? 1 : less ? -1 : 0;

        Math.Sign(KernelVersionComparer.Instance.Compare(a, b)).Should().Be(expected);
        Math.Sign(KernelVersionComparer.Instance.Compare(b, a)).Should().Be(-expected);
    }
}
