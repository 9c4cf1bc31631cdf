namespace ImageTools.Core.Boot;

/// <summary>
/// GRUB's i386-pc platform directory (what grub-pc-bin installs as /usr/lib/grub/i386-pc): the boot
/// images, the kernel, the modules and moddep.lst. Opening it reads and validates the five files a
/// core image is assembled from; a missing or malformed one is an <see cref="ErrorKind.MissingResource"/>
/// error that names the directory, the file and how to get the files.
/// </summary>
public sealed class GrubPlatformDirectory
{
    /// <summary>Where Debian, Ubuntu and Fedora install the files.</summary>
    public const string DefaultPath = "/usr/lib/grub/i386-pc";

    /// <summary>The environment variable that overrides <see cref="DefaultPath"/> (after the command-line option).</summary>
    public const string EnvironmentVariable = "GRUB_DIR";

    public const string BootImageName = "boot.img";
    public const string DiskBootImageName = "diskboot.img";
    public const string DecompressorImageName = "lzma_decompress.img";
    public const string KernelImageName = "kernel.img";
    public const string ModuleDependenciesName = "moddep.lst";

    /// <summary>The files every core image and boot sector needs.</summary>
    public static IReadOnlyList<string> RequiredFiles { get; } =
        [BootImageName, DiskBootImageName, DecompressorImageName, KernelImageName, ModuleDependenciesName];

    /// <summary>How to get the files, appended to every error about them.</summary>
    public const string InstallHint =
        "GRUB's i386-pc files come with the package grub-pc-bin on Debian/Ubuntu (apt-get install grub-pc-bin), " +
        "grub2-pc-modules on Fedora; or point --grub-dir or $GRUB_DIR at a directory holding them";

    /// <summary>The largest file read from the directory (kernel.img and modules are tens of KiB).</summary>
    private const long MaximumFileSize = 16 << 20;

    private GrubPlatformDirectory(string path, string origin, byte[] bootImage, byte[] diskBootImage, byte[] decompressorImage,
        LzmaDecompressorHeader decompressorHeader, GrubKernelImage kernel, GrubModuleDependencies dependencies)
    {
        DirectoryPath = path;
        Origin = origin;
        BootImage = bootImage;
        DiskBootImage = diskBootImage;
        DecompressorImage = decompressorImage;
        DecompressorHeader = decompressorHeader;
        Kernel = kernel;
        Dependencies = dependencies;
    }

    public string DirectoryPath { get; }

    /// <summary>Where the path came from, for messages: "--grub-dir", "$GRUB_DIR", "the default".</summary>
    public string Origin { get; }

    /// <summary>boot.img: the 512-byte MBR code.</summary>
    public byte[] BootImage { get; }

    /// <summary>diskboot.img: the first sector of core.img, with its block list template.</summary>
    public byte[] DiskBootImage { get; }

    /// <summary>lzma_decompress.img: the real-mode start and LZMA decoder that follow diskboot.</summary>
    public byte[] DecompressorImage { get; }

    /// <summary>The header fields of <see cref="DecompressorImage"/> as shipped.</summary>
    public LzmaDecompressorHeader DecompressorHeader { get; }

    /// <summary>kernel.img's memory image.</summary>
    public GrubKernelImage Kernel { get; }

    /// <summary>moddep.lst.</summary>
    public GrubModuleDependencies Dependencies { get; }

    /// <summary>
    /// The directory to use: the command-line option, else the environment variable's value, else
    /// <see cref="DefaultPath"/>; with a word on where it came from, for error messages.
    /// </summary>
    public static (string Path, string Origin) Choose(string? grubDirOption, string? grubDirEnvironment)
    {
        if (!string.IsNullOrEmpty(grubDirOption))
        {
            return (grubDirOption, "given with --grub-dir");
        }
        if (!string.IsNullOrEmpty(grubDirEnvironment))
        {
            return (grubDirEnvironment, $"from ${EnvironmentVariable}");
        }
        return (DefaultPath, $"the default; neither --grub-dir nor ${EnvironmentVariable} was given");
    }

