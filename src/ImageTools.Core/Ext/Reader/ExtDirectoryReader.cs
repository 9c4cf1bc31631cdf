using System.Buffers.Binary;
using System.Text;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Reader;

/// <summary>One name in a directory.</summary>
/// <param name="Name">The name's bytes as stored (ext names are bytes; most are UTF-8).</param>
/// <param name="Inode">The inode it names.</param>
/// <param name="FileType">The entry's file_type byte (Unknown without the filetype feature); the inode's mode is authoritative.</param>
public readonly record struct ExtDirectoryEntry(byte[] Name, uint Inode, DirectoryEntryType FileType)
{
    /// <summary>The name as text (UTF-8; invalid sequences become U+FFFD).</summary>
    public string NameText => Encoding.UTF8.GetString(Name);

    /// <summary>Whether the name is valid UTF-8, i.e. <see cref="NameText"/> is exact.</summary>
    public bool IsUtf8 => System.Text.Unicode.Utf8.IsValid(Name);

    public override string ToString() => $"{NameText} -> inode {Inode}";
}

/// <summary>
/// Reads directory entries (docs/ext-format.md §7). Block-mapped directories are walked block by block
/// through their map; the entries of each block are checked as they are read: rec_len a multiple of 4,
/// at least the entry's own length and inside the block (so it always advances), name_len inside
/// rec_len, inode numbers inside the filesystem, names without '/' or NUL. htree index blocks hold a
/// single empty entry spanning the block (the root holds "." and a ".." spanning the rest), so the walk
/// sees every leaf entry without following the index. With metadata_csum each block's checksum is checked
/// (the dirent tail of leaves, the dx tail of index nodes).
/// </summary>
internal static class ExtDirectoryReader
{
    public static IEnumerable<ExtDirectoryEntry> Read(ExtFileSystem fs, ExtInode directory)
    {
        if (!directory.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{fs.Name}: inode {directory.Number} is a {ExtFileSystem.DescribeType(directory.Type)}, not a directory") { Path = fs.Name };
        }
        return directory.HasInlineData ? ReadInline(fs, directory) : ReadBlocks(fs, directory);
    }

    private static IEnumerable<ExtDirectoryEntry> ReadBlocks(ExtFileSystem fs, ExtInode directory)
    {
        var blockSize = (ulong)fs.BlockSize;
        if (directory.Size > fs.BlockCount * blockSize)
        {
            throw fs.Corrupt($"directory inode {directory.Number}: size {directory.Size} is larger than the filesystem");
        }
        var blocks = (directory.Size + blockSize - 1) / blockSize;
        var mapper = fs.MapperFor(directory);
        var seen = new HashSet<ulong>();
        var indexed = directory.Flags.HasFlag(InodeFlags.Index);
        ulong logical = 0;
        while (logical < blocks)
        {
            var run = mapper.Map(logical);
            var count = Math.Min(run.Count, blocks - logical);
            if (run.Kind == BlockRunKind.Data)
            {
                for (ulong i = 0; i < count; i++)
                {
                    var physical = run.Physical + i;
                    if (!seen.Add(physical))
                    {
                        throw fs.Corrupt($"directory inode {directory.Number}: block {physical} is mapped twice (again at logical block {logical + i})");
                    }
                    var where = $"directory inode {directory.Number}, logical block {logical + i} (block {physical})";
                    var block = fs.Device.ReadMetadataBlock(physical, where);
                    var end = CheckBlockChecksum(fs, directory, block, logical + i, indexed, where);
                    foreach (var entry in ParseEntries(fs, block.AsMemory(0, end), where))
                    {
                        yield return entry;
                    }
                }
            }
            logical += count;
        }
    }

