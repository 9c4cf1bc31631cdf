using ImageTools.Core.Imaging;
using ImageTools.Core.Streams;

namespace ImageTools.Core.BootTesting;

/// <summary>What <see cref="BootTester.Run"/> does: what to wait for, how long, and the machine.</summary>
public sealed record BootTestOptions
{
    /// <summary>The texts that must all appear on the console, in this order. A login prompt by default.</summary>
    public IReadOnlyList<string> Expectations { get; init; } = ["login:"];

    /// <summary>How long each boot may take to show every expectation.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>The firmwares to boot with, in turn; null: every firmware the disk can boot (<see cref="BootableDiskProbe"/>).</summary>
    public IReadOnlyList<BootFirmware>? Firmwares { get; init; }

    /// <summary>The guest's architecture; null: from the disk (its UEFI loader's PE header, x86_64 for BIOS boot code).</summary>
    public BootArchitecture? Architecture { get; init; }

    public int MemoryMiB { get; init; } = 1024;

    public int Cpus { get; init; } = 1;

    /// <summary>Use KVM; null: when /dev/kvm is usable for the guest's architecture.</summary>
    public bool? Kvm { get; init; }

    public IReadOnlyList<string> ExtraQemuArguments { get; init; } = [];

    /// <summary>Told when each boot starts ("booting disk.img with uefi (x86_64, TCG)").</summary>
    public Action<string>? OnProgress { get; init; }
}

/// <summary>One boot: under which firmware, how it ended, how long it took, and the whole console.</summary>
public sealed record BootTestRun(BootFirmware Firmware, BootArchitecture Architecture, bool Kvm, BootVerdict Verdict, TimeSpan Elapsed,
    string Console, int? QemuExitCode, string QemuOutput)
{
    public bool Passed => Verdict.Kind == BootVerdictKind.Passed;
}

/// <summary>Every boot of one image, with what the disk was found to offer.</summary>
public sealed record BootTestReport(string Image, BootArchitecture Architecture, IReadOnlyList<string> DiskFacts, IReadOnlyList<BootTestRun> Runs)
{
    public bool Passed => Runs.Count > 0 && Runs.All(r => r.Passed);
}

/// <summary>
/// Proves that a disk image boots: boots it in QEMU under each firmware it can boot (or those asked for), with the
/// disk opened read-only through a snapshot overlay, and watches the serial console for the expected texts, ending
/// a boot early on a line that means it failed (<see cref="ConsoleJudge"/>). The image's bytes never change.
/// </summary>
public static class BootTester
{
    public static BootTestReport Run(string image, BootTestOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Timeout <= TimeSpan.Zero)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the timeout must be positive");
        }
        if (options.MemoryMiB < 16 || options.Cpus < 1)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "--memory must be at least 16 (MiB) and --cpus at least 1");
        }
        var judge = new ConsoleJudge(options.Expectations);
        BootableDiskFacts facts;
        using (var disk = OpenRawDisk(image))
        {
            facts = BootableDiskProbe.Probe(disk, image);
        }
        var firmwares = options.Firmwares ?? facts.Firmwares;
        if (firmwares.Count == 0)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind,
                $"{image}: no firmware can boot it ({string.Join("; ", facts.Reasons)}); name one with --firmware to try anyway") { Path = image };
        }
        var architecture = options.Architecture ?? facts.Architecture ?? BootArchitecture.X86_64;
        if (architecture == BootArchitecture.Arm64 && firmwares.Contains(BootFirmware.Bios))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "arm64 has no BIOS: test it with --firmware uefi");
        }

        var work = Directory.CreateTempSubdirectory("fsmaker-boot-test-");
        try
        {
            // Everything each boot needs is checked before the first one starts, so a missing firmware is said at once.
            var invocations = new List<(BootFirmware Firmware, QemuInvocation Invocation)>();
            foreach (var firmware in firmwares)
            {
                var dir = Directory.CreateDirectory(Path.Combine(work.FullName, BootNames.Of(firmware))).FullName;
                var invocation = QemuMachine.Prepare(Path.GetFullPath(image), new QemuMachineOptions
                {
                    Architecture = architecture,
                    Firmware = firmware,
                    MemoryMiB = options.MemoryMiB,
                    Cpus = options.Cpus,
                    Kvm = options.Kvm,
                    ExtraArguments = options.ExtraQemuArguments,
                }, dir);
                invocations.Add((firmware, invocation));
            }
            var runs = new List<BootTestRun>();
            foreach (var (firmware, invocation) in invocations)
            {
                options.OnProgress?.Invoke($"booting {image} with {BootNames.Of(firmware)} ({BootNames.Of(architecture)}, {(invocation.Kvm ? "KVM" : "TCG")}), " +
                    $"waiting up to {options.Timeout.TotalSeconds:0} s for {string.Join(" then ", options.Expectations.Select(e => $"\"{e}\""))}");
                var result = QemuSession.Run(invocation, judge.Judge, options.Timeout, cancellationToken);
                runs.Add(new BootTestRun(firmware, architecture, invocation.Kvm, result.Verdict, result.Elapsed, result.Console, result.QemuExitCode, result.QemuOutput));
            }
            return new BootTestReport(image, architecture, facts.Reasons, runs);
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is not worth failing the test for.
            }
        }
    }

    /// <summary>Opens the image read-only and refuses what QEMU would not boot as a raw disk.</summary>
    private static Stream OpenRawDisk(string image)
    {
        if (Directory.Exists(image))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{image} is a directory; boot-test boots a disk image") { Path = image };
        }
        if (!File.Exists(image))
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{image}: no such image file") { Path = image };
        }
        var stream = ImageFile.OpenRead(image);
        var head = new byte[Math.Min(KnownSignatures.ProbeLength, stream.Length)];
        stream.ReadExactly(head);
        string? container = head.AsSpan().StartsWith("QFI\xFB"u8) ? "a qcow2 image"
            : head.AsSpan().StartsWith("KDMV"u8) ? "a VMDK image"
            : head.AsSpan().StartsWith("vhdxfile"u8) ? "a VHDX image"
            : Compression.Detect(head) is var format and not CompressionFormat.None ? $"{format} compressed"
            : null;
        if (container != null)
        {
            stream.Dispose();
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{image} is {container}; boot-test boots raw disk images for now (qemu-img convert -O raw, or decompress it, first)") { Path = image };
        }
        stream.Position = 0;
        return stream;
    }
}
