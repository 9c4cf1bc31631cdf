using System.Formats.Tar;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging.Export;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Imaging.Export;

/// <summary>
/// A whole filesystem exported to a pax tar archive and extracted by GNU tar, or restored into a
/// directory by the directory sink, matches the image node for node: type, permission bits, numeric
/// owner, size, content, modification time with nanoseconds, link targets, device numbers, hard links
/// (one inode), sparseness (directory restore) and every xattr byte for byte (ACLs included), as
/// find, stat and getfattr see them.
/// </summary>
public sealed class ExportTests
{
    private static ExtFileSystem Open(string image) => ExtFileSystem.Open(File.OpenRead(image), image, leaveOpen: false);

    [Theory]
    [InlineData("ext4-4k")]
    [InlineData("ext2-1k-128-byte-inodes")]
    [InlineData("ext4-4k-inline")]
    public void A_tar_export_extracted_by_gnu_tar_matches_the_image(string variant)
    {
        ExternalTools.RequireRoot("restoring owners and device nodes from the archive");
        using var temp = new TempDirectory();
        using var fs = Open(SampleExtImages.Image(variant));
        var archive = temp.File("export.tar");
        var notices = new List<string>();
        using (var file = File.Create(archive))
        using (var sink = new TarExportSink(file, notices.Add))
        {
            var summary = ExtExporter.Export(fs, sink);
            summary.Problems.Should().BeEmpty();
            summary.HardLinks.Should().Be(2, "f5000 has two more names");
        }
        notices.Should().ContainSingle().Which.Should().Contain("socket");

        var extracted = temp.File("x");
        Directory.CreateDirectory(extracted);
        var r = ProcessRunner.Run("tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner", "-xpf", archive, "-C", extracted);
        r.ExitCode.Should().Be(0, r.ToString());
        TreeComparison.AssertMatches(fs, extracted, expectSockets: false, checkAccessTimes: false, checkSparse: false);
    }

    [Theory]
    [InlineData("ext4-4k")]
    [InlineData("ext3-1k")]
    [InlineData("ext4-4k-inline")]
    public void A_directory_export_as_root_matches_the_image(string variant)
    {
        ExternalTools.RequireRoot("restoring owners and device nodes");
        using var temp = new TempDirectory();
        using var fs = Open(SampleExtImages.Image(variant));
        var destination = temp.File("restored");
        var notices = new List<string>();
        var summary = ExtExporter.Export(fs, new DirectoryExportSink(destination, new DirectoryExportOptions { OnNotice = notices.Add }));
        summary.Problems.Should().BeEmpty();
        notices.Should().BeEmpty();
        TreeComparison.AssertMatches(fs, destination, expectSockets: true, checkAccessTimes: true, checkSparse: true);
    }

    [Fact]
    public void System_Formats_Tar_reads_the_archive_with_exact_times()
    {
        // System.Formats.Tar splits pax records at the first newline instead of using their length, so it
        // cannot read ACL text records (GNU tar's own --acls archives neither); /etc has no ACL.
        using var fs = Open(SampleExtImages.Image("ext4-4k"));
        using var buffer = new MemoryStream();
        using (var sink = new TarExportSink(buffer, leaveOpen: true))
        {
            ExtExporter.Export(fs, sink, new ExtExportOptions { SourcePath = "/etc" });
        }
        buffer.Position = 0;
        using var reader = new TarReader(buffer);
        var entries = new List<TarEntry>();
        while (reader.GetNextEntry() is { } entry)
        {
            entries.Add(entry);
        }
        entries.Select(e => e.Name).Should().StartWith(new[] { "./", "./another-hardlink", "./deep/" });
        var hostname = (PaxTarEntry)entries.Single(e => e.Name == "./hostname");
        var inode = fs.Resolve("/etc/hostname");
        hostname.ModificationTime.Should().Be(inode.ModificationTime.ToDateTimeOffset());
        (hostname.Uid, hostname.Gid).Should().Be((1000, 1000));
        hostname.ExtendedAttributes.Should().ContainKey("atime").And.ContainKey("ctime");
        entries.Single(e => e.Name == "./deep/").EntryType.Should().Be(TarEntryType.Directory);
    }

