namespace ImageTools.Core.Platform;

/// <summary>The platform implementation for the running OS.</summary>
public static class PlatformIo
{
    /// <summary>
    /// Linux, Windows and macOS: their own calls (data ranges, hole punching, devices). Elsewhere (FreeBSD...):
    /// the portable fallback, correct without the shortcuts.
    /// </summary>
    public static IPlatformIo Current { get; } =
        OperatingSystem.IsLinux() ? new LinuxPlatformIo()
        : OperatingSystem.IsWindows() ? new WindowsPlatformIo()
        : OperatingSystem.IsMacOS() ? new MacPlatformIo()
        : new PortablePlatformIo();
}
