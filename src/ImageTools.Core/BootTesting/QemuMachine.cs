using System.Globalization;
using System.Runtime.InteropServices;

namespace ImageTools.Core.BootTesting;

/// <summary>The virtual machine a boot test starts: architecture, firmware and size.</summary>
public sealed record QemuMachineOptions
{
    public required BootArchitecture Architecture { get; init; }

    public required BootFirmware Firmware { get; init; }

    public int MemoryMiB { get; init; } = 1024;

    public int Cpus { get; init; } = 1;

    /// <summary>Use KVM (null: when /dev/kvm is usable and the guest's architecture is the host's).</summary>
    public bool? Kvm { get; init; }

    /// <summary>Appended to QEMU's command line as they are.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>One QEMU command line, ready to run: the program, its arguments, and the console log it writes.</summary>
public sealed record QemuInvocation(string Executable, IReadOnlyList<string> Arguments, string ConsoleLog, bool Kvm);

/// <summary>
/// Builds QEMU command lines that boot a disk image read-only under a given firmware, with the serial console
/// in a file. Finds QEMU on PATH and the firmware in Debian's places (or <see cref="FirmwareDirectoryVariable"/>);
/// what is missing is reported as <see cref="ErrorKind.MissingResource"/> naming the Debian package that brings it.
/// </summary>
public static class QemuMachine
{
    /// <summary>A directory searched for firmware files before Debian's /usr/share/OVMF and /usr/share/AAVMF.</summary>
    public const string FirmwareDirectoryVariable = "FSMAKER_FIRMWARE_DIR";

    private static readonly string[] OvmfDirectories = ["/usr/share/OVMF", "/usr/share/ovmf"];
    private static readonly string[] AavmfDirectories = ["/usr/share/AAVMF"];

    public static string EmulatorName(BootArchitecture architecture) =>
        architecture == BootArchitecture.Arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64";

    private static string EmulatorPackage(BootArchitecture architecture) =>
        architecture == BootArchitecture.Arm64 ? "qemu-system-arm" : "qemu-system-x86";

