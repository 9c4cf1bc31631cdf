using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>One extended attribute as stored.</summary>
/// <param name="NameIndex">e_name_index: the namespace prefix (1 user, 2/3 POSIX ACLs, 4 trusted, 6 security, 7 system...).</param>
/// <param name="NameSuffix">The stored name, without its prefix.</param>
/// <param name="Value">The raw value; POSIX ACLs are in the ext on-disk form (see <see cref="PosixAcl.DiskToVfs"/>).</param>
/// <param name="InBlock">Whether it lives in the xattr block rather than the inode.</param>
public sealed record ExtXattr(byte NameIndex, byte[] NameSuffix, byte[] Value, bool InBlock)
{
    /// <summary>The full name ("user.comment", "system.posix_acl_access").</summary>
    public string Name => XattrNamespaces.Join(NameIndex, NameSuffix);

    /// <summary>Whether this is a POSIX ACL (access or default), whose on-disk value differs from the getxattr form.</summary>
    public bool IsPosixAcl => NameIndex is XattrNamespaces.PosixAclAccess or XattrNamespaces.PosixAclDefault;

    /// <summary>The value as getxattr returns it: POSIX ACLs converted to the VFS form, everything else as stored.</summary>
    public byte[] VfsValue(string where) => IsPosixAcl ? PosixAcl.DiskToVfs(Value, where) : Value;
}

/// <summary>
/// Reads xattrs from the inode body (after i_extra_isize: magic 0xEA020000, entries, values counted from
/// the first entry) and from the xattr block (32-byte header, entries, values counted from the block
/// start), and values held in ea_inodes (docs/ext-format.md §8). Every entry, name and value is checked
/// to lie inside its area before it is copied, so a corrupt offset or size is an error, never a read
/// elsewhere or an allocation sized by garbage.
/// </summary>
internal static class ExtXattrReader
{
    private const int InodeAreaHeaderSize = 4;

    public static IReadOnlyList<ExtXattr> Read(ExtFileSystem fs, ExtInode inode, bool includeSystemData)
    {
        var result = new List<ExtXattr>();
        ReadInodeBody(fs, inode, result);
        ReadBlock(fs, inode, result);
        if (!includeSystemData)
        {
            result.RemoveAll(IsInlineDataAttribute);
        }
        return result;
    }

    /// <summary>The system.data value of an inline-data inode (the part of its content past i_block), or empty.</summary>
    public static byte[] FindInlineDataValue(ExtFileSystem fs, ExtInode inode)
    {
        var list = new List<ExtXattr>();
        ReadInodeBody(fs, inode, list);
        return list.Find(IsInlineDataAttribute)?.Value ?? Array.Empty<byte>();
    }

    private static bool IsInlineDataAttribute(ExtXattr x) =>
        x.NameIndex == XattrNamespaces.System && x.NameSuffix.AsSpan().SequenceEqual("data"u8);

    private static void ReadInodeBody(ExtFileSystem fs, ExtInode inode, List<ExtXattr> into)
    {
        var record = inode.Record;
        // With i_extra_isize 0 the kernel never looks for in-inode xattrs (ext4_iget).
        if (record.InodeSize <= Inode.BaseSize || record.ExtraIsize == 0)
        {
            return;
        }
        // Inode.Read put everything after 128 + i_extra_isize (validated when the inode was read) here.
        var area = record.InlineArea.AsSpan();
        if (area.Length < InodeAreaHeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(area) != Inode.InlineXattrMagic)
        {
            return;
        }
        var where = $"inode {inode.Number} in-inode xattrs";
        var entries = area[InodeAreaHeaderSize..];
        ParseEntries(fs, inode, entries, valueBase: entries, inBlock: false, where, into);
    }