    /// <summary>Opens and validates the platform directory at <paramref name="path"/>.</summary>
    /// <param name="path">The directory.</param>
    /// <param name="origin">Where the path came from (see <see cref="Choose"/>), for messages.</param>
    public static GrubPlatformDirectory Open(string path, string? origin = null)
    {
        origin ??= "given";
        var where = $"GRUB platform directory {path} ({origin})";
        if (!Directory.Exists(path))
        {
            throw Missing(path, $"{where} does not exist. {InstallHint}");
        }
        var missing = RequiredFiles.Where(f => !File.Exists(System.IO.Path.Combine(path, f))).ToList();
        if (missing.Count > 0)
        {
            throw Missing(path, $"{where} has no {string.Join(", ", missing)}: it is not an i386-pc GRUB directory. {InstallHint}");
        }

        var bootImage = ReadFile(path, where, BootImageName);
        var diskBootImage = ReadFile(path, where, DiskBootImageName);
        var decompressorImage = ReadFile(path, where, DecompressorImageName);
        var kernelBytes = ReadFile(path, where, KernelImageName);
        var moddep = ReadFile(path, where, ModuleDependenciesName);

        return Malformed(path, where, () =>
        {
            GrubBootSector.Validate(bootImage, BootImageName);
            ValidateDiskBoot(diskBootImage);
            var decompressorHeader = LzmaDecompressorHeader.Read(decompressorImage);
            if (decompressorImage.Length > I386PcLayout.MaximumDecompressorSize)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{DecompressorImageName} is {decompressorImage.Length} bytes; loaded at 0x{I386PcLayout.DecompressorLoadAddress:X} it must end before the kernel at 0x{I386PcLayout.KernelLinkAddress:X} ({I386PcLayout.MaximumDecompressorSize} bytes)");
            }
            var kernel = GrubKernelImage.Parse(kernelBytes, KernelImageName);
            var dependencies = GrubModuleDependencies.Parse(System.Text.Encoding.UTF8.GetString(moddep), ModuleDependenciesName);
            return new GrubPlatformDirectory(path, origin, bootImage, diskBootImage, decompressorImage, decompressorHeader, kernel, dependencies);
        });
    }

    /// <summary>The path of module <paramref name="name"/> (without ".mod").</summary>
    public string ModulePath(string name) => System.IO.Path.Combine(DirectoryPath, name + ".mod");

    /// <summary>Reads a module file and checks that it is an i386 ELF relocatable object.</summary>
    public byte[] ReadModule(string name)
    {
        if (!GrubModuleDependencies.IsModuleName(name))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"\"{name}\" is not a GRUB module name");
        }
        var where = $"GRUB platform directory {DirectoryPath} ({Origin})";
        var file = name + ".mod";
        if (!File.Exists(ModulePath(name)))
        {
            throw Missing(DirectoryPath, $"{where} has no module {file}. {InstallHint}");
        }
        var bytes = ReadFile(DirectoryPath, where, file);
        return Malformed(DirectoryPath, where, () =>
        {
            Elf32Header header;
            try
            {
                header = Elf32Header.Read(bytes);
            }
            catch (ImageToolsException e) when (e.Kind == ErrorKind.CorruptImage)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{file}: {e.Message}");
            }
            if (header.Type != ElfRelocatable || header.Machine != Elf32Header.Machine386)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{file} is not an i386 ELF module (e_type {header.Type}, e_machine {header.Machine})");
            }
            return bytes;
        });
    }

    /// <summary>The modules present in the directory (names without ".mod"), sorted.</summary>
    public IReadOnlyList<string> ListModules() =>
        Directory.EnumerateFiles(DirectoryPath, "*.mod")
            .Select(f => System.IO.Path.GetFileNameWithoutExtension(f))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The *.lst files present in the directory (file names), sorted.</summary>
    public IReadOnlyList<string> ListListFiles() =>
        Directory.EnumerateFiles(DirectoryPath, "*.lst")
            .Select(f => System.IO.Path.GetFileName(f))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>ET_REL: GRUB modules are relocatable objects.</summary>
    private const ushort ElfRelocatable = 1;

    /// <summary>
    /// diskboot.img is one sector whose block list's entry 1 is the terminator (count 0), so a core
    /// image loaded by entry 0 alone is a complete list.
    /// </summary>
    private static void ValidateDiskBoot(byte[] image)
    {
        if (image.Length != I386PcLayout.SectorSize)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{DiskBootImageName} is {image.Length} bytes, not one {I386PcLayout.SectorSize}-byte sector");
        }
        var first = DiskBootBlockListEntry.Read(image, 0);
        var second = DiskBootBlockListEntry.Read(image, 1);
        if (first.Segment != I386PcLayout.DecompressorLoadAddress >> 4)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{DiskBootImageName}: the block list loads to segment 0x{first.Segment:X4} (offset 0x{DiskBootBlockListEntry.OffsetOf(0) + 10:X}), not 0x{I386PcLayout.DecompressorLoadAddress >> 4:X4} where lzma_decompress.img runs");
        }
        if (second.SectorCount != 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{DiskBootImageName}: block list entry 1 (offset 0x{DiskBootBlockListEntry.OffsetOf(1):X}) is not the terminator (count {second.SectorCount})");
        }
    }

    private static byte[] ReadFile(string directory, string where, string name)
    {
        var file = System.IO.Path.Combine(directory, name);
        try
        {
            var info = new FileInfo(file);
            if (info.Length > MaximumFileSize)
            {
                throw Missing(directory, $"{where}: {name} is {info.Length} bytes, far too large for a GRUB i386-pc file. {InstallHint}");
            }
            return File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.MissingResource, $"{where}: cannot read {name}: {e.Message}", e) { Path = file };
        }
    }

    private static T Malformed<T>(string directory, string where, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.CorruptImage)
        {
            throw new ImageToolsException(ErrorKind.MissingResource, $"{where}: {e.Message}. The files are damaged or not GRUB 2 i386-pc files; {InstallHint}", e) { Path = directory };
        }
    }

    private static ImageToolsException Missing(string directory, string message) =>
        new(ErrorKind.MissingResource, message) { Path = directory };
}
