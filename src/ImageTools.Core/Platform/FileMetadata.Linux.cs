using System.Buffers.Binary;
using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace ImageTools.Core.Platform;

public static partial class FileMetadataReader
{
    private static unsafe FileMetadata LinuxGet(string path)
    {
        // struct statx is 256 bytes; the fields are read by offset (include/uapi/linux/stat.h).
        var buffer = stackalloc byte[256];
        if (FileMetadataNative.statx(FileMetadataNative.AtFdCwd, path, FileMetadataNative.AtSymlinkNoFollow, FileMetadataNative.StatxBasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw ErrnoException(errno, path);
        }
        var s = new ReadOnlySpan<byte>(buffer, 256);
        var mode = BinaryPrimitives.ReadUInt16LittleEndian(s[28..]);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileNodeKind.RegularFile,
            0x4000 => FileNodeKind.Directory,
            0xA000 => FileNodeKind.SymbolicLink,
            0x2000 => FileNodeKind.CharacterDevice,
            0x6000 => FileNodeKind.BlockDevice,
            0x1000 => FileNodeKind.Fifo,
            0xC000 => FileNodeKind.Socket,
            _ => FileNodeKind.Unknown,
        };
        static FileTime Time(ReadOnlySpan<byte> t) => new(BinaryPrimitives.ReadInt64LittleEndian(t), BinaryPrimitives.ReadUInt32LittleEndian(t[8..]));
        var devMajor = BinaryPrimitives.ReadUInt32LittleEndian(s[136..]);
        var devMinor = BinaryPrimitives.ReadUInt32LittleEndian(s[140..]);
        return new FileMetadata(
            kind,
            mode & 0xFFF,
            BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[24..]),
            Time(s[64..]),
            Time(s[112..]),
            Time(s[96..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[128..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[132..]),
            ((ulong)devMajor << 32) | devMinor,
            BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(s[40..]));
    }

    private static unsafe IReadOnlyList<(string Name, byte[] Value)> LinuxXattrs(string path)
    {
        var size = FileMetadataNative.llistxattr(path, null, 0);
        if (size < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is FileMetadataNative.ENOTSUP or FileMetadataNative.ENODATA)
            {
                return Array.Empty<(string, byte[])>();
            }
            throw ErrnoException(errno, path);
        }
        if (size == 0)
        {
            return Array.Empty<(string, byte[])>();
        }
        var names = new byte[size + 256];
        fixed (byte* p = names)
        {
            size = FileMetadataNative.llistxattr(path, p, (nuint)names.Length);
        }
        if (size < 0)
        {
            throw ErrnoException(Marshal.GetLastPInvokeError(), path);
        }
        var result = new List<(string, byte[])>();
        foreach (var raw in names[..(int)size].Split0())
        {
            var name = Encoding.UTF8.GetString(raw);
            var valueSize = FileMetadataNative.lgetxattr(path, name, null, 0);
            if (valueSize < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == FileMetadataNative.ENODATA)
                {
                    continue; // removed meanwhile
                }
                throw ErrnoException(errno, $"{path} (xattr {name})");
            }
            var value = new byte[valueSize];
            if (valueSize > 0)
            {
                fixed (byte* v = value)
                {
                    valueSize = FileMetadataNative.lgetxattr(path, name, v, (nuint)value.Length);
                }
                if (valueSize < 0)
                {
                    throw ErrnoException(Marshal.GetLastPInvokeError(), $"{path} (xattr {name})");
                }
                Array.Resize(ref value, (int)valueSize);
            }
            result.Add((name, value));
        }
        return result;
    }

    private static IEnumerable<byte[]> Split0(this byte[] list)
    {
        var start = 0;
        for (var i = 0; i < list.Length; i++)
        {
            if (list[i] == 0)
            {
                if (i > start)
                {
                    yield return list[start..i];
                }
                start = i + 1;
            }
        }
    }

    private static IOException ErrnoException(int errno, string path)
    {
        var message = new Win32Exception(errno).Message;
        return errno switch
        {
            FileMetadataNative.ENOENT => new FileNotFoundException($"{path}: {message}", path),
            FileMetadataNative.EACCES or FileMetadataNative.EPERM => new IOException($"{path}: {message}", new UnauthorizedAccessException(message)),
            _ => new IOException($"{path}: {message}"),
        };
    }
}

/// <summary>The libc calls used by <see cref="FileMetadataReader"/> (Linux only).</summary>
internal static unsafe partial class FileMetadataNative
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const uint StatxBasicStats = 0x7FF;
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int ENODATA = 61;
    public const int ENOTSUP = 95;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint llistxattr(string path, byte* list, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint lgetxattr(string path, string name, byte* value, nuint size);
}
