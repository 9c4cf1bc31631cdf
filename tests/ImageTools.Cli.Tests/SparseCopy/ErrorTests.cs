using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>Each failure: its message names the path and the problem, its exit code, and nothing left behind.</summary>
[Trait("Category", "AotSmoke")]
public sealed class ErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-errors-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(new string[0], "SOURCE and DEST are required")]
    [InlineData(new[] { "a" }, "SOURCE and DEST are required")]
    [InlineData(new[] { "a", "b", "c" }, "exactly two paths")]
    [InlineData(new[] { "-f", "12X", "a", "b" }, "--finalsize: '12X' has an unknown suffix")]
    [InlineData(new[] { "-f", "-3", "a", "b" }, "--finalsize: '-3' is not a size")]
    [InlineData(new[] { "-m", "99999999999999999999", "a", "b" }, "--maxwrite")]
    [InlineData(new[] { "-b", "0", "a", "b" }, "--blocksize 0 bytes is out of range")]
    [InlineData(new[] { "-f", "8E", "a", "b" }, "too large")]
    [InlineData(new[] { "--frobnicate", "a", "b" }, "--frobnicate")]
    [InlineData(new[] { "--blank-check", "maybe", "a", "b" }, "--blank-check 'maybe'")]
    public void BadArguments_Exit1(string[] args, string message)
    {
        var r = Run(args);
        r.ExitCode.Should().Be(1, r.ToString());
        r.StdErr.Should().Contain(message);
    }

    [Fact]
    public void MissingSource_Exit2_NoDestCreated()
    {
        var r = Run(_dir.File("nope.img"), _dir.File("out"));
        r.ExitCode.Should().Be(2, r.ToString());
        r.StdErr.Should().Contain("nope.img").And.Contain("no such file");
        Leftovers(_dir.Path).Should().BeEmpty();
    }

    [Fact]
    public void DestFolderMissing_Exit3()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 100);
        var r = Run(source, _dir.File("no/such/folder/out"));
        r.ExitCode.Should().Be(3, r.ToString());
        r.StdErr.Should().Contain("does not exist");
    }

    [Fact]
    public void DestIsADirectory_Exit15()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 100);
        Directory.CreateDirectory(_dir.File("folder"));
        var r = Run(source, _dir.File("folder"));
        r.ExitCode.Should().Be(15, r.ToString());
        r.StdErr.Should().Contain("folder").And.Contain("is a directory");
        Directory.GetFileSystemEntries(_dir.File("folder")).Should().BeEmpty();
    }

    [Fact]
    public void SameFile_Exit14_Untouched_AlsoThroughAHardLinkOrSymlink()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 10_000);
        var hash = FileFacts.Sha256(source);
        ProcessRunner.Run("ln", source, _dir.File("hard.img")).ExitCode.Should().Be(0);
        File.CreateSymbolicLink(_dir.File("soft.img"), source);

        foreach (var dest in new[] { source, _dir.File("hard.img"), _dir.File("soft.img") })
        {
            foreach (var overlay in new[] { false, true })
            {
                var r = overlay ? Run("-o", source, dest) : Run(source, dest);
                r.ExitCode.Should().Be(14, r.ToString());
                r.StdErr.Should().Contain("same file");
            }
        }
        FileFacts.Sha256(source).Should().Be(hash);
        Leftovers(_dir.Path, "in.img", "hard.img", "soft.img").Should().BeEmpty();
    }

    [Fact]
    public void VerifyToStdout_Exit1()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 100);
        var r = Run("--verify", source, "-");
        r.ExitCode.Should().Be(1, r.ToString());
        r.StdErr.Should().Contain("--verify");
    }

    [Fact]
    public void DiskFull_Exit9_NoPartialFile()
    {
        ExternalTools.RequireRoot("mounting a 1 MiB tmpfs to fill it");
        var mountPoint = Directory.CreateDirectory(_dir.File("small")).FullName;
        var mount = ProcessRunner.Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint);
        if (mount.ExitCode != 0)
        {
            Assert.Skip($"cannot mount a tmpfs here: {mount.StdErr.Trim()}");
        }
        try
        {
            var source = SparseFiles.CreateRandom(_dir.File("in.img"), 4 << 20);
            var r = Run(source, Path.Combine(mountPoint, "out.img"));
            r.ExitCode.Should().Be(9, r.ToString());
            r.StdErr.Should().Contain("out.img").And.Contain("No space left");
            Directory.GetFileSystemEntries(mountPoint).Should().BeEmpty("the temporary file is removed");
        }
        finally
        {
            ProcessRunner.Run("umount", mountPoint);
        }
    }
}
