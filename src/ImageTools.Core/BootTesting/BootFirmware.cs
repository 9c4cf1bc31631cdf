namespace ImageTools.Core.BootTesting;

/// <summary>The firmware a boot test starts the virtual machine with.</summary>
public enum BootFirmware
{
    /// <summary>SeaBIOS (QEMU's default PC BIOS): boots the code in the MBR.</summary>
    Bios,

    /// <summary>UEFI (OVMF on x86_64, AAVMF on arm64), Secure Boot off: boots \EFI\BOOT\BOOT{X64,AA64}.EFI from the ESP.</summary>
    Uefi,

    /// <summary>OVMF with Secure Boot enforced and Microsoft's keys enrolled (x86_64 only): only signed loaders start.</summary>
    SecureBoot,
}

/// <summary>The guest's CPU architecture, which picks the QEMU binary, machine and firmware.</summary>
public enum BootArchitecture
{
    X86_64,
    Arm64,
}

/// <summary>Names as the command line and the JSON report spell them.</summary>
public static class BootNames
{
    public static string Of(BootFirmware firmware) => firmware switch
    {
        BootFirmware.Bios => "bios",
        BootFirmware.Uefi => "uefi",
        BootFirmware.SecureBoot => "secure-boot",
        _ => firmware.ToString(),
    };

    public static string Of(BootArchitecture architecture) => architecture switch
    {
        BootArchitecture.X86_64 => "x86_64",
        BootArchitecture.Arm64 => "arm64",
        _ => architecture.ToString(),
    };

    public static BootArchitecture? ParseArchitecture(string name) => name.ToLowerInvariant() switch
    {
        "x86_64" or "amd64" or "x64" => BootArchitecture.X86_64,
        "arm64" or "aarch64" => BootArchitecture.Arm64,
        _ => null,
    };
}
