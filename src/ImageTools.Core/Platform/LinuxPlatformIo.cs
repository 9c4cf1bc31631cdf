using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>
/// Linux: lseek(SEEK_DATA/SEEK_HOLE) for data ranges, statx for identities, the block-device ioctls
/// (BLKGETSIZE64, BLKZEROOUT, BLKRRPART), fallocate(PUNCH_HOLE), fdatasync, and /proc + /sys for device use.
/// </summary>
public sealed partial class LinuxPlatformIo : IPlatformIo
{
    // errno values (asm-generic/errno-base.h, errno.h); identical on every Linux architecture .NET runs on.
    private const int ENOENT = 2;
    private const int EINTR = 4;
    private const int ENXIO = 6;
    private const int EBUSY = 16;
    private const int ENOTDIR = 20;
    private const int EINVAL = 22;
    private const int ENOTTY = 25;
    private const int ENOSYS = 38;
    private const int EOPNOTSUPP = 95;

    // lseek whence values for sparse files (linux/fs.h, since 3.1).
    private const int SEEK_DATA = 3;
    private const int SEEK_HOLE = 4;

    // open(2) flags (asm-generic/fcntl.h). O_EXCL without O_CREAT on a block device claims it exclusively.
    private const int O_RDONLY = 0;
    private const int O_RDWR = 2;
    private const int O_EXCL = 0x80;
    private const int O_CLOEXEC = 0x80000;

    // Block-device ioctls (linux/fs.h): _IO(0x12, n) = 0x1200 | n; _IOR(0x12, 114, size_t) = 0x80081272.
    private const nuint BLKRRPART = 0x125F;
    private const nuint BLKGETSIZE64 = 0x80081272;
    private const nuint BLKZEROOUT = 0x127F;

    // posix_fadvise(2) advice (bits/fcntl-linux.h).
    private const int POSIX_FADV_SEQUENTIAL = 2;

    // fallocate(2) modes (linux/falloc.h).
    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;

    // statx(2): struct statx is the same on every architecture (linux/stat.h), unlike struct stat.
    private const int AT_FDCWD = -100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7FF;
    private const int StatxSize = 256;
    private const int StatxModeOffset = 28;      // __u16 stx_mode
    private const int StatxInodeOffset = 32;     // __u64 stx_ino
    private const int StatxSizeOffset = 40;      // __u64 stx_size
    private const int StatxBlocksOffset = 48;    // __u64 stx_blocks (512-byte units)
    private const int StatxRdevMajorOffset = 128; // __u32 stx_rdev_major, then stx_rdev_minor
    private const int StatxDevMajorOffset = 136;  // __u32 stx_dev_major, then stx_dev_minor

    // st_mode file type bits (sys/stat.h).
    private const uint S_IFMT = 0xF000;
    private const uint S_IFSOCK = 0xC000;
    private const uint S_IFREG = 0x8000;
    private const uint S_IFBLK = 0x6000;
    private const uint S_IFDIR = 0x4000;
    private const uint S_IFCHR = 0x2000;
    private const uint S_IFIFO = 0x1000;

    private const int SectorSize = 512;

    private readonly string _procRoot;
    private readonly string _sysRoot;

    /// <summary>The real system.</summary>
    public LinuxPlatformIo()
        : this("/proc", "/sys")
    {
    }

    /// <summary>
    /// Reads mount tables and device attributes under other roots (tests lay out a /proc and /sys of their
    /// own to check the mount logic for cases this machine's kernel cannot show).
    /// </summary>
    public LinuxPlatformIo(string procRoot, string sysRoot)
    {
        _procRoot = procRoot;
        _sysRoot = sysRoot;
    }

    public FileIdentity GetIdentity(string path)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (Statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT || errno == ENOTDIR)
            {
                return new FileIdentity(FileKind.Missing, default, 0, default, 0, 0, 0);
            }
            throw new IOException($"cannot stat {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return ParseStatx(buffer);
    }

