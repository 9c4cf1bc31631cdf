using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Sparse.Bmap;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Sparse.Bmap;

/// <summary>
/// bmap files both ways with the real bmaptool: what <c>bmaptool create</c> writes is read correctly, what we
/// write <c>bmaptool copy --bmap</c> accepts (and checks), and damage is caught and named.
/// </summary>
public class BmapInteropTests : IDisposable
{
    private const int BlockSize = 4096;

    // An odd-sized sparse image: data in block 0, twice in block 1, across blocks 24-26, in block 27 (touching 26),
    // and in the last, partial block.
    private static readonly long ImageSize = (8L << 20) + 1234;

    private static readonly (long Offset, int Length)[] Writes =
    {
        (0, 512), (5000, 5), (8000, 3), (100_000, 10_000), (110_592, 100), (ImageSize - 3, 3),
    };

    private readonly TempDirectory _dir = new();
    private readonly string _image;

    public BmapInteropTests()
    {
        _image = _dir.File("image.img");
        var random = new Random(5);
        using var f = new FileStream(_image, FileMode.CreateNew);
        f.SetLength(ImageSize);
        foreach (var (offset, length) in Writes)
        {
            var data = new byte[length];
            random.NextBytes(data);
            f.Position = offset;
            f.Write(data);
        }
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>The block runs the writes touch, worked out here independently of the code under test.</summary>
    private static List<(long First, long Last)> ExpectedRuns(int blockSize)
    {
        var blocks = new SortedSet<long>();
        foreach (var (offset, length) in Writes)
        {
            for (var b = offset / blockSize; b <= (offset + length - 1) / blockSize; b++)
            {
                blocks.Add(b);
            }
        }
        var runs = new List<(long First, long Last)>();
        foreach (var b in blocks)
        {
            if (runs.Count > 0 && runs[^1].Last == b - 1)
            {
                runs[^1] = (runs[^1].First, b);
            }
            else
            {
                runs.Add((b, b));
            }
        }
        return runs;
    }

    private string Sha256Of(long first, long last, int blockSize)
    {
        var offset = first * blockSize;
        var length = (int)(Math.Min((last + 1) * blockSize, ImageSize) - offset);
        using var f = File.OpenRead(_image);
        f.Position = offset;
        var bytes = new byte[length];
        f.ReadExactly(bytes);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    private BlockMap OurBmap()
    {
        using var image = File.OpenRead(_image);
        return BmapCreator.Create(image, ImageSize, Writes.Select(w => (w.Offset, (long)w.Length)), BlockSize, source: _image);
    }

    private string WriteOurBmap()
    {
        var path = _dir.File("ours.bmap");
        BmapWriter.Write(OurBmap(), path);
        return path;
    }

    private ProcessResult BmaptoolCopy(string bmap, string destination) =>
        ExternalTools.Run("bmaptool", "copy", "--bmap", bmap, _image, destination);

    [Fact]
    public void Reads_what_bmaptool_create_writes()
    {
        var path = _dir.File("theirs.bmap");
        var create = ExternalTools.Run("bmaptool", "create", "-o", path, _image);
        create.ExitCode.Should().Be(0, create.ToString());

        var map = BmapReader.Read(path);

        map.Version.Should().Be("2.0");
        map.ImageSize.Should().Be(ImageSize);
        map.BlocksCount.Should().Be((ImageSize + map.BlockSize - 1) / map.BlockSize);
        map.ChecksumType.Should().Be("sha256");
        var expected = ExpectedRuns(map.BlockSize);
        map.Ranges.Select(r => (r.FirstBlock, r.LastBlock)).Should().Equal(expected);
        map.Ranges.Select(r => r.Checksum).Should().Equal(expected.Select(r => Sha256Of(r.First, r.Last, map.BlockSize)));
        map.MappedBlocksCount.Should().Be(expected.Sum(r => r.Last - r.First + 1));

        using var image = File.OpenRead(_image);
        BmapRangeVerifier.VerifyImage(map, image, _image, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Reads_bmaptool_output_without_checksums()
    {
        var path = _dir.File("nochecksum.bmap");
        ExternalTools.Run("bmaptool", "create", "--no-checksum", "-o", path, _image).ExitCode.Should().Be(0);

        var map = BmapReader.Read(path);

        map.Ranges.Select(r => (r.FirstBlock, r.LastBlock)).Should().Equal(ExpectedRuns(map.BlockSize));
        map.Ranges.Should().OnlyContain(r => r.Checksum == null);
    }

    [Fact]
    public void Our_bmap_has_the_ranges_and_checksums_bmaptool_creates()
    {
        var theirs = _dir.File("theirs.bmap");
        ExternalTools.Run("bmaptool", "create", "-o", theirs, _image).ExitCode.Should().Be(0);
        var reference = BmapReader.Read(theirs);
        if (reference.BlockSize != BlockSize)
        {
            Assert.Skip($"the temp filesystem's block size is {reference.BlockSize}, bmaptool maps in those; this comparison needs {BlockSize}");
        }

        var ours = BmapReader.Read(WriteOurBmap());

        ours.Ranges.Should().Equal(reference.Ranges);
        ours.ImageSize.Should().Be(reference.ImageSize);
        ours.MappedBlocksCount.Should().Be(reference.MappedBlocksCount);
    }

    [Fact]
    public void Bmaptool_copy_accepts_our_bmap()
    {
        var destination = _dir.File("copy.img");
        var copy = BmaptoolCopy(WriteOurBmap(), destination);

        copy.ExitCode.Should().Be(0, copy.ToString());
        FileFacts.Sha256(destination).Should().Be(FileFacts.Sha256(_image));
    }

    [Fact]
    public void A_damaged_image_is_a_checksum_mismatch_naming_the_range()
    {
        var bmap = WriteOurBmap();
        // One byte changed in the run of blocks 24-27.
        using (var f = new FileStream(_image, FileMode.Open))
        {
            f.Position = 105_000;
            var b = f.ReadByte();
            f.Position = 105_000;
            f.WriteByte((byte)(b ^ 0x01));
        }
        var map = BmapReader.Read(bmap);

        using var image = File.OpenRead(_image);
        var verify = () => BmapRangeVerifier.VerifyImage(map, image, _image, TestContext.Current.CancellationToken);
        verify.Should().Throw<ImageToolsException>()
            .Where(e => e.Kind == ErrorKind.BmapMismatch)
            .WithMessage($"{_image}: checksum mismatch in blocks 24-27 (bytes 98304-114687): SHA-256 is {Sha256Of(24, 27, BlockSize)}, " +
                         $"the bmap {bmap} says {map.Ranges.Single(r => r.FirstBlock == 24).Checksum}; the image is damaged or the bmap belongs to another image");

        // bmaptool checks our checksums too, and finds the same range.
        var copy = BmaptoolCopy(bmap, _dir.File("copy.img"));
        copy.ExitCode.Should().NotBe(0);
        copy.StdErr.Should().Contain("checksum mismatch for blocks range 24-27");
    }

    [Fact]
    public void A_changed_bmap_file_is_caught_by_its_own_checksum()
    {
        var bmap = WriteOurBmap();
        var text = File.ReadAllText(bmap);
        File.WriteAllText(bmap, text.Replace("<BlockMap>", "<BlockMap> "));

        var read = () => BmapReader.Read(bmap);
        read.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.ChecksumMismatch)
            .WithMessage($"{bmap}: the bmap file's own SHA-256 is *, but <BmapFileChecksum> says *: the file was changed or damaged after it was written");
        var copy = BmaptoolCopy(bmap, _dir.File("copy.img"));
        copy.ExitCode.Should().NotBe(0);
        copy.StdErr.Should().Contain("checksum mismatch for bmap file");
    }

    [Fact]
    public void Reads_format_1_3_with_sha1_which_bmaptool_also_accepts()
    {
        var runs = ExpectedRuns(BlockSize);
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\" ?>\n<bmap version=\"1.3\">\n");
        sb.Append($"  <ImageSize> {ImageSize} </ImageSize>\n  <BlockSize> {BlockSize} </BlockSize>\n");
        sb.Append($"  <BlocksCount> {(ImageSize + BlockSize - 1) / BlockSize} </BlocksCount>\n");
        sb.Append($"  <MappedBlocksCount> {runs.Sum(r => r.Last - r.First + 1)} </MappedBlocksCount>\n");
        sb.Append($"  <BmapFileSHA1> {new string('0', 40)} </BmapFileSHA1>\n  <BlockMap>\n");
        foreach (var (first, last) in runs)
        {
            var offset = first * BlockSize;
            var length = (int)(Math.Min((last + 1) * BlockSize, ImageSize) - offset);
            var bytes = TestDiskBytes(offset, length);
            var range = first == last ? $"{first}" : $"{first}-{last}";
            sb.Append($"    <Range sha1=\"{Convert.ToHexStringLower(SHA1.HashData(bytes))}\"> {range} </Range>\n");
        }
        sb.Append("  </BlockMap>\n</bmap>\n");
        var zeroed = sb.ToString();
        var signed = zeroed.Replace(new string('0', 40), Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(zeroed))));
        var path = _dir.File("v13.bmap");
        File.WriteAllText(path, signed);

        var map = BmapReader.Read(path);

        map.Version.Should().Be("1.3");
        map.ChecksumType.Should().Be("sha1");
        map.Ranges.Select(r => (r.FirstBlock, r.LastBlock)).Should().Equal(runs);
        using (var image = File.OpenRead(_image))
        {
            BmapRangeVerifier.VerifyImage(map, image, _image, TestContext.Current.CancellationToken);
        }
        var copy = BmaptoolCopy(path, _dir.File("copy.img"));
        copy.ExitCode.Should().Be(0, "bmaptool must agree the hand-made 1.3 file is valid: " + copy);
    }

