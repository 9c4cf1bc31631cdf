using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Platform;

/// <summary>
/// The libc calls <see cref="MacPlatformIo"/> makes, each returning -1 and the errno on failure, so that the
/// decisions taken on them are unit-tested on Linux (tests/ImageTools.Core.Tests/Devices/MacPlatformIoTests.cs).
/// <see cref="DarwinLibc"/> is the real one.
/// </summary>
internal interface IDarwinCalls
{
    /// <summary>lseek(2) with Darwin's whence values (SEEK_HOLE 3, SEEK_DATA 4: the reverse of Linux).</summary>
    long LSeek(SafeFileHandle handle, long offset, int whence, out int errno);

    /// <summary>fcntl(F_PUNCHHOLE) with struct fpunchhole { fp_flags, reserved, fp_offset, fp_length }.</summary>
    int PunchHole(SafeFileHandle handle, long offset, long length, out int errno);

    /// <summary>ioctl DKIOCGETBLOCKSIZE and DKIOCGETBLOCKCOUNT of a disk device.</summary>
    int GetDiskGeometry(SafeFileHandle handle, out uint blockSize, out ulong blockCount, out int errno);

    /// <summary>stat(2) / fstat(2): the 144-byte struct stat of 64-bit-inode macOS.</summary>
    int Stat(string path, Span<byte> buffer, out int errno);

    /// <inheritdoc cref="Stat"/>
    int FStat(SafeFileHandle handle, Span<byte> buffer, out int errno);

    /// <summary>f_iosize-free block size of the file system holding the file (statfs f_bsize): F_PUNCHHOLE's unit.</summary>
    int FileSystemBlockSize(SafeFileHandle handle, out int blockSize, out int errno);
}

/// <summary>
/// macOS: lseek(SEEK_DATA/SEEK_HOLE) for data ranges (APFS and HFS+ answer them; Darwin numbers them 4 and 3),
/// fcntl(F_PUNCHHOLE) to deallocate a range of a file (APFS; whole file-system blocks only, so the ends of an
/// unaligned range are written as zeros), and DKIOCGETBLOCKCOUNT × DKIOCGETBLOCKSIZE for
/// the size of <c>/dev/diskN</c> and of the raw <c>/dev/rdiskN</c> (a character device on macOS, treated as the
/// disk it is). Not run on a Mac yet: see docs/platforms.md.
/// </summary>
public sealed partial class MacPlatformIo : IPlatformIo
{
    // Darwin's values (sys/unistd.h, sys/fcntl.h, sys/errno.h, sys/disk.h); several differ from Linux.
    internal const int SEEK_HOLE = 3;
    internal const int SEEK_DATA = 4;
    internal const int F_PUNCHHOLE = 99;
    internal const int ENXIO = 6;
    internal const int EBUSY = 16;
    internal const int ENOENT = 2;
    internal const int ENOTDIR = 20;
    internal const int EINVAL = 22;
    internal const int ENOTSUP = 45;
    internal const int ENOTTY = 25;
    internal const uint DKIOCGETBLOCKSIZE = 0x40046418;  // _IOR('d', 24, uint32_t)
    internal const uint DKIOCGETBLOCKCOUNT = 0x40086419; // _IOR('d', 25, uint64_t)

    // struct stat with 64-bit inodes (sys/stat.h, __DARWIN_STRUCT_STAT64): the same on x86_64 and arm64.
    internal const int StatSize = 144;
    internal const int StatDevOffset = 0;     // dev_t (int32) st_dev
    internal const int StatModeOffset = 4;    // mode_t (uint16) st_mode
    internal const int StatInodeOffset = 8;   // uint64 st_ino
    internal const int StatRdevOffset = 24;   // dev_t st_rdev
    internal const int StatSizeOffset = 96;   // off_t st_size
    internal const int StatBlocksOffset = 104; // blkcnt_t st_blocks (512-byte units)

    private const uint S_IFMT = 0xF000;
    private const uint S_IFSOCK = 0xC000;
    private const uint S_IFREG = 0x8000;
    private const uint S_IFBLK = 0x6000;
    private const uint S_IFDIR = 0x4000;
    private const uint S_IFCHR = 0x2000;
    private const uint S_IFIFO = 0x1000;

