using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ImageTools.Core.Platform;

/// <summary>The Linux system calls behind <see cref="IFileMetadataWriter"/> (glibc 2.33+ exports mknod directly).</summary>
[SupportedOSPlatform("linux")]
public sealed partial class LinuxFileMetadataWriter : IFileMetadataWriter
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint SIfIfo = 0x1000;
    private const uint SIfChr = 0x2000;
    private const uint SIfBlk = 0x6000;
    private const uint SIfSock = 0xC000;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    public bool CanChangeOwner => GetEffectiveUserId() == 0;

    public bool CanCreateDevices => GetEffectiveUserId() == 0;

    public void SetOwner(string path, uint uid, uint gid) => Check(LChown(path, uid, gid), "lchown", path);

    public void SetMode(string path, int permissions) => Check(Chmod(path, (uint)(permissions & 0xFFF)), "chmod", path);

    public unsafe void SetTimes(string path, UnixTime access, UnixTime modification)
    {
        var times = stackalloc Timespec[2];
        times[0] = new Timespec { Seconds = access.Seconds, Nanoseconds = access.Nanoseconds };
        times[1] = new Timespec { Seconds = modification.Seconds, Nanoseconds = modification.Nanoseconds };
        Check(UtimensAt(AtFdCwd, path, times, AtSymlinkNoFollow), "utimensat", path);
    }

    public void CreateDevice(string path, bool block, uint major, uint minor, int permissions) =>
        Check(MkNod(path, (block ? SIfBlk : SIfChr) | (uint)(permissions & 0xFFF), MakeDevice(major, minor)), "mknod", path);

    public void CreateFifo(string path, int permissions) => Check(MkNod(path, SIfIfo | (uint)(permissions & 0xFFF), 0), "mknod (FIFO)", path);

    public void CreateSocket(string path, int permissions) => Check(MkNod(path, SIfSock | (uint)(permissions & 0xFFF), 0), "mknod (socket)", path);

    public void CreateHardLink(string existing, string link) => Check(Link(existing, link), "link", link);

    public unsafe void SetXattr(string path, string name, byte[] value)
    {
        fixed (byte* v = value)
        {
            Check(LSetXattr(path, name, v, (nuint)value.Length, 0), $"lsetxattr {name}", path);
        }
    }

    // glibc's makedev (sys/sysmacros.h): the 12+20-bit major/minor split over a 64-bit dev_t.
    internal static ulong MakeDevice(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8) | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    private static void Check(int result, string call, string path)
    {
        if (result == 0)
        {
            return;
        }
        var errno = Marshal.GetLastPInvokeError();
        var kind = errno == 28 ? ErrorKind.WriteFailed : ErrorKind.DestinationUnwritable;
        throw new PlatformCallFailedException(kind, $"{path}: {call} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno) { Path = path };
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int UtimensAt(int directory, string path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkNod(string path, uint mode, ulong device);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string link);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int LSetXattr(string path, string name, byte* value, nuint size, int flags);
}
