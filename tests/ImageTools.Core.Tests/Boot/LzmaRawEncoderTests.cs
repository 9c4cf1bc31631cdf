using FluentAssertions;
using ImageTools.Core.Boot;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Boot;

public sealed class LzmaRawEncoderTests
{
    public static TheoryData<string> Inputs => ["text", "random", "zeros", "kernel.img"];

    /// <summary>Decoded by xz, an implementation independent of the one we encode with.</summary>
    [Theory]
    [MemberData(nameof(Inputs))]
    public void Stream_is_raw_lzma1_with_lc3_lp0_pb2_that_xz_decodes(string kind)
    {
        var xz = ExternalTools.Require("xz");
        byte[] data = kind switch
        {
            "text" => System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 3000).Select(i => $"line {i % 97} of the GRUB payload\n"))),
            "random" => RandomBytes(70_000),
            "zeros" => new byte[100_000],
            _ => File.ReadAllBytes(Path.Combine(GrubFiles.RequireDirectory(), "kernel.img")),
        };

        var stream = LzmaRawEncoder.Encode(data);

        stream[0].Should().Be(0, "a raw stream starts with the range coder's first byte, always 0: no header");
        var r = ProcessRunner.Run(xz, ["-dc", "--format=raw", "--lzma1=lc=3,lp=0,pb=2"], new MemoryStream(stream));
        // No end marker (as grub-mkimage): xz writes everything, then says the input ended early. Not
        // knowing the size, it may decode a stray symbol from the coder's flush bytes; GRUB's decoder
        // stops at the size written in lzma_decompress.img, so only that many bytes count.
        (r.ExitCode == 0 || r.StdErr.Contains("Unexpected end of input", StringComparison.Ordinal)).Should().BeTrue(r.ToString());
        r.StdOutBytes.Length.Should().BeInRange(data.Length, data.Length + 8);
        r.StdOutBytes[..data.Length].Should().Equal(data);
        if (kind is "text" or "zeros")
        {
            stream.Length.Should().BeLessThan(data.Length / 10, "it really compresses (matches, not only literals)");
        }
    }

    [Fact]
    public void Decoding_a_damaged_stream_is_a_clear_error()
    {
        var data = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("abcdefgh", 1000)));
        var stream = LzmaRawEncoder.Encode(data);

        var act = () => LzmaRawEncoder.Decode(stream.AsSpan(0, stream.Length / 4), data.Length);

        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.CorruptImage).WithMessage("*LZMA stream*");
    }

    private static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        new Random(7).NextBytes(b);
        return b;
    }
}
