using System.Text.Json;
using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// <c>fsmaker boot-test</c> with real QEMU: it passes on a disk that boots (an fsmaker-built BIOS disk, and a UEFI disk
/// made with the standard tools, found to be UEFI-only by looking at it), and fails on purpose on a wrong expectation
/// (at the timeout, exit 14) and on a kernel without its initramfs that panics (at once, exit 13, reported as a panic).
/// The image's SHA-256 is the same before and after every boot. Four boots in all (TCG: 10-40 s each).
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class BootTestCommandTests
{
    [Fact]
    public void An_fsmaker_BIOS_disk_passes_with_the_marker_expected_and_is_not_modified()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-");
        var marker = $"boot-test-bios-{Guid.NewGuid():N}";
        var disk = BiosDisk(work, fixtures, marker, withInitrd: true);
        var before = FileFacts.Sha256(disk);
        var log = work.File("console.log");

        var r = Cli.Run("fsmaker", ["boot-test", disk, "--expect", "GRUB loading", "--expect", "IMAGETOOLS-MARKER: " + marker, "--timeout", "180", "--log", log, "--json"],
            timeout: TimeSpan.FromMinutes(5));

        r.ExitCode.Should().Be(0, r.ToString());
        var boot = SingleBoot(r.StdOut);
        boot.GetProperty("firmware").GetString().Should().Be("bios");
        boot.GetProperty("passed").GetBoolean().Should().BeTrue();
        boot.GetProperty("decidingLine").GetString().Should().Be("IMAGETOOLS-MARKER: " + marker);
        File.ReadAllText(log).Should().Contain("IMAGETOOLS-MARKER: " + marker).And.Contain("firmware bios");
        FileFacts.Sha256(disk).Should().Be(before, "boot-test opens the image through a snapshot overlay");
    }

    [Fact]
    public void A_UEFI_disk_made_with_standard_tools_is_found_to_be_UEFI_only_and_passes()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-uefi-");
        var marker = $"boot-test-uefi-{Guid.NewGuid():N}";
        var disk = UefiReferenceDisk.Build(work, fixtures, marker);
        var before = FileFacts.Sha256(disk);

        var r = Cli.Run("fsmaker", ["boot-test", disk, "--expect", "IMAGETOOLS-MARKER: " + marker, "--timeout", "180", "--json"], timeout: TimeSpan.FromMinutes(5));

        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        doc.RootElement.GetProperty("architecture").GetString().Should().Be("x86_64");
        doc.RootElement.GetProperty("disk").EnumerateArray().Select(e => e.GetString()).Should()
            .Contain(s => s!.StartsWith("no BIOS", StringComparison.Ordinal)).And.Contain(s => s!.Contains("BOOTX64.EFI (x86_64)", StringComparison.Ordinal));
        var boot = SingleBoot(r.StdOut);
        boot.GetProperty("firmware").GetString().Should().Be("uefi");
        boot.GetProperty("passed").GetBoolean().Should().BeTrue();
        boot.GetProperty("decidingLine").GetString().Should().Be("IMAGETOOLS-MARKER: " + marker);
        FileFacts.Sha256(disk).Should().Be(before);
    }

    [Fact]
    public void A_wrong_expectation_fails_at_the_timeout_with_exit_code_14_and_the_console_tail()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-timeout-");
        var disk = BiosDisk(work, fixtures, "timeout-case", withInitrd: true);

        // 4 s: GRUB is up by then, the marker (which would power the guest off) is not.
        var r = Cli.Run("fsmaker", ["boot-test", disk, "--expect", "this text never appears", "--timeout", "4"], timeout: TimeSpan.FromMinutes(2));

        r.ExitCode.Should().Be(14, r.ToString());
        r.StdOut.Should().Contain("bios: FAILED").And.Contain("did not appear within 4 s");
        r.StdErr.Should().Contain("console lines of the bios boot").And.Contain("| ");
    }

    [Fact]
    public void A_kernel_without_its_initramfs_panics_and_fails_fast_as_a_panic()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-panic-");
        var disk = BiosDisk(work, fixtures, "panic-case", withInitrd: false);
        var before = FileFacts.Sha256(disk);

        var r = Cli.Run("fsmaker", ["boot-test", disk, "--timeout", "300", "--json"], timeout: TimeSpan.FromMinutes(7));

        r.ExitCode.Should().Be(13, r.ToString());
        var boot = SingleBoot(r.StdOut);
        // "failed" (not "timed-out"): the panic line ended the boot, not the 300 s bound (a loaded TCG machine may take minutes to reach the kernel).
        boot.GetProperty("result").GetString().Should().Be("failed", r.StdOut);
        boot.GetProperty("reason").GetString().Should().Be("kernel panic");
        boot.GetProperty("decidingLine").GetString().Should().Contain("Kernel panic - not syncing");
        boot.GetProperty("seconds").GetDouble().Should().BeLessThan(300);
        boot.GetProperty("lastLines").EnumerateArray().Should().NotBeEmpty();
        FileFacts.Sha256(disk).Should().Be(before);
    }

    [Fact]
    public void Without_QEMU_on_PATH_it_exits_8_naming_the_package()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-noqemu-");
        var disk = BiosDisk(work, fixtures, "no-qemu", withInitrd: true);
        var emptyBin = Directory.CreateDirectory(work.File("bin")).FullName;

        var r = Cli.Run("fsmaker", ["boot-test", disk], environment: new Dictionary<string, string?> { ["PATH"] = emptyBin });

        r.ExitCode.Should().Be(8, r.ToString());
        r.StdErr.Should().Contain("qemu-system-x86_64").And.Contain("qemu-system-x86");
    }

    [Fact]
    public void Without_OVMF_it_exits_8_naming_the_package_before_any_boot()
    {
        var fixtures = Prepare();
        using var work = new TempDirectory("imagetools-boot-test-noovmf-");
        var disk = BiosDisk(work, fixtures, "no-ovmf", withInitrd: true);
        var emptyFirmware = Directory.CreateDirectory(work.File("firmware")).FullName;

        // auto would only boot BIOS on this disk; asking for UEFI needs OVMF, which the empty directory lacks.
        var r = Cli.Run("fsmaker", ["boot-test", disk, "--firmware", "uefi"], environment: new Dictionary<string, string?> { ["FSMAKER_FIRMWARE_DIR"] = emptyFirmware });

        r.ExitCode.Should().Be(8, r.ToString());
        r.StdErr.Should().Contain("OVMF_CODE_4M.fd").And.Contain("package ovmf");
        r.StdErr.Should().NotContain("booting", "nothing is started when a firmware is missing");
    }

    private static BootFixtures Prepare()
    {
        var fixtures = BootFixtures.Require();
        ExternalTools.Require(QemuBoot.Emulator);
        GrubTestDisk.RequireGrub();
        return fixtures;
    }

    private static string BiosDisk(TempDirectory work, BootFixtures fixtures, string marker, bool withInitrd)
    {
        var tree = Directory.CreateDirectory(work.File("root")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        File.WriteAllText(Path.Combine(tree, BootFixtures.MarkerFile), marker + "\n");
        var disk = work.File("disk.img");
        List<string> args = ["-k", fixtures.Kernel];
        if (withInitrd)
        {
            args.AddRange(["-i", fixtures.Initrd]);
        }
        args.AddRange(["--cmdline", "panic=1", tree, disk]);
        var r = Cli.Run("fsmaker", args);
        r.ExitCode.Should().Be(0, r.ToString());
        return disk;
    }

    private static JsonElement SingleBoot(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var boots = doc.RootElement.GetProperty("boots").EnumerateArray().ToList();
        boots.Should().HaveCount(1, json);
        return boots[0].Clone();
    }
}
