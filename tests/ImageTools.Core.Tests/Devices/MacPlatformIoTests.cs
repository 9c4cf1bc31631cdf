using FluentAssertions;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Devices;

/// <summary>
/// The macOS platform's decisions, run on Linux over <see cref="SimulatedDarwin"/>: Darwin's whence values (which
/// are Linux's swapped, so using Linux's would read holes and skip data), F_PUNCHHOLE's whole-block rule, the
/// 144-byte struct stat, and /dev/rdiskN (a character device) taken as the disk it is. Nothing here has run on a Mac.
/// </summary>
public sealed class MacPlatformIoTests : IDisposable
{
    private const long MiB = 1 << 20;
    private readonly TempDirectory _dir = new("mac-platform-");

    public void Dispose() => _dir.Dispose();

    private string SparseSource() => SparseFiles.Create(_dir.File("source.img"), 32 * MiB,
        new (long, int)[] { (0, 4096), (5 * MiB, 100 * 1024), (32 * MiB - 8192, 8192) });

    [Fact]
    public void Data_ranges_come_from_darwin_seek_data_and_seek_hole()
    {
        MacPlatformIo.SEEK_DATA.Should().Be(4);
        MacPlatformIo.SEEK_HOLE.Should().Be(3);
        var source = SparseSource();
        var platform = new MacPlatformIo(new SimulatedDarwin());
        using var handle = File.OpenHandle(source);
        var extents = new List<Extent>();
        for (var offset = 0L; platform.FindNextData(handle, offset, 32 * MiB) is { } e; offset = e.Offset + e.Length)
        {
            extents.Add(e);
        }
        extents.Select(e => (e.Offset, e.Offset + e.Length)).Should().Equal(SparseFiles.DataRanges(source));
    }

    [Fact]
    public void A_copy_through_the_mac_platform_reads_only_data_and_gives_the_same_bytes()
    {
        var source = SparseSource();
        var dest = _dir.File("dest.img");
        var outcome = CopyJob.Run(new CopyRequest { Source = source, Destination = dest }, cancellation: TestContext.Current.CancellationToken, platform: new MacPlatformIo(new SimulatedDarwin()));
        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        outcome.Statistics.SourceBytesRead.Should().Be(SparseFiles.DataRanges(source).Sum(r => r.End - r.Start));
    }

    [Fact]
    public void Punching_an_unaligned_range_punches_whole_blocks_and_writes_zeros_at_the_ends()
    {
        var path = SparseFiles.CreateRandom(_dir.File("full.img"), 4 * MiB);
        var darwin = new SimulatedDarwin();
        var platform = new MacPlatformIo(darwin);
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            platform.TryZeroRange(handle, FileKind.RegularFile, 1000, 3 * MiB).Should().BeTrue();
        }
        darwin.Calls.Should().Equal($"punch 4096 {3 * MiB - 4096}");
        SparseFiles.ReadRange(path, 1000, (int)(3 * MiB)).Should().OnlyContain(b => b == 0);
        SparseFiles.ReadRange(path, 999, 1)[0].Should().NotBe(0);
        SparseFiles.ReadRange(path, 1000 + 3 * MiB, 1)[0].Should().NotBe(0);
        FileFacts.AllocatedBytes(path).Should().BeLessThan(2 * MiB);
    }

    [Fact]
    public void Less_than_a_block_or_no_punch_hole_leaves_the_zeros_to_the_caller()
    {
        var path = SparseFiles.CreateRandom(_dir.File("small.img"), MiB);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var darwin = new SimulatedDarwin();
        new MacPlatformIo(darwin).TryZeroRange(handle, FileKind.RegularFile, 100, 4000).Should().BeFalse();
        darwin.Calls.Should().BeEmpty();
        new MacPlatformIo(new SimulatedDarwin { Hfs = true }).TryZeroRange(handle, FileKind.RegularFile, 0, 64 * 1024).Should().BeFalse();
        SparseFiles.ReadRange(path, 0, 4096).Should().Contain(b => b != 0);
    }

    [Fact]
    public void Struct_stat_is_read_at_darwin_offsets()
    {
        var path = SparseFiles.Create(_dir.File("f.img"), 10 * MiB, new (long, int)[] { (0, 8192) });
        var linux = new LinuxPlatformIo().GetIdentity(path);
        var mac = new MacPlatformIo(new SimulatedDarwin()).GetIdentity(path);
        mac.Kind.Should().Be(FileKind.RegularFile);
        mac.Inode.Should().Be(linux.Inode);
        mac.Size.Should().Be(10 * MiB);
        mac.AllocatedBytes.Should().Be(linux.AllocatedBytes);
        mac.UnixMode.Should().Be(linux.UnixMode);
        new MacPlatformIo(new SimulatedDarwin()).GetIdentity(_dir.File("none")).Kind.Should().Be(FileKind.Missing);
    }

    [Fact]
    public void A_raw_disk_node_is_a_disk_and_the_same_disk_as_its_buffered_node()
    {
        var darwin = new SimulatedDarwin();
        darwin.RawDisks.Add("/dev/rdisk4");
        var raw = new MacPlatformIo(darwin).GetIdentity("/dev/rdisk4");
        raw.Kind.Should().Be(FileKind.BlockDevice);
        raw.SpecialDevice.Minor.Should().Be(4u);

        // The same bytes for a character device under another name stay a character device.
        Span<byte> stat = stackalloc byte[MacPlatformIo.StatSize];
        darwin.Stat("/dev/rdisk4", stat, out _);
        MacPlatformIo.ParseStat(stat, isDiskPath: false).Kind.Should().Be(FileKind.CharacterDevice);
        MacPlatformIo.ParseStat(stat, isDiskPath: true).IsSameObjectAs(raw).Should().BeTrue();
    }
}
