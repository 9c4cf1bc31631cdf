using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Ext.Editor;

/// <summary>
/// Adds and removes directory entries in place (docs/ext-format.md §7), in linear and htree directories,
/// keeping every block valid for the kernel and e2fsck: rec_len chains that cover each block exactly, the
/// metadata_csum dirent tail of every leaf block recomputed.
/// <list type="bullet">
/// <item>Removing merges the entry into the one before it in its block (or, first in its block, turns it into
/// an empty slot), as the kernel does, and zeroes the removed name so it cannot be read back. In an htree
/// directory the leaf blocks are linear blocks and the index keeps pointing at the right leaf: nothing else changes.</item>
/// <item>Adding uses the first block with room (the slack after an entry, or an empty slot); failing that it
/// appends a block to the directory. In an htree directory the name goes into the leaf its hash selects when
/// that leaf has room, which keeps the index valid; when it has none, the index is dropped rather than split:
/// the INDEX flag is cleared and the index blocks become empty linear blocks (with dirent tails under
/// metadata_csum), which leaves a valid linear directory (e2fsck -fD, or the kernel as it grows, re-indexes).</item>
/// </list>
/// </summary>
internal sealed class DirectoryEditor
{
    private readonly ExtEditor _editor;

    public DirectoryEditor(ExtEditor editor)
    {
        _editor = editor;
    }

    private ExtFileSystem Fs => _editor.FileSystem;

    private int BlockSize => Fs.BlockSize;

    private bool HasChecksums => Fs.Superblock.HasMetadataChecksums;

    private bool HasFileType => Fs.Superblock.FeatureIncompat.HasFlag(IncompatFeatures.FileType);

    private int EntriesEnd => BlockSize - (HasChecksums ? DirectoryBlockTail.Size : 0);

    /// <summary>One block of a directory, with its logical and physical number.</summary>
    private readonly record struct DirBlock(ulong Logical, ulong Physical);

    private IEnumerable<DirBlock> Blocks(ExtInode directory)
    {
        foreach (var run in Fs.EnumerateRuns(directory))
        {
            if (run.Kind != BlockRunKind.Data)
            {
                continue;
            }
            for (ulong i = 0; i < run.Count; i++)
            {
                yield return new DirBlock(run.Logical + i, run.Physical + i);
            }
        }
    }

    private (List<(int Offset, DirectoryEntry Entry)> Entries, int End) Parse(ExtInode directory, DirBlock block, byte[] data)
    {
        var end = HasChecksums && DirectoryBlockTail.IsPresent(data) ? BlockSize - DirectoryBlockTail.Size : BlockSize;
        var list = new List<(int, DirectoryEntry)>();
        var offset = 0;
        while (offset < end)
        {
            var entry = DirectoryEntry.TryRead(data.AsSpan(0, end), offset, HasFileType)
                ?? throw Fs.Corrupt($"directory inode {directory.Number}, logical block {block.Logical} (block {block.Physical}), byte {offset}: a malformed entry");
            list.Add((offset, entry));
            offset += entry.RecordLength;
        }
        return (list, end);
    }

    private byte[] ReadCopy(DirBlock block, ExtInode directory) =>
        (byte[])Fs.Device.ReadMetadataBlock(block.Physical, $"directory inode {directory.Number} block {block.Physical}").Clone();

    private void WriteLeaf(ExtInode directory, DirBlock block, byte[] data)
    {
        if (HasChecksums)
        {
            if (!DirectoryBlockTail.IsPresent(data))
            {
                throw new InvalidOperationException($"directory inode {directory.Number} block {block.Physical} has no dirent tail");
            }
            new DirectoryBlockTail(DirectoryBlockTail.Compute(Fs.Superblock.MetadataChecksumSeed, directory.Number, directory.Record.Generation, data)).Write(data);
        }
        Fs.Device.WriteBlock(block.Physical, data);
    }

    /// <summary>Finds the entry named <paramref name="name"/>; null when there is none.</summary>
    public uint? Find(ExtInode directory, ReadOnlySpan<byte> name)
    {
        foreach (var entry in Fs.ReadDirectory(directory))
        {
            if (entry.Name.AsSpan().SequenceEqual(name))
            {
                return entry.Inode;
            }
        }
        return null;
    }