    private readonly IDarwinCalls _calls;

    public MacPlatformIo()
        : this(new DarwinLibc())
    {
    }

    internal MacPlatformIo(IDarwinCalls calls) => _calls = calls;

    [GeneratedRegex(@"^/dev/r?disk[0-9]+(s[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DiskPath();

    public FileIdentity GetIdentity(string path)
    {
        Span<byte> buffer = stackalloc byte[StatSize];
        if (_calls.Stat(path, buffer, out var errno) != 0)
        {
            if (errno is ENOENT or ENOTDIR)
            {
                return new FileIdentity(FileKind.Missing, default, 0, default, 0, 0, 0);
            }
            throw new IOException($"cannot stat {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return ParseStat(buffer, DiskPath().IsMatch(path));
    }

    public FileIdentity GetIdentity(SafeFileHandle handle)
    {
        Span<byte> buffer = stackalloc byte[StatSize];
        if (_calls.FStat(handle, buffer, out var errno) != 0)
        {
            throw new IOException($"cannot stat an open file: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var identity = ParseStat(buffer, isDiskPath: false);
        // An open character device that answers the disk ioctls is a raw disk (/dev/rdiskN).
        if (identity.Kind == FileKind.CharacterDevice && _calls.GetDiskGeometry(handle, out _, out _, out _) == 0)
        {
            identity = identity with { Kind = FileKind.BlockDevice };
        }
        return identity;
    }

    /// <summary>Reads Darwin's struct stat; a raw disk node (<c>/dev/rdiskN</c>, a character device) counts as a block device.</summary>
    internal static FileIdentity ParseStat(ReadOnlySpan<byte> b, bool isDiskPath)
    {
        uint mode = BinaryPrimitives.ReadUInt16LittleEndian(b[StatModeOffset..]);
        var kind = (mode & S_IFMT) switch
        {
            S_IFREG => FileKind.RegularFile,
            S_IFDIR => FileKind.Directory,
            S_IFBLK => FileKind.BlockDevice,
            S_IFCHR => isDiskPath ? FileKind.BlockDevice : FileKind.CharacterDevice,
            S_IFIFO => FileKind.Pipe,
            S_IFSOCK => FileKind.Socket,
            _ => FileKind.Other,
        };
        return new FileIdentity(
            kind,
            SplitDev(BinaryPrimitives.ReadUInt32LittleEndian(b[StatDevOffset..])),
            BinaryPrimitives.ReadUInt64LittleEndian(b[StatInodeOffset..]),
            // /dev/diskN and /dev/rdiskN share the minor number and differ in major: compare disks by minor alone.
            kind == FileKind.BlockDevice ? new DeviceNumber(0, SplitDev(BinaryPrimitives.ReadUInt32LittleEndian(b[StatRdevOffset..])).Minor) : default,
            BinaryPrimitives.ReadInt64LittleEndian(b[StatSizeOffset..]),
            BinaryPrimitives.ReadInt64LittleEndian(b[StatBlocksOffset..]) * 512,
            mode & 0xFFF);
    }

    /// <summary>Darwin's dev_t: major in the top 8 bits, minor in the low 24 (sys/types.h major()/minor()).</summary>
    private static DeviceNumber SplitDev(uint dev) => new((dev >> 24) & 0xFF, dev & 0xFFFFFF);

    public Extent? FindNextData(SafeFileHandle handle, long offset, long fileLength)
    {
        if (offset >= fileLength)
        {
            return null;
        }
        var dataStart = _calls.LSeek(handle, offset, SEEK_DATA, out var errno);
        if (dataStart < 0)
        {
            if (errno == ENXIO)
            {
                return null; // only a hole remains
            }
            if (errno is EINVAL or ENOTSUP or ENOTTY)
            {
                return new Extent(offset, fileLength - offset); // a file system that cannot say (FAT, SMB): all data
            }
            throw new IOException($"SEEK_DATA at offset {offset} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        if (dataStart >= fileLength)
        {
            return null;
        }
        var holeStart = _calls.LSeek(handle, dataStart, SEEK_HOLE, out errno);
        if (holeStart < 0)
        {
            throw new IOException($"SEEK_HOLE at offset {dataStart} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var end = Math.Min(holeStart, fileLength);
        return new Extent(dataStart, end - dataStart);
    }

    public void AdviseSequentialRead(SafeFileHandle handle)
    {
        // Darwin has no posix_fadvise; its read-ahead adapts to sequential reads by itself.
    }

    public long GetBlockDeviceSize(SafeFileHandle handle)
    {
        if (_calls.GetDiskGeometry(handle, out var blockSize, out var blockCount, out var errno) != 0)
        {
            throw new IOException($"DKIOCGETBLOCKCOUNT failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return checked((long)(blockCount * blockSize));
    }

    public SafeFileHandle OpenBlockDevice(string path, bool write)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, write ? FileAccess.ReadWrite : FileAccess.Read, FileShare.None);
        }
        catch (IOException e) when (e.HResult == EBUSY || e.Message.Contains("busy", StringComparison.OrdinalIgnoreCase))
        {
            throw new ImageToolsException(ErrorKind.DeviceBusy,
                $"{path} is busy: a volume on it is mounted; unmount it with 'diskutil unmountDisk {path.Replace("/dev/r", "/dev/", StringComparison.Ordinal)}'", e)
            { Path = path };
        }
    }

    public bool ZeroesCheaply(SafeFileHandle handle, FileKind kind) => kind == FileKind.RegularFile;

    public bool TryZeroRange(SafeFileHandle handle, FileKind kind, long offset, long length)
    {
        if (length <= 0)
        {
            return true;
        }
        if (kind != FileKind.RegularFile)
        {
            return false;
        }
        if (_calls.FileSystemBlockSize(handle, out var blockSize, out _) != 0 || blockSize <= 0)
        {
            blockSize = 4096; // APFS
        }
        // F_PUNCHHOLE takes whole file-system blocks only: punch the aligned middle, write zeros at the ends.
        var end = offset + length;
        var alignedStart = (offset + blockSize - 1) / blockSize * blockSize;
        var alignedEnd = end / blockSize * blockSize;
        if (alignedEnd <= alignedStart)
        {
            return false; // less than a block: the caller writes the zeros
        }
        if (_calls.PunchHole(handle, alignedStart, alignedEnd - alignedStart, out _) != 0)
        {
            return false; // HFS+ has no F_PUNCHHOLE
        }
        WriteZeros(handle, offset, alignedStart - offset);
        WriteZeros(handle, alignedEnd, end - alignedEnd);
        return true;
    }

    private static void WriteZeros(SafeFileHandle handle, long offset, long length)
    {
        if (length > 0)
        {
            RandomAccess.Write(handle, new byte[length], offset); // less than one block
        }
    }

    public bool MarkSparse(SafeFileHandle handle) => true; // APFS files are sparse by nature

    /// <summary>.NET's flush on macOS is fcntl(F_FULLFSYNC), which also empties the drive's cache.</summary>
    public void FlushToDisk(SafeFileHandle handle) => RandomAccess.FlushToDisk(handle);

    /// <summary>macOS re-reads a disk's partition map when the disk is closed; diskutil does the rest.</summary>
    public PartitionRereadResult RereadPartitionTable(SafeFileHandle handle, int attempts, TimeSpan delay, CancellationToken cancellation) =>
        PartitionRereadResult.NotSupported;

    /// <summary>Mounted volumes refuse the exclusive open instead (EBUSY); there is no mount table to read here.</summary>
    public IReadOnlyList<DeviceUse> FindUsesOfBlockDevice(DeviceNumber device) => Array.Empty<DeviceUse>();
}

/// <summary>libc on macOS (libSystem), through source-generated P/Invoke.</summary>
internal sealed partial class DarwinLibc : IDarwinCalls
{
    // On x86_64 the plain stat/fstat symbols keep the old 32-bit-inode struct; the $INODE64 ones fill the
    // 144-byte struct MacPlatformIo reads. arm64 has only the 64-bit-inode struct, under the plain names.
    private static readonly bool UseInode64Symbols = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public long LSeek(SafeFileHandle handle, long offset, int whence, out int errno)
    {
        var r = LSeekNative(Fd(handle), offset, whence);
        errno = r < 0 ? Marshal.GetLastPInvokeError() : 0;
        return r;
    }

    public unsafe int PunchHole(SafeFileHandle handle, long offset, long length, out int errno)
    {
        var punch = stackalloc long[3]; // struct fpunchhole { uint32 fp_flags; uint32 reserved; off_t fp_offset; off_t fp_length; }
        punch[0] = 0;
        punch[1] = offset;
        punch[2] = length;
        var r = Fcntl(Fd(handle), MacPlatformIo.F_PUNCHHOLE, punch);
        errno = r != 0 ? Marshal.GetLastPInvokeError() : 0;
        return r;
    }

    public unsafe int GetDiskGeometry(SafeFileHandle handle, out uint blockSize, out ulong blockCount, out int errno)
    {
        uint size = 0;
        ulong count = 0;
        var r = Ioctl(Fd(handle), MacPlatformIo.DKIOCGETBLOCKSIZE, &size);
        if (r == 0)
        {
            r = Ioctl(Fd(handle), MacPlatformIo.DKIOCGETBLOCKCOUNT, &count);
        }
        errno = r != 0 ? Marshal.GetLastPInvokeError() : 0;
        blockSize = size;
        blockCount = count;
        return r;
    }

    public unsafe int Stat(string path, Span<byte> buffer, out int errno)
    {
        fixed (byte* b = buffer)
        {
            var r = UseInode64Symbols ? StatInode64(path, b) : StatNative(path, b);
            errno = r != 0 ? Marshal.GetLastPInvokeError() : 0;
            return r;
        }
    }

    public unsafe int FStat(SafeFileHandle handle, Span<byte> buffer, out int errno)
    {
        fixed (byte* b = buffer)
        {
            var r = UseInode64Symbols ? FStatInode64(Fd(handle), b) : FStatNative(Fd(handle), b);
            errno = r != 0 ? Marshal.GetLastPInvokeError() : 0;
            return r;
        }
    }

    public unsafe int FileSystemBlockSize(SafeFileHandle handle, out int blockSize, out int errno)
    {
        // struct statfs (64-bit-inode form): uint32 f_bsize at offset 0; 2168 bytes in all.
        var buffer = stackalloc byte[2168];
        var r = UseInode64Symbols ? FStatFsInode64(Fd(handle), buffer) : FStatFsNative(Fd(handle), buffer);
        errno = r != 0 ? Marshal.GetLastPInvokeError() : 0;
        blockSize = r == 0 ? (int)BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(buffer, 4)) : 0;
        return r;
    }

    private static int Fd(SafeFileHandle handle) => (int)handle.DangerousGetHandle();

    // fcntl and ioctl are variadic. On arm64 macOS a variadic argument is passed on the stack, not in a
    // register as a fixed one would be: six unused fixed arguments fill x2..x7 so that the real one is the
    // ninth, which goes to the stack where the callee looks for it. x86_64 passes both kinds alike.
    private static readonly bool VariadicOnStack = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    private static unsafe int Fcntl(int fd, int command, void* argument) =>
        VariadicOnStack ? FcntlStack(fd, command, 0, 0, 0, 0, 0, 0, argument) : FcntlRegister(fd, command, argument);

    private static unsafe int Ioctl(int fd, uint request, void* argument) =>
        VariadicOnStack ? IoctlStack(fd, request, 0, 0, 0, 0, 0, 0, argument) : IoctlRegister(fd, request, argument);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeekNative(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static unsafe partial int FcntlRegister(int fd, int command, void* argument);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static unsafe partial int FcntlStack(int fd, int command, nint x2, nint x3, nint x4, nint x5, nint x6, nint x7, void* argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int IoctlRegister(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int IoctlStack(int fd, nuint request, nint x2, nint x3, nint x4, nint x5, nint x6, nint x7, void* argument);

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatNative(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "stat$INODE64", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int StatInode64(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int FStatNative(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstat$INODE64", SetLastError = true)]
    private static unsafe partial int FStatInode64(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static unsafe partial int FStatFsNative(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstatfs$INODE64", SetLastError = true)]
    private static unsafe partial int FStatFsInode64(int fd, byte* buffer);
}
