using FluentAssertions;
using ImageTools.Core.Platform;
using ImageTools.Core.Sparse;
using ImageTools.Core.Streams;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Devices;

/// <summary>
/// The Windows platform's decisions (allocated ranges, sparse marking, zeroing, device paths), run on Linux over
/// a simulated NTFS volume (<see cref="SimulatedNtfs"/>): Wine implements none of FSCTL_QUERY_ALLOCATED_RANGES
/// and FSCTL_SET_ZERO_DATA (and ignores FSCTL_SET_SPARSE), so the Wine tests of the win-x64 build exercise only
/// the fallbacks; these tests are where the real paths are checked.
/// </summary>
public sealed class WindowsPlatformIoTests : IDisposable
{
    private const long MiB = 1 << 20;
    private readonly TempDirectory _dir = new("windows-platform-");

    public void Dispose() => _dir.Dispose();

    private string SparseSource(long size = 64 * MiB) => SparseFiles.Create(_dir.File("source.img"), size,
        new (long, int)[] { (0, 4096), (3 * MiB, 300 * 1024), (10 * MiB + 512, 7000), (size - 4096, 4096) });

    private static List<Extent> Walk(IPlatformIo platform, string path)
    {
        using var handle = File.OpenHandle(path);
        var length = RandomAccess.GetLength(handle);
        var extents = new List<Extent>();
        for (var offset = 0L; platform.FindNextData(handle, offset, length) is { } extent;)
        {
            extent.Offset.Should().BeGreaterThanOrEqualTo(offset, "a range never goes backwards");
            extent.Length.Should().BePositive();
            extents.Add(extent);
            offset = extent.Offset + extent.Length;
        }
        return extents;
    }

    /// <summary>What <see cref="SimulatedNtfs"/> holds for a file: its data ranges, each from the start of its 64 KiB piece.</summary>
    private static List<Extent> NtfsRuns(string path) =>
        SparseFiles.DataRanges(path).Select(r => new Extent(r.Start / (64 * 1024) * (64 * 1024), r.End - r.Start / (64 * 1024) * (64 * 1024))).ToList();

    [Fact]
    public void Allocated_ranges_cover_every_data_byte_and_no_hole_outside_the_runs_holding_data()
    {
        var source = SparseSource();
        var ntfs = new SimulatedNtfs();
        var extents = Walk(new WindowsPlatformIo(ntfs), source);

        // The runs the volume holds: each data range from the 64 KiB piece it starts in. The 300 KiB at 3 MiB
        // is reported as five pieces and comes back as one extent.
        extents.Should().Equal(NtfsRuns(source));
        extents.Should().Contain(e => e.Offset == 3 * MiB && e.Length >= 300 * 1024);
        ntfs.Calls.Count(c => c.StartsWith("query", StringComparison.Ordinal)).Should().Be(4, "one query per extent, no more");
        foreach (var (start, end) in SparseFiles.DataRanges(source))
        {
            extents.Should().Contain(e => e.Offset <= start && e.Offset + e.Length >= end, $"data at {start}..{end} must be read");
        }
    }

    [Fact]
    public void More_ranges_than_one_query_holds_are_fetched_by_asking_again_from_where_the_last_ended()
    {
        // 200 separate data blocks: ERROR_MORE_DATA after 64 ranges, every time.
        var blocks = Enumerable.Range(0, 200).Select(i => ((long)i * 256 * 1024, 4096)).ToArray();
        var source = SparseFiles.Create(_dir.File("many.img"), 200L * 256 * 1024, blocks);
        var ntfs = new SimulatedNtfs();
        var extents = Walk(new WindowsPlatformIo(ntfs), source);

        extents.Should().HaveCount(200);
        extents.Select(e => e.Offset).Should().Equal(blocks.Select(b => b.Item1));
    }

    [Fact]
    public void A_query_from_inside_a_run_starts_at_the_offset_asked_for()
    {
        var source = SparseSource();
        using var handle = File.OpenHandle(source);
        var extent = new WindowsPlatformIo(new SimulatedNtfs()).FindNextData(handle, 3 * MiB + 1000, RandomAccess.GetLength(handle));
        var run = NtfsRuns(source).Single(r => r.Offset == 3 * MiB);
        extent.Should().Be(new Extent(3 * MiB + 1000, run.Length - 1000));
    }