    [Fact]
    public void Reads_format_1_0_without_checksums()
    {
        var path = _dir.File("v10.bmap");
        File.WriteAllText(path, $"""
            <?xml version="1.0" ?>
            <bmap version="1.0">
              <ImageSize> {ImageSize} </ImageSize>
              <BlockSize> {BlockSize} </BlockSize>
              <BlocksCount> {(ImageSize + BlockSize - 1) / BlockSize} </BlocksCount>
              <MappedBlocksCount> 3 </MappedBlocksCount>
              <BlockMap>
                <Range> 0 -  1 </Range>
                <Range>2048</Range>
              </BlockMap>
            </bmap>
            """);

        var map = BmapReader.Read(path);

        map.ChecksumType.Should().BeNull();
        map.Ranges.Should().Equal(new BmapRange(0, 1), new BmapRange(2048, 2048));
        map.ByteRangeOf(map.Ranges[1]).Should().Be((2048L * BlockSize, ImageSize - 2048L * BlockSize), "the last block is partial");
        BmaptoolCopy(path, _dir.File("copy.img")).ExitCode.Should().Be(0);
    }

    private byte[] TestDiskBytes(long offset, int length)
    {
        using var f = File.OpenRead(_image);
        f.Position = offset;
        var bytes = new byte[length];
        f.ReadExactly(bytes);
        return bytes;
    }
}
