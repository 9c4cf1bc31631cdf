using System.Text;

namespace ImageTools.TestSupport;

/// <summary>
/// Builds ext2/3/4 images with the reference tool (<c>mke2fs -d</c>) from a sample tree that holds every
/// kind of thing a root filesystem has: nested directories, a directory big enough to need several
/// blocks (and an htree once e2fsck -D indexes it), empty/small/multi-block/sparse/fragmented files,
/// fast and slow symlinks, hard links, character and block devices (old and new encodings), a FIFO, a
/// socket, user/trusted/security xattrs (one too big for the inode), a POSIX ACL, owners above 65535,
/// setuid/sticky modes, a non-ASCII and a 255-byte name, fixed timestamps.
/// </summary>
public static class ExtImages
{
    /// <summary>The kernel and initrd the sample tree holds (with /vmlinuz and /initrd.img symlinks to them).</summary>
    public static readonly string[] SampleKernelFiles = { "/boot/vmlinuz-6.1.0-18-amd64", "/boot/initrd.img-6.1.0-18-amd64" };

    /// <summary>
    /// Creates the sample tree under <paramref name="root"/> (which must not exist or be empty).
    /// Needs root (device nodes, chown). Returns <paramref name="root"/>.
    /// </summary>
    public static string BuildSampleTree(string root)
    {
        Directory.CreateDirectory(root);
        string P(string relative) => Path.Combine(root, relative);
        void Write(string relative, byte[] data)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(P(relative))!);
            File.WriteAllBytes(P(relative), data);
        }
        byte[] Pattern(int length, int seed)
        {
            var bytes = new byte[length];
            new Random(seed).NextBytes(bytes);
            return bytes;
        }

        Directory.CreateDirectory(P("etc/deep/er/still/deeper"));
        Write("etc/hostname", Encoding.ASCII.GetBytes("sample\n"));
        Write("etc/deep/er/still/deeper/leaf.txt", Encoding.ASCII.GetBytes("leaf\n"));
        Write("empty", Array.Empty<byte>());
        Write("small.txt", Encoding.ASCII.GetBytes("hello, ext\n"));
        Write("f5000", Pattern(5000, 1));
        Write("f300k", Pattern(300 * 1024, 2));
        Write("random-1m", Pattern(1024 * 1024, 3));
        // Data only at 700000 and a trailing hole: mke2fs maps just what holds data.
        using (var s = new FileStream(P("sparse"), FileMode.Create))
        {
            s.SetLength(2 * 1024 * 1024);
            s.Position = 700000;
            s.Write(Encoding.ASCII.GetBytes("data in the middle of nothing"));
        }
        // Eight separate data islands: more extents than the inode holds, so ext4 grows a tree.
        using (var s = new FileStream(P("islands"), FileMode.Create))
        {
            for (var i = 0; i < 8; i++)
            {
                s.Position = i * 64 * 1024;
                s.Write(Pattern(3000, 10 + i));
            }
            s.SetLength(8 * 64 * 1024 + 100);
        }
        // All-zero content: mke2fs turns it into a hole.
        Write("zeros-8k", new byte[8192]);
        Write("boot/vmlinuz-6.1.0-18-amd64", Pattern(40000, 4));
        Write("boot/initrd.img-6.1.0-18-amd64", Pattern(30000, 5));
        Write("boot/config-6.1.0-18-amd64", Encoding.ASCII.GetBytes("CONFIG_EXT4_FS=y\n"));
        File.CreateSymbolicLink(P("vmlinuz"), "boot/vmlinuz-6.1.0-18-amd64");
        File.CreateSymbolicLink(P("initrd.img"), "boot/initrd.img-6.1.0-18-amd64");

        Directory.CreateDirectory(P("many"));
        for (var i = 0; i < 400; i++)
        {
            File.WriteAllText(P($"many/entry-with-a-longish-name-{i:D4}"), i.ToString());
        }

        File.CreateSymbolicLink(P("link-fast"), "small.txt");
        File.CreateSymbolicLink(P("link-59"), new string('a', 59));
        File.CreateSymbolicLink(P("link-60"), new string('b', 60));
        File.CreateSymbolicLink(P("link-slow"), "/" + string.Join('/', Enumerable.Repeat("segment", 30)));
        File.CreateSymbolicLink(P("link-dangling"), "/does/not/exist");
        Run("ln", P("f5000"), P("hardlink-to-f5000"));
        Run("ln", P("f5000"), P("etc/another-hardlink"));
        Write("caf\u00e9-\u00fcnicode.txt", Encoding.UTF8.GetBytes("utf-8 name\n"));
        Write(new string('n', 255), Encoding.ASCII.GetBytes("long name\n"));

        Run("mknod", P("dev-char"), "c", "4", "5");
        Run("mknod", P("dev-block"), "b", "8", "1");
        Run("mknod", P("dev-big"), "c", "300", "70000");
        Run("mkfifo", P("fifo"));
        // A socket node (bind() would do, but .NET removes the file when the socket closes).
        if (MakeNode(P("socket"), 0xC000 | 0x1ED, 0) != 0)
        {
            throw new InvalidOperationException($"mknod socket failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }

        Write("xattrs", Encoding.ASCII.GetBytes("has attributes\n"));
        Run("setfattr", "-n", "user.comment", "-v", "a comment", P("xattrs"));
        Run("setfattr", "-n", "trusted.big", "-v", new string('Z', 700), P("xattrs"));
        Run("setfattr", "-n", "security.label", "-v", "0x0001ff7f80", P("xattrs"));
        Run("setfacl", "-m", "u:1000:r,g:2000:rw", P("xattrs"));
        Directory.CreateDirectory(P("acl-dir"));
        Run("setfacl", "-d", "-m", "u:1000:rwx", P("acl-dir"));

        Write("owned", Encoding.ASCII.GetBytes("owned\n"));
        Run("chown", "70000:80000", P("owned"));
        Run("chown", "1000:1000", P("etc/hostname"));
        Write("setuid", Encoding.ASCII.GetBytes("#!/bin/sh\n"));
        Run("chmod", "4755", P("setuid"));
        Directory.CreateDirectory(P("tmp"));
        Run("chmod", "1777", P("tmp"));
        Run("chmod", "0600", P("small.txt"));
        Run("touch", "-h", "-d", "2001-02-03 04:05:06", P("link-fast"));
        Run("touch", "-d", "1999-12-31 23:59:59", P("small.txt"));
        Run("touch", "-d", "2030-06-15 12:00:00", P("f5000"));
        Run("touch", "-d", "2020-01-02 03:04:05", P("etc"));
        return root;
    }

    /// <summary>
    /// A small tree with one of each structure the reader walks (multi-block directory, a file reaching
    /// the indirect and double-indirect maps at 1K, a sparse file, fast and slow symlinks, a hard link,
    /// xattrs in the inode and in a block, an ACL, a FIFO and a device), small enough for mutation tests
    /// to read thousands of damaged copies in memory. Needs root for the device node.
    /// </summary>
    public static string BuildSmallTree(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "dir/sub"));
        for (var i = 0; i < 60; i++)
        {
            File.WriteAllText(Path.Combine(root, "dir", $"name-number-{i:D3}"), i.ToString());
        }
        File.WriteAllText(Path.Combine(root, "dir/sub/leaf"), "leaf\n");
        File.WriteAllBytes(Path.Combine(root, "empty"), Array.Empty<byte>());
        var bytes = new byte[300 * 1024];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(Path.Combine(root, "f300k"), bytes);
        using (var s = new FileStream(Path.Combine(root, "sparse"), FileMode.Create))
        {
            foreach (var at in new long[] { 0, 100_000, 400_000, 3_000_000 })
            {
                s.Position = at;
                s.Write(bytes.AsSpan(0, 2000));
            }
            s.SetLength(4 * 1024 * 1024);
        }
        File.CreateSymbolicLink(Path.Combine(root, "fast"), "f300k");
        File.CreateSymbolicLink(Path.Combine(root, "slow"), new string('s', 120));
        Run("ln", Path.Combine(root, "f300k"), Path.Combine(root, "dir/hard"));
        Run("mkfifo", Path.Combine(root, "fifo"));
        Run("mknod", Path.Combine(root, "tty"), "c", "4", "1");
        Run("setfattr", "-n", "user.small", "-v", "x", Path.Combine(root, "f300k"));
        Run("setfattr", "-n", "user.large", "-v", new string('L', 500), Path.Combine(root, "f300k"));
        Run("setfacl", "-m", "u:1000:r", Path.Combine(root, "dir"));
        return root;
    }

    /// <summary>
    /// The blocks of an image that hold metadata (superblocks, descriptors, bitmaps, inode tables,
    /// directories, indirect/extent/xattr blocks, slow symlinks, the journal): the non-zero blocks of
    /// <c>e2image -r</c>, which copies metadata and leaves file data out.
    /// </summary>
    public static IReadOnlyList<long> MetadataBlocks(string image, int blockSize)
    {
        using var temp = new TempDirectory("imagetools-e2image-");
        var raw = temp.File("metadata.raw");
        var r = ProcessRunner.Run(ExternalTools.Require("e2image"), "-r", image, raw);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"e2image -r {image} failed: {r}");
        }
        var blocks = new List<long>();
        var buffer = new byte[blockSize];
        using var s = File.OpenRead(raw);
        for (long b = 0; ; b++)
        {
            var n = s.ReadAtLeast(buffer, blockSize, throwOnEndOfStream: false);
            if (n == 0)
            {
                break;
            }
            if (buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0)
            {
                blocks.Add(b);
            }
        }
        return blocks;
    }

    /// <summary>
    /// Makes an image with <c>mke2fs -t TYPE -b BS -d SOURCE</c> of <paramref name="size"/> (e.g. "16M"),
    /// with a fixed UUID and hash seed; <paramref name="extra"/> adds options (e.g. "-O", "inline_data").
    /// </summary>
    public static string Make(string image, string fsType, int blockSize, string sourceDir, string size = "16M", params string[] extra)
    {
        var args = new List<string> { "-q", "-F", "-t", fsType, "-b", blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", "6d3f1a52-2c8e-4b7a-9e0f-112233445566", "-E", "hash_seed=0b5e8a4c-1d2f-4e3a-8b7c-665544332211", "-L", "sample-" + fsType };
        args.AddRange(extra);
        args.Add("-d");
        args.Add(sourceDir);
        args.Add(image);
        args.Add(size);
        var r = ProcessRunner.Run(ExternalTools.Require("mke2fs"), args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"mke2fs {string.Join(' ', args)} failed: {r}");
        }
        return image;
    }

    /// <summary>Indexes every directory of 3 or more blocks (<c>e2fsck -fyD</c>), giving htree directories.</summary>
    public static void IndexDirectories(string image)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("e2fsck"), "-fyD", image);
        // 0: nothing to do; 1: fixed (the re-indexing counts as a fix).
        if (r.ExitCode is not (0 or 1))
        {
            throw new InvalidOperationException($"e2fsck -fyD {image} failed: {r}");
        }
    }

    /// <summary>Runs one debugfs request (<c>debugfs -R</c>), returning its standard output.</summary>
    public static string Debugfs(string image, string request, bool write = false)
    {
        var args = new List<string>();
        if (write)
        {
            args.Add("-w");
        }
        args.AddRange(new[] { "-R", request, image });
        var r = ProcessRunner.Run(ExternalTools.Require("debugfs"), args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"debugfs -R '{request}' {image} failed: {r}");
        }
        return r.StdOut;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mknod", SetLastError = true)]
    private static extern int MakeNode([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, uint mode, ulong device);

    private static void Run(string program, params string[] args)
    {
        var r = ProcessRunner.Run(ExternalTools.Require(program), args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {r}");
        }
    }
}
