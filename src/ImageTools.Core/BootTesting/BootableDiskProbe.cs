using ImageTools.Core.Partitions;

namespace ImageTools.Core.BootTesting;

/// <summary>What a disk offers firmware: which firmwares can boot it, the architecture, and why.</summary>
public sealed record BootableDiskFacts(IReadOnlyList<BootFirmware> Firmwares, BootArchitecture? Architecture, IReadOnlyList<string> Reasons);

/// <summary>
/// Looks at a raw disk image the way firmware does: BIOS runs the code in sector 0 (so a disk boots under BIOS
/// when its MBR holds boot code: an MBR disk's, or on GPT a protective MBR with GRUB's boot.img and a BIOS boot
/// partition for its core image); UEFI boots \EFI\BOOT\BOOT{X64,AA64}.EFI from an EFI system partition (GPT type
/// C12A7328-… or MBR type 0xEF). The loader's PE machine type gives the architecture; BIOS boot code is x86.
/// </summary>
public static class BootableDiskProbe
{
    /// <summary>The MBR's code area (bytes 0-439, before the disk signature).</summary>
    private const int BootCodeLength = 440;

    public static BootableDiskFacts Probe(Stream disk, string name)
    {
        var sector0 = new byte[512];
        if (disk.Length < 512)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: {disk.Length} bytes is too small to be a disk image") { Path = name };
        }
        disk.Position = 0;
        disk.ReadExactly(sector0);
        if (!PartitionTable.LooksPartitioned(sector0))
        {
            var what = sector0.Length >= 0 && disk.Length > 1082 && IsExt(disk) ? "a bare ext filesystem, not a disk (make a bootable disk from it with fsmaker first)" : "no partition table in sector 0";
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: nothing a firmware could boot: {what}") { Path = name };
        }
        var table = PartitionTable.Read(disk, disk.Length, name);
        var reasons = new List<string>();
        var firmwares = new List<BootFirmware>();
        var hasBootCode = sector0.AsSpan(0, BootCodeLength).IndexOfAnyExcept((byte)0) >= 0;

        BootArchitecture? architecture = null;
        if (table.Gpt != null)
        {
            var biosBoot = table.Partitions.FirstOrDefault(p => p.GptType == GptPartitionType.BiosBoot);
            if (hasBootCode && (biosBoot != null || table.Partitions.Any(p => p.IsBootable)))
            {
                firmwares.Add(BootFirmware.Bios);
                architecture = BootArchitecture.X86_64;
                reasons.Add(biosBoot != null
                    ? $"BIOS: boot code in the protective MBR and a BIOS boot partition ({biosBoot.Number})"
                    : "BIOS: boot code in the protective MBR and a partition marked legacy-BIOS-bootable");
            }
            else
            {
                reasons.Add(hasBootCode ? "no BIOS: boot code in the protective MBR but no BIOS boot partition" : "no BIOS: the protective MBR holds no boot code");
            }
        }
        else if (hasBootCode)
        {
            firmwares.Add(BootFirmware.Bios);
            architecture = BootArchitecture.X86_64;
            reasons.Add("BIOS: boot code in the MBR");
        }
        else
        {
            reasons.Add("no BIOS: the MBR holds no boot code");
        }

        var esps = table.Partitions.Where(p => p.GptType == GptPartitionType.EfiSystem || p.MbrType == 0xEF).ToList();
        if (esps.Count == 0)
        {
            reasons.Add("no UEFI: no EFI system partition");
        }
        foreach (var esp in esps)
        {
            using var window = table.Open(disk, esp.Number);
            var loaders = EspProbe.FindLoaders(window);
            if (loaders.Count == 0)
            {
                reasons.Add($"no UEFI: the EFI system partition ({esp.Number}) holds no \\EFI\\BOOT\\BOOT*.EFI (or is not FAT)");
                continue;
            }
            var arm = loaders.FirstOrDefault(l => l.Architecture == BootArchitecture.Arm64);
            var x64 = loaders.FirstOrDefault(l => l.Architecture == BootArchitecture.X86_64);
            var chosen = x64 ?? arm;
            if (chosen == null)
            {
                reasons.Add($"no UEFI: {string.Join(", ", loaders.Select(l => l.Name))} on partition {esp.Number}: not an x64 or arm64 PE image");
                continue;
            }
            if (architecture == BootArchitecture.X86_64 && chosen.Architecture != BootArchitecture.X86_64)
            {
                reasons.Add($"UEFI loader {chosen.Name} is arm64 but the MBR's boot code is x86: testing UEFI on arm64 needs --arch arm64");
                continue;
            }
            architecture ??= chosen.Architecture;
            if (!firmwares.Contains(BootFirmware.Uefi))
            {
                firmwares.Add(BootFirmware.Uefi);
                reasons.Add($"UEFI: \\EFI\\BOOT\\{chosen.Name} ({BootNames.Of(chosen.Architecture!.Value)}) on the EFI system partition ({esp.Number})");
            }
        }
        return new BootableDiskFacts(firmwares, architecture, reasons);
    }

    private static bool IsExt(Stream disk)
    {
        var magic = new byte[2];
        disk.Position = 1080;
        disk.ReadExactly(magic);
        return magic[0] == 0x53 && magic[1] == 0xEF;
    }
}
