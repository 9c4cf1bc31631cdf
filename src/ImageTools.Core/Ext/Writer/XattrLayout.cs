using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Places an inode's extended attributes (docs/ext-format.md §8): each one goes into the inode's
/// in-inode area while it fits, the rest into one external xattr block, sorted by (name index,
/// name length, name) with correct entry hashes and block hash. POSIX ACLs are converted from the
/// VFS form to the on-disk form. Without ea_inode nothing larger than one block can be stored, so
/// that is a clear error naming the file.
/// </summary>
internal static class XattrLayout
{
    /// <summary>One attribute ready for the disk: index, stored name suffix, stored value.</summary>
    public readonly record struct Prepared(byte Index, byte[] Name, byte[] Value)
    {
        public int EntrySize => XattrEntry.EntrySizeFor(Name.Length);

        public int ValueSize => XattrEntry.PaddedValueSize(Value.Length);
    }

    /// <summary>The result: bytes for Inode.InlineArea (empty when none) and the external block (null when none).</summary>
    public sealed record Result(byte[] InlineArea, byte[]? Block);

    /// <summary>Splits names into index + suffix, converts ACLs, and sorts in the on-disk block order.</summary>
    public static List<Prepared> Prepare(IReadOnlyList<ExtendedAttribute> attributes, string path)
    {
        var list = new List<Prepared>(attributes.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in attributes)
        {
            if (string.IsNullOrEmpty(a.Name))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: an extended attribute has an empty name");
            }
            if (!seen.Add(a.Name))
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: extended attribute '{a.Name}' is given twice");
            }
            var (index, suffix) = XattrNamespaces.Split(a.Name);
            if (index == 0)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{path}: extended attribute '{a.Name}' has no namespace ext2/ext3 can store (user., trusted., security., system.)");
            }
            if (suffix.Length > 255)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: extended attribute name '{a.Name}' is longer than 255 bytes");
            }
            var value = index is XattrNamespaces.PosixAclAccess or XattrNamespaces.PosixAclDefault
                ? PosixAcl.VfsToDisk(a.Value, $"{path}: {a.Name}")
                : a.Value;
            list.Add(new Prepared(index, suffix, value));
        }
        list.Sort(CompareForBlock);
        return list;
    }

    /// <summary>The kernel's sort order inside an xattr block (xattr_find_entry): index, name length, name bytes.</summary>
    public static int CompareForBlock(Prepared a, Prepared b)
    {
        var c = a.Index.CompareTo(b.Index);
        if (c != 0)
        {
            return c;
        }
        c = a.Name.Length.CompareTo(b.Name.Length);
        return c != 0 ? c : a.Name.AsSpan().SequenceCompareTo(b.Name);
    }

    /// <summary>
    /// Lays out the attributes. <paramref name="inlineAreaSize"/> is inode size − 128 − i_extra_isize
    /// (0 for 128-byte inodes).
    /// </summary>
    public static Result Layout(List<Prepared> attributes, int inlineAreaSize, int blockSize, string path)
    {
        if (attributes.Count == 0)
        {
            return new Result(Array.Empty<byte>(), null);
        }
        // In-inode: the magic, then entries and a 4-byte end marker, values from the end down.
        var inlineStorage = Math.Max(0, inlineAreaSize - 4);
        var inline = new List<Prepared>();
        var block = new List<Prepared>();
        var inlineUsed = 4; // end marker
        foreach (var a in attributes)
        {
            var need = a.EntrySize + a.ValueSize;
            if (inlineStorage > 0 && inlineUsed + need <= inlineStorage)
            {
                inline.Add(a);
                inlineUsed += need;
            }
            else
            {
                block.Add(a);
            }
        }

        var inlineBytes = Array.Empty<byte>();
        if (inline.Count > 0)
        {
            inlineBytes = new byte[inlineAreaSize];
            BinaryPrimitives.WriteUInt32LittleEndian(inlineBytes, Inode.InlineXattrMagic);
            // e_value_offs counts from the first entry; in-inode entries carry hash 0 (as e2fsprogs writes them).
            WriteEntries(inline, inlineBytes.AsSpan(4), valueBase: 0, withHashes: false);
        }

        byte[]? blockBytes = null;
        if (block.Count > 0)
        {
            var needed = XattrBlockHeader.Size + 4 + block.Sum(a => a.EntrySize + a.ValueSize);
            if (needed > blockSize)
            {
                var total = attributes.Sum(a => a.EntrySize + a.ValueSize);
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"{path}: its extended attributes need {total} bytes ({string.Join(", ", attributes.Select(a => $"{XattrNamespaces.Join(a.Index, a.Name)} {a.Value.Length}"))}); " +
                    $"ext2/ext3 stores at most {inlineStorage - 4} bytes in the inode plus one {blockSize}-byte block ({blockSize - XattrBlockHeader.Size - 4} bytes)" +
                    (blockSize < 4096 ? "; a 4096-byte block size holds more" : ""));
            }
            blockBytes = new byte[blockSize];
            var hashes = WriteEntries(block, blockBytes.AsSpan(XattrBlockHeader.Size), valueBase: XattrBlockHeader.Size, withHashes: true);
            new XattrBlockHeader(RefCount: 1, Blocks: 1, Hash: XattrBlockHeader.ComputeBlockHash(hashes), Checksum: 0).Write(blockBytes);
        }
        return new Result(inlineBytes, blockBytes);
    }

    /// <summary>
    /// Writes entries from the start of <paramref name="entries"/> and their values packed from its end
    /// downwards. Value offsets are relative to the entries' start plus <paramref name="valueBase"/>.
    /// </summary>
    private static List<uint> WriteEntries(List<Prepared> list, Span<byte> entries, int valueBase, bool withHashes)
    {
        var hashes = new List<uint>(list.Count);
        var entryOffset = 0;
        var valueEnd = entries.Length;
        foreach (var a in list)
        {
            valueEnd -= a.ValueSize;
            a.Value.CopyTo(entries[valueEnd..]);
            var hash = withHashes ? XattrEntry.ComputeHash(a.Name, a.Value) : 0u;
            hashes.Add(hash);
            new XattrEntry(a.Index, a.Name, (ushort)(valueBase + valueEnd), 0, (uint)a.Value.Length, hash).Write(entries[entryOffset..]);
            entryOffset += a.EntrySize;
        }
        if (entryOffset + 4 > valueEnd)
        {
            throw new InvalidOperationException("xattr entries overlap their values");
        }
        entries.Slice(entryOffset, 4).Clear();
        return hashes;
    }
}
