namespace ImageTools.Core.Platform;

/// <summary>The platform implementation for the running OS.</summary>
public static class PlatformIo
{
    /// <summary>Linux: the real calls. Elsewhere: the portable fallback (correct, without the shortcuts).</summary>
    public static IPlatformIo Current { get; } = OperatingSystem.IsLinux() ? new LinuxPlatformIo() : new PortablePlatformIo();
}
