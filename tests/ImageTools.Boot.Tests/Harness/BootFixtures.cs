using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>
/// The kernel and initramfs that scripts/fetch-fixtures.sh puts into the fixture cache
/// (<see cref="TestPaths.FixtureCache"/>/boot): Debian's cloud kernel and a busybox initramfs whose /init
/// prints <c>IMAGETOOLS-MARKER: &lt;content of /imagetools-marker&gt;</c> from the root filesystem named by
/// <c>root=</c>, or an <c>IMAGETOOLS-FAIL:</c> line, and powers off.
/// </summary>
public sealed record BootFixtures(string Directory, string Kernel, string Initrd, string KernelRelease)
{
    /// <summary>The marker file the initramfs reads from the root filesystem.</summary>
    public const string MarkerFile = "imagetools-marker";

    /// <summary>
    /// The static busybox the initramfs uses, for tests that boot a small busybox root filesystem of their own
    /// (kernel parameter <c>imagetools.action=init</c>); skips, saying why, when an older fixture cache lacks it.
    /// </summary>
    public string RequireBusybox()
    {
        var busybox = Path.Combine(Directory, "busybox");
        if (!File.Exists(busybox))
        {
            Assert.Skip($"{busybox} is missing (a fixture cache made before the busybox root tests); run scripts/fetch-fixtures.sh");
        }
        return busybox;
    }

    /// <summary>The fixtures; skips the calling test, saying why and how to get them, when they are absent.</summary>
    public static BootFixtures Require()
    {
        var dir = Path.Combine(TestPaths.FixtureCache, "boot");
        var kernel = Path.Combine(dir, "vmlinuz");
        var initrd = Path.Combine(dir, "initrd.img");
        var release = Path.Combine(dir, "kernel-release");
        if (File.Exists(kernel) && File.Exists(initrd) && File.Exists(release))
        {
            return new BootFixtures(dir, kernel, initrd, File.ReadAllText(release).Trim());
        }
        var unavailable = Path.Combine(dir, "UNAVAILABLE");
        var reason = File.Exists(unavailable) ? $" (the last attempt said: {File.ReadAllText(unavailable).Trim()})" : "";
        Assert.Skip($"boot fixtures (kernel, initramfs) are not in {dir}{reason}; run scripts/fetch-fixtures.sh (scripts/test.sh does)");
        return null!;
    }
}
