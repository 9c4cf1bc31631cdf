using System.Diagnostics;
using System.Globalization;
using ImageTools.TestSupport;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>How the disk is attached to the guest.</summary>
public enum DiskInterface
{
    /// <summary>virtio-blk on PCI: the guest sees /dev/vda.</summary>
    Virtio,
    /// <summary>The PIIX IDE controller of QEMU's "pc" machine: the guest sees /dev/sda (ata_piix).</summary>
    Ide,
}

public sealed record QemuBootOptions
{
    public DiskInterface Interface { get; init; } = DiskInterface.Virtio;

    /// <summary>How long to wait for the marker or a failure line. A boot takes 10-20 s on TCG; the bound only stops hangs.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(150);

    public int MemoryMiB { get; init; } = 512;

    /// <summary>
    /// Have SeaBIOS copy the BIOS console to the serial port (fw_cfg etc/sercon-port), so what boot.img,
    /// diskboot and GRUB print before grub.cfg switches to the serial terminal ("GRUB loading.", "error:
    /// unknown filesystem", "grub rescue>") reaches the log too.
    /// </summary>
    public bool MirrorBiosConsole { get; init; } = true;

    /// <summary>More QEMU arguments, e.g. <c>-nic user,model=virtio-net-pci</c> for a guest that needs a network.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>
    /// Open the disk with snapshot=on (the default: the image is never modified). Off for tests that look at
    /// what the guest wrote (the first-boot test); the guest must then sync and remount read-only before it
    /// prints its marker, since QEMU is killed as soon as the marker appears.
    /// </summary>
    public bool Snapshot { get; init; } = true;
}

/// <summary>What a boot printed and how it ended.</summary>
public sealed record BootResult(BootOutcome Outcome, string? Marker, string? FailureLine, string SerialLog, TimeSpan Elapsed, int? QemuExitCode, string QemuOutput)
{
    /// <summary>The last part of the serial log and QEMU's own output, for assertion messages.</summary>
    public string Diagnostics
    {
        get
        {
            // The start (BIOS, GRUB) and the end (initramfs) say the most; the kernel's chatter in between least.
            var tail = SerialLog.Length > 8000 ? SerialLog[..3000] + "\n[…]\n" + SerialLog[^5000..] : SerialLog;
            return $"outcome {Outcome} after {Elapsed.TotalSeconds:F1} s, QEMU exit {QemuExitCode?.ToString(CultureInfo.InvariantCulture) ?? "-"}\n" +
                   $"--- QEMU output ---\n{QemuOutput}\n--- serial log (cleaned) ---\n{tail}";
        }
    }
}

/// <summary>
/// Boots a raw disk image in QEMU (TCG, no KVM needed) and watches its serial log for the test
/// initramfs's marker or a failure line, within a bound. The image is opened with snapshot=on, so it is
/// never modified (unless <see cref="QemuBootOptions.Snapshot"/> is off). QEMU is always killed before this returns, and is also started under timeout(1) so
/// that it cannot outlive a crashed test host for long.
/// </summary>
public static class QemuBoot
{
    public const string Emulator = "qemu-system-x86_64";

    public static BootResult Run(string diskImage, QemuBootOptions? options = null)
    {
        options ??= new QemuBootOptions();
        var qemu = ExternalTools.Require(Emulator);
        using var work = new TempDirectory("imagetools-qemu-");
        var serialLog = work.File("serial.log");
        File.WriteAllBytes(serialLog, []);

        var args = new List<string>
        {
            "-accel", "tcg", "-machine", "pc", "-m", options.MemoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", "1",
            "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
            "-serial", "file:" + serialLog,
            "-drive", $"file={EscapeOption(diskImage)},format=raw,if={(options.Interface == DiskInterface.Virtio ? "virtio" : "ide")},snapshot={(options.Snapshot ? "on" : "off")}",
        };
        if (options.MirrorBiosConsole)
        {
            // The I/O port of COM1, 0x3F8, as the little-endian u16 SeaBIOS reads.
            var port = work.File("sercon-port");
            File.WriteAllBytes(port, [0xF8, 0x03]);
            args.AddRange(["-fw_cfg", $"name=etc/sercon-port,file={EscapeOption(port)}"]);
        }
        args.AddRange(options.ExtraArguments);

        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var timeoutTool = ExternalTools.Find("timeout");
        if (timeoutTool != null)
        {
            psi.FileName = timeoutTool;
            psi.ArgumentList.Add("--kill-after=10");
            psi.ArgumentList.Add(((int)options.Timeout.TotalSeconds + 30).ToString(CultureInfo.InvariantCulture));
            psi.ArgumentList.Add(qemu);
        }
        else
        {
            psi.FileName = qemu;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + qemu);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();

        var outcome = BootOutcome.TimedOut;
        string? marker = null, failure = null;
        string clean = "";
        try
        {
            using var log = new FileStream(serialLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var raw = new MemoryStream();
            var buffer = new byte[64 * 1024];
            DateTime? failureSeen = null;
            while (true)
            {
                bool exited = process.HasExited;
                int n;
                while ((n = log.Read(buffer)) > 0)
                {
                    raw.Write(buffer, 0, n);
                }
                clean = SerialLog.Clean(raw.GetBuffer().AsSpan(0, (int)raw.Length));
                marker = SerialLog.FindMarker(clean);
                if (marker != null)
                {
                    outcome = BootOutcome.Marker;
                    break;
                }
                failure ??= SerialLog.FindFailure(clean);
                if (failure != null)
                {
                    outcome = BootOutcome.Failure;
                    // Give the guest a moment to print what follows (the initramfs lists the block devices).
                    failureSeen ??= DateTime.UtcNow;
                    if (exited || DateTime.UtcNow - failureSeen > TimeSpan.FromSeconds(3))
                    {
                        break;
                    }
                }
                else if (exited)
                {
                    outcome = BootOutcome.QemuExited;
                    break;
                }
                if (stopwatch.Elapsed > options.Timeout)
                {
                    outcome = BootOutcome.TimedOut;
                    break;
                }
                Thread.Sleep(200);
            }
        }
        finally
        {
            Stop(process);
        }
        stopwatch.Stop();
        var output = (stdout.Wait(TimeSpan.FromSeconds(10)) ? stdout.Result : "") + (stderr.Wait(TimeSpan.FromSeconds(10)) ? stderr.Result : "");
        var result = new BootResult(outcome, marker, failure, clean, stopwatch.Elapsed, process.HasExited ? process.ExitCode : null, output.Trim());
        // Kept with the test's result, so a passing boot can be read too (dotnet test --logger "console;verbosity=detailed").
        Xunit.TestContext.Current.TestOutputHelper?.WriteLine($"{System.IO.Path.GetFileName(diskImage)} on {options.Interface}: {result.Diagnostics}");
        return result;
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        process.WaitForExit(TimeSpan.FromSeconds(20));
    }

    /// <summary>QEMU option values separate sub-options with commas; a literal comma is doubled.</summary>
    private static string EscapeOption(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