    // Returns how many bytes of the block hold entries (the dirent tail is not one).
    private static int CheckBlockChecksum(ExtFileSystem fs, ExtInode directory, byte[] block, ulong logical, bool indexed, string where)
    {
        if (!fs.Superblock.HasMetadataChecksums)
        {
            return block.Length;
        }
        if (DirectoryBlockTail.IsPresent(block))
        {
            if (fs.VerifiesMetadataChecksums)
            {
                var stored = DirectoryBlockTail.Read(block).Checksum;
                var computed = DirectoryBlockTail.Compute(fs.ChecksumSeed, directory.Number, directory.Record.Generation, block);
                if (stored != computed)
                {
                    throw fs.ChecksumMismatch($"{where}: directory block checksum 0x{stored:X8} does not match the computed 0x{computed:X8}");
                }
            }
            return block.Length - DirectoryBlockTail.Size;
        }
        if (!indexed || !fs.VerifiesMetadataChecksums)
        {
            return block.Length;
        }
        // An htree node: the root (logical block 0: '.', '..', dx_root_info, then count/limit) or an
        // interior node (a fake empty entry spanning the block, then count/limit at byte 8).
        int countOffset;
        if (logical == 0)
        {
            var info = DxRootInfo.TryRead(block);
            if (info == null)
            {
                return block.Length;
            }
            countOffset = DxRootInfo.Offset + DxRootInfo.InfoLength;
        }
        else if (BinaryPrimitives.ReadUInt32LittleEndian(block) == 0
                 && DirectoryEntry.DecodeRecordLength(BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(4)), block.Length) == block.Length)
        {
            countOffset = 8;
        }
        else
        {
            return block.Length;
        }
        var countLimit = DxCountLimit.Read(block.AsSpan(countOffset));
        var tailOffset = countOffset + countLimit.Limit * DxEntry.Size;
        if (countLimit.Count > countLimit.Limit || tailOffset + DxNodeChecksum.TailSize > block.Length)
        {
            throw fs.Corrupt($"{where}: htree node with count {countLimit.Count} and limit {countLimit.Limit} does not fit the block");
        }
        var storedDx = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(tailOffset + 4));
        var computedDx = DxNodeChecksum.Compute(fs.ChecksumSeed, directory.Number, directory.Record.Generation, block, countOffset);
        if (storedDx != computedDx)
        {
            // The index only speeds up lookups; this reader takes the names from the leaf blocks, so a damaged
            // index changes nothing it returns: a warning, not a refusal (e2fsck -p rebuilds the index).
            fs.AddWarning($"{where}: htree index node checksum 0x{storedDx:X8} does not match the computed 0x{computedDx:X8}; the index is not used, the names are read from the leaf blocks");
        }
        return block.Length;
    }

    /// <summary>
    /// An inline directory (inline_data): i_block holds the parent's inode number (4 bytes) and entries
    /// in the remaining 56 bytes; the system.data xattr continues with more entries. Each part is a run
    /// of entries whose rec_lens end exactly at the part's end.
    /// </summary>
    private static IEnumerable<ExtDirectoryEntry> ReadInline(ExtFileSystem fs, ExtInode directory)
    {
        var parent = BinaryPrimitives.ReadUInt32LittleEndian(directory.Record.Block);
        if (parent == 0 || parent > fs.Superblock.InodesCount)
        {
            throw fs.Corrupt($"directory inode {directory.Number}: inline directory names parent inode {parent}, outside the filesystem");
        }
        var first = directory.Record.Block.AsMemory(4, Inode.BlockAreaSize - 4);
        foreach (var entry in ParseEntries(fs, first, $"inline directory inode {directory.Number} (i_block)"))
        {
            yield return entry;
        }
        var rest = ExtXattrReader.FindInlineDataValue(fs, directory);
        if (rest.Length > 0)
        {
            foreach (var entry in ParseEntries(fs, rest, $"inline directory inode {directory.Number} (system.data)"))
            {
                yield return entry;
            }
        }
    }

    private static IEnumerable<ExtDirectoryEntry> ParseEntries(ExtFileSystem fs, ReadOnlyMemory<byte> area, string where)
    {
        var hasFileType = fs.Superblock.FeatureIncompat.HasFlag(IncompatFeatures.FileType);
        var offset = 0;
        while (offset < area.Length)
        {
            var entry = DirectoryEntry.TryRead(area.Span, offset, hasFileType);
            if (entry == null)
            {
                throw fs.Corrupt($"{where}, byte {offset}: {DescribeBadEntry(area.Span, offset, hasFileType)}");
            }
            var e = entry.Value;
            offset += e.RecordLength;
            if (e.Inode == 0)
            {
                continue;
            }
            var name = e.Name;
            if (IsDotOrDotDot(name))
            {
                continue;
            }
            if (name.Length == 0)
            {
                throw fs.Corrupt($"{where}, byte {offset - e.RecordLength}: entry for inode {e.Inode} has an empty name");
            }
            if (name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0)
            {
                throw fs.Corrupt($"{where}, byte {offset - e.RecordLength}: the name '{Encoding.UTF8.GetString(name).Replace("\0", "\\0")}' contains '/' or NUL");
            }
            if (e.Inode > fs.Superblock.InodesCount)
            {
                throw fs.Corrupt($"{where}, byte {offset - e.RecordLength}: '{Encoding.UTF8.GetString(name)}' names inode {e.Inode}, outside the filesystem (inodes 1..{fs.Superblock.InodesCount})");
            }
            yield return new ExtDirectoryEntry(name, e.Inode, e.FileType);
        }
    }

    private static bool IsDotOrDotDot(byte[] name) =>
        (name.Length == 1 && name[0] == (byte)'.') || (name.Length == 2 && name[0] == (byte)'.' && name[1] == (byte)'.');

    private static string DescribeBadEntry(ReadOnlySpan<byte> area, int offset, bool hasFileType)
    {
        if (offset + DirectoryEntry.HeaderSize > area.Length)
        {
            return $"an entry header does not fit in the {area.Length - offset} bytes left";
        }
        var raw = BinaryPrimitives.ReadUInt16LittleEndian(area[(offset + 4)..]);
        var recordLength = DirectoryEntry.DecodeRecordLength(raw, area.Length);
        int nameLength = area[offset + 6] | (hasFileType ? 0 : area[offset + 7] << 8);
        if (recordLength < DirectoryEntry.HeaderSize)
        {
            return $"rec_len {recordLength} is too short to advance (an entry needs at least {DirectoryEntry.HeaderSize} bytes)";
        }
        if (recordLength % 4 != 0)
        {
            return $"rec_len {recordLength} is not a multiple of 4";
        }
        if (offset + recordLength > area.Length)
        {
            return $"rec_len {recordLength} runs past the end of the block ({area.Length - offset} bytes left)";
        }
        return $"name_len {nameLength} does not fit in rec_len {recordLength}";
    }
}