    [Fact]
    public void Hard_links_devices_and_fifos_are_listed_by_gnu_tar_as_such()
    {
        using var temp = new TempDirectory();
        using var fs = Open(SampleExtImages.Image("ext4-4k"));
        var archive = temp.File("export.tar");
        using (var file = File.Create(archive))
        using (var sink = new TarExportSink(file))
        {
            ExtExporter.Export(fs, sink);
        }
        var r = ProcessRunner.Run("tar", "--numeric-owner", "-tvf", archive);
        r.ExitCode.Should().Be(0, r.ToString());
        var lines = r.StdOut.Split('\n').Select(l => System.Text.RegularExpressions.Regex.Replace(l, " +", " ")).ToList();
        // Depth first and sorted: ./etc/another-hardlink is met first and holds the content.
        lines.Should().Contain(l => l.StartsWith("hrw-r--r-- 0/0 0 ", StringComparison.Ordinal) && l.EndsWith("./f5000 link to ./etc/another-hardlink", StringComparison.Ordinal));
        lines.Should().Contain(l => l.EndsWith("./hardlink-to-f5000 link to ./etc/another-hardlink", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("crw-r--r-- 0/0 300,70000 ", StringComparison.Ordinal) && l.EndsWith("./dev-big", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("brw-r--r-- 0/0 8,1 ", StringComparison.Ordinal) && l.EndsWith("./dev-block", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("prw-r--r-- ", StringComparison.Ordinal) && l.EndsWith("./fifo", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("-rwsr-xr-x ", StringComparison.Ordinal) && l.EndsWith("./setuid", StringComparison.Ordinal));
        lines.Should().Contain(l => l.StartsWith("drwxrwxrwt ", StringComparison.Ordinal) && l.EndsWith("./tmp/", StringComparison.Ordinal));
        lines.Should().Contain(l => l.Contains(" 70000/80000 ", StringComparison.Ordinal) && l.EndsWith("./owned", StringComparison.Ordinal));
        lines.Should().NotContain(l => l.EndsWith("./socket", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_the_linux_calls_the_content_modes_and_times_are_still_restored()
    {
        using var temp = new TempDirectory();
        using var fs = Open(SampleExtImages.Image("ext4-4k"));
        var destination = temp.File("portable");
        var notices = new List<string>();
        var sink = new DirectoryExportSink(destination, new DirectoryExportOptions { Platform = new Platform.PortableFileMetadataWriter(), OnNotice = notices.Add });
        ExtExporter.Export(fs, sink).Problems.Should().BeEmpty();
        notices.Should().Contain(n => n.StartsWith("dev-big: device 300:70000 left out", StringComparison.Ordinal));
        notices.Should().Contain(n => n.StartsWith("fifo: left out", StringComparison.Ordinal));
        notices.Should().Contain(n => n.StartsWith("f5000: restored as a copy of etc/another-hardlink", StringComparison.Ordinal));
        notices.Should().Contain(n => n.Contains("xattr 'user.comment' not restored", StringComparison.Ordinal));
        FileFacts.Sha256(Path.Combine(destination, "f5000")).Should().Be(FileFacts.Sha256(Path.Combine(SampleExtImages.Tree, "f5000")));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(Path.Combine(destination, "setuid")).Should().Be((UnixFileMode)0x9ED);
        }
        var small = fs.Resolve("/small.txt");
        new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(destination, "small.txt"))).Should().Be(small.ModificationTime.ToDateTimeOffset());
    }

    [Fact]
    public void Binary_xattr_values_are_written_byte_for_byte()
    {
        // ACL_UNDEFINED_ID (0xFFFFFFFF) is not valid UTF-8: a string-based writer would mangle it.
        using var fs = Open(SampleExtImages.Image("ext4-4k"));
        var acl = fs.ReadXattrs(fs.Resolve("/xattrs")).Single(x => x.Name == "system.posix_acl_access").VfsValue("test");
        acl.AsSpan().IndexOf(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }).Should().BeGreaterThan(0);
        using var buffer = new MemoryStream();
        using (var sink = new TarExportSink(buffer, leaveOpen: true))
        {
            ExtExporter.Export(fs, sink, new ExtExportOptions { SourcePath = "/xattrs", RootName = "xattrs" });
        }
        var record = Encoding.ASCII.GetBytes("SCHILY.xattr.system.posix_acl_access=");
        var bytes = buffer.ToArray();
        var at = bytes.AsSpan().IndexOf(record);
        at.Should().BeGreaterThan(0);
        bytes.AsSpan(at + record.Length, acl.Length).ToArray().Should().Equal(acl);
        bytes[at + record.Length + acl.Length].Should().Be((byte)'\n');
    }

    [Fact]
    public void Long_non_ascii_names_big_ids_and_old_times_survive_gnu_tar()
    {
        using var temp = new TempDirectory();
        var archive = temp.File("edge.tar");
        var old = new Platform.UnixTime(-86_400 * 365, 250_000_000); // 1969-01-01 00:00:00.25
        var longName = "./" + string.Join('/', Enumerable.Repeat("d\u00e9j\u00e0-vu-directory-name", 12)) + "/file";
        using (var file = File.Create(archive))
        using (var writer = new PaxTarWriter(file))
        {
            writer.Write(new TarMember
            {
                Name = Encoding.UTF8.GetBytes(longName),
                TypeFlag = (byte)'0',
                Mode = 0x9ED, // 04755
                Uid = 3_000_000,
                Gid = 4_000_000,
                Size = 3,
                ModificationTime = old,
            }, new MemoryStream("abc"u8.ToArray()));
            writer.Finish();
        }
        var r = ProcessRunner.Run("tar", "--numeric-owner", "-tvf", archive);
        r.ExitCode.Should().Be(0, r.ToString());
        System.Text.RegularExpressions.Regex.Replace(r.StdOut, " +", " ").Should().StartWith("-rwsr-xr-x 3000000/4000000 3 1969-01-01");
        r.StdOut.Should().Contain(longName);
        (new FileInfo(archive).Length % PaxTarWriter.RecordSize).Should().Be(0);
        // The same record GNU tar writes for a negative time with a fraction (whole part rounded up, fraction from it).
        Encoding.UTF8.GetString(File.ReadAllBytes(archive)).Should().Contain("22 mtime=-31535999.75\n");

        var extracted = temp.File("x");
        Directory.CreateDirectory(extracted);
        ProcessRunner.Run("tar", "-xf", archive, "-C", extracted).ExitCode.Should().Be(0);
        var stat = ProcessRunner.Run("stat", "-c", "%.9Y %s", Path.Combine(extracted, longName));
        stat.StdOut.Trim().Should().Be("-31535999.750000000 3", "stat prints the time as a signed decimal: 0.25 s after 1969-01-01");
    }

    [Fact]
    public void Keep_going_skips_exactly_the_damaged_directory()
    {
        using var temp = new TempDirectory();
        var image = temp.File("damaged.img");
        ProcessRunner.Run("cp", "--sparse=always", SampleExtImages.Image("ext2-4k"), image).ExitCode.Should().Be(0);
        ulong block;
        using (var fs = Open(image))
        {
            block = fs.EnumerateRuns(fs.Resolve("/etc")).First(r => r.Kind == BlockRunKind.Data).Physical;
        }
        using (var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = (long)block * 4096 + 24 + 4;
            f.Write(new byte[2]);
        }
        using (var fs = Open(image))
        {
            var strict = () => ExtExporter.Export(fs, new NullSink());
            strict.Should().Throw<ImageToolsException>().Which.Kind.Should().Be(ErrorKind.CorruptImage);

            var reported = new List<ExtProblem>();
            var sink = new NullSink();
            var summary = ExtExporter.Export(fs, sink, new ExtExportOptions { KeepGoing = true, OnProblem = reported.Add });
            summary.Problems.Should().ContainSingle().Which.Path.Should().Be("/etc");
            reported.Should().Equal(summary.Problems);
            sink.Paths.Should().Contain("etc", "the directory itself is exported; its damaged listing is what is skipped");
            sink.Paths.Should().Contain("f300k").And.Contain(p => p.StartsWith("many/", StringComparison.Ordinal));
        }
    }

    private sealed class NullSink : IExportSink
    {
        public List<string> Paths { get; } = new();

        public void Add(ExportEntry entry) => Paths.Add(entry.Path);

        public void Complete()
        {
        }
    }
}

/// <summary>Compares a restored directory tree with the image it came from, as find, stat and getfattr report it.</summary>
internal static class TreeComparison
{
    private sealed record Node(char Type, int Mode, uint Uid, uint Gid, long Size, string Mtime, string Atime, string Link, string Inode, long AllocatedBlocks);

    public static void AssertMatches(ExtFileSystem fs, string root, bool expectSockets, bool checkAccessTimes, bool checkSparse)
    {
        var find = ProcessRunner.Run("find", root, "-mindepth", "1", "-printf", "%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%T@\\0%A@\\0%l\\0%i\\0%b\\0");
        find.ExitCode.Should().Be(0, find.ToString());
        var fields = find.StdOut.Split('\0');
        var nodes = new Dictionary<string, Node>();
        for (var i = 0; i + 11 <= fields.Length; i += 11)
        {
            nodes[fields[i]] = new Node(fields[i + 1][0], Convert.ToInt32(fields[i + 2], 8), uint.Parse(fields[i + 3], CultureInfo.InvariantCulture),
                uint.Parse(fields[i + 4], CultureInfo.InvariantCulture), long.Parse(fields[i + 5], CultureInfo.InvariantCulture), fields[i + 6], fields[i + 7],
                fields[i + 8], fields[i + 9], long.Parse(fields[i + 10], CultureInfo.InvariantCulture));
        }
        var xattrs = ReadXattrs(root);
        var seen = new HashSet<string>();
        var firstOfInode = new Dictionary<uint, string>();
        foreach (var item in ExtTreeWalker.Walk(fs, cancellationToken: TestContext.Current.CancellationToken))
        {
            if (item.Depth == 0)
            {
                continue;
            }
            var relative = item.Path.TrimStart('/');
            var inode = item.Inode;
            if (inode.Type == InodeType.Socket && !expectSockets)
            {
                nodes.Should().NotContainKey(relative);
                continue;
            }
            nodes.Should().ContainKey(relative);
            var node = nodes[relative];
            seen.Add(relative);
            var because = $"{relative} (inode {inode.Number})";
            node.Type.Should().Be(TypeChar(inode.Type), because);
            node.Uid.Should().Be(inode.Uid, because);
            node.Gid.Should().Be(inode.Gid, because);
            if (inode.Type != InodeType.SymbolicLink)
            {
                node.Mode.Should().Be(inode.Permissions, because);
            }
            node.Mtime.Should().Be(FindTime(inode.ModificationTime), "mtime of " + because);
            if (checkAccessTimes)
            {
                node.Atime.Should().Be(FindTime(inode.AccessTime), "atime of " + because);
            }
            if (inode.Type == InodeType.SymbolicLink)
            {
                node.Link.Should().Be(Encoding.UTF8.GetString(fs.ReadSymlinkTarget(inode)), because);
            }
            if (inode.IsRegularFile)
            {
                node.Size.Should().Be((long)inode.Size, because);
                using var content = fs.OpenContent(inode);
                FileFacts.Sha256(Path.Combine(root, relative)).Should().Be(Convert.ToHexStringLower(SHA256.HashData(content)), because);
                if (firstOfInode.TryGetValue(inode.Number, out var first))
                {
                    node.Inode.Should().Be(nodes[first].Inode, $"{relative} is a hard link to {first}");
                }
                else
                {
                    firstOfInode[inode.Number] = relative;
                }
            }
            if (inode.IsDevice)
            {
                var stat = ProcessRunner.Run("stat", "-c", "%Hr %Lr", Path.Combine(root, relative));
                stat.StdOut.Trim().Should().Be($"{inode.Device.Major} {inode.Device.Minor}", because);
            }
            var expected = fs.ReadXattrs(inode).ToDictionary(x => x.Name, x => Convert.ToHexStringLower(x.VfsValue(relative)));
            var actual = xattrs.GetValueOrDefault(relative) ?? new Dictionary<string, string>();
            if (inode.Type == InodeType.SymbolicLink)
            {
                // Linux allows no user.* xattrs on symlinks; the sample has none there.
                expected.Keys.Should().NotContain(k => k.StartsWith("user.", StringComparison.Ordinal));
            }
            actual.Should().BeEquivalentTo(expected, "the xattrs of " + because);
        }
        nodes.Keys.Except(seen).Should().BeEmpty("nothing but the image's content is restored");
        if (checkSparse)
        {
            nodes["sparse"].AllocatedBlocks.Should().BeLessThan(64, "the 2 MiB file with one data block stays sparse");
        }
    }

    private static Dictionary<string, Dictionary<string, string>> ReadXattrs(string root)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("getfattr"), "-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root);
        r.ExitCode.Should().Be(0, r.ToString());
        var result = new Dictionary<string, Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (var line in r.StdOut.Split('\n'))
        {
            if (line.StartsWith("# file: ", StringComparison.Ordinal))
            {
                var path = line["# file: ".Length..];
                var relative = Path.GetRelativePath(root, path);
                current = new Dictionary<string, string>();
                result[relative == "." ? "" : relative] = current;
            }
            else if (current != null && line.Contains('='))
            {
                var eq = line.IndexOf('=');
                var value = line[(eq + 1)..];
                current[line[..eq]] = value.StartsWith("0x", StringComparison.Ordinal) ? value[2..] : Convert.ToHexStringLower(Encoding.UTF8.GetBytes(value.Trim('"')));
            }
        }
        return result;
    }

    // find prints %T@ as seconds and a 10-digit fraction ("1700000000.1234567890").
    private static string FindTime(ExtTimestamp t) =>
        t.Seconds.ToString(CultureInfo.InvariantCulture) + "." + t.Nanoseconds.ToString("D9", CultureInfo.InvariantCulture) + "0";

    private static char TypeChar(InodeType type) => type switch
    {
        InodeType.Directory => 'd',
        InodeType.RegularFile => 'f',
        InodeType.SymbolicLink => 'l',
        InodeType.CharacterDevice => 'c',
        InodeType.BlockDevice => 'b',
        InodeType.Fifo => 'p',
        InodeType.Socket => 's',
        _ => '?',
    };

}
