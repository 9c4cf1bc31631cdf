using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// A compressed SOURCE that is cut short, fails its check or has bytes appended is refused with exit 17
/// (corrupt input), from a file and from a pipe, and DEST keeps what it held: the broken download of
/// <c>gzcat img.gz | sparsecopy - /dev/sdb</c> never becomes a silently broken disk. A whole stream, and
/// streams concatenated as <c>gzip -dc</c> and <c>xz -dc</c> accept them, still copy.
/// </summary>
public sealed class CompressedSourceIntegrityTests : IDisposable
{
    private const long ImageSize = 1 << 20;
    private readonly TempDirectory _dir = new("sparsecopy-integrity-");
    private readonly string _image;

    public CompressedSourceIntegrityTests()
    {
        // Half random (stored deflate blocks), half text (real Huffman blocks), so both kinds of member end are met.
        _image = _dir.File("disk.img");
        var random = new Random(17);
        using var file = File.Create(_image);
        file.Write(SparseFiles.RandomBytes(random, (int)(ImageSize / 2)));
        var text = System.Text.Encoding.ASCII.GetBytes(string.Join('\n', Enumerable.Range(0, 200_000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        file.Write(text.AsSpan(0, (int)(ImageSize / 2)));
    }

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Damaged() => new()
    {
        { "gzip", "first-half" },
        { "gzip", "without-trailer" },
        { "gzip", "header-only" },
        { "gzip", "trailing-garbage" },
        { "gzip", "bad-crc" },
        { "zstd", "first-half" },
        { "xz", "first-half" },
        { "xz", "trailing-garbage" },
        { "bzip2", "first-half" },
    };

    [Theory]
    [MemberData(nameof(Damaged))]
    public void Damaged_compressed_source_exits_17_and_leaves_dest_untouched(string tool, string damage)
    {
        var source = Damage(Compress(tool), damage);
        var dest = _dir.File("dest.img");
        File.WriteAllText(dest, "what DEST held before");

        var r = Run(source, dest);

        r.ExitCode.Should().Be(17, r.ToString());
        r.StdErr.Should().Contain(Path.GetFileName(source));
        File.ReadAllText(dest).Should().Be("what DEST held before");
        Leftovers(_dir.Path, Path.GetFileName(_image), Path.GetFileName(dest)).Where(n => n.StartsWith('.')).Should().BeEmpty();
    }

    [Theory]
    [MemberData(nameof(Damaged))]
    public void Damaged_compressed_stdin_exits_17_and_leaves_dest_untouched(string tool, string damage)
    {
        var source = Damage(Compress(tool), damage);
        var dest = _dir.File("dest.img");
        File.WriteAllText(dest, "what DEST held before");

        var r = ProcessRunner.Shell($"cat '{source}' | '{TestSupport.Cli.PathOf("sparsecopy")}' - '{dest}'");

        r.ExitCode.Should().Be(17, r.ToString());
        r.StdErr.Should().Contain("stdin");
        File.ReadAllText(dest).Should().Be("what DEST held before");
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("xz")]
    [InlineData("zstd")]
    public void Concatenated_streams_copy_whole(string tool)
    {
        var one = Compress(tool);
        var two = _dir.File("two" + Path.GetExtension(one));
        File.WriteAllBytes(two, [.. File.ReadAllBytes(one), .. File.ReadAllBytes(one)]);
        var dest = _dir.File("out.img");

        var r = Run(two, dest);

        r.ExitCode.Should().Be(0, r.ToString());
        var expected = File.ReadAllBytes(_image);
        File.ReadAllBytes(dest).Should().Equal([.. expected, .. expected]);
    }

    [Fact]
    public void Xz_stream_padding_is_accepted()
    {
        var xz = Compress("xz");
        var padded = _dir.File("padded.xz");
        File.WriteAllBytes(padded, [.. File.ReadAllBytes(xz), 0, 0, 0, 0, 0, 0, 0, 0]);
        var dest = _dir.File("out.img");

        var r = Run(padded, dest);

        r.ExitCode.Should().Be(0, r.ToString());
        File.ReadAllBytes(dest).Should().Equal(File.ReadAllBytes(_image));
    }

    private string Compress(string tool)
    {
        var ext = tool switch { "gzip" => ".gz", "zstd" => ".zst", "xz" => ".xz", _ => ".bz2" };
        var path = _image + ext;
        if (!File.Exists(path))
        {
            var r = ProcessRunner.Shell($"{tool} -c '{_image}' > '{path}'");
            r.ExitCode.Should().Be(0, r.ToString());
        }
        return path;
    }

    private string Damage(string compressed, string damage)
    {
        var bytes = File.ReadAllBytes(compressed);
        byte[] damaged = damage switch
        {
            "first-half" => bytes[..(bytes.Length / 2)],
            "without-trailer" => bytes[..^4],
            "header-only" => bytes[..10],
            "trailing-garbage" => [.. bytes, .. "garbage\n"u8.ToArray()],
            "bad-crc" => FlipBit(bytes, bytes.Length - 6),
            _ => throw new ArgumentOutOfRangeException(nameof(damage)),
        };
        var path = _dir.File($"{damage}-{Path.GetFileName(compressed)}");
        File.WriteAllBytes(path, damaged);
        return path;
    }

    private static byte[] FlipBit(byte[] bytes, int at)
    {
        var copy = bytes.ToArray();
        copy[at] ^= 1;
        return copy;
    }
}
