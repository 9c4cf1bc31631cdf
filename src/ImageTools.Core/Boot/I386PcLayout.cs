namespace ImageTools.Core.Boot;

/// <summary>
/// The memory and disk layout that GRUB's i386-pc boot chain is compiled for. These are not offsets
/// inside a file (those are read from the files) but the addresses the boot code jumps to and the
/// limits grub-mkimage and grub-bios-setup enforce (GRUB 2.06 include/grub/i386/pc/boot.h,
/// include/grub/offsets.h, util/mkimage.c, util/setup.c). The checks that use them turn a core image
/// that could never run into a clear error instead of a hang at boot.
/// </summary>
public static class I386PcLayout
{
    /// <summary>Bytes per disk sector as the BIOS and GRUB's block lists count them.</summary>
    public const int SectorSize = 512;

    /// <summary>Where boot.img loads and jumps to diskboot.img (GRUB_BOOT_MACHINE_KERNEL_ADDR).</summary>
    public const int DiskBootLoadAddress = 0x8000;

    /// <summary>
    /// Where diskboot.img loads the rest of core.img, i.e. lzma_decompress.img: the sector after diskboot.
    /// Its block list says segment 0x0820, which is this address.
    /// </summary>
    public const int DecompressorLoadAddress = DiskBootLoadAddress + SectorSize;

    /// <summary>
    /// Where kernel.img is linked and copied to by the decompressor (GRUB_KERNEL_I386_PC_LINK_ADDR).
    /// The decompressor has to end below it.
    /// </summary>
    public const int KernelLinkAddress = 0x9000;

    /// <summary>The largest lzma_decompress.img that fits between its load address and the kernel.</summary>
    public const int MaximumDecompressorSize = KernelLinkAddress - DecompressorLoadAddress;

    /// <summary>
    /// The end of the low-memory area core.img is loaded into. grub-mkimage refuses a core image when
    /// <c>0x9000 + (size − 512)</c> exceeds it ("core image is too big").
    /// </summary>
    public const int CoreImageLoadCeiling = 0x78000;

    /// <summary>The most bytes of core.img after its first (diskboot) sector: 0x78000 − 0x9000 = 454,656.</summary>
    public const int MaximumCoreBytesAfterDiskBoot = CoreImageLoadCeiling - KernelLinkAddress;

    /// <summary>
    /// The most sectors grub-bios-setup embeds, the diskboot sector included: (0x78000 − 0x9000) / 512 = 888.
    /// </summary>
    public const int MaximumEmbeddedSectors = MaximumCoreBytesAfterDiskBoot / SectorSize;

    /// <summary>
    /// The kernel's code, data and bss, placed at the link address, must end below this address
    /// (grub-mkimage: "kernel image is too big").
    /// </summary>
    public const int KernelMemoryCeiling = 0x68000;
}
