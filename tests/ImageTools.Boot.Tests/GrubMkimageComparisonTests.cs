using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.Boot.Tests.Harness;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Boot.Tests;

/// <summary>
/// Our core image against grub-mkimage's, and our boot sector against grub-bios-setup's, on this
/// machine's GRUB files. The compressed streams differ (different LZMA encoders), so the payloads are
/// compared after decoding both with xz; every other byte is compared directly.
/// </summary>
public sealed class GrubMkimageComparisonTests
{
    public static TheoryData<string, string, string?> Cases => new()
    {
        // What fsmaker embeds, for GRUB's files on partition 1 and on partition 2.
        { "biosdisk part_msdos ext2", "(,msdos1)/boot/grub", null },
        { "biosdisk part_msdos ext2", "(,msdos2)/boot/grub", null },
        // Deeper dependency graphs (luks → cryptodisk, crypto, pbkdf2, gcry_*; normal → 8 modules...) and an embedded config.
        { "biosdisk part_msdos part_gpt ext2 xfs lvm luks normal linux search serial", "(hd0,msdos3)/grub", "set timeout=5\nsearch --set=root --label boot\n" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Payload_is_byte_identical_to_grub_mkimage(string modules, string prefix, string? embeddedConfig)
    {
        var grub = GrubTestDisk.RequireGrub();
        using var work = new TempDirectory();
        var moduleList = modules.Split(' ');

        var reference = CoreImageParts.Split(GrubReference.Mkimage(work, grub, prefix, moduleList, embeddedConfig), grub.DecompressorImage.Length);
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Modules = moduleList, Prefix = prefix, EmbeddedConfig = embeddedConfig });
        var ours = CoreImageParts.Split(core.Bytes, grub.DecompressorImage.Length);

        var referencePayload = reference.DecodePayloadWithXz();
        var ourPayload = ours.DecodePayloadWithXz();
        ourPayload.Length.Should().Be(referencePayload.Length);
        FirstDifference(ourPayload, referencePayload).Should().Be(-1, "our payload must equal grub-mkimage's byte for byte");
        core.Payload.Should().Equal(ourPayload, "the stream we wrote decodes (with xz) to the payload we built");

        // lzma_decompress.img: the same bytes except the compressed size, which is our stream's length.
        ours.CompressedSizeField.Should().Be((uint)ours.Stream.Length);
        ours.UncompressedSizeField.Should().Be(reference.UncompressedSizeField);
        ours.ReedSolomonField.Should().Be(0).And.Be(reference.ReedSolomonField);
        ours.Decompressor.AsSpan(0x0C).ToArray().Should().Equal(reference.Decompressor.AsSpan(0x0C).ToArray());
        ours.Decompressor[..0x08].Should().Equal(reference.Decompressor[..0x08]);
        reference.CompressedSizeField.Should().Be((uint)reference.Stream.Length, "grub-mkimage's core ends with its stream, no padding");

        // diskboot.img: the same bytes except the sector count, each image's own sectors after the first.
        var ourBlockList = DiskBootBlockListEntry.Read(ours.DiskBoot, 0);
        var referenceBlockList = DiskBootBlockListEntry.Read(reference.DiskBoot, 0);
        ourBlockList.Should().Be(referenceBlockList with { SectorCount = (ushort)((core.Bytes.Length - 512 + 511) / 512) });
        ours.DiskBoot.AsSpan(0, 0x1FC).ToArray().Should().Equal(reference.DiskBoot.AsSpan(0, 0x1FC).ToArray());
        ours.DiskBoot[0x1FE..].Should().Equal(reference.DiskBoot[0x1FE..]);
    }

    [Fact]
    public void Module_order_is_grub_mkimage_order()
    {
        // The payload comparison proves the order for the cases above; this states it for the usual set,
        // in the words of the implementation note (fshelp comes in as ext2's dependency, before it).
        var grub = GrubTestDisk.RequireGrub();
        grub.Dependencies.Resolve(["biosdisk", "part_msdos", "ext2"]).Should().Equal("biosdisk", "part_msdos", "fshelp", "ext2");
    }

