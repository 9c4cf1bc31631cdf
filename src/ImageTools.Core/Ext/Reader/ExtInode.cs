using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>A device number split the Linux way.</summary>
public readonly record struct DeviceNumber(uint Major, uint Minor)
{
    public override string ToString() => $"{Major}:{Minor}";
}

/// <summary>
/// An inode as the reader hands it out: its number, the on-disk record, and the facts a caller needs
/// (type, permissions, owner, size, times, device number) decoded once. The record stays available for
/// the editor, which changes it and writes it back through <see cref="Inode.Write"/>.
/// </summary>
public sealed class ExtInode
{
    internal ExtInode(uint number, Inode record, bool hugeFile, bool is64Bit, int blockSize)
    {
        Number = number;
        Record = record;
        AllocatedBytes = record.BlocksIn512ByteUnits(hugeFile, blockSize) * 512;
        // l_i_file_acl_high only counts with 64bit (ext2fs_file_acl_block); elsewhere the field may hold junk.
        XattrBlock = is64Bit ? record.FileAcl : record.FileAclLo;
    }

    /// <summary>The inode number (2 is the root directory).</summary>
    public uint Number { get; }

    /// <summary>The decoded on-disk record.</summary>
    public Inode Record { get; }

    public InodeType Type => Record.Type;

    /// <summary>The 12 permission bits, setuid/setgid/sticky included (07777).</summary>
    public int Permissions => Record.Permissions;

    /// <summary>i_mode: type and permission bits.</summary>
    public int Mode => Record.Mode;

    public uint Uid => Record.Uid;

    public uint Gid => Record.Gid;

    /// <summary>i_size with i_size_high.</summary>
    public ulong Size => Record.Size;

    public ushort LinksCount => Record.LinksCount;

    public InodeFlags Flags => Record.Flags;

    public ExtTimestamp AccessTime => Record.AccessTime;

    public ExtTimestamp ModificationTime => Record.ModificationTime;

    public ExtTimestamp ChangeTime => Record.ChangeTime;

    /// <summary>Creation time, when the inode is large enough to hold one.</summary>
    public ExtTimestamp? CreationTime => Record.CreationTime;

    /// <summary>Space the inode uses (i_blocks in bytes: data, mapping and xattr blocks).</summary>
    public ulong AllocatedBytes { get; }

    public bool IsDirectory => Type == InodeType.Directory;

    public bool IsRegularFile => Type == InodeType.RegularFile;

    public bool IsSymbolicLink => Type == InodeType.SymbolicLink;

    public bool IsDevice => Type is InodeType.CharacterDevice or InodeType.BlockDevice;

    /// <summary>Whether the content lives in the inode itself (inline_data).</summary>
    public bool HasInlineData => Flags.HasFlag(InodeFlags.InlineData);

    /// <summary>Whether i_block holds an extent tree.</summary>
    public bool UsesExtents => Flags.HasFlag(InodeFlags.Extents);

    /// <summary>
    /// The device number of a character or block device (docs/ext-format.md §7.4): the old 8:8 encoding in
    /// i_block[0] when it is non-zero, else the new encoding in i_block[1]
    /// (minor bits 0-7, major bits 8-19, minor bits 8-19 in bits 20-31).
    /// </summary>
    public DeviceNumber Device
    {
        get
        {
            var old = Record.BlockWord(0);
            if (old != 0)
            {
                return new DeviceNumber((old >> 8) & 0xFF, old & 0xFF);
            }
            var wide = Record.BlockWord(1);
            return new DeviceNumber((wide & 0xFFF00) >> 8, (wide & 0xFF) | ((wide >> 12) & 0xFFF00));
        }
    }

    /// <summary>The xattr block (i_file_acl, with its high half on 64bit filesystems), or 0.</summary>
    public ulong XattrBlock { get; }

    public override string ToString() => $"inode {Number}";
}
