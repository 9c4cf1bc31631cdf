using System.Text.RegularExpressions;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>What a guest's serial log says about how the boot went.</summary>
public enum BootOutcome
{
    /// <summary>The marker line from the root filesystem appeared.</summary>
    Marker,
    /// <summary>A failure line appeared (initramfs, kernel panic, GRUB error, BIOS).</summary>
    Failure,
    /// <summary>QEMU ended before either.</summary>
    QemuExited,
    /// <summary>Neither appeared within the bound.</summary>
    TimedOut,
}

/// <summary>
/// Reads a serial log as the boot tests need it: SeaBIOS and GRUB's serial terminal write CR and ANSI
/// escape sequences, sometimes in the middle of a word, so they are removed before matching.
/// </summary>
public static partial class SerialLog
{
    /// <summary>The line the test initramfs prints on success.</summary>
    public const string MarkerPrefix = "IMAGETOOLS-MARKER: ";

    /// <summary>
    /// Lines that end a boot as failed: the initramfs's own failure lines, a kernel panic, GRUB's rescue
    /// prompt and error messages (it would return to the menu and retry forever), SeaBIOS giving up.
    /// </summary>
    private static readonly Regex FailureLine = FailureLineRegex();

    [GeneratedRegex(@"^(IMAGETOOLS-FAIL: .*|.*Kernel panic - not syncing.*|.*grub rescue>.*|error: .*|.*No bootable device.*|Boot failed.*)$", RegexOptions.Multiline)]
    private static partial Regex FailureLineRegex();

    [GeneratedRegex(@"^IMAGETOOLS-MARKER: (.*)$", RegexOptions.Multiline)]
    private static partial Regex MarkerLineRegex();

    /// <summary>The log's bytes as text without CR, escape sequences or other control characters: the product's own cleaning.</summary>
    public static string Clean(ReadOnlySpan<byte> raw) => ImageTools.Core.BootTesting.ConsoleText.Clean(raw);

    /// <summary>The marker's content, if the marker line is complete (ends with a newline) in the cleaned log.</summary>
    public static string? FindMarker(string cleanLog)
    {
        var m = MarkerLineRegex().Match(cleanLog);
        return m.Success && CompleteLine(cleanLog, m) ? m.Groups[1].Value.TrimEnd() : null;
    }

    /// <summary>The first complete failure line in the cleaned log, if any.</summary>
    public static string? FindFailure(string cleanLog)
    {
        foreach (Match m in FailureLine.Matches(cleanLog))
        {
            if (CompleteLine(cleanLog, m) || m.Value.Contains("grub rescue>", StringComparison.Ordinal))
            {
                return m.Value.Trim();
            }
        }
        return null;
    }

    private static bool CompleteLine(string log, Match m) => m.Index + m.Length < log.Length && log[m.Index + m.Length] == '\n';
}
