using FluentAssertions;
using ImageTools.Cli.Tests.SparseCopy;
using ImageTools.TestSupport;
using Xunit;
using CliRunner = ImageTools.TestSupport.Cli;

namespace ImageTools.Cli.Tests.Windows;

/// <summary>
/// The win-x64 build (self-contained single file, as released) of both tools under Wine, on the main jobs, each
/// result compared byte for byte with the Linux build's. Paths are given the Windows way (Z:\...\disk.img: a drive
/// letter and backslashes). Wine implements neither FSCTL_QUERY_ALLOCATED_RANGES nor FSCTL_SET_ZERO_DATA and
/// ignores FSCTL_SET_SPARSE, so here the Windows build takes its fallbacks (every byte is data, zeros are
/// written); the real paths are unit-tested over a simulated NTFS volume (Core.Tests WindowsPlatformIoTests).
/// </summary>
[Trait("Category", "Wine")]
public sealed class WineTests : IDisposable
{
    private const long MiB = 1 << 20;
    private readonly TempDirectory _dir = new("wine-");

    public void Dispose() => _dir.Dispose();

    private static string Win(string path) => CrossBuilds.WindowsPath(path);

    private string SparseSource() => SparseFiles.Create(_dir.File("source.img"), 48 * MiB,
        new (long, int)[] { (0, 4096), (7 * MiB + 512, 100_000), (30 * MiB, 1 << 20), (48 * MiB - 4096, 4096) });

    private static void Succeeded(ProcessResult r, string what) => r.ExitCode.Should().Be(0, $"{what}:\n{r}");

    [Fact]
    public void Sparsecopy_of_a_sparse_file_gives_the_linux_builds_bytes_and_holes()
    {
        var source = SparseSource();
        var linux = _dir.File("linux.img");
        var windows = _dir.File("windows.img");

        Succeeded(CliRunner.SparseCopy(source, linux), "linux sparsecopy");
        var w = CrossBuilds.Wine("sparsecopy", [Win(source), Win(windows)]);
        Succeeded(w, "sparsecopy.exe under Wine");

        FileFacts.Sha256(windows).Should().Be(FileFacts.Sha256(linux)).And.Be(FileFacts.Sha256(source));
        w.StdErr.Should().Contain("total bytes = 50331648");
        FileFacts.AllocatedBytes(windows).Should().BeLessThan(4 * MiB, "zero blocks are skipped, not written, on Windows too");
        Directory.GetFiles(_dir.Path, "*.tmp").Should().BeEmpty("the temporary file was renamed once closed");
    }

    [Fact]
    public void Sparsecopy_replaces_an_existing_dest_and_unpacks_gzip()
    {
        var source = SparseSource();
        var gz = DiskImages.Compress(source, "gzip");
        var linux = _dir.File("linux.img");
        var windows = SparseFiles.CreateRandom(_dir.File("windows.img"), 2 * MiB); // replaced, not overwritten in place

        Succeeded(CliRunner.SparseCopy(gz, linux), "linux sparsecopy of .gz");
        Succeeded(CrossBuilds.Wine("sparsecopy", [Win(gz), Win(windows)]), "sparsecopy.exe of .gz");

        FileFacts.Sha256(windows).Should().Be(FileFacts.Sha256(linux)).And.Be(FileFacts.Sha256(source));
    }

    [Fact]
    public void Sparsecopy_with_finalsize_and_overlay_match_the_linux_build()
    {
        var source = SparseSource();
        var linux = _dir.File("linux.img");
        var windows = _dir.File("windows.img");
        Succeeded(CliRunner.SparseCopy("-f", "100M", source, linux), "linux -f");
        Succeeded(CrossBuilds.Wine("sparsecopy", ["-f", "100M", Win(source), Win(windows)]), "sparsecopy.exe -f");
        new FileInfo(windows).Length.Should().Be(100 * MiB);
        FileFacts.Sha256(windows).Should().Be(FileFacts.Sha256(linux));

        // -o over a file of random bytes: the blank check must zero what SOURCE has as holes (Wine: by writing zeros).
        var linuxOver = SparseFiles.CreateRandom(_dir.File("linux-over.img"), 48 * MiB, seed: 5);
        var windowsOver = SparseFiles.CreateRandom(_dir.File("windows-over.img"), 48 * MiB, seed: 5);
        Succeeded(CliRunner.SparseCopy("-o", source, linuxOver), "linux -o");
        Succeeded(CrossBuilds.Wine("sparsecopy", ["-o", Win(source), Win(windowsOver)]), "sparsecopy.exe -o");
        FileFacts.Sha256(windowsOver).Should().Be(FileFacts.Sha256(linuxOver)).And.Be(FileFacts.Sha256(source));
    }

    [Fact]
    public void Sparsecopy_list_prints_what_the_linux_build_prints()
    {
        var disk = DiskImages.Create(_dir.File("disk.img"), 64 * MiB, """
            label: dos
            label-id: 0x5eed0016
            2048,20480,83,*
            ,,5
            ,10000,82
            ,,c
            """);
        // Run in the image's folder with a relative name, so that both print the same name.
        var linux = ProcessRunner.Run(CliRunner.PathOf("sparsecopy"), ["--list", "disk.img"], workingDirectory: _dir.Path);
        var windows = CrossBuilds.Wine("sparsecopy", ["--list", "disk.img"], workingDirectory: _dir.Path);
        Succeeded(linux, "linux --list");
        Succeeded(windows, "sparsecopy.exe --list");
        Normalise(windows.StdOut).Should().Be(Normalise(linux.StdOut));
        linux.StdOut.Should().Contain("disk.img5");

        var json = CrossBuilds.Wine("sparsecopy", ["--list", "--json", Win(disk)]);
        Succeeded(json, "sparsecopy.exe --list --json");
        json.StdOut.Should().Contain("\"type\"");
    }

