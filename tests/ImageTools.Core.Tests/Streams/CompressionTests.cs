using System.IO.Compression;
using FluentAssertions;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Streams;

public sealed class CompressionTests : IDisposable
{
    private readonly TempDirectory _dir = new("compression-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("gzip", CompressionFormat.Gzip)]
    [InlineData("zstd", CompressionFormat.Zstd)]
    [InlineData("xz", CompressionFormat.Xz)]
    [InlineData("bzip2", CompressionFormat.Bzip2)]
    public void RealToolOutput_IsRecognised_AndUnpacksToTheOriginal(string tool, CompressionFormat expected)
    {
        ExternalTools.Require(tool);
        var original = SparseFiles.RandomBytes(new Random(4), 300_000).Concat(new byte[200_000]).ToArray();
        File.WriteAllBytes(_dir.File("data"), original);
        ProcessRunner.Shell($"{tool} -c '{_dir.File("data")}' > '{_dir.File("data.c")}'").ExitCode.Should().Be(0);
        var compressed = File.ReadAllBytes(_dir.File("data.c"));

        Compression.Detect(compressed.AsSpan(0, Compression.MagicLength)).Should().Be(expected);
        using var unpacked = Compression.OpenDecompressor(new MemoryStream(compressed), expected);
        var output = new MemoryStream();
        unpacked.CopyTo(output);
        output.ToArray().Should().Equal(original);
    }

    [Fact]
    public void ConcatenatedGzipMembers_UnpackLikeGzipDc()
    {
        var a = GzipOf([1, 2, 3]);
        var b = GzipOf([4, 5]);
        using var unpacked = Compression.OpenDecompressor(new MemoryStream([.. a, .. b]), CompressionFormat.Gzip);
        var output = new MemoryStream();
        unpacked.CopyTo(output);
        output.ToArray().Should().Equal(1, 2, 3, 4, 5);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x1F })]                       // too short for gzip
    [InlineData(new byte[] { 0x1F, 0x8B, 0x07 })]           // gzip magic with a method other than deflate
    [InlineData(new byte[] { 0x42, 0x5A, 0x68, 0x21 })]     // "BZh!" is text, not bzip2
    [InlineData(new byte[] { 0xEB, 0x63, 0x90, 0x10, 0x8E, 0xD0 })] // a GRUB boot sector
    [InlineData(new byte[] { 0, 0, 0, 0, 0, 0 })]
    public void OtherBytes_AreNotCompressed(byte[] header)
    {
        Compression.Detect(header).Should().Be(CompressionFormat.None);
    }

    [Fact]
    public void PrefixedStream_ReplaysTheSniffedBytesThenTheRest()
    {
        var rest = new MemoryStream([4, 5, 6]);
        using var s = new PrefixedStream([1, 2, 3], rest);
        var output = new MemoryStream();
        s.CopyTo(output, 2);
        output.ToArray().Should().Equal(1, 2, 3, 4, 5, 6);
    }

    private static byte[] GzipOf(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }
}
