using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>Zero is not a hole on a DEST that already holds data: the blank check, and -n turning it off.</summary>
public sealed class BlankCheckTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-blank-");

    public void Dispose() => _dir.Dispose();

    private (string Source, string Dest, byte[] Stale) Fixture()
    {
        // SOURCE: 4 MiB, data in two places, holes and written zeros elsewhere. DEST: 4 MiB of random bytes.
        var source = SparseFiles.Create(_dir.File("in.img"), 4 << 20, [(0, 8192), (3 << 20, 4096)]);
        using (var f = new FileStream(source, FileMode.Open))
        {
            f.Position = 1 << 20;
            f.Write(new byte[65536]); // zeros that are allocated in SOURCE
        }
        var dest = SparseFiles.CreateRandom(_dir.File("dest.img"), 4 << 20, seed: 99);
        return (source, dest, File.ReadAllBytes(dest));
    }

    [Fact]
    public void Default_DestReadsBackZerosWhereSourceHasZeros_AndLosesItsAllocation()
    {
        var (source, dest, _) = Fixture();
        var summary = Json("-o", source, dest);
        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        // On a file the zeros are made by punching holes, so DEST ends up as sparse as a fresh copy.
        FileFacts.AllocatedBytes(dest).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        summary.GetProperty("zeroedByOsBytes").GetInt64().Should().Be((4 << 20) - 8192 - 4096);
    }

    [Fact]
    public void ReadBack_WritesZerosOnlyWhereDestIsNotBlank_AndCountsThem()
    {
        var (source, dest, _) = Fixture();
        // Make one stretch of DEST already zero: the read-back finds it blank and writes nothing there.
        using (var f = new FileStream(dest, FileMode.Open))
        {
            f.Position = 2 << 20;
            f.Write(new byte[1 << 20]);
        }
        var r = Run("-o", "--blank-check", "readback", source, dest);
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        var (total, real, sparse, nonZeroDest) = FinalLine(r);
        total.Should().Be(4 << 20);
        nonZeroDest.Should().Be((4 << 20) - 8192 - 4096 - (1 << 20));
        real.Should().Be(8192 + 4096 + nonZeroDest);
        sparse.Should().Be(1 << 20);
    }

    [Fact]
    public void NoCheck_LeavesStaleDataWhereSourceHasZeros_AsV010Documents()
    {
        var (source, dest, stale) = Fixture();
        var r = Run("-o", "-n", source, dest);
        r.ExitCode.Should().Be(0, r.ToString());
        var after = File.ReadAllBytes(dest);
        var expected = File.ReadAllBytes(source);
        after.AsSpan(0, 8192).ToArray().Should().Equal(expected.AsSpan(0, 8192).ToArray());
        after.AsSpan(3 << 20, 4096).ToArray().Should().Equal(expected.AsSpan(3 << 20, 4096).ToArray());
        // Where SOURCE is zero, DEST still holds its old random bytes.
        after.AsSpan(1 << 20, 65536).ToArray().Should().Equal(stale.AsSpan(1 << 20, 65536).ToArray());
        after.AsSpan(8192, 4096).ToArray().Should().Equal(stale.AsSpan(8192, 4096).ToArray());
        FinalLine(r).NonZeroDest.Should().Be(0);
    }

    [Fact]
    public void Overlay_PastTheOldEnd_NeedsNoCheck()
    {
        var dest = SparseFiles.CreateRandom(_dir.File("dest.img"), 4096, seed: 5);
        var source = SparseFiles.Create(_dir.File("in.img"), 1 << 20, [((1 << 20) - 512, 512)]);
        var summary = Json("-o", "--blank-check", "readback", source, dest);
        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        summary.GetProperty("blankCheckBytesRead").GetInt64().Should().Be(4096, "only the old 4 KiB could hold data");
    }
}