    [Theory]
    [InlineData(false)] // FAT: ERROR_INVALID_FUNCTION
    [InlineData(true)]  // Wine: ERROR_NOT_SUPPORTED
    public void A_volume_that_cannot_say_reports_everything_as_data(bool wine)
    {
        var source = SparseSource();
        var extents = Walk(new WindowsPlatformIo(new SimulatedNtfs { Fat = !wine, Wine = wine }), source);
        extents.Should().Equal(new Extent(0, 64 * MiB));
    }

    [Fact]
    public void Zeroing_marks_the_file_sparse_once_then_deallocates_the_range()
    {
        var path = SparseFiles.CreateRandom(_dir.File("full.img"), 8 * MiB);
        var ntfs = new SimulatedNtfs();
        var platform = new WindowsPlatformIo(ntfs);
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            platform.ZeroesCheaply(handle, FileKind.RegularFile).Should().BeTrue();
            platform.TryZeroRange(handle, FileKind.RegularFile, MiB, 2 * MiB).Should().BeTrue();
            platform.TryZeroRange(handle, FileKind.RegularFile, 4 * MiB, MiB).Should().BeTrue();
        }

        ntfs.Calls.Count(c => c == "set-sparse").Should().Be(1, "the sparse attribute is checked before it is set again");
        ntfs.Calls.Should().Contain("zero 1048576 3145728", "FSCTL_SET_ZERO_DATA takes BeyondFinalZero, not a length");
        SparseFiles.ReadRange(path, MiB, (int)(2 * MiB)).Should().OnlyContain(b => b == 0);
        SparseFiles.ReadRange(path, MiB - 1, 1)[0].Should().NotBe(0);
        FileFacts.AllocatedBytes(path).Should().BeLessThanOrEqualTo(5 * MiB + 64 * 1024, "the zeroed 3 MiB were deallocated");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Without_sparse_files_zeroing_is_left_to_the_caller(bool wine)
    {
        var path = SparseFiles.CreateRandom(_dir.File("fat.img"), MiB);
        var platform = new WindowsPlatformIo(new SimulatedNtfs { Fat = !wine, Wine = wine });
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        platform.ZeroesCheaply(handle, FileKind.RegularFile).Should().BeFalse();
        platform.TryZeroRange(handle, FileKind.RegularFile, 0, 4096).Should().BeFalse();
        SparseFiles.ReadRange(path, 0, 4096).Should().Contain(b => b != 0, "nothing was zeroed");
    }

    [Fact]
    public void A_copy_through_the_windows_platform_reads_no_hole_and_leaves_holes_in_dest()
    {
        var source = SparseSource();
        var dest = _dir.File("dest.img");
        var ntfs = new SimulatedNtfs();
        var outcome = CopyJob.Run(new CopyRequest { Source = source, Destination = dest }, cancellation: TestContext.Current.CancellationToken, platform: new WindowsPlatformIo(ntfs));

        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        outcome.Statistics.SourceBytesRead.Should().Be(NtfsRuns(source).Sum(r => r.Length), "only the allocated runs are read");
        outcome.Statistics.SourceBytesRead.Should().BeLessThan(MiB);
        ntfs.Calls.Should().Contain("set-sparse", "a new DEST is marked sparse before anything is written");
        FileFacts.AllocatedBytes(dest).Should().BeLessThan(2 * MiB);
    }

