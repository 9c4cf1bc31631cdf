using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>
/// A UEFI disk made only with the standard tools, as ../shared/docs/uefi-and-formats.md describes the one that
/// booted: GPT (sfdisk) with a 64 MiB ESP (mkfs.vfat, files put in with mtools) holding a GRUB made by
/// <c>grub-mkimage -O x86_64-efi</c> as <c>\EFI\BOOT\BOOTX64.EFI</c> and its grub.cfg, and an ext4 root
/// (mkfs.ext4 -d) holding the fixture kernel and initramfs and the marker file. No BIOS boot code.
/// </summary>
public static class UefiReferenceDisk
{
    public const string GrubEfiDirectory = "/usr/lib/grub/x86_64-efi";

    /// <summary>Skips, saying what to install, when a tool or OVMF is missing.</summary>
    public static void Require()
    {
        foreach (var (tool, package) in new[] { ("grub-mkimage", "grub-common"), ("mkfs.vfat", "dosfstools"), ("mcopy", "mtools"), ("sfdisk", "fdisk"), ("mkfs.ext4", "e2fsprogs") })
        {
            if (ExternalTools.Find(tool) == null)
            {
                Assert.Skip($"{tool} is missing (package {package}; scripts/install-test-deps.sh installs it)");
            }
        }
        if (!File.Exists(Path.Combine(GrubEfiDirectory, "linux.mod")))
        {
            Assert.Skip($"{GrubEfiDirectory} is missing (package grub-efi-amd64-bin; scripts/install-test-deps.sh installs it)");
        }
        if (!File.Exists("/usr/share/OVMF/OVMF_CODE_4M.fd"))
        {
            Assert.Skip("OVMF is missing (package ovmf; scripts/install-test-deps.sh installs it)");
        }
    }

    /// <summary>Builds the disk in <paramref name="work"/>; the root's marker file holds <paramref name="marker"/>.</summary>
    public static string Build(TempDirectory work, BootFixtures fixtures, string marker)
    {
        Require();
        var uuid = Guid.NewGuid().ToString("D");
        var tree = Directory.CreateDirectory(work.File("uefi-root")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        File.Copy(fixtures.Kernel, Path.Combine(tree, "boot", "vmlinuz"));
        File.Copy(fixtures.Initrd, Path.Combine(tree, "boot", "initrd.img"));
        File.WriteAllText(Path.Combine(tree, BootFixtures.MarkerFile), marker + "\n");
        File.WriteAllText(work.File("grub.cfg"),
            "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=0\n" +
            $"search --no-floppy --fs-uuid --set=root {uuid}\n" +
            $"linux /boot/vmlinuz root=UUID={uuid} ro console=ttyS0,115200 panic=1\ninitrd /boot/initrd.img\nboot\n");
        var disk = work.File("uefi-disk.img");
        var script = string.Join(" && ",
            $"cd '{work.Path}'",
            $"mkfs.ext4 -q -F -d '{tree}' -U {uuid} uefi-root.img 48M",
            "grub-mkimage -O x86_64-efi -p /EFI/BOOT -o BOOTX64.EFI part_gpt fat ext2 normal linux search search_fs_uuid configfile echo serial terminal gzio efi_gop",
            "mkfs.vfat -C -n ESP esp.img 65536 >/dev/null",
            "mmd -i esp.img ::/EFI ::/EFI/BOOT",
            "mcopy -i esp.img BOOTX64.EFI grub.cfg ::/EFI/BOOT/",
            "truncate -s 120M uefi-disk.img",
            "printf 'label: gpt\\nstart=2048, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\\nstart=133120, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\\n' | sfdisk -q uefi-disk.img",
            "dd if=esp.img of=uefi-disk.img bs=1M seek=1 conv=notrunc,sparse status=none",
            "dd if=uefi-root.img of=uefi-disk.img bs=512 seek=133120 conv=notrunc,sparse status=none");
        var r = ProcessRunner.Shell(script);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"building the reference UEFI disk failed: {r}");
        }
        return disk;
    }
}
