using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using CliRunner = ImageTools.TestSupport.Cli;

namespace ImageTools.Cli.Tests.Arm64;

/// <summary>
/// The linux-arm64 Native AOT build (cross-compiled here with Debian's aarch64 toolchain, as released) run under
/// qemu-aarch64 user-mode emulation: a sparse copy and an mkfs, byte-compared with the x64 build's. The emulator
/// passes the arm64 binary's system calls to this kernel, so SEEK_DATA/SEEK_HOLE, statx and fallocate are real.
/// </summary>
[Trait("Category", "Arm64")]
public sealed class Arm64EmulationTests : IDisposable
{
    private const long MiB = 1 << 20;
    private readonly TempDirectory _dir = new("arm64-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Sparsecopy_arm64_copies_a_sparse_file_as_the_x64_build_does()
    {
        var source = SparseFiles.Create(_dir.File("source.img"), 40 * MiB,
            new (long, int)[] { (0, 4096), (9 * MiB + 100, 50_000), (40 * MiB - 4096, 4096) });
        var x64 = _dir.File("x64.img");
        var arm64 = _dir.File("arm64.img");

        var a = CliRunner.SparseCopy(source, x64);
        var b = CrossBuilds.Arm64("sparsecopy", [source, arm64]);
        a.ExitCode.Should().Be(0, a.ToString());
        b.ExitCode.Should().Be(0, b.ToString());

        FileFacts.Sha256(arm64).Should().Be(FileFacts.Sha256(x64)).And.Be(FileFacts.Sha256(source));
        b.StdErr.Should().Be(a.StdErr, "the same statistics line");
        SparseFiles.DataRanges(arm64).Should().Equal(SparseFiles.DataRanges(x64), "the same holes");
    }

    [Fact]
    public void Fsmaker_arm64_mkfs_gives_the_x64_builds_image()
    {
        // Not yet: fsmaker hashes with SHA-256, which .NET takes from OpenSSL on Linux. Without an arm64 libssl
        // the emulated binary stops with "No usable version of libssl was found"; with Debian's libssl3:arm64
        // (dpkg --add-architecture arm64) it spun at start-up under qemu-aarch64 7.2 and was not debugged in time.
        Assert.Skip("not yet: fsmaker's linux-arm64 build needs an arm64 libssl under qemu-aarch64 (see the comment in this test)");
        var root = Directory.CreateDirectory(_dir.File("root")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "arm64\n");
        File.WriteAllBytes(Path.Combine(root, "big"), SparseFiles.RandomBytes(new Random(4), 500_000));
        File.CreateSymbolicLink(Path.Combine(root, "link"), "etc/hostname");
        var archive = _dir.File("root.tar");
        ProcessRunner.Run("tar", "--owner=0", "--group=0", "--mtime=@1600000000", "--sort=name", "-C", root, "-cf", archive, ".").ExitCode.Should().Be(0);
        var epoch = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };
        var x64 = _dir.File("x64.ext3");
        var arm64 = _dir.File("arm64.ext3");

        var a = CliRunner.Run("fsmaker", ["mkfs", "-q", archive, x64], environment: epoch);
        var b = CrossBuilds.Arm64("fsmaker", ["mkfs", "-q", archive, arm64], environment: epoch);
        a.ExitCode.Should().Be(0, a.ToString());
        b.ExitCode.Should().Be(0, b.ToString());

        FileFacts.Sha256(arm64).Should().Be(FileFacts.Sha256(x64));
        ExternalTools.Run("e2fsck", "-fn", arm64).ExitCode.Should().Be(0);
        CrossBuilds.Arm64("fsmaker", ["--version"]).StdOut.Trim().Should().Be(CliRunner.FsMaker("--version").StdOut.Trim());
    }
}
