namespace ImageTools.Core.Boot;

/// <summary>What to put into a core image.</summary>
public sealed record GrubCoreImageOptions
{
    /// <summary>
    /// What grub-install embeds to read /boot/grub from an ext2/3/4 partition of an MBR disk through
    /// the BIOS: disk access, the partition map, the filesystem (fshelp comes as ext2's dependency).
    /// </summary>
    public static IReadOnlyList<string> DefaultModules { get; } = ["biosdisk", "part_msdos", "ext2"];

    /// <summary>Modules to embed; their dependencies from moddep.lst are added.</summary>
    public IReadOnlyList<string> Modules { get; init; } = DefaultModules;

    /// <summary>The prefix (see <see cref="GrubPrefix"/>), e.g. <c>(,msdos2)/boot/grub</c>.</summary>
    public required string Prefix { get; init; }

    /// <summary>An optional script run before <c>$prefix/grub.cfg</c> (grub-mkimage -c).</summary>
    public string? EmbeddedConfig { get; init; }

    /// <summary>The LBA the core image will be written at; its block list reads the sectors after it.</summary>
    public ulong CoreImageLba { get; init; } = 1;
}

/// <summary>
/// An assembled core.img: diskboot.img with its block list ‖ lzma_decompress.img with its sizes ‖
/// the LZMA-compressed payload (kernel memory image ‖ module area). No padding between the pieces
/// nor at the end; the last sector is zero-filled when written.
/// </summary>
public sealed class GrubCoreImage
{
    internal GrubCoreImage(byte[] bytes, byte[] payload, int compressedSize, IReadOnlyList<string> modules, string prefix, ulong lba)
    {
        Bytes = bytes;
        Payload = payload;
        CompressedSize = compressedSize;
        Modules = modules;
        Prefix = prefix;
        Lba = lba;
    }

    /// <summary>core.img's bytes.</summary>
    public byte[] Bytes { get; }

    /// <summary>The uncompressed payload (kernel memory image ‖ module area).</summary>
    public byte[] Payload { get; }

    /// <summary>Length of the LZMA stream.</summary>
    public int CompressedSize { get; }

    /// <summary>The embedded modules in load order, dependencies included.</summary>
    public IReadOnlyList<string> Modules { get; }

    public string Prefix { get; }

    /// <summary>The LBA this image was built to be written at.</summary>
    public ulong Lba { get; }

    /// <summary>Sectors the image occupies on disk, the diskboot sector included.</summary>
    public int SectorCount => (Bytes.Length + I386PcLayout.SectorSize - 1) / I386PcLayout.SectorSize;
}

/// <summary>
/// Assembles core.img as <c>grub-mkimage -O i386-pc</c> does (GRUB 2.06 util/mkimage.c): every offset
/// and size is read from the platform directory's files; the result's payload is byte-identical to
/// grub-mkimage's for the same modules and prefix. Reed-Solomon codes are not added (the field stays 0,
/// as with grub-install --no-rs-codes).
/// </summary>
public static class GrubCoreImageBuilder
{
    public static GrubCoreImage Build(GrubPlatformDirectory grub, GrubCoreImageOptions options)
    {
        ValidatePrefix(options.Prefix);
        if (options.CoreImageLba == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "core.img cannot be written at LBA 0: that is the MBR");
        }
        var modules = grub.Dependencies.Resolve(options.Modules);
        var payload = BuildPayload(grub, modules, options.Prefix, options.EmbeddedConfig);
        var stream = LzmaRawEncoder.Encode(payload);

        var decompressor = (byte[])grub.DecompressorImage.Clone();
        (grub.DecompressorHeader with
        {
            CompressedSize = (uint)stream.Length,
            UncompressedSize = (uint)payload.Length,
            ReedSolomonLength = 0,
        }).Write(decompressor);

        long bytesAfterDiskBoot = (long)decompressor.Length + stream.Length;
        long totalSectors = 1 + (bytesAfterDiskBoot + I386PcLayout.SectorSize - 1) / I386PcLayout.SectorSize;
        var what = $"GRUB core image for modules {string.Join(' ', modules)}";
        if (bytesAfterDiskBoot > I386PcLayout.MaximumCoreBytesAfterDiskBoot)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"the {what} would be {bytesAfterDiskBoot} bytes after its first sector; GRUB loads at most {I386PcLayout.MaximumCoreBytesAfterDiskBoot} (0x9000..0x78000): embed fewer modules");
        }
        if (totalSectors > I386PcLayout.MaximumEmbeddedSectors)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"the {what} would take {totalSectors} sectors; GRUB embeds at most {I386PcLayout.MaximumEmbeddedSectors}: embed fewer modules");
        }

        var diskBoot = (byte[])grub.DiskBootImage.Clone();
        var template = DiskBootBlockListEntry.Read(diskBoot, 0);
        new DiskBootBlockListEntry(options.CoreImageLba + 1, (ushort)(totalSectors - 1), template.Segment).Write(diskBoot, 0);
        new DiskBootBlockListEntry(0, 0, 0).Write(diskBoot, 1);

        var core = new byte[diskBoot.Length + bytesAfterDiskBoot];
        diskBoot.CopyTo(core, 0);
        decompressor.CopyTo(core, diskBoot.Length);
        stream.CopyTo(core, diskBoot.Length + decompressor.Length);
        return new GrubCoreImage(core, payload, stream.Length, modules, options.Prefix, options.CoreImageLba);
    }

    /// <summary>
    /// A prefix must name a device, <c>(…)/dir</c>: without one GRUB looks for a filesystem on the
    /// whole disk and stops at "unknown filesystem".
    /// </summary>
    private static void ValidatePrefix(string prefix)
    {
        int close = prefix.IndexOf(')');
        if (prefix.Length == 0 || prefix[0] != '(' || close < 0 || close + 1 >= prefix.Length || prefix[close + 1] != '/')
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"GRUB prefix \"{prefix}\" must be (device)/directory, e.g. (,msdos1)/boot/grub: without a device GRUB cannot find its files");
        }
    }

    /// <summary>
    /// The uncompressed payload: kernel memory image, then the module area (info header, the modules
    /// in the given order, the optional embedded config, the prefix). The module area starts right at
    /// the kernel's end (<c>_edata</c>), where the kernel looks for it.
    /// </summary>
    public static byte[] BuildPayload(GrubPlatformDirectory grub, IReadOnlyList<string> modulesInLoadOrder, string prefix, string? embeddedConfig = null)
    {
        var area = new GrubModuleAreaBuilder();
        foreach (var module in modulesInLoadOrder)
        {
            area.AddModule(module, grub.ReadModule(module));
        }
        if (embeddedConfig != null)
        {
            area.SetEmbeddedConfig(embeddedConfig);
        }
        area.SetPrefix(prefix);
        var moduleArea = area.Build();
        var kernel = grub.Kernel.MemoryImage;
        var payload = new byte[kernel.Length + moduleArea.Length];
        kernel.CopyTo(payload, 0);
        moduleArea.CopyTo(payload, kernel.Length);
        return payload;
    }
}
