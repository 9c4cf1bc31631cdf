using System.Text.RegularExpressions;

namespace ImageTools.Core.BootTesting;

/// <summary>Why a boot ended.</summary>
public enum BootVerdictKind
{
    /// <summary>Every expected text appeared, in order.</summary>
    Passed,

    /// <summary>A line that means the boot is over appeared (panic, emergency mode, GRUB error, no bootable device).</summary>
    Failed,

    /// <summary>QEMU ended (the guest powered off, rebooted or QEMU failed) before the expected text.</summary>
    QemuExited,

    /// <summary>The expected text did not appear within the time allowed.</summary>
    TimedOut,
}

/// <summary>What decided a boot: the kind, a short reason ("kernel panic") and the console line that decided it.</summary>
public sealed record BootVerdict(BootVerdictKind Kind, string Reason, string? DecidingLine);

/// <summary>
/// Watches a cleaned console (see <see cref="ConsoleText"/>) for the expected texts, which must all appear in
/// the order given, and for the lines after which a boot cannot succeed any more, so that a failed boot is
/// reported at once instead of at the timeout.
/// </summary>
public sealed partial class ConsoleJudge
{
    private readonly IReadOnlyList<string> _expectations;

    public ConsoleJudge(IReadOnlyList<string> expectations)
    {
        if (expectations.Count == 0 || expectations.Any(string.IsNullOrEmpty))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "an expected text must not be empty");
        }
        _expectations = expectations;
    }

    /// <summary>The texts to wait for, in order.</summary>
    public IReadOnlyList<string> Expectations => _expectations;

    /// <summary>How many expected texts have appeared so far (in order) in the last text judged.</summary>
    public int Matched { get; private set; }

    /// <summary>
    /// The end-of-boot patterns, each with what it means. A line must be complete (newline-terminated) to count,
    /// except prompts, which wait for input and never end their line.
    /// </summary>
    private static readonly (Regex Pattern, string Reason, bool Prompt)[] FailurePatterns =
    [
        (KernelPanic(), "kernel panic", false),
        (EmergencyMode(), "systemd emergency mode", false),
        (RescueMode(), "systemd rescue mode", false),
        (GrubRescue(), "GRUB rescue prompt (GRUB could not load its modules or find its prefix)", true),
        (GrubError(), "GRUB error", false),
        (SeaBiosNoBootable(), "firmware: no bootable device (SeaBIOS)", false),
        (OvmfNoBootable(), "firmware: no bootable device (UEFI boot manager)", false),
        (OvmfAccessDenied(), "firmware: the UEFI boot manager refused the loader (Secure Boot: not signed by a trusted key)", false),
        (OvmfShell(), "firmware: no bootable device (UEFI fell back to its shell)", true),
    ];

    [GeneratedRegex(@"Kernel panic - not syncing")]
    private static partial Regex KernelPanic();

    [GeneratedRegex(@"You are in emergency mode|Entering emergency mode|Welcome to emergency mode")]
    private static partial Regex EmergencyMode();

    [GeneratedRegex(@"You are in rescue mode|Welcome to rescue mode")]
    private static partial Regex RescueMode();

    [GeneratedRegex(@"grub rescue>")]
    private static partial Regex GrubRescue();

    // GRUB prints its errors as "error: MESSAGE." at the start of a line (grub_print_error). Some are only about the
    // screen and GRUB goes on booting ("no suitable video mode found." then "Booting in blind mode" on a serial-only
    // UEFI machine; a missing font or gfxterm): those are not the end of the boot.
    [GeneratedRegex(@"^error: (?!no suitable video mode|.*\.pf2|.*font|.*gfxterm|.*terminal `gfx)")]
    private static partial Regex GrubError();

    [GeneratedRegex(@"No bootable device")]
    private static partial Regex SeaBiosNoBootable();

    // EDK II's BDS (MdeModulePkg/Universal/BdsDxe): "BdsDxe: No bootable option or device was found."
    [GeneratedRegex(@"No bootable option or device was found")]
    private static partial Regex OvmfNoBootable();

    // "BdsDxe: failed to load Boot0001 ... : Access Denied" is what Secure Boot says about an unsigned loader.
    [GeneratedRegex(@"BdsDxe: failed to load .*Access Denied")]
    private static partial Regex OvmfAccessDenied();

    [GeneratedRegex(@"^Shell> ?$|UEFI Interactive Shell v")]
    private static partial Regex OvmfShell();

    /// <summary>
    /// Judges the console so far: <see cref="BootVerdictKind.Passed"/> once every expectation appeared in order,
    /// <see cref="BootVerdictKind.Failed"/> at the first end-of-boot line, null while neither.
    /// An expectation that appeared counts even if a failure line came later (a passed boot is passed).
    /// </summary>
    public BootVerdict? Judge(string clean)
    {
        var position = 0;
        var matched = 0;
        var lastIndex = -1;
        foreach (var expected in _expectations)
        {
            var index = clean.IndexOf(expected, position, StringComparison.Ordinal);
            if (index < 0)
            {
                break;
            }
            matched++;
            lastIndex = index;
            position = index + expected.Length;
        }
        Matched = matched;
        if (matched == _expectations.Count)
        {
            return new BootVerdict(BootVerdictKind.Passed, $"found \"{_expectations[^1]}\"", ConsoleText.LineAt(clean, lastIndex));
        }
        return FindFailure(clean);
    }

    /// <summary>The first end-of-boot line in the cleaned console, if any.</summary>
    public static BootVerdict? FindFailure(string clean)
    {
        BootVerdict? first = null;
        var firstIndex = int.MaxValue;
        var lineStart = 0;
        while (lineStart < clean.Length && lineStart < firstIndex)
        {
            var newline = clean.IndexOf('\n', lineStart);
            var complete = newline >= 0;
            var line = complete ? clean[lineStart..newline] : clean[lineStart..];
            foreach (var (pattern, reason, prompt) in FailurePatterns)
            {
                if ((complete || prompt) && pattern.IsMatch(line))
                {
                    first = new BootVerdict(BootVerdictKind.Failed, reason, line.Trim());
                    firstIndex = lineStart;
                    break;
                }
            }
            if (!complete)
            {
                break;
            }
            lineStart = newline + 1;
        }
        return first;
    }
}
