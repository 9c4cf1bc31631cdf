using System.Text;
using FluentAssertions;
using ImageTools.Core.BootTesting;
using Xunit;

namespace ImageTools.Core.Tests.BootTesting;

/// <summary>How boot-test reads a console: expectations in order, and the lines that end a boot.</summary>
public sealed class ConsoleJudgeTests
{
    [Fact]
    public void Expectations_must_appear_in_the_order_given()
    {
        var judge = new ConsoleJudge(["Welcome to GRUB", "login:"]);

        judge.Judge("debian login: \nWelcome to GRUB!\n").Should().BeNull("login: came before GRUB");
        judge.Matched.Should().Be(1);
        var verdict = judge.Judge("Welcome to GRUB!\n[ 1.0] Linux\n\nDebian GNU/Linux 12 debian ttyS0\n\ndebian login: ");
        verdict!.Kind.Should().Be(BootVerdictKind.Passed);
        verdict.DecidingLine.Should().Be("debian login:");
    }

    [Theory]
    [InlineData("[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n", "kernel panic")]
    [InlineData("You are in emergency mode. After logging in, type \"journalctl -xb\" to view\n", "systemd emergency mode")]
    [InlineData("error: file `/boot/vmlinuz' not found.\n", "GRUB error")]
    [InlineData("Entering rescue mode...\ngrub rescue> ", "GRUB rescue prompt (GRUB could not load its modules or find its prefix)")]
    [InlineData("Boot failed: not a bootable disk\n\nNo bootable device.\n", "firmware: no bootable device (SeaBIOS)")]
    [InlineData("BdsDxe: No bootable option or device was found.\n", "firmware: no bootable device (UEFI boot manager)")]
    [InlineData("BdsDxe: failed to load Boot0001 \"UEFI Misc Device\" from PciRoot(0x0)/Pci(0x2,0x0): Access Denied\n", "firmware: the UEFI boot manager refused the loader (Secure Boot: not signed by a trusted key)")]
    public void Lines_that_end_a_boot_fail_it_and_say_why(string console, string reason)
    {
        var verdict = new ConsoleJudge(["login:"]).Judge("SeaBIOS (version 1.16.2)\n" + console);

        verdict!.Kind.Should().Be(BootVerdictKind.Failed);
        verdict.Reason.Should().Be(reason);
    }

    [Theory]
    [InlineData("error: no suitable video mode found.\nBooting in blind mode\n")]
    [InlineData("error: file `/boot/grub/fonts/unicode.pf2' not found.\n")]
    [InlineData("[    0.1] ACPI Error: AE_NOT_FOUND\n")]
    [InlineData("Kernel panic - not syncing")]
    public void Harmless_lines_and_unfinished_lines_do_not_end_a_boot(string console)
    {
        new ConsoleJudge(["login:"]).Judge(console).Should().BeNull();
    }

    [Fact]
    public void A_passed_boot_stays_passed_when_a_failure_line_follows()
    {
        var verdict = new ConsoleJudge(["MARKER"]).Judge("MARKER ok\nKernel panic - not syncing: Attempted to kill init!\n");

        verdict!.Kind.Should().Be(BootVerdictKind.Passed);
    }

    [Fact]
    public void Escape_sequences_are_removed_including_OVMF_mode_settings()
    {
        var clean = ConsoleText.Clean(Encoding.Latin1.GetBytes("\x1b[=3h\x1b[=3hBdsDxe: loading\r\nlog\x1b[0min: "));

        clean.Should().Be("BdsDxe: loading\nlogin: ");
    }

    [Fact]
    public void An_empty_expectation_is_refused()
    {
        var act = () => new ConsoleJudge([""]);

        act.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.InvalidArgument);
    }
}