    private static void ReadBlock(ExtFileSystem fs, ExtInode inode, List<ExtXattr> into)
    {
        var blockNumber = inode.XattrBlock;
        if (blockNumber == 0)
        {
            return;
        }
        var where = $"inode {inode.Number} xattr block {blockNumber}";
        if (!fs.IsValidBlock(blockNumber))
        {
            throw fs.Corrupt($"inode {inode.Number}: xattr block {blockNumber} (i_file_acl) is outside the filesystem");
        }
        var block = fs.Device.ReadMetadataBlock(blockNumber, where);
        var header = XattrBlockHeader.TryRead(block)
            ?? throw fs.Corrupt($"{where}: bad magic 0x{BinaryPrimitives.ReadUInt32LittleEndian(block):X8} (expected 0xEA020000)");
        if (header.Blocks != 1)
        {
            throw fs.Corrupt($"{where}: h_blocks is {header.Blocks}; an xattr block is always 1 block");
        }
        if (fs.VerifiesMetadataChecksums)
        {
            var computed = XattrBlockHeader.ComputeChecksum(fs.ChecksumSeed, blockNumber, block);
            if (computed != header.Checksum)
            {
                throw fs.ChecksumMismatch($"{where}: checksum 0x{header.Checksum:X8} does not match the computed 0x{computed:X8}");
            }
        }
        ParseEntries(fs, inode, block.AsSpan(XattrBlockHeader.Size), valueBase: block, inBlock: true, where, into);
    }

    private static void ParseEntries(ExtFileSystem fs, ExtInode inode, ReadOnlySpan<byte> entries, ReadOnlySpan<byte> valueBase,
        bool inBlock, string where, List<ExtXattr> into)
    {
        var offset = 0;
        while (offset < entries.Length && !XattrEntry.IsEndOfList(entries[offset..]))
        {
            var entry = XattrEntry.TryRead(entries[offset..])
                ?? throw fs.Corrupt($"{where}: the entry at byte {offset} runs past the end of the area");
            byte[] value;
            if (entry.ValueInode != 0)
            {
                value = ReadEaInodeValue(fs, inode, entry, where);
            }
            else
            {
                if (entry.ValueSize > (uint)valueBase.Length || entry.ValueOffset > valueBase.Length - (int)entry.ValueSize)
                {
                    throw fs.Corrupt($"{where}: the value of '{XattrNamespaces.Join(entry.NameIndex, entry.Name)}' (offset {entry.ValueOffset}, {entry.ValueSize} bytes) runs past the end of the {valueBase.Length}-byte area");
                }
                value = valueBase.Slice(entry.ValueOffset, (int)entry.ValueSize).ToArray();
            }
            into.Add(new ExtXattr(entry.NameIndex, entry.Name, value, inBlock));
            offset += entry.EntrySize;
        }
    }

    // ea_inode: the value is the content of another inode, which must say it holds an xattr value.
    private static byte[] ReadEaInodeValue(ExtFileSystem fs, ExtInode owner, XattrEntry entry, string where)
    {
        var name = XattrNamespaces.Join(entry.NameIndex, entry.Name);
        if (!fs.Superblock.FeatureIncompat.HasFlag(IncompatFeatures.EaInode))
        {
            throw fs.Corrupt($"{where}: '{name}' keeps its value in inode {entry.ValueInode}, but the filesystem lacks the ea_inode feature");
        }
        if (entry.ValueSize > ExtFileSystem.MaxXattrValueSize)
        {
            throw fs.Corrupt($"{where}: '{name}' has a {entry.ValueSize}-byte value; xattr values are at most {ExtFileSystem.MaxXattrValueSize} bytes");
        }
        var valueInode = fs.ReadInode(entry.ValueInode, $"xattr '{name}' of inode {owner.Number}");
        if (!valueInode.IsRegularFile || !valueInode.Flags.HasFlag(InodeFlags.EaInode) || valueInode.Size != entry.ValueSize)
        {
            throw fs.Corrupt($"{where}: '{name}' names inode {entry.ValueInode} for its value, which is not an xattr inode of {entry.ValueSize} bytes");
        }
        var value = new byte[entry.ValueSize];
        using var content = fs.OpenContent(valueInode);
        content.ReadExactly(value);
        return value;
    }
}
