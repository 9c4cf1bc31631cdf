using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FluentAssertions;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;
using ImageTools.Core.Ext.Writer;
using ImageTools.TestSupport;

namespace ImageTools.Core.Tests.Ext.Writer;

/// <summary>Builds images with the writer and checks them against what went in, through e2fsprogs.</summary>
internal static class WriterTestKit
{
    public static readonly DateTimeOffset FixedBuildTime = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    public static ExtBuildResult Build(IFileTreeSource source, string image, ExtFilesystemOptions options) =>
        new ExtFilesystemBuilder(options with { BuildTime = options.BuildTime ?? FixedBuildTime }).BuildImageFile(source, image);

    public static void AssertClean(string image)
    {
        var (exit, problems, output) = ExtImageChecks.Fsck(image);
        exit.Should().Be(0, output);
        problems.Should().BeEmpty(output);
        var (fyExit, changed, fyOutput) = ExtImageChecks.FsckFixpoint(image);
        fyExit.Should().Be(0, fyOutput);
        ExtImageChecks.OnlyCheckTimesChanged(changed).Should().BeTrue(
            $"e2fsck -fy changed bytes other than s_wtime/s_lastcheck: {string.Join(", ", changed.Take(20).Select(o => "0x" + o.ToString("x", CultureInfo.InvariantCulture)))}\n{fyOutput}");
    }

    public static ExtTimestamp T(long seconds, uint nanos = 0) => new(seconds, nanos);

    public static FileEntry Dir(string path, int mode = 0x1ED, uint uid = 0, uint gid = 0, long mtime = 1_600_000_000, params ExtendedAttribute[] xattrs) =>
        new() { Path = path, Type = FileEntryType.Directory, Permissions = mode, Uid = uid, Gid = gid, ModificationTime = T(mtime), ExtendedAttributes = xattrs };

    public static FileEntry File(string path, byte[] content, int mode = 0x1A4, uint uid = 0, uint gid = 0, ExtTimestamp? mtime = null, params ExtendedAttribute[] xattrs) =>
        new()
        {
            Path = path, Type = FileEntryType.RegularFile, Permissions = mode, Uid = uid, Gid = gid,
            ModificationTime = mtime ?? T(1_600_000_000, 123_456_789), Content = FileContent.FromBytes(content), ExtendedAttributes = xattrs,
        };

    public static FileEntry Symlink(string path, string target, uint uid = 0) =>
        new() { Path = path, Type = FileEntryType.SymbolicLink, LinkTarget = target, Uid = uid, Permissions = 0x1FF, ModificationTime = T(1_500_000_000) };

    public static FileEntry HardLink(string path, string target) => new() { Path = path, Type = FileEntryType.HardLink, LinkTarget = target };

    public static FileEntry Node(string path, FileEntryType type, uint major = 0, uint minor = 0, int mode = 0x1B0) =>
        new() { Path = path, Type = type, DeviceMajor = major, DeviceMinor = minor, Permissions = mode, ModificationTime = T(1_400_000_000, 5) };

    /// <summary>A sparse file: one block of pattern data at each offset given, holes elsewhere.</summary>
    public static FileEntry SparseFile(string path, long length, params long[] dataOffsets) =>
        new()
        {
            Path = path, Type = FileEntryType.RegularFile, Permissions = 0x1A4, ModificationTime = T(1_650_000_000, 1),
            Content = FileContent.FromRanges(length, dataOffsets.Select(o => new DataRange(o, Math.Min(4096, length - o))).ToList(), Pattern),
        };

    /// <summary>Deterministic non-zero bytes depending on the absolute offset.</summary>
    public static void Pattern(long offset, Span<byte> buffer)
    {
        for (var i = 0; i < buffer.Length; i++)
        {
            var o = offset + i;
            buffer[i] = (byte)(1 + (o * 31 + (o >> 12)) % 251);
        }
    }

    public static byte[] Bytes(int count, int seed)
    {
        var r = new Random(seed);
        var b = new byte[count];
        r.NextBytes(b);
        return b;
    }

    public static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>The content a FileContent produces, as bytes (small files only).</summary>
    public static byte[] ReadAll(FileContent c)
    {
        var bytes = new byte[c.Length];
        using var r = c.Open();
        long pos = 0;
        while (pos < c.Length)
        {
            var n = r.Read(pos, bytes.AsSpan((int)pos));
            if (n == 0)
            {
                break;
            }
            pos += n;
        }
        return bytes;
    }

