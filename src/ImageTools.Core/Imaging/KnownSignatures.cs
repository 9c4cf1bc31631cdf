using System.Buffers.Binary;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Magic numbers of formats fsmaker does not read, so that "unrecognised" can still say what the bytes
/// are and what to do: other disk-image containers (qcow2, VHD, VMDK, VDI...), other filesystems, swap,
/// encrypted volumes, archives. A cheap probe: it looks at a few fixed offsets and never throws.
/// </summary>
public static class KnownSignatures
{
    /// <summary>How many leading bytes <see cref="Identify"/> wants (it copes with fewer).</summary>
    public const int ProbeLength = 0x10060;

    private sealed record Signature(long Offset, byte[] Magic, string Meaning);

    private static readonly byte[] QcowMagic = { 0x51, 0x46, 0x49, 0xFB };

    private static readonly Signature[] Table =
    {
        new(0, QcowMagic, "a QEMU qcow/qcow2 disk image: convert it to a raw image first (qemu-img convert -O raw IMAGE disk.img)"),
        new(0, "vhdxfile"u8.ToArray(), "a Hyper-V VHDX disk image: convert it to a raw image first (qemu-img convert -O raw IMAGE disk.img)"),
        new(0, "conectix"u8.ToArray(), "a Virtual PC/Hyper-V VHD (dynamic or differencing) disk image: convert it to raw first (qemu-img convert -O raw IMAGE disk.img)"),
        new(0, "KDMV"u8.ToArray(), "a VMware VMDK sparse extent: convert it to raw first (qemu-img convert -O raw IMAGE disk.img)"),
        new(0, "# Disk DescriptorFile"u8.ToArray(), "a VMware VMDK descriptor (a text file naming the extent files that hold the data)"),
        new(0, "COWD"u8.ToArray(), "a VMware ESX COWD sparse disk: convert it to raw first"),
        new(0x40, new byte[] { 0x7F, 0x10, 0xDA, 0xBE }, "a VirtualBox VDI disk image: convert it to raw first (qemu-img convert -O raw IMAGE disk.img)"),
        new(0, new byte[] { 0x3A, 0xFF, 0x26, 0xED }, "an Android sparse image: expand it first (simg2img IMAGE disk.img)"),
        new(0, new byte[] { 0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE }, "a LUKS encrypted volume: open it with cryptsetup; its contents cannot be read without the key"),
        new(0, "XFSB"u8.ToArray(), "an XFS filesystem (not readable by fsmaker, which reads ext2/3/4)"),
        new(0x10040, "_BHRfS_M"u8.ToArray(), "a btrfs filesystem (not readable by fsmaker, which reads ext2/3/4)"),
        new(0, "hsqs"u8.ToArray(), "a squashfs filesystem (read-only compressed; unsquashfs extracts it)"),
        new(0, "sqsh"u8.ToArray(), "a big-endian squashfs filesystem"),
        new(1024, new byte[] { 0x10, 0x20, 0xF5, 0xF2 }, "an F2FS filesystem (not readable by fsmaker)"),
        new(0x10034, "ReIsEr"u8.ToArray(), "a ReiserFS filesystem (not readable by fsmaker)"),
        new(0x8000, "JFS1"u8.ToArray(), "a JFS filesystem (not readable by fsmaker)"),
        new(3, "NTFS    "u8.ToArray(), "an NTFS filesystem without a partition table (not readable by fsmaker)"),
        new(3, "EXFAT   "u8.ToArray(), "an exFAT filesystem without a partition table (not readable by fsmaker)"),
        new(82, "FAT32   "u8.ToArray(), "a FAT32 filesystem without a partition table (not readable by fsmaker)"),
        new(54, "FAT16   "u8.ToArray(), "a FAT16 filesystem without a partition table (not readable by fsmaker)"),
        new(54, "FAT12   "u8.ToArray(), "a FAT12 filesystem without a partition table (not readable by fsmaker)"),
        new(4086, "SWAPSPACE2"u8.ToArray(), "a Linux swap area"),
        new(4086, "SWAP-SPACE"u8.ToArray(), "an old-style Linux swap area"),
        new(512 + 24, "LVM2 001"u8.ToArray(), "an LVM2 physical volume (the filesystems are in its logical volumes)"),
        new(512, "EFI PART"u8.ToArray(), "a GPT header without a protective MBR in sector 0 (the MBR was wiped; gdisk can rebuild it)"),
        new(0x8001, "BEA01"u8.ToArray(), "a UDF volume (DVD/Blu-ray image)"),
        new(0x8001, "NSR02"u8.ToArray(), "a UDF volume (DVD/Blu-ray image)"),
        new(0x8001, "NSR03"u8.ToArray(), "a UDF volume (DVD/Blu-ray image)"),
        new(0, "PK\x03\x04"u8.ToArray(), "a ZIP archive, not a disk image"),
        new(0, new byte[] { 0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C }, "a 7-Zip archive, not a disk image"),
        new(257, "ustar"u8.ToArray(), "a tar archive, not a disk image (fsmaker build takes it as a root tree)"),
        new(0, "070701"u8.ToArray(), "a cpio (newc) archive, such as an initramfs"),
        new(0, "070702"u8.ToArray(), "a cpio (newc, with checksums) archive"),
        new(0, "070707"u8.ToArray(), "a cpio (old portable) archive"),
        new(0, new byte[] { 0x04, 0x22, 0x4D, 0x18 }, "an LZ4-compressed file (lz4 -d decompresses it)"),
        new(0, new byte[] { 0x89, 0x4C, 0x5A, 0x4F, 0x00 }, "an lzop-compressed file (lzop -d decompresses it)"),
        new(0, new byte[] { 0x7F, 0x45, 0x4C, 0x46 }, "an ELF executable or object file, not a disk image"),
        new(0x202, "HdrS"u8.ToArray(), "a Linux kernel (x86 bzImage), not a disk image"),
        new(0, "MZ"u8.ToArray(), "a DOS/Windows executable (or EFI application), not a disk image"),
    };

    /// <summary>What the first bytes say the data is, or null. <paramref name="head"/> is the start of the data.</summary>
    public static string? Identify(ReadOnlySpan<byte> head, long totalLength)
    {
        foreach (var signature in Table)
        {
            if (signature.Offset + signature.Magic.Length <= head.Length
                && head.Slice((int)signature.Offset, signature.Magic.Length).SequenceEqual(signature.Magic))
            {
                if (signature.Magic.AsSpan().SequenceEqual("MZ"u8) && head.Length >= 512 && head[510] == 0x55 && head[511] == 0xAA)
                {
                    continue; // an MBR whose boot code happens to start with "MZ" is not an executable
                }
                return signature.Meaning;
            }
        }
        if (head.Length > 0 && head.IndexOfAnyExcept((byte)0) < 0)
        {
            return $"all zeros in the first {head.Length} bytes: a blank image, or one whose data starts further in";
        }
        return null;
    }

    /// <summary>A fixed VHD keeps a "conectix" footer in its last 512 bytes after raw disk data.</summary>
    public static bool HasVhdFooter(ReadOnlySpan<byte> lastSector) =>
        lastSector.Length >= 512 && lastSector[..8].SequenceEqual("conectix"u8);

    /// <summary>The qcow version (big-endian u32 after the magic), for messages.</summary>
    public static uint? QcowVersion(ReadOnlySpan<byte> head) =>
        head.Length >= 8 && head[..4].SequenceEqual(QcowMagic) ? BinaryPrimitives.ReadUInt32BigEndian(head[4..]) : null;
}
