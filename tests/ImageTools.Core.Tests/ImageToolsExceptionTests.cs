using FluentAssertions;
using ImageTools.Core;
using Xunit;

namespace ImageTools.Core.Tests;

public class ImageToolsExceptionTests
{
    [Fact]
    public void Carries_kind_path_and_message()
    {
        var e = new ImageToolsException(ErrorKind.CorruptImage, "disk.img: bad magic") { Path = "disk.img" };
        e.Kind.Should().Be(ErrorKind.CorruptImage);
        e.Path.Should().Be("disk.img");
        e.Message.Should().Be("disk.img: bad magic");
    }
}
