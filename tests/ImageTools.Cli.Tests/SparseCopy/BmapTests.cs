using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// bmap files through the command, both ways with the real bmaptool: <c>bmaptool copy --bmap</c> takes what
/// <c>--create-bmap</c> writes, <c>--bmap</c> takes what <c>bmaptool create</c> writes (plain and compressed
/// images), and a damaged image, a damaged bmap or a bmap of another image each fail with their own exit code,
/// leaving no output behind.
/// </summary>
[Trait("Category", "AotSmoke")]
public sealed class BmapTests : IDisposable
{
    private const long ImageSize = (24L << 20) + 1536; // not a whole number of 4 KiB blocks
    private readonly TempDirectory _dir = new("sparsecopy-bmap-");
    private readonly string _image;

    public BmapTests()
    {
        _image = SparseFiles.Create(_dir.File("image.img"), ImageSize,
            DiskImages.Scattered(0, ImageSize).Append((10L << 20, 200_000)).Append((ImageSize - 700, 700)));
    }

    public void Dispose() => _dir.Dispose();

    private string BmaptoolCreate()
    {
        var path = _dir.File("theirs.bmap");
        var r = ExternalTools.Run("bmaptool", "create", "-o", path, _image);
        r.ExitCode.Should().Be(0, r.ToString());
        return path;
    }

    private static long MappedBytes(string image) => SparseFiles.DataRanges(image).Sum(r => r.End - r.Start);

    [Fact]
    public void Bmaptool_copy_accepts_our_bmap_and_it_maps_what_bmaptool_maps()
    {
        var ours = _dir.File("ours.bmap");
        var r = Run("--create-bmap", ours, _image);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain($"sparsecopy: bmap {ours}:").And.Contain("blocks of 4096 bytes mapped");

        var copy = ExternalTools.Run("bmaptool", "copy", "--bmap", ours, _image, _dir.File("bmaptool-copy.img"));
        copy.ExitCode.Should().Be(0, copy.ToString());
        FileFacts.Sha256(_dir.File("bmaptool-copy.img")).Should().Be(FileFacts.Sha256(_image));

        var theirs = Core.Sparse.Bmap.BmapReader.Read(BmaptoolCreate());
        var mine = Core.Sparse.Bmap.BmapReader.Read(ours);
        if (theirs.BlockSize != mine.BlockSize)
        {
            Assert.Skip($"bmaptool maps in this file system's {theirs.BlockSize}-byte blocks; the range comparison needs 4096");
        }
        mine.Ranges.Should().Equal(theirs.Ranges);
        mine.ImageSize.Should().Be(theirs.ImageSize);
        Leftovers(_dir.Path, "image.img", "ours.bmap", "theirs.bmap", "bmaptool-copy.img").Should().BeEmpty();
    }

    [Fact]
    public void Our_copy_takes_the_bmap_bmaptool_creates_and_reads_only_the_mapped_ranges()
    {
        var bmap = BmaptoolCreate();
        var output = _dir.File("copy.img");

        var summary = Json("--bmap", bmap, _image, output);

        FileFacts.Sha256(output).Should().Be(FileFacts.Sha256(_image));
        summary.GetProperty("bytesRead").GetInt64().Should().Be(MappedBytes(_image), "exactly the mapped ranges are read, each once");
        summary.GetProperty("totalBytes").GetInt64().Should().Be(ImageSize);
        summary.GetProperty("bmap").GetProperty("rangesVerified").GetBoolean().Should().BeTrue();
        FileFacts.AllocatedBytes(output).Should().BeLessThanOrEqualTo(CpSparseAllocated(_dir, _image));
    }

    [Theory]
    [InlineData("xz")]
    [InlineData("zstd")]
    public void A_compressed_image_is_copied_with_its_bmap(string compressor)
    {
        var bmap = BmaptoolCreate();
        var compressed = DiskImages.Compress(_image, compressor);
        var output = _dir.File("copy.img");

        var r = Run("--verify", "--bmap", bmap, compressed, output);

        r.ExitCode.Should().Be(0, r.ToString());
        FileFacts.Sha256(output).Should().Be(FileFacts.Sha256(_image));
        new FileInfo(output).Length.Should().Be(ImageSize);
    }

    [Fact]
    public void A_damaged_image_fails_naming_the_range_with_exit_23_and_leaves_no_output()
    {
        var bmap = BmaptoolCreate();
        var damaged = _dir.File("damaged.img");
        File.Copy(_image, damaged);
        // One byte inside the 200 000-byte run at 10 MiB: blocks 2560-2608.
        DiskImages.Poke(damaged, (10L << 20) + 150_000, 0x00);
        var map = Core.Sparse.Bmap.BmapReader.Read(bmap);
        var range = map.Ranges.Single(x => x.FirstBlock * map.BlockSize <= (10L << 20) + 150_000 && (x.LastBlock + 1) * map.BlockSize > (10L << 20) + 150_000);

        var r = Run("--bmap", bmap, damaged, _dir.File("out.img"));

        r.ExitCode.Should().Be(23, r.ToString());
        r.StdErr.Should().Contain($"{damaged}: checksum mismatch in blocks {range.FirstBlock}-{range.LastBlock}")
            .And.Contain($"the bmap {bmap} says {range.Checksum}");
        Leftovers(_dir.Path, "image.img", "theirs.bmap", "damaged.img").Should().BeEmpty("no partial output is left for a new file");
    }

    [Fact]
    public void A_bmap_of_another_image_a_damaged_bmap_and_a_missing_one_are_told_apart()
    {
        var bmap = BmaptoolCreate();

        var other = SparseFiles.Create(_dir.File("other.img"), ImageSize + 4096, [(0, 4096)]);
        var wrongImage = Run("--bmap", bmap, other, _dir.File("out.img"));
        wrongImage.ExitCode.Should().Be(23, wrongImage.ToString());
        wrongImage.StdErr.Should().Contain("the bmap belongs to another image");

        var damagedBmap = _dir.File("damaged.bmap");
        File.WriteAllText(damagedBmap, File.ReadAllText(bmap).Replace("<BlockMap>", "<BlockMap> "));
        var corrupt = Run("--bmap", damagedBmap, _image, _dir.File("out.img"));
        corrupt.ExitCode.Should().Be(17, corrupt.ToString());
        corrupt.StdErr.Should().Contain("changed or damaged after it was written");

        var missing = Run("--bmap", _dir.File("none.bmap"), _image, _dir.File("out.img"));
        missing.ExitCode.Should().Be(21, missing.ToString());

        var combined = Run("--bmap", bmap, "--partition", "1", _image, _dir.File("out.img"));
        combined.ExitCode.Should().Be(1, combined.ToString());
        Leftovers(_dir.Path, "image.img", "theirs.bmap", "other.img", "damaged.bmap").Should().BeEmpty();
    }

    [Fact]
    public void Create_bmap_refuses_compressed_input_and_pipes()
    {
        var gz = DiskImages.Compress(_image, "gzip");
        var compressed = Run("--create-bmap", _dir.File("x.bmap"), gz);
        compressed.ExitCode.Should().Be(20, compressed.ToString());
        compressed.StdErr.Should().Contain("gzip-compressed").And.Contain("create it from the raw image");

        var pipe = ProcessRunner.Shell($"cat '{_image}' | '{TestSupport.Cli.PathOf("sparsecopy")}' --create-bmap '{_dir.File("x.bmap")}' -");
        pipe.ExitCode.Should().Be(20, pipe.ToString());
        File.Exists(_dir.File("x.bmap")).Should().BeFalse();
    }
}
