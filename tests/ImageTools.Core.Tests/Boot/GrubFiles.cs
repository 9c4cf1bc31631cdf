using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

/// <summary>This machine's GRUB i386-pc files (package grub-pc-bin), and private copies of them to damage.</summary>
internal static class GrubFiles
{
    public static string RequireDirectory()
    {
        if (!File.Exists(Path.Combine(GrubPlatformDirectory.DefaultPath, GrubPlatformDirectory.KernelImageName)))
        {
            Assert.Skip($"GRUB's i386-pc files are not in {GrubPlatformDirectory.DefaultPath}; run scripts/install-test-deps.sh (package grub-pc-bin)");
        }
        return GrubPlatformDirectory.DefaultPath;
    }

    public static GrubPlatformDirectory Open() => GrubPlatformDirectory.Open(RequireDirectory(), "the default");

    /// <summary>A copy of the required files and the modules of the default core image, in a folder of <paramref name="work"/>.</summary>
    public static string Copy(TempDirectory work)
    {
        var source = RequireDirectory();
        var target = Directory.CreateDirectory(work.File("grub-i386-pc")).FullName;
        foreach (var name in GrubPlatformDirectory.RequiredFiles.Concat(["biosdisk.mod", "part_msdos.mod", "fshelp.mod", "ext2.mod", "command.lst"]))
        {
            File.Copy(Path.Combine(source, name), Path.Combine(target, name));
        }
        return target;
    }
}