    [Fact]
    public void Fsmaker_mkfs_from_a_tar_under_source_date_epoch_gives_the_linux_builds_image()
    {
        var archive = RootArchive();
        var linux = _dir.File("linux.ext3");
        var windows = _dir.File("windows.ext3");
        var epoch = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };

        Succeeded(CliRunner.Run("fsmaker", ["mkfs", "-q", "--type", "ext3", archive, linux], environment: epoch), "linux mkfs");
        Succeeded(CrossBuilds.Wine("fsmaker", ["mkfs", "-q", "--type", "ext3", Win(archive), Win(windows)], environment: epoch), "fsmaker.exe mkfs");

        FileFacts.Sha256(windows).Should().Be(FileFacts.Sha256(linux));
        ExternalTools.Run("e2fsck", "-fn", windows).ExitCode.Should().Be(0);
    }

    [Fact]
    public void Fsmaker_disk_build_inspect_and_export_match_the_linux_build()
    {
        if (!File.Exists("/usr/lib/grub/i386-pc/boot.img"))
        {
            Assert.Skip("GRUB's i386-pc files are not installed (grub-pc-bin; scripts/install-test-deps.sh installs it)");
        }
        var archive = RootArchive();
        var kernel = FakeKernel();
        var linux = _dir.File("linux-disk.img");
        var windows = _dir.File("windows-disk.img");
        var epoch = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };

        Succeeded(CliRunner.Run("fsmaker", ["-q", "-k", kernel, "-s", "64M", archive, linux], environment: epoch), "linux build");
        Succeeded(CrossBuilds.Wine("fsmaker", ["-q", "--grub-dir", Win("/usr/lib/grub/i386-pc"), "-k", Win(kernel), "-s", "64M", Win(archive), Win(windows)],
            environment: epoch), "fsmaker.exe build");
        FileFacts.Sha256(windows).Should().Be(FileFacts.Sha256(linux));
        Sfdisk.Json(windows).Partitions.Should().HaveCount(2);

        // inspect, with relative names so that both print the same text.
        File.Copy(windows, _dir.File("disk.img"));
        var inspectLinux = ProcessRunner.Run(CliRunner.PathOf("fsmaker"), ["inspect", "disk.img"], workingDirectory: _dir.Path);
        var inspectWindows = CrossBuilds.Wine("fsmaker", ["inspect", "disk.img"], workingDirectory: _dir.Path);
        Succeeded(inspectWindows, "fsmaker.exe inspect");
        Normalise(inspectWindows.StdOut).Should().Be(Normalise(inspectLinux.StdOut));
        inspectLinux.StdOut.Should().Contain("ext4 filesystem", "a tar root is written as ext4 by default");

        // export partition 1 (IMAGE:N after a drive-letter path) to a tar: the same archive bytes.
        var tarLinux = _dir.File("linux-export.tar");
        var tarWindows = _dir.File("windows-export.tar");
        Succeeded(CliRunner.FsMaker("export", linux + ":1", tarLinux), "linux export");
        Succeeded(CrossBuilds.Wine("fsmaker", ["export", Win(windows) + ":1", Win(tarWindows)]), "fsmaker.exe export");
        FileFacts.Sha256(tarWindows).Should().Be(FileFacts.Sha256(tarLinux));
        ProcessRunner.Run("tar", "-tf", tarWindows).StdOut.Should().Contain("imagetools-marker");
    }

    [Fact]
    public void Both_tools_print_the_package_version()
    {
        var expected = typeof(ImageTools.Core.ImageToolsException).Assembly
            .GetName().Version!.ToString(3);
        CrossBuilds.Wine("sparsecopy", ["--version"]).StdOut.Trim().Should().Be(expected);
        CrossBuilds.Wine("fsmaker", ["--version"]).StdOut.Trim().Should().Be(expected);
    }

    private static string Normalise(string text) => text.Replace("\r\n", "\n");

    /// <summary>A small root tree as a GNU tar archive: owners, modes, a symlink, a hard link and a kernel name.</summary>
    private string RootArchive()
    {
        var archive = _dir.File("root.tar");
        if (File.Exists(archive))
        {
            return archive;
        }
        var root = Directory.CreateDirectory(_dir.File("root")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, "boot"));
        File.WriteAllText(Path.Combine(root, "imagetools-marker"), "built under Wine\n");
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "wine-test\n");
        File.WriteAllBytes(Path.Combine(root, "etc", "big"), SparseFiles.RandomBytes(new Random(3), 300_000));
        File.CreateSymbolicLink(Path.Combine(root, "etc", "mtab"), "/proc/self/mounts");
        var r = ProcessRunner.Run("tar", "--format=gnu", "--owner=0", "--group=0", "--mtime=@1600000000", "--sort=name", "-C", root, "-cf", archive, ".");
        r.ExitCode.Should().Be(0, r.ToString());
        return archive;
    }

    /// <summary>A stand-in kernel: random bytes with the x86 boot protocol's "HdrS" magic at 0x202.</summary>
    private string FakeKernel()
    {
        var path = _dir.File("vmlinuz");
        var bytes = SparseFiles.RandomBytes(new Random(7), 200_000);
        "HdrS"u8.CopyTo(bytes.AsSpan(0x202));
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
