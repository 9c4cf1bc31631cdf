using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Text;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests;

/// <summary>
/// Issue 17's hostile input and bad luck, run through the real programs: outputs that are their inputs,
/// modes of replaced outputs, sizes past the largest file, GPT headers with absurd entry sizes, folders
/// the user cannot search, damaged group descriptors, corrupt tar members, signals during an export,
/// holes in exported files. Every run ends with a documented exit code, never the runtime's
/// "Unhandled exception" (exit 134) nor the last-resort internal error (exit 70).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileInputTests : IDisposable
{
    private readonly TempDirectory _dir = new("imagetools-hostile-");

    public void Dispose() => _dir.Dispose();

    // ---- output == input (issue 17, security 4) ----

    [Fact]
    public void Mkfs_refuses_to_write_over_its_tar_source_also_through_a_link()
    {
        var tar = MakeRootTar("in.tar");
        var before = File.ReadAllBytes(tar);
        File.CreateSymbolicLink(_dir.File("link.tar"), tar);

        foreach (var output in new[] { tar, _dir.File("link.tar") })
        {
            var r = TestSupport.Cli.FsMaker("mkfs", tar, output);
            Documented(r).ExitCode.Should().Be(10, r.ToString());
            r.StdErr.Should().Contain("is SOURCE");
        }
        File.ReadAllBytes(tar).Should().Equal(before);
    }

    [Fact]
    public void Export_refuses_to_write_over_its_image_also_through_a_link_and_stdout()
    {
        var image = MakeImage("fs.img");
        var before = File.ReadAllBytes(image);
        File.CreateSymbolicLink(_dir.File("fs-link.tar"), image);

        var r = TestSupport.Cli.FsMaker("export", image, _dir.File("fs-link.tar"));
        Documented(r).ExitCode.Should().Be(10, r.ToString());

        var viaStdout = ProcessRunner.Shell($"'{TestSupport.Cli.PathOf("fsmaker")}' export '{image}' - >> '{image}'");
        Documented(viaStdout).ExitCode.Should().Be(10, viaStdout.ToString());
        var extract = ProcessRunner.Shell($"'{TestSupport.Cli.PathOf("fsmaker")}' extract '{image}' /etc/hostname -o - >> '{image}'");
        Documented(extract).ExitCode.Should().Be(10, extract.ToString());

        File.ReadAllBytes(image).Should().Equal(before);
    }

    // ---- modes (security 5) ----

    [Fact]
    public void Replaced_outputs_keep_their_mode_and_new_ones_follow_the_umask()
    {
        var tar = MakeRootTar("root.tar");
        var image = _dir.File("fs.img");
        var archive = _dir.File("fs.tar");
        File.WriteAllText(image, "old");
        File.WriteAllText(archive, "old");
        File.SetUnixFileMode(image, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(archive, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Documented(TestSupport.Cli.FsMaker("mkfs", tar, image)).ExitCode.Should().Be(0);
        Documented(TestSupport.Cli.FsMaker("export", image, archive)).ExitCode.Should().Be(0);

        File.GetUnixFileMode(image).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.GetUnixFileMode(archive).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var fsmaker = TestSupport.Cli.PathOf("fsmaker");
        var sparsecopy = TestSupport.Cli.PathOf("sparsecopy");
        var r = ProcessRunner.Shell(
            $"umask 077 && '{fsmaker}' mkfs '{tar}' '{_dir.File("new.img")}' && '{fsmaker}' export '{image}' '{_dir.File("new.tar")}' " +
            $"&& '{sparsecopy}' '{image}' '{_dir.File("copy.img")}'");
        r.ExitCode.Should().Be(0, r.ToString());
        foreach (var created in new[] { "new.img", "new.tar", "copy.img" })
        {
            File.GetUnixFileMode(_dir.File(created)).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, created + " was created under umask 077");
        }
    }

    // ---- crashes (6, 7, 8, 9) ----

    [Theory]
    [InlineData("-f", "16T", 10)]
    [InlineData("-f", "7E", 10)]
    [InlineData("-s", "16T", 9)]
    [InlineData("-s", "1E", 9)]
    public void Sparsecopy_sizes_past_the_largest_file_are_write_or_truncate_failures(string option, string size, int expected)
    {
        var source = SparseFiles.CreateRandom(_dir.File("in.img"), 1 << 16);
        var r = TestSupport.Cli.SparseCopy(option, size, source, _dir.File("out.img"));
        Documented(r).ExitCode.Should().Be(expected, r.ToString());
        r.StdErr.Should().Contain("largest file");
        Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Should().BeEquivalentTo(["in.img"]);
    }

    [Fact]
    public void Gpt_with_an_absurd_entry_size_is_refused_by_every_reader()
    {
        var disk = _dir.File("gpt.img");
        using (var f = File.Create(disk))
        {
            f.SetLength(8 << 20);
        }
        var sfdisk = ProcessRunner.Shell($"printf 'label: gpt\\n2048,4096,L\\n' | sfdisk -q '{disk}'");
        sfdisk.ExitCode.Should().Be(0, sfdisk.ToString());
        // Entry size 0x80000000 (128 x 2^24) in both headers, with valid header CRCs.
        PatchGptHeader(disk, 1);
        PatchGptHeader(disk, (8 << 20) / 512 - 1);

        foreach (var args in new[]
        {
            new[] { "sparsecopy", "--list", disk },
            ["sparsecopy", "--partition", "1", disk, _dir.File("p1.img")],
            ["fsmaker", "inspect", disk],
            ["fsmaker", "extract", disk + ":1", "/etc", "-o", _dir.File("x")],
            ["fsmaker", "scrub", disk + ":1"],
        })
        {
            var r = TestSupport.Cli.Run(args[0], args[1..]);
            Documented(r);
            if (args[1] != "inspect")
            {
                r.ExitCode.Should().NotBe(0, r.ToString());
            }
        }
    }

    [Fact]
    public void A_folder_the_user_cannot_search_is_a_clear_error_as_source_and_as_destination()
    {
        ExternalTools.RequireRoot("runs the programs as nobody, who cannot search a 0700 folder owned by root");
        File.SetUnixFileMode(_dir.Path, (UnixFileMode)0x1ED); // 0755: nobody may reach the public files
        var hidden = Directory.CreateDirectory(_dir.File("dir700/sub")).Parent!.FullName;
        File.SetUnixFileMode(hidden, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var source = SparseFiles.CreateRandom(_dir.File("pub.img"), 1 << 16);
        var tar = MakeRootTar("root.tar");
        foreach (var path in new[] { source, tar })
        {
            File.SetUnixFileMode(path, (UnixFileMode)0x1A4); // 0644
        }
        var asNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp";
        var sc = TestSupport.Cli.PathOf("sparsecopy");
        var fm = TestSupport.Cli.PathOf("fsmaker");
        (string Command, int Expected)[] runs =
        [
            ($"{asNobody} '{sc}' '{source}' '{hidden}/sub/o.img'", 3),
            ($"{asNobody} '{sc}' '{hidden}/sub/x.img' '{_dir.File("o.img")}'", 2),
            ($"{asNobody} '{fm}' mkfs '{tar}' '{hidden}/sub/o.img'", 3),
            ($"{asNobody} '{fm}' '{hidden}/sub/x.img' '{_dir.File("o.img")}'", 2),
            ($"{asNobody} '{fm}' inspect '{hidden}/sub/x.img'", 2),
        ];
        foreach (var (command, expected) in runs)
        {
            var r = ProcessRunner.Shell(command);
            Documented(r).ExitCode.Should().Be(expected, command + "\n" + r);
            r.StdErr.Should().Contain("dir700/sub");
        }
    }

    [Fact]
    public void Scrub_of_ext2_with_group_free_counts_of_65535_is_refused_as_damage_and_changes_nothing()
    {
        var image = MakeImage("g.img", "ext2");
        var debugfs = ExternalTools.Run("debugfs", "-w", "-R", "set_bg 0 free_blocks_count 65535", image);
        debugfs.ExitCode.Should().Be(0, debugfs.ToString());
        var before = File.ReadAllBytes(image);

        var r = TestSupport.Cli.FsMaker("scrub", image);

        Documented(r).ExitCode.Should().Be(4, r.ToString());
        r.StdErr.Should().Contain("group 0").And.Contain("damaged");
        File.ReadAllBytes(image).Should().Equal(before);
    }

    // ---- damaged tar members (12) ----

    [Theory]
    [InlineData("negative-size")]
    [InlineData("sparse-map-past-end")]
    [InlineData("sparse-map-overflow")]
    [InlineData("sparse-map-more-than-stored")]
    public void Mkfs_refuses_corrupt_tar_members_as_gnu_tar_does(string damage)
    {
        var tar = _dir.File(damage + ".tar");
        File.WriteAllBytes(tar, CorruptTar(damage));
        var image = _dir.File("out.img");

        var r = TestSupport.Cli.FsMaker("mkfs", tar, image);

        Documented(r).ExitCode.Should().Be(4, r.ToString());
        r.StdErr.Should().Contain(tar);
        File.Exists(image).Should().BeFalse();
        ProcessRunner.Run("tar", "-tvf", tar).ExitCode.Should().NotBe(0, "GNU tar refuses the same archive");
    }

    // ---- cleanup on signals (14) ----

    [Theory]
    [InlineData("INT", 130)]
    [InlineData("TERM", 143)]
    [InlineData("HUP", 129)]
    public async Task A_signal_during_export_to_a_tar_leaves_nothing_behind(string signal, int expected)
    {
        // 96 MiB of random data compressed with gzip takes seconds: long enough to be interrupted.
        var tree = Directory.CreateDirectory(_dir.File("tree")).FullName;
        SparseFiles.CreateRandom(Path.Combine(tree, "random.bin"), 96 << 20);
        var image = _dir.File("fs.img");
        Documented(TestSupport.Cli.FsMaker("mkfs", tree, image)).ExitCode.Should().Be(0);
        Directory.Delete(tree, recursive: true);
        var outDir = Directory.CreateDirectory(_dir.File("out")).FullName;

        var psi = new ProcessStartInfo(TestSupport.Cli.PathOf("fsmaker")) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "export", "-q", image, Path.Combine(outDir, "out.tar.gz") })
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (Directory.GetFiles(outDir).Length == 0 && !process.HasExited)
            {
                DateTime.UtcNow.Should().BeBefore(deadline, "the export should have created its temporary file");
                Thread.Sleep(20);
            }
            process.HasExited.Should().BeFalse("the export should still be running when the signal comes");
            ProcessRunner.Run("kill", "-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ExitCode.Should().Be(0);
            process.WaitForExit(TimeSpan.FromSeconds(60)).Should().BeTrue("fsmaker should stop after SIG" + signal);
            process.ExitCode.Should().Be(expected, await stderr);
            Directory.GetFileSystemEntries(outDir).Should().BeEmpty("neither the archive nor its temporary may remain");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    // ---- holes in exported files (15) ----

    [Fact]
    public void Export_to_tar_keeps_holes_as_sparse_members_that_gnu_tar_restores()
    {
        var tree = Directory.CreateDirectory(_dir.File("tree")).FullName;
        var big = Path.Combine(tree, "big.img");
        using (var f = File.Create(big))
        {
            f.SetLength(2L << 30);
            f.Position = 1 << 20;
            f.Write("hello"u8);
            f.Position = 1L << 30;
            f.Write("tail"u8);
        }
        using (var f = File.Create(Path.Combine(tree, "holes-only")))
        {
            f.SetLength(100 << 20);
        }
        File.WriteAllText(Path.Combine(tree, "small"), "small\n");
        var image = _dir.File("fs.img");
        Documented(TestSupport.Cli.FsMaker("mkfs", tree, image)).ExitCode.Should().Be(0);
        var archive = _dir.File("fs.tar");

        Documented(TestSupport.Cli.FsMaker("export", image, archive)).ExitCode.Should().Be(0);

        new FileInfo(archive).Length.Should().BeLessThan(1 << 20, "2 GiB of holes are not written out");
        var restored = Directory.CreateDirectory(_dir.File("restored")).FullName;
        var tar = ProcessRunner.Run("tar", "-C", restored, "-xf", archive);
        tar.ExitCode.Should().Be(0, tar.ToString());
        foreach (var name in new[] { "big.img", "holes-only", "small" })
        {
            ProcessRunner.Run("cmp", Path.Combine(tree, name), Path.Combine(restored, name)).ExitCode.Should().Be(0, name + " restored equal");
        }
        // Our own reader takes the archive back too.
        Documented(TestSupport.Cli.FsMaker("mkfs", archive, _dir.File("again.img"))).ExitCode.Should().Be(0);
    }

    // ---- helpers ----

    /// <summary>The run ended with a documented exit code: no runtime crash, no last-resort internal error.</summary>
    private static ProcessResult Documented(ProcessResult r)
    {
        r.StdErr.Should().NotContain("Unhandled exception", r.ToString());
        r.ExitCode.Should().BeLessThan(128, r.ToString());
        r.ExitCode.Should().NotBe(70, "an internal error means an exception escaped: " + r);
        return r;
    }

    private string MakeRootTar(string name)
    {
        var tree = Directory.CreateDirectory(_dir.File(name + ".tree"));
        Directory.CreateDirectory(Path.Combine(tree.FullName, "etc"));
        File.WriteAllText(Path.Combine(tree.FullName, "etc", "hostname"), "hostile\n");
        File.WriteAllText(Path.Combine(tree.FullName, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(tree.FullName, "etc", "shadow"), "root:$6$salt$hash:19000:0:99999:7:::\n");
        var tar = _dir.File(name);
        var r = ProcessRunner.Run("tar", "-C", tree.FullName, "-cf", tar, ".");
        r.ExitCode.Should().Be(0, r.ToString());
        tree.Delete(recursive: true);
        return tar;
    }

    private string MakeImage(string name, string type = "ext3")
    {
        var tar = MakeRootTar(name + ".tar");
        var image = _dir.File(name);
        Documented(TestSupport.Cli.FsMaker("mkfs", "-t", type, tar, image)).ExitCode.Should().Be(0);
        return image;
    }

    private static void PatchGptHeader(string disk, long lba)
    {
        using var f = File.Open(disk, FileMode.Open, FileAccess.ReadWrite);
        var header = new byte[92];
        f.Position = lba * 512;
        f.ReadExactly(header);
        Encoding.ASCII.GetString(header, 0, 8).Should().Be("EFI PART");
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(84), 0x80000000);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), Crc32.HashToUInt32(header));
        f.Position = lba * 512;
        f.Write(header);
    }

    /// <summary>A one-member archive damaged as named, built block by block.</summary>
    private static byte[] CorruptTar(string damage)
    {
        var blocks = new List<byte[]>();
        switch (damage)
        {
            case "negative-size":
            {
                var h = UstarHeader("file", 0, (byte)'0');
                h[124] = 0xFF; // base-256, negative: -1
                for (var i = 125; i < 136; i++)
                {
                    h[i] = 0xFF;
                }
                Checksum(h);
                blocks.Add(h);
                break;
            }
            default:
            {
                var (map, realSize) = damage switch
                {
                    "sparse-map-past-end" => ("0,512,4096,512", 1024L),
                    "sparse-map-overflow" => ("0,512,9223372036854775000,10000", 1L << 40),
                    _ => ("0,512,8192,4096", 1L << 20), // describes 4608 bytes; the member stores 1024
                };
                var pax = PaxRecords(("GNU.sparse.major", "0"), ("GNU.sparse.minor", "1"), ("GNU.sparse.name", "sparse"),
                    ("GNU.sparse.size", realSize.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("GNU.sparse.map", map));
                blocks.Add(UstarHeader("PaxHeaders/sparse", pax.Length, (byte)'x'));
                blocks.AddRange(Padded(pax));
                blocks.Add(UstarHeader("GNUSparseFile.0/sparse", 1024, (byte)'0'));
                blocks.AddRange(Padded(new byte[1024]));
                break;
            }
        }
        blocks.Add(new byte[512]);
        blocks.Add(new byte[512]);
        return blocks.SelectMany(b => b).ToArray();
    }

    private static byte[] PaxRecords(params (string Key, string Value)[] records)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in records)
        {
            var body = $" {key}={value}\n";
            var length = body.Length + 1;
            while ((length.ToString(System.Globalization.CultureInfo.InvariantCulture) + body).Length != length)
            {
                length++;
            }
            text.Append(length.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(body);
        }
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static IEnumerable<byte[]> Padded(byte[] data)
    {
        for (var i = 0; i < data.Length; i += 512)
        {
            var block = new byte[512];
            data.AsSpan(i, Math.Min(512, data.Length - i)).CopyTo(block);
            yield return block;
        }
    }

    private static byte[] UstarHeader(string name, long size, byte type)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(h, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(h, 124);
        Encoding.ASCII.GetBytes("14000000000\0").CopyTo(h, 136);
        h[156] = type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(h, 257);
        Encoding.ASCII.GetBytes("00").CopyTo(h, 263);
        Checksum(h);
        return h;
    }

    private static void Checksum(byte[] h)
    {
        for (var i = 148; i < 156; i++)
        {
            h[i] = (byte)' ';
        }
        var sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
    }
}
