using System.IO.Compression;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests;

/// <summary>
/// The guarantee of issue 17: no exception reaches the user from either program. A sample of the e2fsprogs
/// corpus (every image is read in-process by CorpusRobustnessTests; here every eighth goes through the
/// programs themselves) and seeded mutations of ext images, MBR and GPT tables, tar archives and
/// compressed streams go through every command that reads them: sparsecopy copy, --list and --partition;
/// fsmaker inspect, extract, export, scrub (on a copy), mkfs from a tar and the build. Each run must end with
/// a documented exit code below 128: no "Unhandled exception" and no last-resort internal error (70).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CommandRobustnessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);
    private readonly TempDirectory _dir = new("imagetools-robust-");

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> CorpusSample()
    {
        var corpus = TestPaths.SharedCorpus;
        var folder = corpus == null ? null : Path.Combine(corpus, "e2fsprogs");
        if (folder == null || !Directory.Exists(folder))
        {
            return new TheoryData<string>("(corpus absent)");
        }
        var files = Directory.GetFiles(folder, "*.img.gz").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        return new TheoryData<string>(files.Where((_, i) => i % 8 == 0)!);
    }

    [Theory]
    [MemberData(nameof(CorpusSample))]
    public void Corpus_image_through_every_command(string file)
    {
        var corpus = TestPaths.RequireSharedCorpus();
        var source = Path.Combine(corpus, "e2fsprogs", file);
        if (!File.Exists(source))
        {
            Assert.Skip($"{source} is absent (the e2fsprogs corpus is not beside this clone)");
        }
        var image = _dir.File("image.img");
        using (var input = new GZipStream(File.OpenRead(source), CompressionMode.Decompress))
        using (var outputFile = File.Create(image))
        {
            input.CopyTo(outputFile);
        }
        ThroughImageCommands(image);
        // The compressed original too, as the seed's workflow reads it.
        Run("sparsecopy", source, _dir.File("from-gz.img"));
        Run("fsmaker", "inspect", source);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Mutated_ext_image_through_every_command(int seed)
    {
        var image = MakeImage("ext.img");
        var random = new Random(seed);
        Mutate(image, random, 0, 64 << 10, 96);
        ThroughImageCommands(image);
    }

    [Theory]
    [InlineData("dos", 1)]
    [InlineData("dos", 2)]
    [InlineData("gpt", 1)]
    [InlineData("gpt", 2)]
    public void Mutated_partition_table_through_every_command(string label, int seed)
    {
        var disk = _dir.File("disk.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(16 << 20);
        }
        var r = ProcessRunner.Shell($"printf 'label: {label}\\n2048,8192,L\\n10240,8192,L\\n' | sfdisk -q '{disk}'");
        r.ExitCode.Should().Be(0, r.ToString());
        var random = new Random(seed);
        // The table's sectors: the MBR, and for GPT the header and the first entries (CRCs are recomputed
        // half the time, so that the damage reaches the entries' validation and not only the CRC check).
        Mutate(disk, random, 0, label == "gpt" ? 3 * 512 : 512, 24);
        if (label == "gpt" && seed % 2 == 0)
        {
            RecomputeGptCrcs(disk);
        }
        Run("sparsecopy", "--list", disk);
        Run("sparsecopy", "--partition", "1", disk, _dir.File("p1.img"));
        Run("sparsecopy", disk, _dir.File("copy.img"));
        Run("fsmaker", "inspect", disk);
        Run("fsmaker", "extract", disk + ":1", "/", "-o", _dir.File("extracted"));
        Run("fsmaker", "scrub", disk + ":2");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Mutated_tar_archive_through_mkfs_and_build(int seed)
    {
        var tar = MakeTar("root.tar");
        Mutate(tar, new Random(seed), 0, (int)new FileInfo(tar).Length, 48);
        Run("fsmaker", "mkfs", tar, _dir.File("out.img"));
        Run("fsmaker", tar, _dir.File("disk.img"));
        Run("fsmaker", "inspect", tar);
    }

    [Theory]
    [InlineData("gzip", 1)]
    [InlineData("gzip", 2)]
    [InlineData("zstd", 1)]
    [InlineData("xz", 1)]
    public void Mutated_compressed_stream_through_every_reader(string tool, int seed)
    {
        var image = MakeImage("ext.img");
        var compressed = _dir.File("ext.img.c");
        var c = ProcessRunner.Shell($"{tool} -c '{image}' > '{compressed}'");
        c.ExitCode.Should().Be(0, c.ToString());
        var random = new Random(seed);
        var bytes = File.ReadAllBytes(compressed);
        var cut = bytes[..random.Next(bytes.Length / 4, bytes.Length)];
        for (var i = 0; i < 4; i++)
        {
            cut[random.Next(16, cut.Length)] ^= (byte)random.Next(1, 256);
        }
        File.WriteAllBytes(compressed, cut);
        Run("sparsecopy", compressed, _dir.File("out.img"));
        Run("sparsecopy", "--list", compressed);
        Run("fsmaker", "inspect", compressed);
        Run("fsmaker", "export", compressed, _dir.File("out.tar"));
        Run("fsmaker", compressed, _dir.File("disk.img"));
    }

    private void ThroughImageCommands(string image)
    {
        Run("sparsecopy", image, _dir.File("copy.img"));
        Run("sparsecopy", "--list", image);
        Run("sparsecopy", "--partition", "1", image, _dir.File("p1.img"));
        Run("fsmaker", "inspect", image);
        Run("fsmaker", "extract", image, "/", "-o", _dir.File("extracted"));
        Run("fsmaker", "export", image, _dir.File("export.tar"));
        Run("fsmaker", "export", "--keep-going", image, _dir.File("export-dir"));
        File.Copy(image, _dir.File("scrub.img"), overwrite: true);
        Run("fsmaker", "scrub", _dir.File("scrub.img"));
        foreach (var leftover in new[] { "copy.img", "p1.img", "export.tar", "scrub.img" })
        {
            File.Delete(_dir.File(leftover));
        }
        foreach (var folder in new[] { "extracted", "export-dir" })
        {
            if (Directory.Exists(_dir.File(folder)))
            {
                Directory.Delete(_dir.File(folder), recursive: true);
            }
        }
    }

    private void Run(string tool, params string[] args)
    {
        var r = TestSupport.Cli.Run(tool, args, timeout: Bound);
        output.WriteLine($"{tool} {string.Join(' ', args.Select(Path.GetFileName))}: exit {r.ExitCode}: {r.StdErr.Split('\n')[0]}");
        r.StdErr.Should().NotContain("Unhandled exception", r.ToString());
        r.ExitCode.Should().BeLessThan(128, r.ToString());
        r.ExitCode.Should().NotBe(70, $"{tool} {string.Join(' ', args)}: an internal error means an exception escaped: {r}");
    }

    private static void Mutate(string path, Random random, int from, int to, int count)
    {
        using var f = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
        to = (int)Math.Min(to, f.Length);
        Span<byte> one = stackalloc byte[1];
        for (var i = 0; i < count; i++)
        {
            f.Position = random.Next(from, to);
            one[0] = (byte)random.Next(256);
            f.Write(one);
        }
    }

    private static void RecomputeGptCrcs(string disk)
    {
        using var f = File.Open(disk, FileMode.Open, FileAccess.ReadWrite);
        var header = new byte[512];
        f.Position = 512;
        f.ReadExactly(header);
        var entries = new byte[128 * 128];
        f.Position = 1024;
        f.ReadExactly(entries);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(88), System.IO.Hashing.Crc32.HashToUInt32(entries));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 0);
        var size = (int)Math.Clamp(System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12)), 92, 512);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), System.IO.Hashing.Crc32.HashToUInt32(header.AsSpan(0, size)));
        f.Position = 512;
        f.Write(header);
    }

    private string MakeTar(string name)
    {
        var tree = Directory.CreateDirectory(_dir.File(name + ".tree")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "etc/ssh"));
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        Directory.CreateDirectory(Path.Combine(tree, "var/log"));
        File.WriteAllText(Path.Combine(tree, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(tree, "etc/shadow"), "root:$6$salt$hash:19000:0:99999:7:::\n");
        File.WriteAllText(Path.Combine(tree, "etc/machine-id"), "0123456789abcdef0123456789abcdef\n");
        File.WriteAllText(Path.Combine(tree, "etc/ssh/ssh_host_ed25519_key"), "key\n");
        File.WriteAllBytes(Path.Combine(tree, "boot/vmlinuz"), new byte[4096]);
        for (var i = 0; i < 20; i++)
        {
            File.WriteAllText(Path.Combine(tree, $"var/log/log{i}"), new string('x', 100 * i));
        }
        File.CreateSymbolicLink(Path.Combine(tree, "etc/link"), "passwd");
        var tar = _dir.File(name);
        var r = ProcessRunner.Run("tar", "--format=pax", "-C", tree, "-cf", tar, ".");
        r.ExitCode.Should().Be(0, r.ToString());
        Directory.Delete(tree, recursive: true);
        return tar;
    }

    private string MakeImage(string name)
    {
        var tar = MakeTar(name + ".tar");
        var image = _dir.File(name);
        var r = TestSupport.Cli.FsMaker("mkfs", "-t", "ext2", tar, image);
        r.ExitCode.Should().Be(0, r.ToString());
        File.Delete(tar);
        return image;
    }
}