    /// <summary>The firmware's code and variable-store template, with the package that brings them (null for SeaBIOS, which QEMU brings).</summary>
    public static (string Code, string Variables, string Package)? FirmwareFiles(BootArchitecture architecture, BootFirmware firmware) =>
        (architecture, firmware) switch
        {
            (_, BootFirmware.Bios) => null,
            (BootArchitecture.X86_64, BootFirmware.Uefi) => ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "ovmf"),
            // The ".ms" variable store has Microsoft's keys enrolled and Secure Boot on; the secboot code enforces it (SMM).
            (BootArchitecture.X86_64, BootFirmware.SecureBoot) => ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd", "ovmf"),
            (BootArchitecture.Arm64, BootFirmware.Uefi) => ("AAVMF_CODE.fd", "AAVMF_VARS.fd", "qemu-efi-aarch64"),
            _ => throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"--firmware {BootNames.Of(firmware)} on {BootNames.Of(architecture)} is not supported (Secure Boot is tested on x86_64 only)"),
        };

    /// <summary>
    /// Checks that QEMU and the firmware are there and builds the command line. The firmware's variable store is
    /// copied fresh into <paramref name="workDirectory"/>, so no boot entry of an earlier run survives and the disk
    /// is booted as a new VM boots it (the removable-media path).
    /// </summary>
    public static QemuInvocation Prepare(string diskImage, QemuMachineOptions options, string workDirectory)
    {
        var emulator = FindOnPath(EmulatorName(options.Architecture)) ?? throw new ImageToolsException(ErrorKind.MissingResource,
            $"{EmulatorName(options.Architecture)} is not on PATH; install it (Debian package {EmulatorPackage(options.Architecture)})");
        var kvm = options.Kvm ?? (KvmUsable() && HostArchitecture() == options.Architecture);
        var consoleLog = Path.Combine(workDirectory, "console.log");
        File.WriteAllBytes(consoleLog, []);
        var args = new List<string>();
        var arm = options.Architecture == BootArchitecture.Arm64;
        if (arm)
        {
            args.AddRange(["-machine", "virt", "-cpu", kvm ? "host" : "cortex-a57"]);
        }
        else if (options.Firmware == BootFirmware.SecureBoot)
        {
            // OVMF's Secure Boot build keeps its variables safe in SMM, which needs q35 and a secure flash.
            args.AddRange(["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]);
        }
        else
        {
            args.AddRange(["-machine", "pc"]);
        }
        args.AddRange(["-accel", kvm ? "kvm" : "tcg",
            "-m", options.MemoryMiB.ToString(CultureInfo.InvariantCulture), "-smp", options.Cpus.ToString(CultureInfo.InvariantCulture),
            "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none", "-serial", "file:" + EscapeOption(consoleLog)]);

        if (FirmwareFiles(options.Architecture, options.Firmware) is var (code, variables, package))
        {
            var codePath = FindFirmware(code, arm) ?? throw MissingFirmware(code, package, arm);
            var variablesTemplate = FindFirmware(variables, arm) ?? throw MissingFirmware(variables, package, arm);
            var variablesCopy = Path.Combine(workDirectory, Path.GetFileName(variables));
            File.Copy(variablesTemplate, variablesCopy, overwrite: true);
            args.AddRange(["-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={EscapeOption(codePath)}",
                "-drive", $"if=pflash,format=raw,unit=1,file={EscapeOption(variablesCopy)}"]);
        }
        else
        {
            // Have SeaBIOS mirror its console (and so boot.img's and GRUB's early messages) to COM1, I/O port 0x3F8,
            // given as the little-endian u16 it reads from fw_cfg etc/sercon-port.
            var port = Path.Combine(workDirectory, "sercon-port");
            File.WriteAllBytes(port, [0xF8, 0x03]);
            args.AddRange(["-fw_cfg", $"name=etc/sercon-port,file={EscapeOption(port)}"]);
        }
        // snapshot=on: writes go to a temporary overlay QEMU deletes at exit; the image itself is opened read-only.
        args.AddRange(["-drive", $"file={EscapeOption(diskImage)},format=raw,if=virtio,snapshot=on"]);
        args.AddRange(options.ExtraArguments);
        return new QemuInvocation(emulator, args, consoleLog, kvm);
    }

    private static ImageToolsException MissingFirmware(string file, string package, bool arm) =>
        new(ErrorKind.MissingResource,
            $"firmware {file} is not in {string.Join(" or ", FirmwareDirectories(arm))}; install it (Debian package {package}) or point {FirmwareDirectoryVariable} at a directory holding it");

    private static IEnumerable<string> FirmwareDirectories(bool arm)
    {
        var custom = Environment.GetEnvironmentVariable(FirmwareDirectoryVariable);
        if (!string.IsNullOrEmpty(custom))
        {
            // An explicit directory replaces the defaults, so a test (or a user) knows exactly which files are used.
            return [custom];
        }
        return arm ? AavmfDirectories : OvmfDirectories;
    }

    private static string? FindFirmware(string file, bool arm) =>
        FirmwareDirectories(arm).Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);

    /// <summary>The first executable file named <paramref name="name"/> in PATH.</summary>
    public static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>KVM can be used when /dev/kvm opens for reading and writing (the kvm group, or root).</summary>
    public static bool KvmUsable()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/kvm"))
        {
            return false;
        }
        try
        {
            using var kvm = new FileStream("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static BootArchitecture? HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => BootArchitecture.X86_64,
        Architecture.Arm64 => BootArchitecture.Arm64,
        _ => null,
    };

    /// <summary>QEMU option values separate sub-options with commas; a literal comma is doubled.</summary>
    public static string EscapeOption(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}
