using System.Text;
using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>How the harness reads a serial log, on logs written here (no QEMU needed).</summary>
public sealed class SerialLogTests
{
    [Fact]
    public void Escape_sequences_and_carriage_returns_are_removed_even_inside_words()
    {
        var raw = Encoding.Latin1.GetBytes("\x1b[2J\x1b[1;1HGRUB lo\x1b[0mading.\r\nIMAGETOOLS-MAR\x1b[?25lKER: abc\x1b(B\r\n\x0e");

        var clean = SerialLog.Clean(raw);

        clean.Should().Be("GRUB loading.\nIMAGETOOLS-MARKER: abc\n");
        SerialLog.FindMarker(clean).Should().Be("abc");
    }

    [Fact]
    public void A_marker_counts_only_once_its_line_is_complete()
    {
        SerialLog.FindMarker("IMAGETOOLS-MARKER: ab").Should().BeNull();
        SerialLog.FindMarker("x\nIMAGETOOLS-MARKER: abc \n").Should().Be("abc");
    }

    [Theory]
    [InlineData("IMAGETOOLS-FAIL: root device UUID=x not found after 30s\n", "IMAGETOOLS-FAIL: root device UUID=x not found after 30s")]
    [InlineData("[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n", "[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs")]
    [InlineData("error: unknown filesystem.\nEntering rescue mode...\n", "error: unknown filesystem.")]
    [InlineData("Entering rescue mode...\ngrub rescue> ", "grub rescue>")]
    [InlineData("Boot failed: not a bootable disk\n", "Boot failed: not a bootable disk")]
    public void Failure_lines_are_recognised(string log, string expected)
    {
        SerialLog.FindFailure(log).Should().Be(expected);
    }

    [Fact]
    public void Ordinary_boot_chatter_is_not_a_failure()
    {
        var log = "GRUB loading.\nWelcome to GRUB!\n[    0.1] ACPI Error: AE_NOT_FOUND\n[    1.2] Run /init as init process\nIMAGETOOLS: root UUID=x is /dev/vda1\n";

        SerialLog.FindFailure(log).Should().BeNull();
        SerialLog.FindMarker(log).Should().BeNull();
    }
}