    /// <summary>
    /// Checks every entry against the image through debugfs: type, mode, owner, size, mtime with
    /// nanoseconds, link count, device numbers, symlink target, xattrs and (for files up to
    /// <paramref name="maxDumpBytes"/>) the content hash.
    /// </summary>
    public static void VerifyEntries(string image, IReadOnlyList<FileEntry> entries, ExtFilesystemOptions options, long maxDumpBytes = 4 << 20)
    {
        var linkCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var subdirs = new Dictionary<string, int>(StringComparer.Ordinal);
        var directories = new HashSet<string>(StringComparer.Ordinal) { "lost+found" };
        foreach (var e in entries)
        {
            if (e.Type == FileEntryType.HardLink)
            {
                linkCounts[e.LinkTarget!] = linkCounts.GetValueOrDefault(e.LinkTarget!, 1) + 1;
            }
            if (e.Type == FileEntryType.Directory && e.Path.Length > 0)
            {
                directories.Add(e.Path);
            }
            // Parents that are only implied by a path are directories too.
            for (var p = e.Path; p.Contains('/');)
            {
                p = p[..p.LastIndexOf('/')];
                directories.Add(p);
            }
        }
        foreach (var d in directories)
        {
            var parent = d.Contains('/') ? d[..d.LastIndexOf('/')] : "";
            subdirs[parent] = subdirs.GetValueOrDefault(parent) + 1;
        }

        foreach (var e in entries)
        {
            var path = "/" + e.Path;
            var st = ExtImageChecks.Stat(image, path);
            if (e.Type == FileEntryType.HardLink)
            {
                ExtImageChecks.Stat(image, "/" + e.LinkTarget).Inode.Should().Be(st.Inode, $"{path} is a hard link to {e.LinkTarget}");
                continue;
            }
            var expectedType = e.Type switch
            {
                FileEntryType.RegularFile => "regular",
                FileEntryType.Directory => "directory",
                FileEntryType.SymbolicLink => "symlink",
                FileEntryType.CharacterDevice => "character special",
                FileEntryType.BlockDevice => "block special",
                FileEntryType.Fifo => "FIFO",
                FileEntryType.Socket => "socket",
                _ => "?",
            };
            st.Type.Should().Be(expectedType, path);
            var perms = e.Type == FileEntryType.SymbolicLink ? 0x1FF : e.Permissions & 0xFFF;
            (st.Mode & 0xFFF).Should().Be(perms, $"mode of {path}");
            st.Uid.Should().Be(options.OwnerUid ?? e.Uid, $"uid of {path}");
            st.Gid.Should().Be(options.OwnerGid ?? e.Gid, $"gid of {path}");
            var mtime = e.ModificationTime;
            if (options.SourceDateEpoch is long sde && mtime.Seconds > sde)
            {
                mtime = new ExtTimestamp(sde, 0);
            }
            st.Mtime.Should().Be((mtime.Seconds, mtime.Nanoseconds), $"mtime of {path}");

            switch (e.Type)
            {
                case FileEntryType.RegularFile:
                    st.Size.Should().Be((ulong)e.Size, $"size of {path}");
                    st.Links.Should().Be(linkCounts.GetValueOrDefault(e.Path, 1), $"links of {path}");
                    if (e.Content != null && e.Size <= maxDumpBytes)
                    {
                        Sha(ExtImageChecks.Dump(image, path)).Should().Be(Sha(ReadAll(e.Content)), $"content of {path}");
                    }
                    break;
                case FileEntryType.Directory:
                    st.Links.Should().Be(2 + subdirs.GetValueOrDefault(e.Path), $"links of {path}");
                    break;
                case FileEntryType.SymbolicLink:
                    var target = Encoding.UTF8.GetByteCount(e.LinkTarget!) < 60 ? st.FastLinkTarget : Encoding.UTF8.GetString(ExtImageChecks.Dump(image, path));
                    target.Should().Be(e.LinkTarget, $"target of {path}");
                    st.Size.Should().Be((ulong)Encoding.UTF8.GetByteCount(e.LinkTarget!));
                    break;
                case FileEntryType.CharacterDevice or FileEntryType.BlockDevice:
                    st.Device.Should().Be((e.DeviceMajor, e.DeviceMinor), $"device numbers of {path}");
                    break;
            }

            if (e.ExtendedAttributes.Count > 0)
            {
                var actual = ExtImageChecks.Xattrs(image, path);
                actual.Keys.Should().BeEquivalentTo(e.ExtendedAttributes.Select(x => x.Name), $"xattr names of {path}");
                foreach (var x in e.ExtendedAttributes)
                {
                    var isAcl = x.Name.StartsWith("system.posix_acl_", StringComparison.Ordinal);
                    Convert.ToHexString(isAcl ? NormalizeAcl(actual[x.Name]) : actual[x.Name])
                        .Should().Be(Convert.ToHexString(isAcl ? NormalizeAcl(x.Value) : x.Value), $"xattr {x.Name} of {path}");
                }
            }
        }
    }

    /// <summary>
    /// The id of USER_OBJ, GROUP_OBJ, MASK and OTHER entries is not stored on disk: the kernel reports
    /// it as ACL_UNDEFINED_ID (-1), debugfs as 0. Compare ACLs with those ids zeroed.
    /// </summary>
    public static byte[] NormalizeAcl(byte[] vfs)
    {
        var copy = (byte[])vfs.Clone();
        for (var off = 4; off + 8 <= copy.Length; off += 8)
        {
            var tag = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(off));
            if (tag is 0x01 or 0x04 or 0x10 or 0x20)
            {
                copy.AsSpan(off + 4, 4).Clear();
            }
        }
        return copy;
    }
}
