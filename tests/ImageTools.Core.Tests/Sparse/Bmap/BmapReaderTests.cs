using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Sparse.Bmap;
using Xunit;

namespace ImageTools.Core.Tests.Sparse.Bmap;

/// <summary>
/// One field of a valid 2.0 bmap changed at a time (with its file checksum made right again, so the field's own
/// check is what fires): each gives its own precise error.
/// </summary>
public class BmapReaderTests
{
    private const string Valid = """
        <?xml version="1.0" ?>
        <bmap version="2.0">
            <ImageSize> 10000 </ImageSize>
            <BlockSize> 4096 </BlockSize>
            <BlocksCount> 3 </BlocksCount>
            <MappedBlocksCount> 2 </MappedBlocksCount>
            <ChecksumType> sha256 </ChecksumType>
            <BmapFileChecksum> 0000000000000000000000000000000000000000000000000000000000000000 </BmapFileChecksum>
            <BlockMap>
                <Range chksum="1111111111111111111111111111111111111111111111111111111111111111"> 0 </Range>
                <Range chksum="2222222222222222222222222222222222222222222222222222222222222222"> 2 </Range>
            </BlockMap>
        </bmap>
        """;

    /// <summary>Fills in BmapFileChecksum the way bmaptool computes it: SHA-256 of the file with the digits as zeros.</summary>
    private static byte[] Signed(string text)
    {
        var zeros = new string('0', 64);
        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        return Encoding.UTF8.GetBytes(text.Replace(zeros, digest));
    }

    private static ImageToolsException Fails(string text)
    {
        var read = () => BmapReader.Read(Signed(text), "x.bmap");
        return read.Should().Throw<ImageToolsException>().Which;
    }

    [Fact]
    public void The_fixture_is_valid()
    {
        var map = BmapReader.Read(Signed(Valid), "x.bmap");
        map.Ranges.Should().HaveCount(2);
        map.MappedBytes.Should().Be(4096 + (10000 - 8192));
    }

    [Fact]
    public void Blocks_count_must_match_the_image_size() =>
        Fails(Valid.Replace("<BlocksCount> 3 ", "<BlocksCount> 4 ")).Message
            .Should().Be("x.bmap: <BlocksCount> is 4 but 10000 bytes in 4096-byte blocks make 3");

    [Fact]
    public void Mapped_blocks_count_must_match_the_ranges() =>
        Fails(Valid.Replace("<MappedBlocksCount> 2 ", "<MappedBlocksCount> 5 ")).Message
            .Should().Be("x.bmap: <MappedBlocksCount> is 5 but the ranges hold 2 blocks; the bmap is damaged");

    [Fact]
    public void A_range_past_the_image_is_refused() =>
        Fails(Valid.Replace("> 2 </Range>", "> 3 </Range>")).Message
            .Should().Be("x.bmap: block 3 is past the image's last block 2 (10000 bytes in 4096-byte blocks)");

    [Fact]
    public void Ranges_must_ascend() =>
        Fails(Valid.Replace("> 0 </Range>", "> 2 </Range>")).Message
            .Should().Be("x.bmap: block 2 overlaps or precedes the range before it (ending at block 2); ranges must ascend");

    [Fact]
    public void A_range_that_is_not_numbers_is_refused() =>
        Fails(Valid.Replace("> 0 </Range>", "> zero </Range>")).Message
            .Should().Be("x.bmap: line 10: range \"zero\" is not \"first-last\" or \"block\"");

    [Fact]
    public void A_newer_major_version_is_unsupported()
    {
        var e = Fails(Valid.Replace("version=\"2.0\"", "version=\"3.0\""));
        e.Kind.Should().Be(ErrorKind.UnsupportedFeature);
        e.Message.Should().Be("x.bmap: bmap format version 3.0 is not supported (up to 2.x is)");
    }

    [Fact]
    public void Not_xml_is_refused() =>
        Fails("this is an image, not a bmap").Message.Should().StartWith("x.bmap: not well-formed XML:");

    [Fact]
    public void A_clear_signed_bmap_is_refused_with_a_hint() =>
        Fails("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + Valid).Message
            .Should().Contain("GPG clear-signed").And.Contain("gpg --output plain.bmap --decrypt x.bmap");
}
