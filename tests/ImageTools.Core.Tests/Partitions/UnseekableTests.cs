using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.Core.Sparse.Bmap;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>Readers given a pipe (stdin, a decompressor): a clear refusal where seeking is needed, success where not.</summary>
public class UnseekableTests
{
    /// <summary>A stream that can only be read forward, like a pipe.</summary>
    private sealed class PipeStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void Partition_table_from_a_pipe_is_refused_clearly()
    {
        using var dir = new TempDirectory();
        var image = TestDisk.Create(dir, "disk.img", 8L << 20);
        Sfdisk.Apply(image, "label: dos\nstart=2048, type=83\n");

        using var pipe = new PipeStream(File.OpenRead(image));
        var read = () => PartitionTable.Read(pipe, source: "stdin");
        read.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.UnsupportedFeature)
            .WithMessage("stdin: reading a partition table needs a seekable disk (a file or device, not a pipe)");
    }

    [Fact]
    public void Bmap_from_a_pipe_is_read()
    {
        using var dir = new TempDirectory();
        var path = dir.File("x.bmap");
        BmapWriter.Write(new BlockMap(10000, 4096, new[] { new BmapRange(0, 1) }), path);

        using var pipe = new PipeStream(File.OpenRead(path));
        var map = BmapReader.Read(pipe, "stdin");

        map.Ranges.Should().Equal(new BmapRange(0, 1));
        map.ImageSize.Should().Be(10000);
    }
}
