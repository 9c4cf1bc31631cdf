using System.IO.Compression;
using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.Core.Streams;
using Xunit;

namespace ImageTools.Core.Tests.Streams;

/// <summary>A forward-only stream made seekable by reopening it: what reads partition tables out of compressed images.</summary>
public sealed class ReopeningStreamTests
{
    private static byte[] Data(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + i / 256)).ToArray();

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }
        return output.ToArray();
    }

    [Fact]
    public void Seeks_forward_by_reading_and_backward_by_reopening()
    {
        var data = Data(300_000);
        var compressed = Gzip(data);
        var opens = 0;
        using var stream = new ReopeningStream(() =>
        {
            opens++;
            return new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        }, "test.gz");
        var buffer = new byte[1000];

        stream.Position = 200_000;
        stream.ReadExactly(buffer);
        buffer.Should().Equal(data.AsSpan(200_000, 1000).ToArray());
        stream.Position = 250_000;
        stream.ReadExactly(buffer);
        buffer.Should().Equal(data.AsSpan(250_000, 1000).ToArray());
        opens.Should().Be(1, "forward seeks read on in the same stream");

        stream.Position = 10;
        stream.ReadExactly(buffer);
        buffer.Should().Equal(data.AsSpan(10, 1000).ToArray());
        opens.Should().Be(2, "a backward seek starts again from the beginning");

        stream.Position = 299_500;
        stream.Read(buffer).Should().Be(500);
        stream.Position = 400_000;
        stream.Read(buffer).Should().Be(0, "past the end is the end");
        var length = () => stream.Length;
        length.Should().Throw<NotSupportedException>();
    }

    [Fact]
    public void A_partition_table_reads_through_it_with_an_unknown_disk_size()
    {
        var disk = new MemoryStream(new byte[8 << 20]);
        new MbrPartitionTableBuilder(disk.Length).WithDiskSignature(0xabc)
            .AddPrimary(MbrPartitionType.Linux, sizeSectors: 4096)
            .AddExtended()
            .AddLogical(MbrPartitionType.Linux, sizeSectors: 2000)
            .AddLogical(MbrPartitionType.LinuxSwap)
            .Build().WriteTo(disk);
        var compressed = Gzip(disk.ToArray());

        using var stream = new ReopeningStream(() => new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress), "disk.gz");
        var table = PartitionTable.Read(stream, source: "disk.gz");

        table.DiskSizeInSectors.Should().BeNull();
        table.Partitions.Select(p => p.Number).Should().Equal(1, 2, 5, 6);
        table.Get(6).TypeId.Should().Be("82");
        table.FindProblems().Should().BeEmpty();
    }
}
