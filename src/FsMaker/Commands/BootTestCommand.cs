using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ImageTools.Core;
using ImageTools.Core.BootTesting;
using ImageTools.Core.Ext.Writer;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker boot-test IMAGE</c>: boots a disk image in QEMU (read-only, through a snapshot overlay) under each
/// firmware it can boot and waits for the expected console lines (docs/fsmaker.md "boot-test"). Exit 0 when every
/// boot passed, 13 when one failed (a panic, emergency mode, a GRUB error, no bootable device, QEMU ended), 14 when
/// one timed out, 8 when QEMU or a firmware is missing.
/// </summary>
internal static class BootTestCommand
{
    /// <summary>How many console lines a failure report shows.</summary>
    private const int TailLines = 25;

    public static Command Create()
    {
        var image = new Argument<string>("IMAGE") { Description = "A raw disk image (never modified: QEMU writes to a temporary snapshot overlay)" };
        var expect = new Option<string[]>("--expect", "-e")
        {
            Description = "Text that must appear on the serial console (repeatable: all must appear, in the order given); default: login:",
            AllowMultipleArgumentsPerToken = false,
        };
        var timeout = new Option<int>("--timeout", "-t") { Description = "Seconds each boot may take (default 300)", DefaultValueFactory = _ => 300 };
        var firmware = new Option<string>("--firmware")
        {
            Description = "auto (every firmware the disk can boot, in turn: BIOS for boot code in the MBR, UEFI for an ESP with \\EFI\\BOOT\\BOOT*.EFI), bios, uefi or secure-boot",
            DefaultValueFactory = _ => "auto",
        };
        firmware.AcceptOnlyFromAmong("auto", "bios", "uefi", "secure-boot");
        var arch = new Option<string>("--arch") { Description = "auto (from the disk: the UEFI loader's machine type; x86_64 for BIOS), x86_64 or arm64", DefaultValueFactory = _ => "auto" };
        arch.AcceptOnlyFromAmong("auto", "x86_64", "amd64", "arm64", "aarch64");
        var accel = new Option<string>("--accel") { Description = "auto (KVM when /dev/kvm is usable for the guest's architecture, else TCG), kvm or tcg", DefaultValueFactory = _ => "auto" };
        accel.AcceptOnlyFromAmong("auto", "kvm", "tcg");
        var memory = new Option<int>("--memory", "-m") { Description = "Guest memory in MiB (default 1024)", DefaultValueFactory = _ => 1024 };
        var cpus = new Option<int>("--cpus") { Description = "Guest CPUs (default 1)", DefaultValueFactory = _ => 1 };
        var qemuArgs = new Option<string[]>("--qemu-arg")
        {
            Description = "One more argument for QEMU, appended as given (repeatable; write --qemu-arg=-nic --qemu-arg=user for values starting with -)",
            AllowMultipleArgumentsPerToken = false,
        };
        var log = new Option<string?>("--log") { Description = "Write the whole console of every boot (cleaned of escape sequences) to this file" };
        var json = new Option<bool>("--json") { Description = "Report each boot as JSON on stdout (firmware, passed, seconds, the line that decided it)" };
        var command = new Command("boot-test", "Boot a disk image in QEMU (read-only) and wait for the expected console lines, under each firmware it can boot")
        {
            image, expect, timeout, firmware, arch, accel, memory, cpus, qemuArgs, log, json,
        };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            var expectations = parse.GetValue(expect) is { Length: > 0 } given ? given : ["login:"];
            var seconds = parse.GetValue(timeout);
            if (seconds <= 0)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"--timeout {seconds}: give a number of seconds above 0");
            }
            var options = new BootTestOptions
            {
                Expectations = expectations,
                Timeout = TimeSpan.FromSeconds(seconds),
                Firmwares = parse.GetValue(firmware) switch
                {
                    "bios" => [BootFirmware.Bios],
                    "uefi" => [BootFirmware.Uefi],
                    "secure-boot" => [BootFirmware.SecureBoot],
                    _ => null,
                },
                Architecture = parse.GetValue(arch) is "auto" or null ? null : BootNames.ParseArchitecture(parse.GetValue(arch)!),
                Kvm = parse.GetValue(accel) switch { "kvm" => true, "tcg" => false, _ => null },
                MemoryMiB = parse.GetValue(memory),
                Cpus = parse.GetValue(cpus),
                ExtraQemuArguments = parse.GetValue(qemuArgs) ?? [],
                OnProgress = parse.GetValue(json) ? null : message => Console.Error.WriteLine($"fsmaker: {message}"),
            };
            var report = BootTester.Run(parse.GetValue(image)!, options, cancellation);
            if (parse.GetValue(log) is { } logPath)
            {
                WriteLog(logPath, report);
            }
            if (parse.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                WriteJson(report, stdout);
            }
            else
            {
                WriteText(report);
            }
            return ExitCodeOf(report);
        })));
        return command;
    }

    private static int ExitCodeOf(BootTestReport report)
    {
        if (report.Passed)
        {
            return ExitCodes.Success;
        }
        return report.Runs.Any(r => r.Verdict.Kind is BootVerdictKind.Failed or BootVerdictKind.QemuExited)
            ? ExitCodes.BootFailed
            : ExitCodes.BootTimedOut;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);

    private static string ResultName(BootVerdictKind kind) => kind switch
    {
        BootVerdictKind.Passed => "passed",
        BootVerdictKind.Failed => "failed",
        BootVerdictKind.QemuExited => "qemu-exited",
        _ => "timed-out",
    };

    private static void WriteText(BootTestReport report)
    {
        foreach (var run in report.Runs)
        {
            var name = BootNames.Of(run.Firmware);
            var line = run.Verdict.DecidingLine is { } deciding ? $": {deciding}" : "";
            if (run.Passed)
            {
                Console.Out.WriteLine($"{name}: passed in {Seconds(run.Elapsed)} s{line}");
                continue;
            }
            Console.Out.WriteLine($"{name}: FAILED after {Seconds(run.Elapsed)} s: {run.Verdict.Reason}{line}");
            var tail = ConsoleText.LastLines(run.Console, TailLines);
            Console.Error.WriteLine($"fsmaker: the last {tail.Count} console lines of the {name} boot:");
            foreach (var l in tail)
            {
                Console.Error.WriteLine("  | " + l);
            }
            if (run.Verdict.Kind == BootVerdictKind.QemuExited && run.QemuOutput.Length > 0)
            {
                Console.Error.WriteLine("fsmaker: QEMU said:");
                foreach (var l in run.QemuOutput.Split('\n'))
                {
                    Console.Error.WriteLine("  | " + l);
                }
            }
        }
        var passed = report.Runs.Count(r => r.Passed);
        Console.Out.WriteLine($"{report.Image}: {passed} of {report.Runs.Count} boot{(report.Runs.Count == 1 ? "" : "s")} passed");
    }

    private static void WriteJson(BootTestReport report, Stream output)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("image", report.Image);
        json.WriteString("architecture", BootNames.Of(report.Architecture));
        json.WriteBoolean("passed", report.Passed);
        json.WriteStartArray("disk");
        foreach (var fact in report.DiskFacts)
        {
            json.WriteStringValue(fact);
        }
        json.WriteEndArray();
        json.WriteStartArray("boots");
        foreach (var run in report.Runs)
        {
            json.WriteStartObject();
            json.WriteString("firmware", BootNames.Of(run.Firmware));
            json.WriteString("accelerator", run.Kvm ? "kvm" : "tcg");
            json.WriteBoolean("passed", run.Passed);
            json.WriteString("result", ResultName(run.Verdict.Kind));
            json.WriteString("reason", run.Verdict.Reason);
            json.WriteNumber("seconds", Math.Round(run.Elapsed.TotalSeconds, 1));
            if (run.Verdict.DecidingLine is { } line)
            {
                json.WriteString("decidingLine", line);
            }
            else
            {
                json.WriteNull("decidingLine");
            }
            if (!run.Passed)
            {
                json.WriteStartArray("lastLines");
                foreach (var l in ConsoleText.LastLines(run.Console, TailLines))
                {
                    json.WriteStringValue(l);
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        output.WriteByte((byte)'\n');
    }

    private static void WriteLog(string path, BootTestReport report)
    {
        var text = new StringBuilder();
        foreach (var run in report.Runs)
        {
            text.Append(CultureInfo.InvariantCulture, $"===== fsmaker boot-test: {report.Image}, firmware {BootNames.Of(run.Firmware)}, {ResultName(run.Verdict.Kind)} after {Seconds(run.Elapsed)} s =====\n");
            text.Append(run.Console);
            if (!run.Console.EndsWith('\n'))
            {
                text.Append('\n');
            }
        }
        using var file = AtomicOutputFile.Create(path);
        RandomAccess.Write(file.Handle, Encoding.UTF8.GetBytes(text.ToString()), 0);
        file.Commit();
    }
}
