using FluentAssertions;
using ImageTools.Core.BootTesting;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.BootTesting;

/// <summary>
/// Which firmwares boot-test's auto mode picks, on disks made with the standard tools (sfdisk, mkfs.vfat, mtools,
/// grub-mkimage), and the ESP reader under seeded random damage (it must answer, never throw or hang).
/// </summary>
public sealed class BootableDiskProbeTests
{
    [Fact]
    public void An_MBR_disk_with_boot_code_boots_under_BIOS_only()
    {
        using var work = new TempDirectory("imagetools-probe-");
        var disk = work.File("mbr.img");
        Run($"truncate -s 8M '{disk}' && printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q '{disk}' && printf '\\372\\353\\376' | dd of='{disk}' conv=notrunc status=none");

        var facts = Probe(disk);

        facts.Firmwares.Should().Equal(BootFirmware.Bios);
        facts.Architecture.Should().Be(BootArchitecture.X86_64);
    }

    [Fact]
    public void A_GPT_disk_with_an_ESP_holding_BOOTX64_boots_under_UEFI_and_with_a_BIOS_boot_partition_and_boot_code_under_both()
    {
        var (work, disk, esp) = GptDisk("x86_64-efi", "BOOTX64.EFI");
        using (work)
        {
            Probe(disk).Firmwares.Should().Equal(BootFirmware.Uefi);
            using (var stream = File.OpenRead(esp))
            {
                EspProbe.FindLoaders(stream).Should().ContainSingle().Which.Should().Be(new EspProbe.Loader("BOOTX64.EFI", BootArchitecture.X86_64));
            }

            // Hybrid: a BIOS boot partition for GRUB's core image and boot code in the protective MBR.
            Run($"printf 'start=200000, size=4096, type=21686148-6449-6E6F-744E-656564454649\\n' | sfdisk -q --append '{disk}' && printf '\\372\\353\\376' | dd of='{disk}' conv=notrunc status=none");
            var facts = Probe(disk);
            facts.Firmwares.Should().Equal(BootFirmware.Bios, BootFirmware.Uefi);
            facts.Architecture.Should().Be(BootArchitecture.X86_64);
        }
    }

    [Fact]
    public void Seeded_damage_to_the_ESP_never_throws_or_hangs()
    {
        var (work, _, esp) = GptDisk("x86_64-efi", "BOOTX64.EFI");
        using (work)
        {
            var original = File.ReadAllBytes(esp);
            var random = new Random(1515);
            for (var round = 0; round < 300; round++)
            {
                var damaged = (byte[])original.Clone();
                // The boot sector, the FATs and the first directory clusters are where a reader can be led astray.
                for (var i = 0; i < 1 + random.Next(16); i++)
                {
                    var at = random.Next(Math.Min(damaged.Length, 512 * 1024));
                    damaged[at] = (byte)random.Next(256);
                }
                var act = () => EspProbe.FindLoaders(new MemoryStream(damaged));
                act.Should().NotThrow($"round {round}");
            }
        }
    }

    private static BootableDiskFacts Probe(string disk)
    {
        using var stream = File.OpenRead(disk);
        return BootableDiskProbe.Probe(stream, disk);
    }

    private static (TempDirectory Work, string Disk, string Esp) GptDisk(string platform, string loader)
    {
        if (!Directory.Exists($"/usr/lib/grub/{platform}") || ExternalTools.Find("mcopy") == null || ExternalTools.Find("mkfs.vfat") == null)
        {
            Assert.Skip($"needs /usr/lib/grub/{platform} (grub-efi-amd64-bin), mtools and dosfstools");
        }
        var work = new TempDirectory("imagetools-probe-gpt-");
        var disk = work.File("gpt.img");
        var esp = work.File("esp.img");
        Run(string.Join(" && ",
            $"cd '{work.Path}'",
            $"grub-mkimage -O {platform} -p /EFI/BOOT -o {loader} part_gpt fat normal",
            "mkfs.vfat -C -n ESP esp.img 32768 >/dev/null",
            "mmd -i esp.img ::/EFI ::/EFI/BOOT",
            $"mcopy -i esp.img {loader} ::/EFI/BOOT/",
            "truncate -s 120M gpt.img",
            "printf 'label: gpt\\nstart=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\nstart=67584, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n' | sfdisk -q gpt.img",
            "dd if=esp.img of=gpt.img bs=1M seek=1 conv=notrunc status=none"));
        return (work, disk, esp);
    }

    private static void Run(string script)
    {
        var r = ProcessRunner.Shell(script);
        r.ExitCode.Should().Be(0, r.ToString());
    }
}
