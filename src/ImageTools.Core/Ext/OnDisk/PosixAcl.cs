using System.Buffers.Binary;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// POSIX ACLs in their two binary forms (docs/ext-format.md §8.5): the VFS/xattr form that
/// getxattr and tar PAX records carry (version 2, then 8-byte {tag u16, perm u16, id u32} entries),
/// and the ext on-disk form (version 1, then 4-byte {tag, perm} entries for USER_OBJ, GROUP_OBJ,
/// MASK and OTHER, 8-byte {tag, perm, id} for named USER and GROUP).
/// </summary>
public static class PosixAcl
{
    public const uint VfsVersion = 2;
    public const uint DiskVersion = 1;

    public const ushort TagUserObj = 0x01;
    public const ushort TagUser = 0x02;
    public const ushort TagGroupObj = 0x04;
    public const ushort TagGroup = 0x08;
    public const ushort TagMask = 0x10;
    public const ushort TagOther = 0x20;

    private const int VfsEntrySize = 8;
    private const int DiskShortEntrySize = 4;
    private const int DiskLongEntrySize = 8;

    /// <summary>Converts the xattr (VFS) form to the on-disk form; throws on malformed input.</summary>
    public static byte[] VfsToDisk(ReadOnlySpan<byte> vfs, string where)
    {
        if (vfs.Length < 4 || (vfs.Length - 4) % VfsEntrySize != 0 || BinaryPrimitives.ReadUInt32LittleEndian(vfs) != VfsVersion)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{where}: malformed POSIX ACL ({vfs.Length} bytes; expected version 2 and 8-byte entries)");
        }
        using var output = new MemoryStream();
        Span<byte> buf = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(buf, DiskVersion);
        output.Write(buf[..4]);
        for (var off = 4; off < vfs.Length; off += VfsEntrySize)
        {
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(vfs[off..]);
            var perm = BinaryPrimitives.ReadUInt16LittleEndian(vfs[(off + 2)..]);
            var id = BinaryPrimitives.ReadUInt32LittleEndian(vfs[(off + 4)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(buf, tag);
            BinaryPrimitives.WriteUInt16LittleEndian(buf[2..], perm);
            switch (tag)
            {
                case TagUserObj or TagGroupObj or TagMask or TagOther:
                    output.Write(buf[..DiskShortEntrySize]);
                    break;
                case TagUser or TagGroup:
                    BinaryPrimitives.WriteUInt32LittleEndian(buf[4..], id);
                    output.Write(buf[..DiskLongEntrySize]);
                    break;
                default:
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"{where}: unknown POSIX ACL tag 0x{tag:X2}");
            }
        }
        return output.ToArray();
    }

    /// <summary>Converts the on-disk form back to the VFS form; throws on malformed input.</summary>
    public static byte[] DiskToVfs(ReadOnlySpan<byte> disk, string where)
    {
        if (disk.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(disk) != DiskVersion)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: malformed on-disk POSIX ACL (bad version or too short)");
        }
        using var output = new MemoryStream();
        Span<byte> buf = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(buf, VfsVersion);
        output.Write(buf[..4]);
        var off = 4;
        while (off < disk.Length)
        {
            if (off + DiskShortEntrySize > disk.Length)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: truncated on-disk POSIX ACL entry at byte {off}");
            }
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(disk[off..]);
            var perm = BinaryPrimitives.ReadUInt16LittleEndian(disk[(off + 2)..]);
            uint id;
            switch (tag)
            {
                case TagUserObj or TagGroupObj or TagMask or TagOther:
                    id = uint.MaxValue; // ACL_UNDEFINED_ID, as the kernel reports it
                    off += DiskShortEntrySize;
                    break;
                case TagUser or TagGroup:
                    if (off + DiskLongEntrySize > disk.Length)
                    {
                        throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: truncated on-disk POSIX ACL entry at byte {off}");
                    }
                    id = BinaryPrimitives.ReadUInt32LittleEndian(disk[(off + 4)..]);
                    off += DiskLongEntrySize;
                    break;
                default:
                    throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: unknown on-disk POSIX ACL tag 0x{tag:X2}");
            }
            BinaryPrimitives.WriteUInt16LittleEndian(buf, tag);
            BinaryPrimitives.WriteUInt16LittleEndian(buf[2..], perm);
            BinaryPrimitives.WriteUInt32LittleEndian(buf[4..], id);
            output.Write(buf);
        }
        return output.ToArray();
    }
}
