using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>DEST's bytes equal SOURCE's, holes stay holes (never read), and the counters say so.</summary>
[Trait("Category", "AotSmoke")]
public sealed class CopyContentTests : IDisposable
{
    private readonly TempDirectory _dir = new("sparsecopy-content-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ManyHoles_CopiedExactly_HolesNeitherReadNorAllocated()
    {
        // 64 MiB with 40 data extents of 4..64 KiB, 4 KiB aligned (file-system block size).
        var extents = Enumerable.Range(0, 40).Select(i => ((long)i * 1_600 * 1024, 4096 * (1 + i % 16))).ToList();
        var source = SparseFiles.Create(_dir.File("many-holes.img"), 64L << 20, extents);
        var dataBytes = extents.Sum(e => (long)e.Item2);

        var summary = Json(source, _dir.File("out.img"));

        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        new FileInfo(_dir.File("out.img")).Length.Should().Be(64L << 20);
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        summary.GetProperty("totalBytes").GetInt64().Should().Be(64L << 20);
        summary.GetProperty("realBytes").GetInt64().Should().Be(dataBytes);
        summary.GetProperty("sparseBytes").GetInt64().Should().Be((64L << 20) - dataBytes);
        // Only the data ranges were read: the holes (63 MiB) never were.
        summary.GetProperty("bytesRead").GetInt64().Should().Be(dataBytes);
        summary.GetProperty("sourceCompression").GetString().Should().Be("none");
    }

    [Fact]
    public void NoHoles_EverythingWritten()
    {
        var source = SparseFiles.CreateRandom(_dir.File("full.img"), 5_000_000);
        var r = Run(source, _dir.File("out.img"));
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        FinalLine(r).Should().Be((5_000_000L, 5_000_000L, 0L, 0L));
    }

    [Fact]
    public void FullyAllocatedZeros_BecomeHoles()
    {
        // Zeros that are really written in SOURCE (no holes) still become holes in DEST.
        var source = _dir.File("zeros-written.img");
        var bytes = new byte[8 << 20];
        SparseFiles.RandomBytes(new Random(5), 4096).CopyTo(bytes, 3 << 20);
        File.WriteAllBytes(source, bytes);
        FileFacts.AllocatedBytes(source).Should().BeGreaterThanOrEqualTo(8L << 20, "the fixture must be fully allocated");

        var r = Run(source, _dir.File("out.img"));

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        FinalLine(r).Should().Be((8L << 20, 4096L, (8L << 20) - 4096, 0L));
    }

    [Fact]
    public void UnalignedData_PartialLastBlock_DataAtTheVeryEnd()
    {
        // Odd offsets and lengths, a size that is not a multiple of 512, and the last byte non-zero.
        const long size = (3 << 20) + 777;
        var source = SparseFiles.Create(_dir.File("odd.img"), size,
            [(1, 1), (1000, 333), (70_001, 5000), (1_048_575, 2), (size - 300, 300)]);
        SparseFiles.ReadRange(source, size - 1, 1)[0].Should().NotBe(0);

        var r = Run(source, _dir.File("out.img"));

        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("out.img")).Length.Should().Be(size);
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        var (total, real, sparse, _) = FinalLine(r);
        total.Should().Be(size);
        (real + sparse).Should().Be(total);
    }

