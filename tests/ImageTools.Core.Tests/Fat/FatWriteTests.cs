using System.Security.Cryptography;
using FluentAssertions;
using ImageTools.Core.Fat;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Fat;

/// <summary>
/// FAT volumes we write (an ESP's content, long names, many entries, empty files): fsck.fat -n finds nothing,
/// mtools reads every file back byte for byte, our reader too; builds are reproducible; what does not fit is refused.
/// </summary>
public class FatWriteTests
{
    private static readonly Dictionary<string, string?> Utf8 = new() { ["LC_ALL"] = "C.UTF-8", ["MTOOLS_SKIP_CHECK"] = "1" };

    /// <summary>Path -> content: the files of an ESP and the cases that test the format.</summary>
    private static Dictionary<string, byte[]> Files()
    {
        var random = new Random(1515);
        byte[] Bytes(int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }
        var files = new Dictionary<string, byte[]>
        {
            ["EFI/BOOT/BOOTX64.EFI"] = Bytes(1_234_567),
            ["EFI/BOOT/grub.cfg"] = "search --fs-uuid --set=root 1234\nconfigfile /boot/grub/grub.cfg\n"u8.ToArray(),
            ["EFI/debian/grub.cfg"] = "set prefix=x\n"u8.ToArray(),
            ["vmlinuz-6.1.0-50-cloud-amd64"] = Bytes(3_000_001),
            ["A very long file name, with spaces and commas, beyond 13 characters.txt"] = Bytes(5000),
            ["unicode-ünï-名前.txt"] = Bytes(77),
            ["empty"] = Array.Empty<byte>(),
            ["MixedCase.Txt"] = Bytes(10),
            ["two.dots.in.name"] = Bytes(11),
        };
        for (var i = 0; i < 150; i++)
        {
            files[$"many/file number {i:D3}.bin"] = Bytes(i * 37);
        }
        return files;
    }

    private static FatBuildResult Build(string image, long size, Dictionary<string, byte[]> files, string label = "ESP")
    {
        using (var f = new FileStream(image, FileMode.Create))
        {
            f.SetLength(size);
        }
        var builder = new FatFilesystemBuilder(size) { Label = label, Timestamp = new DateTime(2024, 5, 6, 7, 8, 10, DateTimeKind.Utc) };
        builder.AddDirectory("EFI/empty-dir");
        foreach (var (path, content) in files)
        {
            builder.AddFile(path, content);
        }
        using var stream = new FileStream(image, FileMode.Open, FileAccess.ReadWrite);
        return builder.Write(stream);
    }

    private static void FsckClean(string image)
    {
        // Exit 1 and a line per finding otherwise ("FATs differ", "Reclaimed 1 unused cluster", "Free cluster summary wrong"...).
        var r = ExternalTools.Run("fsck.fat", "-n", image);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(2, r.ToString()).And.Contain(l => l.StartsWith(image + ": ") && l.Contains(" files, "));
    }

    private static void MtoolsReadsEveryFile(string image, Dictionary<string, byte[]> files, TempDirectory dir)
    {
        var mcopy = ExternalTools.Require("mcopy");
        var i = 0;
        foreach (var (path, content) in files)
        {
            var output = dir.File($"out{i++}");
            var r = ProcessRunner.Run(mcopy, new[] { "-n", "-i", image, "::/" + path, output }, environment: Utf8);
            r.ExitCode.Should().Be(0, $"mcopy {path}: {r}");
            File.ReadAllBytes(output).Should().Equal(content, $"mcopy reads {path} back");
        }
        var mdir = ProcessRunner.Run(ExternalTools.Require("mdir"), new[] { "-i", image, "-/", "-b", "::/" }, environment: Utf8);
        mdir.ExitCode.Should().Be(0, mdir.ToString());
        mdir.StdOut.Should().Contain("::/EFI/empty-dir/").And.Contain("::/A very long file name, with spaces and commas, beyond 13 characters.txt")
            .And.Contain("::/unicode-ünï-名前.txt");
    }

    private static void OurReaderReadsEveryFile(string image, Dictionary<string, byte[]> files)
    {
        using var f = File.OpenRead(image);
        var fs = FatFileSystem.Open(f, image);
        var walked = fs.Walk().Where(n => !n.IsDirectory).ToDictionary(n => n.Path.TrimStart('/'), n => n);
        walked.Keys.Should().BeEquivalentTo(files.Keys);
        foreach (var (path, content) in files)
        {
            fs.ReadAllBytes(walked[path]).Should().Equal(content, path);
        }
        fs.Find("efi/boot/bootx64.efi").Should().NotBeNull("FAT names ignore case");
        fs.Find("EFI/empty-dir")!.IsDirectory.Should().BeTrue();
    }

