using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>Every v0.10 option, with its size rules, and the new ones.</summary>
public sealed class OptionTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-options-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("-f2G")]
    [InlineData("-f 2G")]
    [InlineData("--finalsize 2G")]
    [InlineData("--finalsize=2G")]
    [InlineData("-f 4194304")] // bare number: 512-byte blocks
    [InlineData("-qf2g")]
    public void FinalSize_FromDevNull_MakesAnEmptySparseFile(string option)
    {
        var args = option.Split(' ').Concat(["/dev/null", _dir.File("myfs")]).ToArray();
        var r = Run(args);
        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("myfs")).Length.Should().Be(2L << 30);
        FileFacts.AllocatedBytes(_dir.File("myfs")).Should().Be(0);
    }

    [Theory]
    [InlineData(new[] { "-f", "2048" }, 1L << 20)]             // 2048 blocks of 512
    [InlineData(new[] { "-b", "1024B", "-f", "4" }, 4096L)]     // -b in bytes, -f in 1024-byte blocks
    [InlineData(new[] { "-b", "2", "-f", "3" }, 3072L)]         // -b 2 = 2 × 512 bytes
    [InlineData(new[] { "-b2", "-f3" }, 3072L)]
    [InlineData(new[] { "-f", "3k" }, 3072L)]
    [InlineData(new[] { "-f", "100B" }, 100L)]
    [InlineData(new[] { "-f", "1M", "-f", "2M" }, 2L << 20)]   // the last one wins, as with getopt
    public void BareNumbersCountBlocks(string[] options, long expectedSize)
    {
        var r = Run([.. options, "/dev/null", _dir.File("out")]);
        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("out")).Length.Should().Be(expectedSize);
    }

    [Fact]
    public void FinalSize_SmallerThanSource_Truncates()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 8192);
        var r = Run("-f", "4096B", source, _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        File.ReadAllBytes(_dir.File("out")).Should().Equal(File.ReadAllBytes(source).AsSpan(0, 4096).ToArray());
    }

    [Fact]
    public void MaxWrite_CopiesAtMostThatMuch()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 100_000);
        foreach (var option in new[] { "-m", "--maxwrite", "--max" })
        {
            var r = Run(option, "10", source, _dir.File("out")); // 10 blocks = 5120 bytes
            r.ExitCode.Should().Be(0, r.ToString());
            File.ReadAllBytes(_dir.File("out")).Should().Equal(File.ReadAllBytes(source).AsSpan(0, 5120).ToArray());
            FinalLine(r).Total.Should().Be(5120);
        }
    }

    [Fact]
    public void ErrorRemainder_FailsWith12WhenSourceHoldsMore_AndLeavesNothing()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 100_000);
        var r = Run("-e", "-m", "5K", source, _dir.File("out"));
        r.ExitCode.Should().Be(12, r.ToString());
        r.StdErr.Should().Contain("in.img").And.Contain("5120");
        Leftovers(_dir.Path, "in.img").Should().BeEmpty();

        var exact = Run("-e", "-m", "100000B", source, _dir.File("out"));
        exact.ExitCode.Should().Be(0, exact.ToString());
    }

    [Fact]
    public void ErrorRemainder_OnAPipe()
    {
        var bytes = SparseFiles.RandomBytes(new Random(1), 20_000);
        var r = RunWithStdin(new MemoryStream(bytes), "-e", "-m", "10000B", "-", _dir.File("out"));
        r.ExitCode.Should().Be(12, r.ToString());
        Leftovers(_dir.Path).Should().BeEmpty();
        var ok = RunWithStdin(new MemoryStream(bytes), "-e", "-m", "20000B", "-", _dir.File("out"));
        ok.ExitCode.Should().Be(0, ok.ToString());
        File.ReadAllBytes(_dir.File("out")).Should().Equal(bytes);
    }

    [Fact]
    public void Seek_StartsWritingThere()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 3000);
        var r = Run("-s", "4", source, _dir.File("out")); // 4 blocks = 2048 bytes
        r.ExitCode.Should().Be(0, r.ToString());
        var output = File.ReadAllBytes(_dir.File("out"));
        output.Length.Should().Be(2048 + 3000);
        output.AsSpan(0, 2048).ToArray().Should().OnlyContain(b => b == 0);
        output.AsSpan(2048).ToArray().Should().Equal(File.ReadAllBytes(source));
    }

    [Fact]
    public void Skip_StartsReadingThere()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 10_000);
        var r = Run("--skip", "1000B", source, _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        File.ReadAllBytes(_dir.File("out")).Should().Equal(File.ReadAllBytes(source).AsSpan(1000).ToArray());
    }

    [Fact]
    public void SkipSeekAndMax_Together_OnAPipe()
    {
        var bytes = SparseFiles.RandomBytes(new Random(9), 50_000);
        var r = RunWithStdin(new MemoryStream(bytes), "--skip", "3", "-s", "1", "-m", "20", "-", _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        var output = File.ReadAllBytes(_dir.File("out"));
        output.Length.Should().Be(512 + 20 * 512);
        output.AsSpan(512).ToArray().Should().Equal(bytes.AsSpan(3 * 512, 20 * 512).ToArray());
    }

    [Fact]
    public void Overlay_WritesOverAnExistingFile_KeepingWhatLiesBeyond()
    {
        var dest = SparseFiles.CreateRandom(_dir.File("dest.img"), 1 << 20, seed: 11);
        var before = File.ReadAllBytes(dest);
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 4096, seed: 12);

        var r = Run("-o", "-s", "8", source, dest);

        r.ExitCode.Should().Be(0, r.ToString());
        var after = File.ReadAllBytes(dest);
        after.Length.Should().Be(1 << 20, "an overlay keeps DEST's size when the copy ends inside it");
        after.AsSpan(0, 4096).ToArray().Should().Equal(before.AsSpan(0, 4096).ToArray());
        after.AsSpan(4096, 4096).ToArray().Should().Equal(File.ReadAllBytes(source));
        after.AsSpan(8192).ToArray().Should().Equal(before.AsSpan(8192).ToArray());
    }

    [Fact]
    public void Check_RefusesANonBlankDest_WithExit11_AndChangesNothing()
    {
        var dest = SparseFiles.CreateRandom(_dir.File("dest.img"), 65536);
        var hash = FileFacts.Sha256(dest);
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 4096);

        var r = Run("-c", "-o", source, dest);

        r.ExitCode.Should().Be(11, r.ToString());
        r.StdErr.Should().Contain("dest.img").And.Contain("not blank");
        FileFacts.Sha256(dest).Should().Be(hash);
    }

    [Fact]
    public void Check_AcceptsABlankDest()
    {
        var dest = SparseFiles.Create(_dir.File("dest.img"), 65536, [(4096, 100)]);
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 512);
        var r = Run("--check", "--overlay", source, dest);
        r.ExitCode.Should().Be(0, r.ToString());
        SparseFiles.ReadRange(dest, 0, 512).Should().Equal(File.ReadAllBytes(source));
    }

    [Fact]
    public void Quiet_PrintsNothing()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 4096);
        var r = Run("-q", source, _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().BeEmpty();
        r.StdOut.Should().BeEmpty();
    }

    [Fact]
    public void Progress_ShowsBytesPercentRateAndEta_ForFilesAndStdin()
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 3 << 20);
        var r = Run("-p", source, _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().MatchRegex(@"3\.0 MiB of 3\.0 MiB \(100\.0%\), 3\.0 MiB written, .*/s, ETA 0:00");
        FinalLine(r).Total.Should().Be(3 << 20, "the final line stays last");

        var piped = RunWithStdin(File.OpenRead(source), "-p", "-", _dir.File("out2"));
        piped.ExitCode.Should().Be(0, piped.ToString());
        piped.StdErr.Should().MatchRegex(@"3\.0 MiB copied, 3\.0 MiB written, .*/s");
    }

    [Fact]
    public void SyncEvery_CopiesCorrectly()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 4 << 20, [(0, 1 << 20), (2 << 20, 1 << 20)]);
        var r = Run("-y", "256K", source, _dir.File("out"));
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out")).Should().Be(FileFacts.Sha256(source));
    }

    [Fact]
    public void BlockSize_SetsZeroDetectionGranularity()
    {
        // One non-zero byte per 64 KiB: with -b 64K every block holds data and is written whole;
        // with the default 512 only the blocks holding the byte are written.
        var bytes = new byte[1 << 20];
        for (var i = 0; i < bytes.Length; i += 65536)
        {
            bytes[i + 100] = 1;
        }
        File.WriteAllBytes(_dir.File("in.img"), bytes);

        var coarse = Run("-b", "64K", _dir.File("in.img"), _dir.File("coarse"));
        var fine = Run(_dir.File("in.img"), _dir.File("fine"));

        FinalLine(coarse).Real.Should().Be(1 << 20);
        FinalLine(fine).Real.Should().Be(16 * 512);
        FileFacts.Sha256(_dir.File("coarse")).Should().Be(FileFacts.Sha256(bytes));
        FileFacts.Sha256(_dir.File("fine")).Should().Be(FileFacts.Sha256(bytes));
    }

    [Fact]
    public void Help_GoesToStderr_Exit0()
    {
        foreach (var option in new[] { "-h", "--help" })
        {
            var r = Run(option);
            r.ExitCode.Should().Be(0);
            r.StdErr.Should().Contain("usage: sparsecopy [OPTIONS] SOURCE DEST").And.Contain("--finalsize");
            r.StdOut.Should().BeEmpty();
        }
    }
}