    /// <summary>Removes the entry <paramref name="name"/> (which must name <paramref name="inode"/>) from its block.</summary>
    public void Remove(ExtInode directory, ReadOnlySpan<byte> name, uint inode)
    {
        RequireBlockDirectory(directory);
        foreach (var block in Blocks(directory))
        {
            var data = ReadCopy(block, directory);
            if (IsIndexNode(directory, block, data))
            {
                continue;
            }
            var (entries, _) = Parse(directory, block, data);
            for (var i = 0; i < entries.Count; i++)
            {
                var (offset, entry) = entries[i];
                if (entry.Inode == 0 || !entry.Name.AsSpan().SequenceEqual(name))
                {
                    continue;
                }
                if (entry.Inode != inode)
                {
                    throw Fs.Corrupt($"directory inode {directory.Number}: the entry changed while it was being removed");
                }
                if (i > 0)
                {
                    // Merge into the previous entry, and clear the removed bytes (name included).
                    var (previousOffset, previous) = entries[i - 1];
                    var merged = previous.RecordLength + entry.RecordLength;
                    BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(previousOffset + 4), DirectoryEntry.EncodeRecordLength(merged, BlockSize));
                    data.AsSpan(offset, entry.RecordLength).Clear();
                }
                else
                {
                    // First in its block: an empty slot spanning what the entry spanned.
                    new DirectoryEntry(0, entry.RecordLength, DirectoryEntryType.Unknown, Array.Empty<byte>()).Write(data.AsSpan(offset, entry.RecordLength), BlockSize);
                }
                WriteLeaf(directory, block, data);
                return;
            }
        }
        throw Fs.Corrupt($"directory inode {directory.Number}: no entry '{System.Text.Encoding.UTF8.GetString(name)}' to remove");
    }

    /// <summary>
    /// Adds an entry. The directory's record may change (size, map, INDEX flag): the caller writes it back.
    /// </summary>
    public void Add(ExtInode directory, byte[] name, uint inode, InodeType type)
    {
        RequireBlockDirectory(directory);
        if (name.Length is 0 or > DirectoryEntry.MaxNameLength || name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"'{System.Text.Encoding.UTF8.GetString(name)}' is not a valid file name");
        }
        if (directory.Flags.HasFlag(InodeFlags.Casefold))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{Fs.Name}: directory inode {directory.Number} folds case (casefold): the editor does not add names to such directories") { Path = Fs.Name };
        }
        var entry = new DirectoryEntry(inode, DirectoryEntry.MinimumLength(name.Length), HasFileType ? DirectoryEntry.TypeOf(type) : DirectoryEntryType.Unknown, name);
        if (directory.Flags.HasFlag(InodeFlags.Index))
        {
            if (TryAddByHash(directory, entry))
            {
                return;
            }
            DropIndex(directory);
        }
        foreach (var block in Blocks(directory))
        {
            var data = ReadCopy(block, directory);
            if (TryInsert(directory, block, data, entry))
            {
                return;
            }
        }
        AppendBlock(directory, entry);
    }

    private bool TryInsert(ExtInode directory, DirBlock block, byte[] data, DirectoryEntry entry)
    {
        if (HasChecksums && !DirectoryBlockTail.IsPresent(data))
        {
            // A block without a tail under metadata_csum is an index node; never an insertion point.
            return false;
        }
        var (entries, _) = Parse(directory, block, data);
        var needed = entry.UsedLength;
        foreach (var (offset, existing) in entries)
        {
            if (existing.Inode == 0)
            {
                if (existing.RecordLength >= needed)
                {
                    (entry with { RecordLength = existing.RecordLength }).Write(data.AsSpan(offset, existing.RecordLength), BlockSize);
                    WriteLeaf(directory, block, data);
                    return true;
                }
                continue;
            }
            var used = existing.UsedLength;
            if (existing.RecordLength - used >= needed)
            {
                var rest = existing.RecordLength - used;
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(offset + 4), DirectoryEntry.EncodeRecordLength(used, BlockSize));
                (entry with { RecordLength = rest }).Write(data.AsSpan(offset + used, rest), BlockSize);
                WriteLeaf(directory, block, data);
                return true;
            }
        }
        return false;
    }

    private void AppendBlock(ExtInode directory, DirectoryEntry entry)
    {
        var record = directory.Record;
        var blocks = _editor.Blocks.Read(directory.Number, record);
        var logical = (directory.Size + (ulong)BlockSize - 1) / (ulong)BlockSize;
        var goal = blocks.Data.Count > 0 ? blocks.Data[^1].Physical + blocks.Data[^1].Count : _editor.GroupGoal(directory.Number);
        var physical = _editor.Allocator.Allocate(1, goal, $"a new block of directory inode {directory.Number}")[0].Start;
        var data = new byte[BlockSize];
        (entry with { RecordLength = EntriesEnd }).Write(data.AsSpan(0, EntriesEnd), BlockSize);
        if (HasChecksums)
        {
            new DirectoryBlockTail(0).Write(data);
        }
        WriteLeaf(directory, new DirBlock(logical, physical), data);
        var runs = blocks.Data.ToList();
        runs.Add(new MappedRun(logical, physical, 1));
        _editor.ReplaceMap(directory.Number, record, blocks, runs, goal);
        record.Size = (logical + 1) * (ulong)BlockSize;
    }

    // ---- htree -------------------------------------------------------------------------------

    /// <summary>Whether a block of an indexed directory is an index node (the root, or an interior node).</summary>
    private bool IsIndexNode(ExtInode directory, DirBlock block, byte[] data)
    {
        if (!directory.Flags.HasFlag(InodeFlags.Index))
        {
            return false;
        }
        if (block.Logical == 0)
        {
            return DxRootInfo.TryRead(data) != null;
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(data) == 0
            && DirectoryEntry.DecodeRecordLength(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(4)), BlockSize) == BlockSize;
    }

    /// <summary>
    /// Puts the entry into the leaf the index selects for its hash, if that leaf has room. False when it
    /// has none, or when the index uses a hash this code cannot compute.
    /// </summary>
    private bool TryAddByHash(ExtInode directory, DirectoryEntry entry)
    {
        var blocks = Blocks(directory).ToDictionary(b => b.Logical);
        if (!blocks.TryGetValue(0, out var rootBlock))
        {
            throw Fs.Corrupt($"directory inode {directory.Number} is indexed but has no block 0");
        }
        var root = ReadCopy(rootBlock, directory);
        var info = DxRootInfo.TryRead(root);
        if (info is not { } rootInfo)
        {
            return false;
        }
        var version = DirectoryHash.Effective(rootInfo.HashVersion, Fs.Superblock.Flags);
        if (version is not (DirectoryHashVersion.Legacy or DirectoryHashVersion.LegacyUnsigned or DirectoryHashVersion.HalfMd4
            or DirectoryHashVersion.HalfMd4Unsigned or DirectoryHashVersion.Tea or DirectoryHashVersion.TeaUnsigned))
        {
            return false;
        }
        var (hash, _) = DirectoryHash.Compute(version, entry.Name, Fs.Superblock.HashSeed);
        var node = root;
        var countOffset = DxRootInfo.Offset + DxRootInfo.InfoLength;
        ulong leafLogical = 0;
        for (var level = 0; level <= rootInfo.IndirectLevels; level++)
        {
            var countLimit = DxCountLimit.Read(node.AsSpan(countOffset));
            if (countLimit.Count == 0 || countLimit.Count > countLimit.Limit || countOffset + countLimit.Limit * DxEntry.Size > BlockSize)
            {
                throw Fs.Corrupt($"directory inode {directory.Number}: htree node with count {countLimit.Count} and limit {countLimit.Limit}");
            }
            // The last entry whose hash is at most ours (entry 0's hash is implicitly 0).
            uint chosen = BinaryPrimitives.ReadUInt32LittleEndian(node.AsSpan(countOffset + 4));
            for (var i = 1; i < countLimit.Count; i++)
            {
                var e = DxEntry.Read(node.AsSpan(countOffset + i * DxEntry.Size));
                if ((e.Hash & ~1u) > hash)
                {
                    break;
                }
                chosen = e.Block;
            }
            leafLogical = chosen;
            if (level < rootInfo.IndirectLevels)
            {
                if (!blocks.TryGetValue(leafLogical, out var interior))
                {
                    throw Fs.Corrupt($"directory inode {directory.Number}: the htree names logical block {leafLogical}, which the directory does not have");
                }
                node = ReadCopy(interior, directory);
                countOffset = 8;
            }
        }
        if (!blocks.TryGetValue(leafLogical, out var leaf) || leafLogical == 0)
        {
            throw Fs.Corrupt($"directory inode {directory.Number}: the htree names leaf block {leafLogical}, which the directory does not have");
        }
        var data = ReadCopy(leaf, directory);
        return TryInsert(directory, leaf, data, entry);
    }

    /// <summary>
    /// Turns an indexed directory into a linear one: INDEX flag off, the root keeps '.' and a '..' that spans
    /// the block, interior index nodes become empty blocks; the index bytes are cleared and, with
    /// metadata_csum, each of these blocks gets a dirent tail.
    /// </summary>
    private void DropIndex(ExtInode directory)
    {
        foreach (var block in Blocks(directory))
        {
            var data = ReadCopy(block, directory);
            if (!IsIndexNode(directory, block, data))
            {
                continue;
            }
            var fresh = new byte[BlockSize];
            if (block.Logical == 0)
            {
                var dot = DirectoryEntry.TryRead(data, 0, HasFileType);
                var dotDot = dot is { } d ? DirectoryEntry.TryRead(data, d.RecordLength, HasFileType) : null;
                if (dot is not { } first || dotDot is not { } second || first.RecordLength != 12)
                {
                    throw Fs.Corrupt($"directory inode {directory.Number}: the htree root does not start with '.' and '..'");
                }
                first.Write(fresh.AsSpan(0, 12), BlockSize);
                (second with { RecordLength = EntriesEnd - 12 }).Write(fresh.AsSpan(12, EntriesEnd - 12), BlockSize);
            }
            else
            {
                new DirectoryEntry(0, EntriesEnd, DirectoryEntryType.Unknown, Array.Empty<byte>()).Write(fresh.AsSpan(0, EntriesEnd), BlockSize);
            }
            if (HasChecksums)
            {
                new DirectoryBlockTail(0).Write(fresh);
            }
            WriteLeaf(directory, block, fresh);
        }
        directory.Record.Flags &= ~InodeFlags.Index;
        _editor.NoteIndexDropped(directory.Number);
    }

    private void RequireBlockDirectory(ExtInode directory)
    {
        if (!directory.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{Fs.Name}: inode {directory.Number} is not a directory");
        }
        if (directory.HasInlineData)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{Fs.Name}: directory inode {directory.Number} keeps its entries in the inode (inline_data): the editor does not change such directories") { Path = Fs.Name };
        }
    }

    /// <summary>The first block of a new directory: '.', '..' spanning the rest (and the tail).</summary>
    public byte[] NewDirectoryBlock(uint self, uint parent)
    {
        var data = new byte[BlockSize];
        var type = HasFileType ? DirectoryEntryType.Directory : DirectoryEntryType.Unknown;
        new DirectoryEntry(self, 12, type, "."u8.ToArray()).Write(data.AsSpan(0, 12), BlockSize);
        new DirectoryEntry(parent, EntriesEnd - 12, type, ".."u8.ToArray()).Write(data.AsSpan(12, EntriesEnd - 12), BlockSize);
        if (HasChecksums)
        {
            new DirectoryBlockTail(0).Write(data);
        }
        return data;
    }

    /// <summary>Writes a new directory's first block with its checksum.</summary>
    public void WriteNewDirectoryBlock(uint self, uint generation, ulong physical, byte[] data)
    {
        if (HasChecksums)
        {
            new DirectoryBlockTail(DirectoryBlockTail.Compute(Fs.Superblock.MetadataChecksumSeed, self, generation, data)).Write(data);
        }
        Fs.Device.WriteBlock(physical, data);
    }
}