    [Fact]
    public void A_core_image_too_big_to_embed_is_refused_like_grub_mkimage_refuses_it()
    {
        var grub = GrubTestDisk.RequireGrub();
        using var work = new TempDirectory();
        // Every module: about 1.9 MB of payload, far more than the 454,656 bytes GRUB loads.
        var all = grub.ListModules();

        var act = () => GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Modules = all, Prefix = "(,msdos1)/boot/grub" });

        act.Should().Throw<ImageTools.Core.ImageToolsException>()
            .Where(e => e.Kind == ImageTools.Core.ErrorKind.DoesNotFit)
            .WithMessage("*454656*");
        var mkimage = ExternalTools.Require("grub-mkimage");
        var r = ProcessRunner.Run(mkimage, ["-O", "i386-pc", "-d", grub.DirectoryPath, "-p", "(,msdos1)/boot/grub", "-o", work.File("too-big.img"), .. all]);
        r.ExitCode.Should().NotBe(0, "grub-mkimage refuses the same set: {0}", r.StdErr);
        r.StdErr.Should().Contain("too big");
    }

    [Fact]
    public void Boot_sector_and_diskboot_sector_match_what_grub_bios_setup_writes()
    {
        var grub = GrubTestDisk.RequireGrub();
        using var work = new TempDirectory();
        const string prefix = "(,msdos2)/boot/grub";

        // One partitioned disk whose BPB area holds bytes of its own (both installers must keep them).
        var template = work.File("template.img");
        using (var f = File.Create(template))
        {
            f.SetLength(8 << 20);
        }
        var table = "label: dos\nlabel-id: 0x1badcafe\nunit: sectors\n\nstart=2048, size=4096, type=83\nstart=6144, size=4096, type=83, bootable\n";
        Sfdisk.Apply(template, table);
        using (var f = new FileStream(template, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = GrubBootSector.BiosParameterBlockStart;
            f.Write(Enumerable.Range(0, GrubBootSector.BiosParameterBlockEnd - GrubBootSector.BiosParameterBlockStart).Select(i => (byte)(0xA0 + i)).ToArray());
        }
        var theirs = work.File("theirs.img");
        var ours = work.File("ours.img");
        File.Copy(template, theirs);
        File.Copy(template, ours);

        var referenceCore = GrubReference.Mkimage(work, grub, prefix, GrubCoreImageOptions.DefaultModules);
        GrubReference.BiosSetup(work, grub, referenceCore, theirs);
        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = prefix });
        using (var disk = new FileStream(ours, FileMode.Open, FileAccess.ReadWrite))
        {
            GrubDiskInstaller.Install(disk, grub.BootImage, core).FirstPartitionStartLba.Should().Be(2048);
        }

        var theirSectors = ReadSectors(theirs, 0, 2);
        var ourSectors = ReadSectors(ours, 0, 2);
        ourSectors[..512].Should().Equal(theirSectors[..512], "sector 0 must be what grub-bios-setup writes");
        // LBA 1 is diskboot.img; the block lists differ only in their counts (the two cores' lengths).
        var theirList = DiskBootBlockListEntry.Read(theirSectors.AsSpan(512, 512), 0);
        var ourList = DiskBootBlockListEntry.Read(ourSectors.AsSpan(512, 512), 0);
        theirList.Should().Be(new DiskBootBlockListEntry(2, (ushort)((referenceCore.Length + 511) / 512 - 1), 0x820));
        ourList.Should().Be(theirList with { SectorCount = (ushort)(core.SectorCount - 1) });
        ourSectors.AsSpan(512, 0x1FC).ToArray().Should().Equal(theirSectors.AsSpan(512, 0x1FC).ToArray());
        // And the rest of our core image is on the disk as built, its last sector zero-filled.
        var written = ReadSectors(ours, 1, core.SectorCount);
        written[..core.Bytes.Length].Should().Equal(core.Bytes);
        written[core.Bytes.Length..].Should().OnlyContain(b => b == 0);
    }

    private static byte[] ReadSectors(string path, long lba, int count)
    {
        using var f = File.OpenRead(path);
        f.Position = lba * 512;
        var buffer = new byte[count * 512];
        f.ReadExactly(buffer);
        return buffer;
    }

    private static long FirstDifference(byte[] a, byte[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            if (a[i] != b[i])
            {
                return i;
            }
        }
        return a.Length == b.Length ? -1 : n;
    }
}
