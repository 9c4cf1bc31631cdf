using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using CliRunner = ImageTools.TestSupport.Cli;

namespace ImageTools.Cli.Tests.FsMaker;

/// <summary>
/// <c>fsmaker mkfs</c> as a user runs it: real trees and real tar archives in, images checked with
/// e2fsck and debugfs against the source as coreutils and getfattr see it.
/// </summary>
public class MkfsCommandTests
{
    private static void Sh(string command)
    {
        var r = ProcessRunner.Shell(command);
        r.ExitCode.Should().Be(0, $"{command}\n{r}");
    }

    /// <summary>A tree with every file type and attribute kind; needs root (devices, owners, trusted.* xattrs).</summary>
    private static string MakeTree(TempDirectory dir)
    {
        ExternalTools.RequireRoot("creating device nodes and files owned by other users");
        ExternalTools.Require("setfattr");
        ExternalTools.Require("setfacl");
        var t = dir.File("tree");
        Sh($"""
            set -e
            mkdir -p '{t}/etc' '{t}/bin' '{t}/tmp' '{t}/dev' '{t}/many' '{t}/deep/a/b/c/d/e'
            printf 'hello\n' > '{t}/etc/hostname'
            printf 'long' > "{t}/deep/a/b/c/d/e/$(printf 'L%.0s' $(seq 1 200))"
            printf 'longest' > "{t}/deep/$(printf 'M%.0s' $(seq 1 255))"
            head -c 200000 /dev/urandom > '{t}/bin/tool'
            chmod 4755 '{t}/bin/tool'
            ln '{t}/bin/tool' '{t}/bin/tool-hardlink'
            chmod 1777 '{t}/tmp'
            chmod 2750 '{t}/etc'
            chown 70000:80000 '{t}/etc/hostname'
            ln -s hostname '{t}/etc/fast-link'
            ln -s "$(printf 'x%.0s' $(seq 1 150))" '{t}/etc/slow-link'
            mknod '{t}/dev/console' c 5 1
            mknod '{t}/dev/big' b 300 70000
            mkfifo '{t}/dev/fifo'
            python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('{t}/dev/socket')" 2>/dev/null || true
            truncate -s 5G '{t}/huge-sparse'
            printf 'tail' | dd of='{t}/huge-sparse' bs=1 seek=$((5*1024*1024*1024-4)) conv=notrunc status=none
            head -c 8192 /dev/zero > '{t}/zeros'
            setfattr -n user.comment -v 'a comment' '{t}/etc/hostname'
            setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 '{t}/bin/tool'
            setfattr -n trusted.big -v "$(printf 'B%.0s' $(seq 1 400))" '{t}/etc/hostname'
            setfacl -m u:1234:rwx,g:4321:r-x '{t}/etc'
            setfacl -d -m u:1234:rwx '{t}/etc'
            touch -h -d '2040-01-01 00:00:00.123456789' '{t}/etc/hostname'
            touch -h -d '1960-06-01 12:00:00.5' '{t}/bin/tool'
            for i in $(seq 1 700); do printf "$i" > "{t}/many/a-file-with-a-long-name-number-$i"; done
            """);
        return t;
    }

