using FluentAssertions;
using ImageTools.Core.Streams;
using Xunit;

namespace ImageTools.Core.Tests.Streams;

public sealed class SubStreamTests
{
    [Fact]
    public void ReadsOnlyItsWindow()
    {
        var disk = new MemoryStream(Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        using var window = new SubStream(disk, 10, 20);
        var buffer = new byte[50];
        window.ReadAtLeast(buffer, 20, throwOnEndOfStream: false).Should().Be(20);
        buffer.AsSpan(0, 20).ToArray().Should().Equal(Enumerable.Range(10, 20).Select(i => (byte)i));
        window.Read(buffer).Should().Be(0, "the window ends at 30");
        window.Length.Should().Be(20);
    }

    [Fact]
    public void WritesStayInside_AndAWriteAcrossTheEndFails()
    {
        var disk = new MemoryStream(new byte[100]);
        using var window = new SubStream(disk, 50, 10, writable: true, name: "window");
        window.Position = 8;
        window.Write([7, 7]);
        disk.ToArray()[58].Should().Be(7);
        disk.ToArray()[59].Should().Be(7);
        var act = () => window.Write([1]);
        act.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.DoesNotFit)
            .WithMessage("window: writing 1 bytes at offset 10 would pass its end (10 bytes); nothing was written");
        disk.ToArray()[60].Should().Be(0, "nothing spills into the next partition");
    }

    [Fact]
    public void TwoWindowsShareOneBase()
    {
        var disk = new MemoryStream(Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        using var a = new SubStream(disk, 0, 50);
        using var b = new SubStream(disk, 50, 50);
        a.Seek(5, SeekOrigin.Begin);
        b.Seek(-1, SeekOrigin.End);
        a.ReadByte().Should().Be(5);
        b.ReadByte().Should().Be(99);
        a.ReadByte().Should().Be(6, "each window keeps its own position");
    }

    [Fact]
    public void IsReadOnlyUnlessAskedOtherwise()
    {
        var disk = new MemoryStream(new byte[100]);
        using var window = new SubStream(disk, 50, 10);
        window.CanWrite.Should().BeFalse();
        var act = () => window.Write([1]);
        act.Should().Throw<NotSupportedException>();
        disk.ToArray().Should().OnlyContain(b => b == 0);
    }

    [Fact]
    public void NeedsASeekableBase()
    {
        var act = () => new SubStream(new NonSeekable(), 0, 1);
        act.Should().Throw<ArgumentException>();
    }

    private sealed class NonSeekable : MemoryStream
    {
        public override bool CanSeek => false;
    }
}
