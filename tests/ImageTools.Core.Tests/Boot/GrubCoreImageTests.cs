using System.Buffers.Binary;
using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class GrubCoreImageTests
{
    [Fact]
    public void Kernel_memory_image_is_what_objcopy_makes_of_kernel_img()
    {
        var grub = GrubFiles.Open();
        using var work = new TempDirectory();
        var objcopy = ExternalTools.Require("objcopy");
        var flat = work.File("kernel.bin");

        var r = ProcessRunner.Run(objcopy, "-O", "binary", Path.Combine(grub.DirectoryPath, "kernel.img"), flat);

        r.ExitCode.Should().Be(0, r.ToString());
        grub.Kernel.MemoryImage.Should().Equal(File.ReadAllBytes(flat));
        grub.Kernel.LinkAddress.Should().Be(0x9000);
        grub.Kernel.BssSize.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Core_image_is_diskboot_then_decompressor_then_stream_with_fields_that_describe_them()
    {
        var grub = GrubFiles.Open();

        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = "(,msdos2)/boot/grub", CoreImageLba = 5 });

        int decompressorLength = grub.DecompressorImage.Length;
        var header = LzmaDecompressorHeader.Read(core.Bytes.AsSpan(512, decompressorLength));
        header.CompressedSize.Should().Be((uint)(core.Bytes.Length - 512 - decompressorLength));
        header.UncompressedSize.Should().Be((uint)core.Payload.Length);
        header.ReedSolomonLength.Should().Be(0);
        header.NoReedSolomonLength.Should().Be(grub.DecompressorHeader.NoReedSolomonLength);
        DiskBootBlockListEntry.Read(core.Bytes.AsSpan(0, 512), 0).Should().Be(new DiskBootBlockListEntry(6, (ushort)(core.SectorCount - 1), 0x820));
        DiskBootBlockListEntry.Read(core.Bytes.AsSpan(0, 512), 1).SectorCount.Should().Be(0);
        core.Modules.Should().Equal("biosdisk", "part_msdos", "fshelp", "ext2");
        LzmaRawEncoder.Decode(core.Bytes.AsSpan(512 + decompressorLength), core.Payload.Length).Should().Equal(core.Payload);
    }

    [Fact]
    public void Module_area_follows_the_kernel_and_each_object_is_where_the_previous_size_says()
    {
        var grub = GrubFiles.Open();

        var core = GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = "(,msdos1)/boot/grub", EmbeddedConfig = "set x=1" });

        var payload = core.Payload.AsSpan();
        int areaStart = grub.Kernel.MemoryImage.Length;
        payload[..areaStart].ToArray().Should().Equal(grub.Kernel.MemoryImage);
        var info = GrubModuleInfoHeader.Read(payload[areaStart..]);
        (areaStart + (int)info.AreaSize).Should().Be(payload.Length);
        int offset = areaStart + (int)info.ObjectsOffset;
        var seen = new List<(GrubModuleObjectType, byte[])>();
        while (offset < payload.Length)
        {
            var obj = GrubModuleObjectHeader.Read(payload[offset..]);
            obj.ObjectSize.Should().Be(obj.PaddedSize, "grub-mkimage counts the padding in the size");
            seen.Add((obj.Type, payload.Slice(offset + GrubModuleObjectHeader.Size, (int)obj.ObjectSize - GrubModuleObjectHeader.Size).ToArray()));
            offset += (int)obj.PaddedSize;
        }
        offset.Should().Be(payload.Length);
        seen.Select(s => s.Item1).Should().Equal(
            GrubModuleObjectType.Elf, GrubModuleObjectType.Elf, GrubModuleObjectType.Elf, GrubModuleObjectType.Elf,
            GrubModuleObjectType.Config, GrubModuleObjectType.Prefix);
        seen[3].Item2.Take(File.ReadAllBytes(grub.ModulePath("ext2")).Length).Should().Equal(File.ReadAllBytes(grub.ModulePath("ext2")));
        System.Text.Encoding.ASCII.GetString(seen[4].Item2).Should().Be("set x=1\0");
        System.Text.Encoding.ASCII.GetString(seen[5].Item2).TrimEnd('\0').Should().Be("(,msdos1)/boot/grub");
    }

    [Theory]
    [InlineData("/boot/grub")]
    [InlineData("boot/grub")]
    [InlineData("")]
    public void A_prefix_without_a_device_is_refused(string prefix)
    {
        var grub = GrubFiles.Open();

        var act = () => GrubCoreImageBuilder.Build(grub, new GrubCoreImageOptions { Prefix = prefix });

        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.InvalidArgument).WithMessage("*(device)/directory*");
    }

    [Fact]
    public void Prefix_names_the_partition_and_directory()
    {
        GrubPrefix.ForMsdosPartition(1).Should().Be("(,msdos1)/boot/grub");
        GrubPrefix.ForMsdosPartition(2, "/grub").Should().Be("(,msdos2)/grub");
        FluentActions.Invoking(() => GrubPrefix.ForMsdosPartition(0)).Should().Throw<ImageToolsException>();
        FluentActions.Invoking(() => GrubPrefix.ForMsdosPartition(1, "/boot/my grub")).Should().Throw<ImageToolsException>();
    }

    [Fact]
    public void Module_info_and_object_headers_round_trip_and_reject_nonsense()
    {
        var buffer = new byte[12];
        new GrubModuleInfoHeader(12, 100).Write(buffer);
        buffer[..4].Should().Equal((byte)'m', (byte)'i', (byte)'m', (byte)'g');
        GrubModuleInfoHeader.Read(buffer).Should().Be(new GrubModuleInfoHeader(12, 100));
        buffer[0] = 0;
        FluentActions.Invoking(() => GrubModuleInfoHeader.Read(buffer)).Should().Throw<ImageToolsException>().WithMessage("*magic*");

        var obj = new byte[8];
        new GrubModuleObjectHeader(GrubModuleObjectType.Prefix, 28).Write(obj);
        GrubModuleObjectHeader.Read(obj).Should().Be(new GrubModuleObjectHeader(GrubModuleObjectType.Prefix, 28));
        BinaryPrimitives.WriteUInt32LittleEndian(obj, 99);
        FluentActions.Invoking(() => GrubModuleObjectHeader.Read(obj)).Should().Throw<ImageToolsException>().WithMessage("*unknown type 99*");
        FluentActions.Invoking(() => new GrubModuleObjectHeader(GrubModuleObjectType.Elf, 4).Write(new byte[8])).Should().Throw<ImageToolsException>();
    }
}