    /// <summary>Every path in the source, relative, with what coreutils says about it.</summary>
    private static List<(string Path, string Type, string Mode, string Uid, string Gid, string Size, string Links, string Mtime, string Dev)> Facts(string tree)
    {
        var r = ProcessRunner.Shell($"cd '{tree}' && find . -mindepth 1 -printf '%P\\0' | xargs -0 stat -c '%n|%F|%a|%u|%g|%s|%h|%.9Y|%Hr:%Lr'");
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('|'))
            .Select(p => (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]))
            .ToList();
    }

    private static string Ext(string type) => type switch
    {
        "regular file" or "regular empty file" => "regular",
        "directory" => "directory",
        "symbolic link" => "symlink",
        "character special file" => "character special",
        "block special file" => "block special",
        "fifo" => "FIFO",
        "socket" => "socket",
        _ => type,
    };

    /// <summary>Compares the image with the source tree: type, mode, owner, size, mtime, links, devices, targets, xattrs, content.</summary>
    private static void AssertSameAsTree(string image, string tree, bool nanoseconds = true, bool xattrs = true)
    {
        var (exit, problems, output) = ExtImageChecks.Fsck(image);
        exit.Should().Be(0, output);
        problems.Should().BeEmpty(output);
        var (fyExit, changed, fyOutput) = ExtImageChecks.FsckFixpoint(image);
        fyExit.Should().Be(0, fyOutput);
        ExtImageChecks.OnlyCheckTimesChanged(changed).Should().BeTrue(fyOutput);

        foreach (var f in Facts(tree))
        {
            if (f.Path.StartsWith("many/", StringComparison.Ordinal) && !f.Path.EndsWith("00", StringComparison.Ordinal))
            {
                continue; // 700 near-identical files: their names are checked by the listing below
            }
            var path = "/" + f.Path;
            var st = ExtImageChecks.Stat(image, path);
            st.Type.Should().Be(Ext(f.Type), path);
            Convert.ToString(st.Mode & 0xFFF, 8).Should().Be(f.Mode, $"mode of {path}");
            st.Uid.ToString(CultureInfo.InvariantCulture).Should().Be(f.Uid, $"uid of {path}");
            st.Gid.ToString(CultureInfo.InvariantCulture).Should().Be(f.Gid, $"gid of {path}");
            // stat prints the time as a decimal number (-302443199.5 is second -302443200 plus 0.5).
            var mtimeValue = decimal.Parse(f.Mtime, CultureInfo.InvariantCulture);
            var seconds = (long)decimal.Floor(mtimeValue);
            var nanos = (uint)((mtimeValue - seconds) * 1_000_000_000m);
            st.Mtime.Seconds.Should().Be(seconds, $"mtime of {path}");
            if (nanoseconds)
            {
                st.Mtime.Nanoseconds.Should().Be(nanos, $"mtime ns of {path}");
            }
            if (f.Type != "directory")
            {
                st.Links.ToString(CultureInfo.InvariantCulture).Should().Be(f.Links, $"links of {path}");
                st.Size.ToString(CultureInfo.InvariantCulture).Should().Be(f.Type == "symbolic link" ? new FileInfo(Path.Combine(tree, f.Path)).LinkTarget!.Length.ToString(CultureInfo.InvariantCulture) : f.Size is var s && f.Type.Contains("special") || f.Type is "fifo" or "socket" ? "0" : f.Size, $"size of {path}");
            }
            else
            {
                st.Links.ToString(CultureInfo.InvariantCulture).Should().Be(f.Links, $"links of {path}");
            }
            if (f.Type.Contains("special"))
            {
                $"{st.Device!.Value.Major}:{st.Device.Value.Minor}".Should().Be(f.Dev, $"device of {path}");
            }
            if (f.Type == "symbolic link")
            {
                var target = new FileInfo(Path.Combine(tree, f.Path)).LinkTarget!;
                (st.FastLinkTarget ?? Encoding.UTF8.GetString(ExtImageChecks.Dump(image, path))).Should().Be(target, $"target of {path}");
            }
            if (f.Type.StartsWith("regular", StringComparison.Ordinal) && long.Parse(f.Size, CultureInfo.InvariantCulture) < 1 << 20)
            {
                FileFacts.Sha256(ExtImageChecks.Dump(image, path)).Should().Be(FileFacts.Sha256(Path.Combine(tree, f.Path)), $"content of {path}");
            }
            if (xattrs)
            {
                var expected = SourceXattrs(Path.Combine(tree, f.Path));
                var actual = ExtImageChecks.Xattrs(image, path);
                actual.Keys.Should().BeEquivalentTo(expected.Keys, $"xattr names of {path}");
                foreach (var (name, bytes) in expected)
                {
                    var isAcl = name.StartsWith("system.posix_acl_", StringComparison.Ordinal);
                    Convert.ToHexString(isAcl ? NormalizeAcl(actual[name]) : actual[name]).Should().Be(Convert.ToHexString(isAcl ? NormalizeAcl(bytes) : bytes), $"xattr {name} of {path}");
                }
            }
        }
        ExtImageChecks.List(image, "/many").Should().HaveCount(700);
        var huge = ExtImageChecks.Stat(image, "/huge-sparse");
        huge.Size.Should().Be(5UL << 30);
        huge.BlockCount.Should().BeLessThan(64, "a 5 GiB file with 4 bytes of data takes a few blocks");
        Encoding.ASCII.GetString(ExtImageChecks.ReadFileRange(image, "/huge-sparse", (5L << 30) - 4, 4)).Should().Be("tail");
        ExtImageChecks.Stat(image, "/zeros").BlockCount.Should().Be(0);
    }

    private static byte[] NormalizeAcl(byte[] vfs)
    {
        var copy = (byte[])vfs.Clone();
        for (var off = 4; off + 8 <= copy.Length; off += 8)
        {
            var tag = BitConverter.ToUInt16(copy, off);
            if (tag is 0x01 or 0x04 or 0x10 or 0x20)
            {
                copy.AsSpan(off + 4, 4).Clear();
            }
        }
        return copy;
    }

    /// <summary>getfattr's view: every attribute of every namespace, values in hex.</summary>
    private static Dictionary<string, byte[]> SourceXattrs(string path)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("getfattr"), ["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", path]);
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var line in r.StdOut.Split('\n'))
        {
            var eq = line.IndexOf('=');
            if (eq > 0 && !line.StartsWith('#'))
            {
                var value = line[(eq + 1)..].Trim();
                result[line[..eq]] = value.StartsWith("0x", StringComparison.Ordinal) ? Convert.FromHexString(value[2..]) : Array.Empty<byte>();
            }
        }
        return result;
    }

    [Fact]
    public void A_directory_tree_round_trips_through_the_real_tools()
    {
        using var dir = new TempDirectory();
        var tree = MakeTree(dir);
        var image = dir.File("fs.img");
        var r = CliRunner.FsMaker("mkfs", "--type", "ext3", tree, image);
        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("ext3").And.Contain("sized to the content");
        AssertSameAsTree(image, tree);
        // Root takes the source root's attributes, like rsync -a tree/ /mnt.
        var root = ExtImageChecks.Stat(image, "/");
        Convert.ToString(root.Mode & 0xFFF, 8).Should().Be(ProcessRunner.Run("stat", "-c", "%a", tree).StdOut.Trim());
    }

    [Theory]
    [InlineData("pax", "--xattrs --xattrs-include=* -S", "zstd -q -c", true)]
    [InlineData("pax", "--xattrs --xattrs-include=* --acls -S --sparse-version=0.1", "xz -c", true)]
    [InlineData("pax", "-S --sparse-version=0.0", "gzip -c", true)]
    [InlineData("gnu", "-S", "cat", false)]
    public void A_tar_archive_gives_the_same_filesystem(string format, string flags, string compressor, bool nanoseconds)
    {
        using var dir = new TempDirectory();
        var tree = MakeTree(dir);
        var archive = dir.File("root.tar.x");
        // Sockets cannot be archived by tar; take it out (and keep /dev's mtime as the archive has it).
        Sh($"rm -f '{tree}/dev/socket' && touch -d @1600000000.25 '{tree}/dev'");
        Sh($"tar --format={format} {flags} --numeric-owner -C '{tree}' -cf - . | {compressor} > '{archive}'");
        var image = dir.File("fs.img");
        var r = CliRunner.FsMaker("mkfs", "--type", "ext2", "--block-size", "4096", archive, image);
        r.ExitCode.Should().Be(0, r.ToString());
        AssertSameAsTree(image, tree, nanoseconds, xattrs: flags.Contains("--xattrs"));
    }

    [Fact]
    public void Source_date_epoch_makes_two_runs_identical()
    {
        using var dir = new TempDirectory();
        var tree = dir.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "a"));
        File.WriteAllText(Path.Combine(tree, "a", "f"), "content");
        for (var i = 0; i < 300; i++)
        {
            File.WriteAllText(Path.Combine(tree, $"n{i}"), "x");
        }
        var env = new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" };
        var a = CliRunner.Run("fsmaker", ["mkfs", "-q", tree, dir.File("a.img")], environment: env);
        var b = CliRunner.Run("fsmaker", ["mkfs", "-q", tree, dir.File("b.img")], environment: env);
        a.ExitCode.Should().Be(0, a.ToString());
        b.ExitCode.Should().Be(0, b.ToString());
        FileFacts.Sha256(dir.File("a.img")).Should().Be(FileFacts.Sha256(dir.File("b.img")));
        var st = ExtImageChecks.Stat(dir.File("a.img"), "/a/f");
        st.Mtime.Seconds.Should().BeLessThanOrEqualTo(1700000000);
    }

    [Fact]
    public void Json_reports_the_result()
    {
        using var dir = new TempDirectory();
        var tree = dir.File("tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "f"), "x");
        var r = CliRunner.FsMaker("mkfs", "--json", "--size", "16M", "--label", "rootfs", "--uuid", "01234567-89ab-cdef-0123-456789abcdef", tree, dir.File("fs.img"));
        r.ExitCode.Should().Be(0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        doc.RootElement.GetProperty("sizeBytes").GetInt64().Should().Be(16 << 20);
        doc.RootElement.GetProperty("uuid").GetString().Should().Be("01234567-89ab-cdef-0123-456789abcdef");
        doc.RootElement.GetProperty("regularFiles").GetInt64().Should().Be(1);
        var sb = ExtImageChecks.SuperblockFields(dir.File("fs.img"));
        sb["Filesystem volume name"].Should().Be("rootfs");
        sb["Filesystem UUID"].Should().Be("01234567-89ab-cdef-0123-456789abcdef");
    }

    private static void WriteTar(string path, Action<TarWriter> fill)
    {
        using var f = File.Create(path);
        using var w = new TarWriter(f, TarEntryFormat.Pax);
        fill(w);
    }

    private static PaxTarEntry FileEntry(string name, string content)
    {
        var e = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
        return e;
    }

    public static TheoryData<string, string[], int, string> BadInputs() => new()
    {
        { "missing", ["mkfs", "{dir}/does-not-exist", "{out}"], 12, "does-not-exist: no such file or directory" },
        { "dotdot", ["mkfs", "{dir}/dotdot.tar", "{out}"], 1, "'../escape' contains '..'" },
        { "absolute", ["mkfs", "{dir}/absolute.tar", "{out}"], 1, "'/etc/passwd' has an absolute path" },
        { "hardlink", ["mkfs", "{dir}/hardlink.tar", "{out}"], 12, "is a hard link to 'nowhere', which is not an earlier entry" },
        { "longname", ["mkfs", "{dir}/longname.tar", "{out}"], 1, "is 300 bytes long; names are at most 255 bytes" },
        { "truncated", ["mkfs", "{dir}/truncated.tar", "{out}"], 4, "truncated tar archive" },
        { "garbage", ["mkfs", "{dir}/garbage.tar", "{out}"], 4, "bad checksum" },
        { "nofit", ["mkfs", "--type", "ext2", "--size", "2M", "{dir}/big.tar", "{out}"], 7, "the smallest filesystem that holds it is" },
        { "tiny-ext3", ["mkfs", "--type", "ext3", "--size", "1M", "{dir}/dotdot-free.tar", "{out}"], 7, "a journal needs a filesystem of at least 2048 blocks" },
        { "tiny-ext4", ["mkfs", "--size", "1M", "{dir}/dotdot-free.tar", "{out}"], 7, "a journal needs a filesystem of at least 2048 blocks" },
        { "badfeature", ["mkfs", "-O", "^metadata_csum,^bogus", "{dir}/big.tar", "{out}"], 1, "unknown or unsupported filesystem feature '^bogus'" },
        { "fixedfeature", ["mkfs", "-O", "^extent", "{dir}/big.tar", "{out}"], 1, "feature 'extent' cannot be turned off" },
        { "ext3features", ["mkfs", "-t", "ext3", "-O", "^64bit", "{dir}/big.tar", "{out}"], 1, "-O/--features applies to ext4" },
        { "badsize", ["mkfs", "--size", "lots", "{dir}/big.tar", "{out}"], 1, "--size 'lots' is not a size" },
        { "badowner", ["mkfs", "--owner", "root", "{dir}/big.tar", "{out}"], 1, "--owner 'root' is not UID:GID" },
        { "badtype", ["mkfs", "--type", "ext5", "{dir}/big.tar", "{out}"], 1, "ext5" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_a_clear_error_with_its_exit_code_and_leaves_nothing(string name, string[] args, int exitCode, string message)
    {
        using var dir = new TempDirectory();
        var inputs = Path.Combine(dir.Path, "in");
        var outputs = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(inputs);
        Directory.CreateDirectory(outputs);
        WriteTar(Path.Combine(inputs, "dotdot.tar"), w => w.WriteEntry(FileEntry("../escape", "x")));
        WriteTar(Path.Combine(inputs, "dotdot-free.tar"), w => w.WriteEntry(FileEntry("fine", "x")));
        WriteTar(Path.Combine(inputs, "absolute.tar"), w => w.WriteEntry(FileEntry("/etc/passwd", "x")));
        WriteTar(Path.Combine(inputs, "hardlink.tar"), w =>
        {
            w.WriteEntry(FileEntry("a", "x"));
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "b") { LinkName = "nowhere" });
        });
        WriteTar(Path.Combine(inputs, "longname.tar"), w => w.WriteEntry(FileEntry("d/" + new string('n', 300), "x")));
        WriteTar(Path.Combine(inputs, "big.tar"), w =>
        {
            var bytes = new byte[3 << 20];
            new Random(1).NextBytes(bytes);
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "big") { DataStream = new MemoryStream(bytes) });
        });
        var full = File.ReadAllBytes(Path.Combine(inputs, "big.tar"));
        File.WriteAllBytes(Path.Combine(inputs, "truncated.tar"), full.AsSpan(0, 1 << 20).ToArray());
        File.WriteAllBytes(Path.Combine(inputs, "garbage.tar"), Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("this is not a tar archive ", 100))));

        var realArgs = args.Select(a => a.Replace("{dir}", inputs).Replace("{out}", Path.Combine(outputs, "fs.img"))).ToArray();
        var r = CliRunner.FsMaker(realArgs);
        r.ExitCode.Should().Be(exitCode, $"{name}: {r}");
        r.StdErr.Should().Contain(message, name);
        Directory.GetFileSystemEntries(outputs).Should().BeEmpty($"{name}: a failed build leaves nothing behind");
    }

    [Fact]
    public void An_unreadable_file_is_named_and_nothing_is_left()
    {
        ExternalTools.RequireRoot("switching to an unprivileged user with setpriv");
        var setpriv = ExternalTools.Require("setpriv");
        using var dir = new TempDirectory();
        var tree = Path.Combine(dir.Path, "tree");
        var outputs = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(tree);
        Directory.CreateDirectory(outputs);
        File.WriteAllText(Path.Combine(tree, "readable"), "x");
        File.WriteAllText(Path.Combine(tree, "secret"), "x");
        Sh($"chmod 755 '{dir.Path}' '{tree}' && chmod 777 '{outputs}' && chmod 000 '{tree}/secret'");
        var bin = CliRunner.PathOf("fsmaker");
        // The unprivileged user must reach the program's folder.
        var r = ProcessRunner.Run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", bin, "mkfs", tree, Path.Combine(outputs, "fs.img")],
            environment: new Dictionary<string, string?> { ["DOTNET_CLI_HOME"] = outputs, ["HOME"] = outputs });
        if (r.StdErr.Contains("Permission denied", StringComparison.Ordinal) && !r.StdErr.Contains("secret", StringComparison.Ordinal))
        {
            Assert.Skip($"the unprivileged user cannot run {bin}: {r.StdErr}");
        }
        r.ExitCode.Should().Be(2, r.ToString());
        r.StdErr.Should().Contain("secret");
        Directory.GetFileSystemEntries(outputs).Where(p => !Path.GetFileName(p).StartsWith('.') || p.EndsWith(".tmp", StringComparison.Ordinal))
            .Should().BeEmpty();
    }

    [Theory]
    [InlineData("INT", 130, new[] { "mkfs", "--size", "8M" }, "fs.img")]
    [InlineData("TERM", 143, new[] { "--no-kernel", "--size", "64M" }, "disk.img")] // the bootable-disk build
    public void Interrupting_a_build_leaves_no_file(string signal, int exitCode, string[] options, string outputName)
    {
        ExternalTools.Require("mkfifo");
        using var dir = new TempDirectory();
        var fifo = dir.File("input.tar");
        var outputs = Path.Combine(dir.Path, "out");
        Directory.CreateDirectory(outputs);
        Sh($"mkfifo '{fifo}'");
        var psi = new ProcessStartInfo(CliRunner.PathOf("fsmaker")) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in options.Append(fifo).Append(Path.Combine(outputs, outputName)))
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        // Feed the start of an archive, then stop writing: the build waits for more.
        // Opened read-write, a FIFO does not wait for the other end (so a failing fsmaker cannot hang the test).
        using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None))
        {
            var header = new MemoryStream();
            using (var w = new TarWriter(header, TarEntryFormat.Pax, leaveOpen: true))
            {
                w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "f") { DataStream = new MemoryStream(new byte[1 << 20]) });
            }
            writer.Write(header.ToArray().AsSpan(0, 64 * 1024));
            writer.Flush();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (Directory.GetFileSystemEntries(outputs).Length == 0 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
            Directory.GetFileSystemEntries(outputs).Should().NotBeEmpty("the build has started its temporary file");
            ProcessRunner.Run("kill", "-" + signal, p.Id.ToString(CultureInfo.InvariantCulture)).ExitCode.Should().Be(0);
            p.WaitForExit(60_000).Should().BeTrue("fsmaker stops on Ctrl-C");
        }
        p.ExitCode.Should().Be(exitCode, p.StandardError.ReadToEnd());
        Directory.GetFileSystemEntries(outputs).Should().BeEmpty("an interrupted build leaves no file, not even a temporary one");
    }
}