    [Theory]
    [InlineData(64L << 20, FatType.Fat16)]
    [InlineData(600L << 20, FatType.Fat32)]
    public void Volume_is_clean_for_fsck_fat_and_mtools_reads_every_file_back(long size, FatType type)
    {
        using var dir = new TempDirectory();
        var image = dir.File("esp.img");
        var files = Files();

        var result = Build(image, size, files);

        result.Type.Should().Be(type);
        FsckClean(image);
        MtoolsReadsEveryFile(image, files, dir);
        OurReaderReadsEveryFile(image, files);
        var blkid = ExternalTools.Run("blkid", "-p", "-o", "export", image);
        blkid.StdOut.Should().Contain($"VERSION=FAT{(int)type}").And.Contain("LABEL=ESP");
    }

    [Fact]
    public void Same_input_gives_the_same_volume()
    {
        using var dir = new TempDirectory();
        var files = Files();
        Build(dir.File("a.img"), 64L << 20, files);
        Build(dir.File("b.img"), 64L << 20, files.Reverse().ToDictionary(kv => kv.Key, kv => kv.Value));

        FileFacts.Sha256(dir.File("a.img")).Should().Be(FileFacts.Sha256(dir.File("b.img")), "names are sorted, not taken in the order they were added");
    }

    [Fact]
    public void Our_reader_reads_what_mkfs_fat_and_mcopy_made()
    {
        using var dir = new TempDirectory();
        var image = dir.File("theirs.img");
        ExternalTools.Run("mkfs.fat", "-C", "-F", "32", image, (300 * 1024).ToString()).ExitCode.Should().Be(0);
        var content = RandomNumberGenerator.GetBytes(100_000);
        var local = dir.File("Some Long Name.dat");
        File.WriteAllBytes(local, content);
        ProcessRunner.Run(ExternalTools.Require("mmd"), new[] { "-i", image, "::/EFI", "::/EFI/BOOT" }, environment: Utf8).ExitCode.Should().Be(0);
        ProcessRunner.Run(ExternalTools.Require("mcopy"), new[] { "-i", image, local, "::/EFI/BOOT/" }, environment: Utf8).ExitCode.Should().Be(0);

        using var f = File.OpenRead(image);
        var fs = FatFileSystem.Open(f, image);
        fs.Boot.Type.Should().Be(FatType.Fat32);
        fs.ReadAllBytes(fs.Find("EFI/BOOT/Some Long Name.dat")!).Should().Equal(content);
    }

    [Fact]
    public void What_does_not_fit_is_refused_naming_it()
    {
        using var dir = new TempDirectory();
        var full = () => Build(dir.File("full.img"), 8L << 20, new Dictionary<string, byte[]> { ["EFI/BOOT/BOOTX64.EFI"] = new byte[9 << 20] });
        full.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.DoesNotFit && e.Message.Contains("BOOTX64.EFI") && e.Message.Contains("larger"));

        var tiny = () => new FatFilesystemBuilder(1 << 20).Geometry();
        tiny.Should().Throw<ImageToolsException>().Where(e => e.Kind == ErrorKind.DoesNotFit);

        var crowded = () => Build(dir.File("root.img"), 8L << 20,
            Enumerable.Range(0, 200).ToDictionary(i => $"root file with a long name {i}", _ => new byte[1]));
        crowded.Should().Throw<ImageToolsException>().WithMessage("*root directory holds 512 entries*");

        var builder = new FatFilesystemBuilder(8L << 20);
        builder.AddFile("EFI/grub.cfg", new byte[1]);
        builder.Invoking(b => b.AddFile("efi/GRUB.CFG", new byte[1])).Should().Throw<ImageToolsException>().WithMessage("*ignore case*");
        builder.Invoking(b => b.AddFile("EFI/bad:name", new byte[1])).Should().Throw<ImageToolsException>().WithMessage("*cannot be a FAT file name*");
    }

    [Fact]
    public void Seeded_mutations_never_crash_the_reader()
    {
        using var dir = new TempDirectory();
        var image = dir.File("esp.img");
        var files = Files().Take(12).ToDictionary(kv => kv.Key, kv => kv.Value);
        Build(image, 8L << 20, files);
        var pristine = File.ReadAllBytes(image);
        using var check = new MemoryStream(pristine);
        var boot = FatFileSystem.Open(check).Boot;
        // The metadata: boot sector, FATs, root directory and the first clusters (the subdirectories).
        var metadataEnd = (int)((boot.DataStartSector + 64L * boot.SectorsPerCluster) * 512);
        var random = new Random(1717);
        var readable = 0;
        for (var round = 0; round < 300; round++)
        {
            var bytes = (byte[])pristine.Clone();
            for (var flips = random.Next(1, 8); flips > 0; flips--)
            {
                bytes[random.Next(metadataEnd)] = (byte)random.Next(256);
            }
            try
            {
                var fs = FatFileSystem.Open(new MemoryStream(bytes), "mutated");
                foreach (var node in fs.Walk().Take(10_000))
                {
                    if (!node.IsDirectory)
                    {
                        fs.CopyTo(node, Stream.Null);
                    }
                }
                readable++;
            }
            catch (ImageToolsException)
            {
                // A diagnosis is a correct outcome.
            }
            catch (EndOfStreamException)
            {
                throw new InvalidOperationException($"round {round}: the reader ran past the volume instead of refusing");
            }
        }
        readable.Should().BeGreaterThan(0);
    }
}