    [Fact]
    public void TrailingHole_KeepsSize()
    {
        var source = SparseFiles.Create(_dir.File("trailing.img"), 10 << 20, [(0, 4096)]);
        var r = Run(source, _dir.File("out.img"));
        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("out.img")).Length.Should().Be(10 << 20);
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
    }

    [Fact]
    public void EmptySource_EmptyDest()
    {
        File.WriteAllBytes(_dir.File("empty"), []);
        var r = Run(_dir.File("empty"), _dir.File("out.img"));
        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("out.img")).Length.Should().Be(0);
        FinalLine(r).Should().Be((0L, 0L, 0L, 0L));
    }

    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("zstd", "zstd")]
    [InlineData("xz", "xz")]
    [InlineData("bzip2", "bzip2")]
    public void CompressedFile_UnpackedOnTheFly_StillSparse(string tool, string format)
    {
        var source = SparseFiles.Create(_dir.File("raw.img"), 16 << 20, [(0, 65536), (5 << 20, 12345), ((16 << 20) - 4096, 4096)]);
        var compressed = Compress(tool, source);

        var summary = Json(compressed, _dir.File("out.img"));

        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
        summary.GetProperty("sourceCompression").GetString().Should().Be(format);
        summary.GetProperty("bytesRead").GetInt64().Should().Be(new FileInfo(compressed).Length, "bytes read counts the compressed input");
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("xz")]
    [InlineData("bzip2")]
    public void CompressedStdin_UnpackedOnTheFly(string tool)
    {
        var source = SparseFiles.Create(_dir.File("raw.img"), 4 << 20, [(4096, 8192), (3 << 20, 100)]);
        var compressed = Compress(tool, source);
        // Through a real pipe (not a file on fd 0), as in 'cat img.gz | sparsecopy - DEST'.
        var r = ProcessRunner.Shell($"cat '{compressed}' | '{TestSupport.Cli.PathOf("sparsecopy")}' - '{_dir.File("out.img")}'");
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, source));
    }

    [Fact]
    public void NoDecompress_CopiesCompressedBytes()
    {
        var source = SparseFiles.Create(_dir.File("raw.img"), 1 << 20, [(0, 1000)]);
        var compressed = Compress("gzip", source);
        var r = Run("--no-decompress", compressed, _dir.File("out.gz"));
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.gz")).Should().Be(FileFacts.Sha256(compressed));
    }

    [Fact]
    public void CorruptCompressedInput_FailsWithoutLeavingAFile()
    {
        var source = SparseFiles.CreateRandom(_dir.File("raw.img"), 1 << 20);
        var compressed = Compress("gzip", source);
        var bytes = File.ReadAllBytes(compressed);
        for (var i = 100; i < 400; i++)
        {
            bytes[i] ^= 0xFF;
        }
        File.WriteAllBytes(compressed, bytes);

        var r = Run(compressed, _dir.File("out.img"));

        r.ExitCode.Should().Be(17, r.ToString());
        r.StdErr.Should().Contain("raw.img.gz").And.Contain("corrupt");
        Leftovers(_dir.Path, "raw.img", "raw.img.gz").Should().BeEmpty();
    }

    [Fact]
    public void Stdin_PipeWithShortReads_ZeroDetectionStaysOnTheBlockGrid()
    {
        // Alternating 4 KiB blocks of data and zeros, fed through a pipe in odd-sized pieces: every
        // zero block must still become a hole (v0.10 judged each short read, so it wrote zeros).
        var bytes = new byte[2 << 20];
        var random = new Random(7);
        for (var block = 0; block < bytes.Length / 4096; block += 2)
        {
            SparseFiles.RandomBytes(random, 4096).CopyTo(bytes, block * 4096);
        }
        var r = RunWithStdin(new TrickleStream(bytes, 777), "-", _dir.File("out.img"));

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(bytes));
        File.WriteAllBytes(_dir.File("same-bytes.img"), bytes);
        FileFacts.AllocatedBytes(_dir.File("out.img")).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, _dir.File("same-bytes.img")))
            .And.BeLessThan(bytes.Length / 2 + 65536, "only the data blocks (and the file system's extent tree) are allocated");
        FinalLine(r).Should().Be((bytes.Length, bytes.Length / 2, bytes.Length / 2, 0L));
    }

    [Fact]
    public void StdinFromAFile_HolesNotRead()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 32 << 20, [(1 << 20, 4096)]);
        var r = ProcessRunner.Shell($"'{TestSupport.Cli.PathOf("sparsecopy")}' --json - '{_dir.File("out.img")}' < '{source}'");
        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(_dir.File("out.img")).Should().Be(FileFacts.Sha256(source));
        System.Text.Json.JsonDocument.Parse(r.StdOut).RootElement.GetProperty("bytesRead").GetInt64().Should().Be(4096);
    }

    [Fact]
    public void Stdout_ReceivesEveryByte()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 3 << 20, [(12345, 6789), ((3 << 20) - 10, 10)]);
        var r = Run(source, "-");
        r.ExitCode.Should().Be(0, r.StdErr);
        r.StdOutBytes.Length.Should().Be(3 << 20);
        FileFacts.Sha256(r.StdOutBytes).Should().Be(FileFacts.Sha256(source));
    }

    [Fact]
    public void StdinToStdout_JsonGoesToStderr()
    {
        var bytes = SparseFiles.RandomBytes(new Random(3), 100_000);
        var r = RunWithStdin(new MemoryStream(bytes), "--json", "-", "-");
        r.ExitCode.Should().Be(0, r.StdErr);
        FileFacts.Sha256(r.StdOutBytes).Should().Be(FileFacts.Sha256(bytes));
        r.StdErr.Should().Contain("\"totalBytes\": 100000");
    }

    [Fact]
    public void Verify_ReportsMatchingChecksum()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 8 << 20, [(0, 4096), (7 << 20, 5000)]);
        var summary = Json("--verify", source, _dir.File("out.img"));
        summary.GetProperty("verified").GetBoolean().Should().BeTrue();
        summary.GetProperty("sha256").GetString().Should().Be(FileFacts.Sha256(source));
        summary.GetProperty("elapsedSeconds").GetDouble().Should().BeGreaterThan(0);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void ReplacingAnExistingFile_KeepsItsPermissions()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 1 << 20, [(0, 100)]);
        var dest = SparseFiles.CreateRandom(_dir.File("out.img"), 3 << 20);
        File.SetUnixFileMode(dest, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var r = Run(source, dest);

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(dest).Should().Be(FileFacts.Sha256(source), "without -o an existing DEST is replaced, not overlaid");
        File.GetUnixFileMode(dest).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Leftovers(_dir.Path, "in.img", "out.img").Should().BeEmpty();
    }

    [Fact]
    public void DestThroughSymlink_ReplacesTheTarget()
    {
        var source = SparseFiles.Create(_dir.File("in.img"), 1 << 20, [(0, 100)]);
        SparseFiles.CreateRandom(_dir.File("real.img"), 4096);
        File.CreateSymbolicLink(_dir.File("link.img"), _dir.File("real.img"));
        var r = Run(source, _dir.File("link.img"));
        r.ExitCode.Should().Be(0, r.ToString());
        new FileInfo(_dir.File("link.img")).LinkTarget.Should().NotBeNull("the link stays a link");
        FileFacts.Sha256(_dir.File("real.img")).Should().Be(FileFacts.Sha256(source));
    }

    private string Compress(string tool, string path)
    {
        ExternalTools.Require(tool);
        var ext = tool switch { "gzip" => ".gz", "zstd" => ".zst", "xz" => ".xz", _ => ".bz2" };
        var r = ProcessRunner.Shell($"{tool} -c '{path}' > '{path}{ext}'");
        r.ExitCode.Should().Be(0, r.ToString());
        return path + ext;
    }

    /// <summary>Hands out its bytes a few at a time, so the pipe delivers short reads.</summary>
    private sealed class TrickleStream(byte[] data, int piece) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, piece), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