    public FileIdentity GetIdentity(SafeFileHandle handle)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        if (Statx(Fd(handle), "", AT_EMPTY_PATH, STATX_BASIC_STATS, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            throw new IOException($"cannot stat an open file: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        return ParseStatx(buffer);
    }

    private static FileIdentity ParseStatx(ReadOnlySpan<byte> b)
    {
        uint mode = BinaryPrimitives.ReadUInt16LittleEndian(b[StatxModeOffset..]);
        var kind = (mode & S_IFMT) switch
        {
            S_IFREG => FileKind.RegularFile,
            S_IFDIR => FileKind.Directory,
            S_IFBLK => FileKind.BlockDevice,
            S_IFCHR => FileKind.CharacterDevice,
            S_IFIFO => FileKind.Pipe,
            S_IFSOCK => FileKind.Socket,
            _ => FileKind.Other,
        };
        // statx is filled in native byte order; every Linux target of .NET is little-endian.
        return new FileIdentity(
            kind,
            new DeviceNumber(BinaryPrimitives.ReadUInt32LittleEndian(b[StatxDevMajorOffset..]), BinaryPrimitives.ReadUInt32LittleEndian(b[(StatxDevMajorOffset + 4)..])),
            BinaryPrimitives.ReadUInt64LittleEndian(b[StatxInodeOffset..]),
            new DeviceNumber(BinaryPrimitives.ReadUInt32LittleEndian(b[StatxRdevMajorOffset..]), BinaryPrimitives.ReadUInt32LittleEndian(b[(StatxRdevMajorOffset + 4)..])),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(b[StatxSizeOffset..]),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(b[StatxBlocksOffset..]) * 512,
            mode & 0xFFF);
    }

    public Extent? FindNextData(SafeFileHandle handle, long offset, long fileLength)
    {
        if (offset >= fileLength)
        {
            return null;
        }
        var fd = Fd(handle);
        var dataStart = LSeek(fd, offset, SEEK_DATA);
        if (dataStart < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENXIO)
            {
                return null; // only a hole remains up to the end of the file
            }
            if (errno == EINVAL || errno == EOPNOTSUPP)
            {
                return new Extent(offset, fileLength - offset); // the file system cannot say: all data
            }
            throw new IOException($"SEEK_DATA at offset {offset} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        if (dataStart >= fileLength)
        {
            return null;
        }
        var holeStart = LSeek(fd, dataStart, SEEK_HOLE);
        if (holeStart < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"SEEK_HOLE at offset {dataStart} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        // The file may have grown since its length was taken; the caller's length is the contract.
        var end = Math.Min(holeStart, fileLength);
        return new Extent(dataStart, end - dataStart);
    }

    public void AdviseSequentialRead(SafeFileHandle handle) => _ = PosixFAdvise(Fd(handle), 0, 0, POSIX_FADV_SEQUENTIAL);

    public long GetBlockDeviceSize(SafeFileHandle handle)
    {
        ulong size = 0;
        if (IoctlULong(Fd(handle), BLKGETSIZE64, ref size) != 0)
        {
            throw new IOException($"BLKGETSIZE64 failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        return (long)size;
    }

    public SafeFileHandle OpenBlockDevice(string path, bool write)
    {
        int fd;
        do
        {
            fd = Open(path, (write ? O_RDWR : O_RDONLY) | O_EXCL | O_CLOEXEC, 0);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EBUSY)
            {
                throw new ImageToolsException(ErrorKind.DeviceBusy,
                    $"{path} is busy: the kernel refused exclusive access (it, or one of its partitions, is mounted, used as swap, or open by another program)")
                { Path = path };
            }
            throw new IOException($"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public bool ZeroesCheaply(SafeFileHandle handle, FileKind kind)
    {
        if (kind == FileKind.RegularFile)
        {
            return true; // a hole punch changes metadata only
        }
        if (kind != FileKind.BlockDevice)
        {
            return false;
        }
        // BLKZEROOUT always works, but only offloaded WRITE ZEROES (or a loop device's fallocate) avoids
        // sending zero pages; the queue attribute is 0 when the kernel would write zeros itself.
        var queue = QueueDirectory(GetIdentity(handle).SpecialDevice);
        var text = queue == null ? null : ReadSysfs(Path.Combine(queue, "write_zeroes_max_bytes"));
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var max) && max > 0;
    }

    public bool TryZeroRange(SafeFileHandle handle, FileKind kind, long offset, long length)
    {
        if (length <= 0)
        {
            return true;
        }
        var fd = Fd(handle);
        if (kind == FileKind.RegularFile)
        {
            return FAllocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0;
        }
        if (kind == FileKind.BlockDevice)
        {
            if (offset % SectorSize != 0 || length % SectorSize != 0)
            {
                return false; // BLKZEROOUT takes whole logical sectors only
            }
            Span<ulong> range = stackalloc ulong[2];
            range[0] = (ulong)offset;
            range[1] = (ulong)length;
            return IoctlRange(fd, BLKZEROOUT, ref MemoryMarshal.GetReference(range)) == 0;
        }
        return false;
    }

    /// <summary>POSIX files are sparse by nature: unwritten ranges stay holes where the file system has them.</summary>
    public bool MarkSparse(SafeFileHandle handle) => true;

    public void FlushToDisk(SafeFileHandle handle)
    {
        int rc;
        do
        {
            rc = FDataSync(Fd(handle));
        }
        while (rc != 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (rc != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINVAL || errno == EOPNOTSUPP)
            {
                return; // pipes, /dev/null: nothing to make durable
            }
            throw new IOException($"fdatasync failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    public PartitionRereadResult RereadPartitionTable(SafeFileHandle handle, int attempts, TimeSpan delay, CancellationToken cancellation)
    {
        var fd = Fd(handle);
        for (var attempt = 1; ; attempt++)
        {
            if (IoctlNone(fd, BLKRRPART, 0) == 0)
            {
                return PartitionRereadResult.Done;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINVAL || errno == ENOTTY || errno == ENOSYS)
            {
                return PartitionRereadResult.NotSupported;
            }
            if (errno != EBUSY)
            {
                throw new IOException($"BLKRRPART failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }
            if (attempt >= attempts || cancellation.WaitHandle.WaitOne(delay))
            {
                return PartitionRereadResult.StillBusy;
            }
        }
    }

    public IReadOnlyList<DeviceUse> FindUsesOfBlockDevice(DeviceNumber device)
    {
        var uses = new List<DeviceUse>();
        var diskDir = SysfsDeviceDirectory(device);
        if (diskDir == null)
        {
            return uses;
        }
        // The device itself and every partition of it (sub-folders that hold a "partition" file), plus
        // the whole disk when the device is a partition (a file system made on the whole disk covers it).
        var related = new Dictionary<DeviceNumber, string> { [device] = Path.GetFileName(diskDir) };
        foreach (var sub in SafeEnumerateDirectories(diskDir))
        {
            if (File.Exists(Path.Combine(sub, "partition")) && TryReadDeviceNumber(Path.Combine(sub, "dev"), out var part))
            {
                related[part] = Path.GetFileName(sub);
            }
        }
        var parent = Path.GetDirectoryName(diskDir);
        if (File.Exists(Path.Combine(diskDir, "partition")) && parent != null && TryReadDeviceNumber(Path.Combine(parent, "dev"), out var whole))
        {
            related[whole] = Path.GetFileName(parent);
        }

        foreach (var (mountedDevice, source, mountPoint) in ReadMountInfo())
        {
            var matched = related.TryGetValue(mountedDevice, out var name);
            if (!matched && source.StartsWith("/dev/", StringComparison.Ordinal))
            {
                // btrfs and friends report an anonymous device number; the mount source names the real one.
                var id = SafeIdentity(source);
                if (id.Kind == FileKind.BlockDevice && related.TryGetValue(id.SpecialDevice, out name))
                {
                    matched = true;
                }
            }
            if (matched)
            {
                uses.Add(new DeviceUse("/dev/" + name, $"mounted on {mountPoint}"));
            }
        }

        foreach (var swap in ReadSwaps())
        {
            var id = SafeIdentity(swap);
            if (id.Kind == FileKind.BlockDevice && related.TryGetValue(id.SpecialDevice, out var name))
            {
                uses.Add(new DeviceUse("/dev/" + name, "used as swap"));
            }
        }

        foreach (var (number, name) in related)
        {
            var dir = SysfsDeviceDirectory(number);
            if (dir == null)
            {
                continue;
            }
            foreach (var holder in SafeEnumerateDirectories(Path.Combine(dir, "holders")))
            {
                uses.Add(new DeviceUse("/dev/" + name, $"held by /dev/{Path.GetFileName(holder)} (device mapper, md or similar)"));
            }
        }
        return uses;
    }

    private IEnumerable<(DeviceNumber Device, string Source, string MountPoint)> ReadMountInfo()
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(Path.Combine(_procRoot, "self", "mountinfo"));
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var line in lines)
        {
            // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 2 >= fields.Length)
            {
                continue;
            }
            var numbers = fields[2].Split(':');
            if (numbers.Length != 2
                || !uint.TryParse(numbers[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
                || !uint.TryParse(numbers[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
            {
                continue;
            }
            yield return (new DeviceNumber(major, minor), Unescape(fields[separator + 2]), Unescape(fields[4]));
        }
    }

    private IEnumerable<string> ReadSwaps()
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(Path.Combine(_procRoot, "swaps"));
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var line in lines.Skip(1))
        {
            var first = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (first != null)
            {
                yield return Unescape(first);
            }
        }
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as octal (\040).</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\'))
        {
            return s;
        }
        var sb = new System.Text.StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctalDigit(s[i + 1]) && IsOctalDigit(s[i + 2]) && IsOctalDigit(s[i + 3]))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctalDigit(char c) => c is >= '0' and <= '7';

    private FileIdentity SafeIdentity(string path)
    {
        try
        {
            return GetIdentity(path);
        }
        catch (IOException)
        {
            return default;
        }
    }

    /// <summary>/sys/devices/... folder of a block device, resolved from /sys/dev/block/MAJ:MIN.</summary>
    private string? SysfsDeviceDirectory(DeviceNumber device)
    {
        var link = Path.Combine(_sysRoot, "dev", "block", device.ToString());
        try
        {
            var target = new DirectoryInfo(link).ResolveLinkTarget(returnFinalTarget: true);
            return target?.FullName ?? (Directory.Exists(link) ? link : null);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private string? QueueDirectory(DeviceNumber device)
    {
        var dir = SysfsDeviceDirectory(device);
        if (dir == null)
        {
            return null;
        }
        var own = Path.Combine(dir, "queue");
        if (Directory.Exists(own))
        {
            return own;
        }
        var parent = Path.GetDirectoryName(dir); // a partition shares its disk's queue
        return parent != null && Directory.Exists(Path.Combine(parent, "queue")) ? Path.Combine(parent, "queue") : null;
    }

    private static bool TryReadDeviceNumber(string devFile, out DeviceNumber number)
    {
        number = default;
        var text = ReadSysfs(devFile);
        var parts = text?.Split(':');
        if (parts is not { Length: 2 }
            || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            return false;
        }
        number = new DeviceNumber(major, minor);
        return true;
    }

    private static string? ReadSysfs(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<string> SafeEnumerateDirectories(string dir)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir) : Array.Empty<string>();
        }
        catch (IOException)
        {
            return Array.Empty<string>();
        }
        catch (UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    [LibraryImport("libc", EntryPoint = "lseek64", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "open64", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlULong(int fd, nuint request, ref ulong value);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlRange(int fd, nuint request, ref ulong range);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlNone(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "fallocate64", SetLastError = true)]
    private static partial int FAllocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "posix_fadvise64")]
    private static partial int PosixFAdvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirFd, string path, int flags, uint mask, ref byte buffer);
}