    [Fact]
    public void An_overlay_copy_zeroes_dest_ranges_with_set_zero_data()
    {
        var source = SparseSource(16 * MiB);
        var dest = SparseFiles.CreateRandom(_dir.File("old.img"), 16 * MiB);
        var ntfs = new SimulatedNtfs();
        CopyJob.Run(new CopyRequest { Source = source, Destination = dest, Overlay = true }, cancellation: TestContext.Current.CancellationToken, platform: new WindowsPlatformIo(ntfs));

        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source));
        ntfs.Calls.Should().Contain(c => c.StartsWith("zero ", StringComparison.Ordinal) && c != "zero 0 0");
        FileFacts.AllocatedBytes(dest).Should().BeLessThan(4 * MiB, "the ranges SOURCE has as holes were deallocated in DEST");
    }

    [Theory]
    [InlineData(@"\\.\PhysicalDrive3", 1u, 3u)]
    [InlineData(@"\\.\physicaldrive3", 1u, 3u)]
    [InlineData(@"\\?\PhysicalDrive3", 1u, 3u)]
    [InlineData("//./PhysicalDrive3", 1u, 3u)]
    [InlineData(@"\\.\PhysicalDrive12", 1u, 12u)]
    [InlineData(@"\\.\E:", 2u, 4u)]
    [InlineData(@"\\.\e:", 2u, 4u)]
    public void Device_paths_name_a_disk_or_a_volume(string path, uint major, uint minor)
    {
        WindowsPlatformIo.ParseDevicePath(path).Should().Be(new DeviceNumber(major, minor));
        var identity = new WindowsPlatformIo(new SimulatedNtfs()).GetIdentity(path);
        identity.Kind.Should().Be(FileKind.BlockDevice);
    }

    [Theory]
    [InlineData(@"C:\images\disk.img")]
    [InlineData(@"\\server\share\disk.img")]
    [InlineData(@"\\.\PhysicalDrive")]
    [InlineData(@"\\.\PhysicalDrive1\x")]
    [InlineData(@"\\.\CD:")]
    [InlineData("disk.img")]
    public void Other_paths_are_files(string path) => WindowsPlatformIo.ParseDevicePath(path).Should().BeNull();

    [Fact]
    public void Two_spellings_of_one_disk_are_the_same_object_and_two_disks_are_not()
    {
        var platform = new WindowsPlatformIo(new SimulatedNtfs());
        platform.GetIdentity(@"\\.\PhysicalDrive1").IsSameObjectAs(platform.GetIdentity(@"\\?\physicaldrive1")).Should().BeTrue();
        platform.GetIdentity(@"\\.\PhysicalDrive1").IsSameObjectAs(platform.GetIdentity(@"\\.\PhysicalDrive2")).Should().BeFalse();
    }

    [Fact]
    public void A_file_is_identified_by_volume_serial_and_file_index()
    {
        var a = SparseFiles.CreateRandom(_dir.File("a.img"), 4096);
        var b = SparseFiles.CreateRandom(_dir.File("b.img"), 4096);
        var link = _dir.File("a-link.img");
        File.CreateSymbolicLink(link, a);
        var platform = new WindowsPlatformIo(new SimulatedNtfs());
        platform.GetIdentity(a).Kind.Should().Be(FileKind.RegularFile);
        platform.GetIdentity(a).IsSameObjectAs(platform.GetIdentity(link)).Should().BeTrue();
        platform.GetIdentity(a).IsSameObjectAs(platform.GetIdentity(b)).Should().BeFalse();
        platform.GetIdentity(_dir.File("missing")).Kind.Should().Be(FileKind.Missing);
        platform.GetIdentity(_dir.Path).Kind.Should().Be(FileKind.Directory);
    }

    [Fact]
    public void A_disk_handle_is_sized_by_its_length_ioctl()
    {
        var path = SparseFiles.CreateRandom(_dir.File("disk"), 4096);
        var ntfs = new SimulatedNtfs();
        var platform = new WindowsPlatformIo(ntfs);
        using var handle = File.OpenHandle(path);
        ntfs.DiskLengths[handle.DangerousGetHandle()] = 500L * 1000 * 1000 * 1000;
        platform.GetIdentity(handle).Kind.Should().Be(FileKind.BlockDevice);
        platform.GetBlockDeviceSize(handle).Should().Be(500L * 1000 * 1000 * 1000);
        platform.ZeroesCheaply(handle, FileKind.BlockDevice).Should().BeFalse("a disk has no FSCTL_SET_ZERO_DATA");
    }
}
