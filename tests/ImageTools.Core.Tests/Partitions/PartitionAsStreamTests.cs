using FluentAssertions;
using ImageTools.Core.Partitions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>A partition of an image file used as a stream of its own, checked against dd and e2fsck.</summary>
public class PartitionAsStreamTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _image;

    public PartitionAsStreamTests()
    {
        _image = TestDisk.Create(_dir, "disk.img", 48L << 20);
        TestDisk.FillRandom(_image, seed: 3);
        Sfdisk.Apply(_image, $"""
            label: dos
            start=2048, size=20480, type=83
            start=22528, size=73728, type=5
            {_image}5 : start=24576, size=4097, type=83
            {_image}6 : start=32768, size=16384, type=83
            """);
    }

    public void Dispose() => _dir.Dispose();

    private static string Dd(string image, long skip, long count, string output)
    {
        var r = ExternalTools.Run("dd", $"if={image}", $"of={output}", "bs=512", $"skip={skip}", $"count={count}", "status=none");
        r.ExitCode.Should().Be(0, r.ToString());
        return FileFacts.Sha256(output);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(6)]
    public void Reading_a_partition_gives_the_bytes_dd_extracts(int number)
    {
        var table = TestDisk.ReadTable(_image);
        var p = table.Get(number);
        var sfdiskView = Sfdisk.Json(_image).Partitions.Single(s => s.Number == number);

        using var disk = File.OpenRead(_image);
        using var stream = table.Open(disk, number);
        var ours = _dir.File($"ours{number}");
        using (var output = File.Create(ours))
        {
            stream.CopyTo(output, 7777); // an odd buffer size: reads straddle sectors and the end
        }

        stream.Length.Should().Be(sfdiskView.Size * 512);
        FileFacts.Sha256(ours).Should().Be(Dd(_image, sfdiskView.Start, sfdiskView.Size, _dir.File($"dd{number}")));
        p.Offset.Should().Be(sfdiskView.Start * 512);
    }

    [Fact]
    public void Reads_stop_at_the_end_of_the_partition()
    {
        var table = TestDisk.ReadTable(_image);
        using var disk = File.OpenRead(_image);
        using var stream = table.Open(disk, 5); // 4097 sectors: odd
        var buffer = new byte[4096];

        stream.Seek(-100, SeekOrigin.End);
        stream.Read(buffer).Should().Be(100, "only 100 bytes are left in the partition");
        stream.Read(buffer).Should().Be(0);
        stream.Position = stream.Length + 12345;
        stream.Read(buffer).Should().Be(0, "reading past the end is reading nothing, as with a file");

        stream.Position = stream.Length - 100;
        stream.ReadExactly(buffer.AsSpan(0, 100));
        buffer.AsSpan(0, 100).ToArray().Should().Equal(TestDisk.ReadBytes(_image, table.Get(5).EndOffset - 100, 100));
    }

    [Fact]
    public void Writes_land_inside_the_partition_and_never_past_it()
    {
        var table = TestDisk.ReadTable(_image);
        var p = table.Get(6);
        var next = TestDisk.ReadBytes(_image, p.EndOffset, 4096);
        var payload = new byte[3000];
        new Random(11).NextBytes(payload);

        using (var disk = new FileStream(_image, FileMode.Open, FileAccess.ReadWrite))
        using (var stream = table.Open(disk, 6, writable: true))
        {
            stream.Position = 1000;
            stream.Write(payload);
            stream.Position.Should().Be(4000);

            stream.Position = stream.Length - 10;
            var tooFar = () => stream.Write(payload, 0, 11);
            tooFar.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.DoesNotFit)
                .WithMessage($"{_image} partition 6: writing 11 bytes at offset {p.Length - 10} would pass its end ({p.Length} bytes); nothing was written");
            var resize = () => stream.SetLength(1);
            resize.Should().Throw<NotSupportedException>();
        }

        TestDisk.ReadBytes(_image, p.Offset + 1000, payload.Length).Should().Equal(payload);
        TestDisk.ReadBytes(_image, p.EndOffset - 10, 10).Should().NotEqual(payload.Take(10), "the refused write wrote nothing");
        TestDisk.ReadBytes(_image, p.EndOffset, 4096).Should().Equal(next, "the partition after it is untouched");
    }

    [Fact]
    public void A_read_only_partition_stream_refuses_writes()
    {
        using var disk = File.OpenRead(_image);
        using var stream = TestDisk.ReadTable(_image).Open(disk, 1);
        stream.CanWrite.Should().BeFalse();
        var write = () => stream.Write(new byte[1]);
        write.Should().Throw<NotSupportedException>();
    }

    [Fact]
    public void A_filesystem_copied_into_a_partition_checks_clean_in_place()
    {
        var mke2fs = ExternalTools.Require("mke2fs");
        var table = TestDisk.ReadTable(_image);
        var p = table.Get(6);
        var fs = _dir.File("fs.ext4");
        ProcessRunner.Run(mke2fs, "-q", "-F", "-t", "ext4", "-E", "root_owner=0:0", fs, $"{p.Length / 1024}k").ExitCode.Should().Be(0);

        using (var disk = new FileStream(_image, FileMode.Open, FileAccess.ReadWrite))
        using (var partition = table.Open(disk, 6, writable: true))
        using (var source = File.OpenRead(fs))
        {
            source.CopyTo(partition);
        }

        // The bytes dd finds at the partition are the filesystem, and e2fsck finds it clean.
        var extracted = _dir.File("extracted.ext4");
        Dd(_image, p.StartSector, p.SectorCount, extracted).Should().Be(FileFacts.Sha256(fs));
        var fsck = ExternalTools.Run("e2fsck", "-fn", extracted);
        fsck.ExitCode.Should().Be(0, fsck.ToString());

        // And read back through our own stream: the superblock magic 0xEF53 at byte 1080 of the partition.
        using var readBack = File.OpenRead(_image);
        using var view = table.Open(readBack, 6);
        view.Position = 1024 + 56;
        var magic = new byte[2];
        view.ReadExactly(magic);
        magic.Should().Equal(0x53, 0xEF);
    }
}
