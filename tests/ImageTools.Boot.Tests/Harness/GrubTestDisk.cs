using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>Where the test disk's kernel lives.</summary>
public enum KernelPlacement
{
    /// <summary>Kernel and initrd on the boot partition, next to GRUB (fsmaker's -k/-i case).</summary>
    BootPartition,

    /// <summary>
    /// Kernel and initrd inside the root filesystem, under /boot with the /vmlinuz and /initrd.img links,
    /// read by GRUB from the root partition at boot.
    /// </summary>
    RootFilesystem,
}

public sealed record GrubTestDiskOptions
{
    public KernelPlacement Kernel { get; init; } = KernelPlacement.BootPartition;
    public string RootFsType { get; init; } = "ext3";
    public GrubModuleSet ModuleSet { get; init; } = GrubModuleSet.All;

    /// <summary>Appended to the kernel command line (after panic=1), e.g. the initramfs's imagetools.* parameters.</summary>
    public string? ExtraKernelArguments { get; init; }
}

/// <summary>
/// A bootable test disk: the scaffold disk (sfdisk + mke2fs, see <see cref="ScaffoldDisk"/>) with GRUB
/// installed by OUR code only (core image assembled by <see cref="GrubCoreImageBuilder"/>, boot sector and
/// core written by <see cref="GrubDiskInstaller"/>) and grub.cfg from <see cref="GrubConfigWriter"/>.
/// The root filesystem holds a fresh random marker that only a real boot to it can print.
/// </summary>
public sealed record GrubTestDisk(string Path, string Marker, ScaffoldDisk Scaffold, GrubCoreImage Core, string GrubConfig)
{
    /// <summary>The GRUB platform directory of this machine; skips, saying why, when GRUB's files are absent.</summary>
    public static GrubPlatformDirectory RequireGrub()
    {
        if (!File.Exists(System.IO.Path.Combine(GrubPlatformDirectory.DefaultPath, GrubPlatformDirectory.KernelImageName)))
        {
            Assert.Skip($"GRUB's i386-pc files are not in {GrubPlatformDirectory.DefaultPath}; run scripts/install-test-deps.sh (package grub-pc-bin)");
        }
        return GrubPlatformDirectory.Open(GrubPlatformDirectory.DefaultPath, "the default");
    }

    public static GrubTestDisk Build(TempDirectory work, BootFixtures fixtures, GrubTestDiskOptions options)
    {
        var grub = RequireGrub();
        var rootUuid = Guid.NewGuid();
        var marker = "root-fs-" + Guid.NewGuid().ToString("N");
        var spec = new ScaffoldDiskSpec
        {
            BootTree = Directory.CreateDirectory(work.File("boot-tree")).FullName,
            RootTree = Directory.CreateDirectory(work.File("root-tree")).FullName,
            RootUuid = rootUuid,
            RootFsType = options.RootFsType,
        };

        File.WriteAllText(System.IO.Path.Combine(spec.RootTree, BootFixtures.MarkerFile), marker + "\n");

        var commandLine = KernelCommandLine.Build(new KernelCommandLineOptions
        {
            RootFilesystemUuid = rootUuid.ToString(),
            Extra = ("panic=1 " + options.ExtraKernelArguments).Trim(),
        });
        var configOptions = new GrubConfigOptions
        {
            TimeoutSeconds = 0,
            RootFilesystemUuid = rootUuid.ToString(),
            RootPartitionNumber = spec.RootPartitionNumber,
        };
        IReadOnlyList<GrubMenuEntry> entries;
        var bootDir = Directory.CreateDirectory(System.IO.Path.Combine(spec.BootTree, "boot")).FullName;
        if (options.Kernel == KernelPlacement.BootPartition)
        {
            File.Copy(fixtures.Kernel, System.IO.Path.Combine(bootDir, "vmlinuz"));
            File.Copy(fixtures.Initrd, System.IO.Path.Combine(bootDir, "initrd.img"));
            entries =
            [
                new GrubMenuEntry
                {
                    Title = "Linux (boot partition)",
                    KernelPath = "/boot/vmlinuz",
                    InitrdPath = "/boot/initrd.img",
                    Source = GrubFileSource.BootPartition,
                    CommandLine = commandLine,
                },
            ];
        }
        else
        {
            // As Debian lays it out: versioned files in /boot, relative links at the top.
            var rootBoot = Directory.CreateDirectory(System.IO.Path.Combine(spec.RootTree, "boot")).FullName;
            var release = fixtures.KernelRelease;
            File.Copy(fixtures.Kernel, System.IO.Path.Combine(rootBoot, "vmlinuz-" + release));
            File.Copy(fixtures.Initrd, System.IO.Path.Combine(rootBoot, "initrd.img-" + release));
            File.CreateSymbolicLink(System.IO.Path.Combine(spec.RootTree, "vmlinuz"), "boot/vmlinuz-" + release);
            File.CreateSymbolicLink(System.IO.Path.Combine(spec.RootTree, "initrd.img"), "boot/initrd.img-" + release);
            // An older kernel that is not bootable: it must not be the default.
            File.WriteAllText(System.IO.Path.Combine(rootBoot, "vmlinuz-1.0.0-decoy"), "not a kernel");

            var kernels = KernelLocator.FindInRootFilesystem(RegularFiles(spec.RootTree));
            entries = GrubConfigWriter.EntriesForRootKernels(kernels, commandLine, "Test Linux");
        }

        var config = GrubConfigWriter.Write(configOptions, entries);
        var grubDir = Directory.CreateDirectory(System.IO.Path.Combine(bootDir, "grub")).FullName;
        File.WriteAllText(System.IO.Path.Combine(grubDir, "grub.cfg"), config);
        foreach (var file in GrubBootFiles.Select(grub, options.ModuleSet, GrubConfigWriter.ModulesUsed(configOptions, entries)))
        {
            var target = System.IO.Path.Combine(grubDir, file.RelativePath);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file.SourcePath, target);
        }

        var disk = ScaffoldDisk.Build(work.File("disk.img"), spec);
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions
        {
            Prefix = GrubPrefix.ForMsdosPartition(spec.BootPartitionNumber),
        });
        using (var stream = new FileStream(disk.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            var installed = GrubDiskInstaller.Install(stream, grub.BootImage, core, disk.Path);
            if (installed.FirstPartitionStartLba != disk.FirstPartitionStartLba)
            {
                throw new InvalidOperationException($"the installer saw the first partition at LBA {installed.FirstPartitionStartLba}, sfdisk put it at {disk.FirstPartitionStartLba}");
            }
        }
        return new GrubTestDisk(disk.Path, marker, disk, core, config);
    }

    /// <summary>Every path of the tree, as the root filesystem will have it, that is or resolves to a regular file.</summary>
    public static IEnumerable<string> RegularFiles(string tree)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(tree, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var info = new FileInfo(path);
            var resolved = info.LinkTarget != null ? info.ResolveLinkTarget(returnFinalTarget: true) : info;
            if (resolved is FileInfo { Exists: true })
            {
                yield return "/" + System.IO.Path.GetRelativePath(tree, path).Replace('\\', '/');
            }
        }
    }
}
