using FluentAssertions;
using ImageTools.Core.Partitions;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

public class ChsAddressTests
{
    [Theory]
    [InlineData(0L, 0, 0, 1)]
    [InlineData(62L, 0, 0, 63)]
    [InlineData(63L, 0, 1, 1)]
    [InlineData(16064L, 0, 254, 63)] // last sector of cylinder 0 with 255 × 63
    [InlineData(16065L, 1, 0, 1)]
    [InlineData(16450559L, 1023, 254, 63)] // the last addressable sector
    public void Translates_lba_with_255_heads_and_63_sectors(long lba, int cylinder, int head, int sector)
    {
        ChsAddress.FromLba(lba, DiskGeometry.Lba).Should().Be(new ChsAddress(cylinder, head, sector));
        ChsAddress.FromLba(lba, DiskGeometry.Lba).ToLba(DiskGeometry.Lba).Should().Be(lba);
    }

    [Theory]
    [InlineData(16450560L)]
    [InlineData(4294967295L)]
    public void Caps_beyond_cylinder_1023(long lba) =>
        ChsAddress.FromLba(lba, DiskGeometry.Lba).Should().Be(new ChsAddress(1023, 254, 63));

    [Fact]
    public void Packs_the_high_cylinder_bits_into_the_sector_byte()
    {
        var bytes = new byte[3];
        new ChsAddress(1023, 254, 63).Write(bytes);
        bytes.Should().Equal(0xFE, 0xFF, 0xFF);
        new ChsAddress(0x2E4, 0x35, 17).Write(bytes);
        bytes.Should().Equal(0x35, 0x80 | 17, 0xE4);
        ChsAddress.Read(bytes).Should().Be(new ChsAddress(0x2E4, 0x35, 17));
    }

    [Fact]
    public void Refuses_values_that_do_not_fit()
    {
        var write = () => new ChsAddress(1024, 0, 1).Write(new byte[3]);
        write.Should().Throw<ImageToolsException>().WithMessage("*cylinder must be 0..1023*");
    }
}
