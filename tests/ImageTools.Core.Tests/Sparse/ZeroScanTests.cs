using FluentAssertions;
using ImageTools.Core.Sparse;
using Xunit;

namespace ImageTools.Core.Tests.Sparse;

public sealed class ZeroScanTests
{
    [Fact]
    public void FindsTheFirstNonZeroByte_AtEveryPositionAndLength()
    {
        foreach (var length in new[] { 0, 1, 15, 16, 63, 64, 127, 128, 129, 200, 4096, 4097 })
        {
            var data = new byte[length];
            ZeroScan.IndexOfNonZero(data).Should().Be(-1, $"length {length}");
            ZeroScan.IsAllZero(data).Should().BeTrue();
            for (var at = 0; at < length; at++)
            {
                data[at] = (byte)(1 + at % 255);
                if (at + 7 < length)
                {
                    data[at + 7] = 3; // a later non-zero byte must not win
                }
                ZeroScan.IndexOfNonZero(data).Should().Be(at, $"length {length}");
                ZeroScan.IsAllZero(data).Should().BeFalse();
                Array.Clear(data);
            }
        }
    }
}
