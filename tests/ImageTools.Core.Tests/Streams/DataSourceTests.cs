using FluentAssertions;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Streams;

public sealed class DataSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new("datasource-");

    public void Dispose() => _dir.Dispose();

    private static List<Extent> AllData(DataSource source)
    {
        var list = new List<Extent>();
        for (var next = source.NextData(0); next is { } e; next = source.NextData(e.End))
        {
            list.Add(e);
        }
        return list;
    }

    [Fact]
    public void FileSource_ReportsTheFileSystemsDataRanges()
    {
        var path = SparseFiles.Create(_dir.File("f.img"), 1 << 20, [(64 << 10, 8192), (512 << 10, 4096)]);
        using var source = FileDataSource.Open(path);
        AllData(source).Should().Equal(new Extent(64 << 10, 8192), new Extent(512 << 10, 4096));
    }

    [Fact]
    public void Slice_ClipsAndShiftsTheRanges()
    {
        var path = SparseFiles.Create(_dir.File("f.img"), 1 << 20, [(64 << 10, 8192), (512 << 10, 4096)]);
        using var source = FileDataSource.Open(path);
        var slice = source.Slice((64 << 10) + 4096, 512 << 10);
        slice.Length.Should().Be(512 << 10);
        AllData(slice).Should().Equal(new Extent(0, 4096), new Extent((512 << 10) - (64 << 10) - 4096, 4096));
        var buffer = new byte[4096];
        slice.ReadFully(0, buffer).Should().Be(4096);
        buffer.Should().Equal(SparseFiles.ReadRange(path, (64 << 10) + 4096, 4096));
    }

    [Fact]
    public void StreamSource_IsAllData_SkipsForwardByReading_AndEndsAtEof()
    {
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        using var source = new StreamDataSource("pipe", new MemoryStream(bytes));
        source.Length.Should().BeNull();
        source.NextData(0).Should().Be(new Extent(0, long.MaxValue));
        var buffer = new byte[10];
        source.Read(500, buffer).Should().Be(10);
        buffer[0].Should().Be(unchecked((byte)500));
        source.BytesRead.Should().Be(510, "the skipped bytes had to be read");
        var act = () => source.Read(0, buffer);
        act.Should().Throw<InvalidOperationException>();
        source.ReadFully(510, new byte[2000]).Should().Be(490);
    }

    [Fact]
    public void SliceOfAStream_LimitIsAMaximum()
    {
        using var source = new StreamDataSource("pipe", new MemoryStream(new byte[100]));
        var slice = source.Slice(10, 1000);
        slice.Length.Should().BeNull("the stream may end before the limit");
        slice.ReadFully(0, new byte[2000]).Should().Be(90);
    }
}
