using System.Buffers.Binary;
using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;

namespace ImageTools.Core.Ext.Editor;

/// <summary>How an <see cref="ExtEditor"/> edits.</summary>
public sealed record ExtEditorOptions
{
    /// <summary>The time written into the inodes and directories it changes (and s_wtime); null: now.</summary>
    public DateTimeOffset? Now { get; init; }

    /// <summary>
    /// Where the image holds data, for the operations that look for non-zero blocks (free space, the journal):
    /// given a byte offset of the filesystem and a length, the first range at or after the offset that may hold
    /// data (relative to the filesystem), or null when the rest of that span is a hole. Holes read as zeros, so
    /// skipping them changes nothing but the time: reading a sparse 4 GiB image's free space block by block
    /// takes seconds, asking SEEK_DATA takes none. Null: everything may hold data.
    /// </summary>
    public Func<long, long, Streams.Extent?>? FindNextData { get; init; }
}

/// <summary>Owner, group and permission bits (07777) of an inode the editor creates.</summary>
public readonly record struct NewInodeAttributes(int Permissions, uint Uid = 0, uint Gid = 0);

/// <summary>
/// Edits an ext2/ext3/ext4 filesystem image in place, without mounting it: deletes files and trees,
/// truncates and rewrites files (keeping their inode, hence owner, mode and xattrs such as an SELinux
/// label), and creates small files, directories and symbolic links. It handles what mke2fs makes today
/// (extents, flex_bg, 64bit, metadata_csum, uninit_bg, huge_file, dir_nlink; block-mapped ext2/3;
/// linear and htree directories) and refuses, naming the reason, what it cannot change safely.
/// <para><b>Nothing is written while editing.</b> The editor works on an <see cref="EditOverlay"/>: the
/// image is only read, every change lands in memory, and the reader the editor is built on runs over the
/// overlay so each step sees the ones before it. <see cref="CollectChanges"/> then gives the whole edit as
/// page writes and zeroed ranges, which <see cref="EditableImage.Commit"/> applies crash-safely.</para>
/// <para>Everything an edit touches is kept consistent: block and inode bitmaps, group free/used counts,
/// BLOCK_UNINIT/INODE_UNINIT flags and bg_itable_unused, the superblock counts, and every checksum
/// (inode, dirent tail, extent tail, xattr block, bitmaps, descriptors, superblock). Freed blocks are
/// zeroed (their old content cannot be read back from the image); deleted names are cleared from their
/// directory block; a deleted inode keeps only what the kernel leaves (mode, owner, times, the deletion time).</para>
/// </summary>
public sealed class ExtEditor : IDisposable
{
    private readonly EditOverlay _overlay;
    private readonly ExtBlockDevice _device;
    private readonly Superblock _sb;
    private readonly DirectoryEditor _directories;
    private readonly List<string> _notes = new();
    private ExtFileSystem _fs;

    private ExtEditor(EditOverlay overlay, ExtBlockDevice device, ExtFileSystem fs, Superblock sb, DateTimeOffset now)
    {
        _overlay = overlay;
        _device = device;
        _fs = fs;
        _sb = sb;
        Now = now;
        Allocator = new ExtAllocator(fs, overlay, sb);
        Blocks = new BlockTree(fs, Allocator);
        _directories = new DirectoryEditor(this);
    }

    /// <summary>
    /// Opens <paramref name="image"/> (a readable, seekable stream of the filesystem from its byte 0; it is
    /// never written) for editing. Refuses a filesystem that is not clean, whose journal holds
    /// transactions, that has orphan inodes, damaged group descriptors, or a feature the editor cannot
    /// keep consistent (quota, bigalloc, mmp, and anything unknown).
    /// </summary>
    public static ExtEditor Open(Stream image, string name, ExtEditorOptions? options = null)
    {
        var overlay = new EditOverlay(image);
        var device = new ExtBlockDevice(overlay, name, leaveOpen: true);
        try
        {
            var sb = ExtFileSystem.ReadSuperblock(device);
            CheckEditable(sb, name);
            var fs = ExtFileSystem.Open(device, new ExtOpenOptions { VerifyChecksums = true }, ownsDevice: false);
            if (!fs.Root.IsDirectory)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{name}: not editing a damaged filesystem: its root inode ({ExtFileSystem.RootInode}) is a {ExtFileSystem.DescribeType(fs.Root.Type)}, not a directory (run e2fsck -f on it first)") { Path = name };
            }
            if (fs.Warnings.Count > 0)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{name}: not editing a damaged filesystem: {fs.Warnings[0]} (run e2fsck -f on it first)") { Path = name };
            }
            var editor = new ExtEditor(overlay, device, fs, sb, options?.Now ?? DateTimeOffset.UtcNow) { _findNextData = options?.FindNextData };
            editor.CheckJournal();
            return editor;
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>The incompat features the editor keeps consistent (everything else is refused).</summary>
    public const IncompatFeatures EditableIncompat =
        IncompatFeatures.FileType | IncompatFeatures.MetaBg | IncompatFeatures.Extents | IncompatFeatures.SixtyFourBit
        | IncompatFeatures.FlexBg | IncompatFeatures.EaInode | IncompatFeatures.CsumSeed | IncompatFeatures.LargeDir
        | IncompatFeatures.InlineData | IncompatFeatures.Casefold;

    /// <summary>The ro_compat features the editor keeps consistent.</summary>
    public const RoCompatFeatures EditableRoCompat =
        RoCompatFeatures.SparseSuper | RoCompatFeatures.LargeFile | RoCompatFeatures.HugeFile | RoCompatFeatures.GdtCsum
        | RoCompatFeatures.DirNlink | RoCompatFeatures.ExtraIsize | RoCompatFeatures.MetadataCsum | RoCompatFeatures.Verity
        | RoCompatFeatures.Project;

    private static void CheckEditable(Superblock sb, string name)
    {
        void Refuse(ErrorKind kind, string why) =>
            throw new ImageToolsException(kind, $"{name}: cannot edit this {ExtFeatureSupport.NameOf(ExtFeatureSupport.Classify(sb))} filesystem: {why}") { Path = name };

        if (sb.FeatureIncompat.HasFlag(IncompatFeatures.NeedsRecovery))
        {
            Refuse(ErrorKind.UnsupportedFeature, "its journal needs recovery (needs_recovery: it was not cleanly unmounted, or is mounted now); "
                + "unmount it, or run 'e2fsck -f' on the image to replay the journal, then try again");
        }
        var incompat = sb.FeatureIncompat & ~EditableIncompat;
        if (incompat != 0)
        {
            Refuse(ErrorKind.UnsupportedFeature, $"it uses {string.Join(", ", ExtFeatureNames.Describe(CompatFeatures.None, incompat, RoCompatFeatures.None))}, which the editor cannot keep consistent");
        }
        var roCompat = sb.FeatureRoCompat & ~EditableRoCompat;
        if (roCompat != 0)
        {
            var names = string.Join(", ", ExtFeatureNames.Describe(CompatFeatures.None, IncompatFeatures.None, roCompat));
            Refuse(ErrorKind.UnsupportedFeature, roCompat.HasFlag(RoCompatFeatures.Quota)
                ? $"it keeps quota usage ({names}), which the editor does not update (turn quota off with 'tune2fs -O ^quota', edit, turn it back on)"
                : $"it uses {names}, which the editor cannot keep consistent");
        }
        if (sb.FeatureCompat.HasFlag(CompatFeatures.ExcludeBitmap))
        {
            Refuse(ErrorKind.UnsupportedFeature, "it uses exclude_bitmap (snapshots), which the editor cannot keep consistent");
        }
        if ((sb.State & Superblock.StateValid) == 0)
        {
            Refuse(ErrorKind.CorruptImage, "it is not marked clean (it is mounted, or was not cleanly unmounted); unmount it or run 'e2fsck -f' on it first");
        }
        if ((sb.State & Superblock.StateErrors) != 0)
        {
            Refuse(ErrorKind.CorruptImage, "the kernel recorded errors in it; run 'e2fsck -f' on it first");
        }
        if (sb.LastOrphan != 0)
        {
            Refuse(ErrorKind.CorruptImage, $"it has orphan inodes (s_last_orphan {sb.LastOrphan}) that were deleted while open; run 'e2fsck -f' on it first");
        }
    }

    /// <summary>The journal must be empty (s_start 0): what it holds would be replayed over the edit at the next mount.</summary>
    private void CheckJournal()
    {
        var journal = JournalInodeNumber;
        if (journal == 0)
        {
            return;
        }
        var inode = _fs.ReadInode(journal, "s_journal_inum");
        var raw = new byte[JournalSuperblock.Size];
        using (var content = _fs.OpenContent(inode))
        {
            content.ReadExactly(raw);
        }
        var jsb = JournalSuperblock.Read(raw);
        if (jsb.MagicValue != JournalSuperblock.Magic)
        {
            throw _fs.Corrupt($"the journal (inode {journal}) has no jbd2 superblock (magic 0x{jsb.MagicValue:X8})");
        }
        if (jsb.Start != 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{Name}: cannot edit: its journal holds transactions not yet written to the filesystem (s_start {jsb.Start}); "
                + "run 'e2fsck -f' on the image (or mount and unmount it) first") { Path = Name };
        }
    }

    private uint JournalInodeNumber =>
        _sb.FeatureCompat.HasFlag(CompatFeatures.HasJournal) ? _sb.JournalInode : 0;

    /// <summary>The reader over the edited state (it sees every change made so far).</summary>
    public ExtFileSystem FileSystem => _fs;

    /// <summary>What the filesystem is called in messages.</summary>
    public string Name => _fs.Name;

    /// <summary>The time stamped on what the editor changes.</summary>
    public DateTimeOffset Now { get; }

    /// <summary>Things worth telling about the edit (e.g. an htree index dropped to make room).</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Blocks freed (and zeroed) so far.</summary>
    public ulong BlocksFreed => Allocator.BlocksFreed;

    /// <summary>Blocks allocated so far.</summary>
    public ulong BlocksAllocated => Allocator.BlocksAllocated;

    internal ExtAllocator Allocator { get; }

    internal BlockTree Blocks { get; }

    private ExtTimestamp Stamp => ExtTimestamp.FromDateTimeOffset(Now);

    private uint Seed => _sb.HasMetadataChecksums ? _sb.MetadataChecksumSeed : 0;

    // ---- Looking things up ------------------------------------------------------------------------

    /// <summary>The inode at <paramref name="path"/> (a last symbolic link is not followed), or null.</summary>
    public ExtInode? Lookup(string path) => _fs.TryResolve(path, followLast: false);

    private (ExtInode Parent, byte[] Name, string ParentPath) SplitPath(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (!path.StartsWith('/') || parts.Length == 0 || parts.Any(p => p is "." or ".."))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"'{path}' is not an absolute path to a file inside the filesystem");
        }
        var parentPath = "/" + string.Join('/', parts[..^1]);
        var parent = _fs.Resolve(parentPath, followLast: true);
        if (!parent.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.NotFound, $"{Name}: '{parentPath}' is not a directory") { Path = path };
        }
        return (parent, Encoding.UTF8.GetBytes(parts[^1]), parentPath);
    }

    // ---- Deleting ---------------------------------------------------------------------------------

    /// <summary>
    /// Removes the name <paramref name="path"/> (a file, symbolic link, device, FIFO, socket or empty
    /// directory; a last symbolic link is removed, not followed). The inode is freed with its last link.
    /// Returns false when nothing is there.
    /// </summary>
    public bool Remove(string path)
    {
        var (parent, name, _) = SplitPath(path);
        var number = _directories.Find(parent, name);
        if (number == null)
        {
            return false;
        }
        var child = _fs.ReadInode(number.Value, $"'{path}'");
        if (child.IsDirectory && _fs.ReadDirectory(child).Any())
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{Name}: '{path}' is a directory that is not empty") { Path = path };
        }
        Unlink(parent, name, child);
        Settle();
        return true;
    }

    /// <summary>Removes <paramref name="path"/> and, for a directory, everything below it. Returns the number of names removed (0 when absent).</summary>
    public int RemoveTree(string path)
    {
        var (parent, name, _) = SplitPath(path);
        var number = _directories.Find(parent, name);
        if (number == null)
        {
            return 0;
        }
        var child = _fs.ReadInode(number.Value, $"'{path}'");
        var removed = RemoveBelow(child, path, new HashSet<uint>(), 0);
        parent = _fs.ReadInode(parent.Number);
        Unlink(parent, name, _fs.ReadInode(child.Number));
        Settle();
        return removed + 1;
    }

    /// <summary>Removes everything inside directory <paramref name="path"/>, keeping the directory. Returns the names removed.</summary>
    public int RemoveContents(string path)
    {
        var directory = _fs.Resolve(path, followLast: true);
        if (!directory.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{Name}: '{path}' is not a directory") { Path = path };
        }
        var removed = RemoveBelow(directory, path, new HashSet<uint>(), 0);
        Settle();
        return removed;
    }

    private int RemoveBelow(ExtInode directory, string path, HashSet<uint> visited, int depth)
    {
        if (!directory.IsDirectory)
        {
            return 0;
        }
        if (!visited.Add(directory.Number) || depth > ExtTreeWalker.MaxDepth)
        {
            throw _fs.Corrupt($"'{path}' is reached twice (a directory loop) or nested too deep");
        }
        var removed = 0;
        foreach (var entry in _fs.ListDirectory(directory))
        {
            var childPath = path.TrimEnd('/') + "/" + entry.NameText;
            var child = _fs.ReadInode(entry.Inode, $"'{childPath}'");
            if (child.IsDirectory)
            {
                removed += RemoveBelow(child, childPath, visited, depth + 1);
                child = _fs.ReadInode(entry.Inode);
            }
            // The directory's record changes with every removal: read it fresh.
            Unlink(_fs.ReadInode(directory.Number), entry.Name, child);
            Settle();
            removed++;
        }
        return removed;
    }

    private void Unlink(ExtInode parent, byte[] name, ExtInode child)
    {
        _directories.Remove(parent, name, child.Number);
        var parentRecord = parent.Record;
        if (child.IsDirectory)
        {
            // '..' of the child no longer counts against the parent (dir_nlink: 1 means "too many to count").
            if (parentRecord.LinksCount > 2)
            {
                parentRecord.LinksCount--;
            }
            Release(child);
        }
        else if (child.LinksCount <= 1)
        {
            Release(child);
        }
        else
        {
            var record = child.Record;
            record.LinksCount--;
            record.ChangeTime = Stamp;
            WriteInode(child.Number, record);
        }
        parentRecord.ModificationTime = Stamp;
        parentRecord.ChangeTime = Stamp;
        WriteInode(parent.Number, parentRecord);
    }

    /// <summary>Frees an inode whose last name is gone: its blocks, map blocks, xattr block (by reference count), and the inode.</summary>
    private void Release(ExtInode inode)
    {
        var record = inode.Record;
        RefuseEaInodeValues(inode);
        if (BlockTree.HasBlockMap(inode))
        {
            var blocks = Blocks.Read(inode.Number, record);
            FreeAll(inode.Number, blocks);
        }
        if (inode.XattrBlock != 0)
        {
            ReleaseXattrBlock(inode.XattrBlock, inode.Number);
        }
        var extents = record.Flags.HasFlag(InodeFlags.Extents)
            && (inode.Type is InodeType.RegularFile or InodeType.Directory or InodeType.SymbolicLink)
            && !inode.HasInlineData;
        record.LinksCount = 0;
        record.Dtime = (uint)Now.ToUnixTimeSeconds();
        record.ChangeTime = Stamp;
        record.Size = 0;
        record.BlocksLo = 0;
        record.BlocksHigh = 0;
        record.FileAcl = 0;
        record.Block = BlockTree.EmptyMap(extents);
        record.Flags = extents ? InodeFlags.Extents : InodeFlags.None;
        // In-inode xattrs (and inline data) go with the file.
        record.InlineArea = new byte[record.InlineArea.Length];
        WriteInode(inode.Number, record);
        Allocator.FreeInode(inode.Number, inode.IsDirectory);
    }

    private void FreeAll(uint number, InodeBlocks blocks)
    {
        foreach (var run in blocks.Data)
        {
            Allocator.Free(run.Physical, run.Count, $"inode {number}");
        }
        foreach (var block in blocks.MapBlocks)
        {
            Allocator.Free(block, 1, $"inode {number} map");
        }
    }

    private void ReleaseXattrBlock(ulong block, uint owner)
    {
        var where = $"inode {owner} xattr block {block}";
        var data = (byte[])_device.ReadMetadataBlock(block, where).Clone();
        var header = XattrBlockHeader.TryRead(data) ?? throw _fs.Corrupt($"{where}: bad magic");
        if (header.Blocks != 1)
        {
            throw _fs.Corrupt($"{where}: h_blocks is {header.Blocks}");
        }
        if (header.RefCount > 1)
        {
            // Shared with other inodes: one reference less.
            (header with { RefCount = header.RefCount - 1 }).Write(data);
            if (_sb.HasMetadataChecksums)
            {
                var crc = XattrBlockHeader.ComputeChecksum(Seed, block, data);
                (header with { RefCount = header.RefCount - 1, Checksum = crc }).Write(data);
            }
            _device.WriteBlock(block, data);
        }
        else
        {
            Allocator.Free(block, 1, where);
        }
    }

    /// <summary>ea_inode values carry their own reference counts; the editor does not free them, so it refuses.</summary>
    private void RefuseEaInodeValues(ExtInode inode)
    {
        if (!_sb.FeatureIncompat.HasFlag(IncompatFeatures.EaInode))
        {
            return;
        }
        bool Uses(ReadOnlySpan<byte> entries)
        {
            var offset = 0;
            while (offset < entries.Length && !XattrEntry.IsEndOfList(entries[offset..]))
            {
                if (XattrEntry.TryRead(entries[offset..]) is not { } e)
                {
                    return false;
                }
                if (e.ValueInode != 0)
                {
                    return true;
                }
                offset += e.EntrySize;
            }
            return false;
        }
        var area = inode.Record.InlineArea;
        var inInode = area.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(area) == Inode.InlineXattrMagic && Uses(area.AsSpan(4));
        var inBlock = inode.XattrBlock != 0 && Uses(_device.ReadMetadataBlock(inode.XattrBlock, "xattr block").AsSpan(XattrBlockHeader.Size));
        if (inInode || inBlock)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{Name}: inode {inode.Number} keeps an xattr value in its own inode (ea_inode), which the editor does not free") { Path = Name };
        }
    }

    // ---- Truncating and rewriting ------------------------------------------------------------------

    /// <summary>Truncates the regular file at <paramref name="path"/> to 0 bytes (its blocks are freed and zeroed). Returns the bytes it held.</summary>
    public ulong Truncate(string path)
    {
        var inode = RegularFile(path);
        var size = inode.Size;
        var record = inode.Record;
        EmptyFile(inode, record);
        record.Size = 0;
        SetBlockCount(record, XattrBlocks(inode));
        record.ModificationTime = Stamp;
        record.ChangeTime = Stamp;
        WriteInode(inode.Number, record);
        Settle();
        return size;
    }

    /// <summary>
    /// Replaces the content of the regular file at <paramref name="path"/> (any length), keeping its inode:
    /// owner, mode, xattrs and links stay. The old blocks are freed and zeroed, new ones allocated.
    /// </summary>
    public void Rewrite(string path, ReadOnlySpan<byte> content)
    {
        var inode = RegularFile(path);
        var record = inode.Record;
        var goal = FirstDataBlock(inode) ?? GroupGoal(inode.Number);
        EmptyFile(inode, record);
        var mapBlocks = WriteContent(inode.Number, record, content, goal, record.Flags.HasFlag(InodeFlags.Extents));
        record.Size = (ulong)content.Length;
        SetBlockCount(record, mapBlocks + XattrBlocks(inode));
        record.ModificationTime = Stamp;
        record.ChangeTime = Stamp;
        WriteInode(inode.Number, record);
        Settle();
    }

    private ExtInode RegularFile(string path)
    {
        var inode = _fs.Resolve(path, followLast: false);
        if (!inode.IsRegularFile)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{Name}: '{path}' is a {ExtFileSystem.DescribeType(inode.Type)}, not a regular file") { Path = path };
        }
        if (inode.HasInlineData)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{Name}: '{path}' keeps its content in the inode (inline_data), which the editor does not change") { Path = path };
        }
        if (inode.Flags.HasFlag(InodeFlags.Verity))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{Name}: '{path}' is protected by fs-verity; its content cannot change") { Path = path };
        }
        return inode;
    }

    private ulong? FirstDataBlock(ExtInode inode)
    {
        var blocks = Blocks.Read(inode.Number, inode.Record);
        return blocks.Data.Count > 0 ? blocks.Data[0].Physical : null;
    }

    private void EmptyFile(ExtInode inode, Inode record)
    {
        var blocks = Blocks.Read(inode.Number, record);
        FreeAll(inode.Number, blocks);
        record.Block = BlockTree.EmptyMap(record.Flags.HasFlag(InodeFlags.Extents));
        record.Flags &= ~InodeFlags.HugeFile;
    }

    /// <summary>Writes content into newly allocated blocks (all-zero blocks stay holes) and builds the map. Returns the blocks used (data and map).</summary>
    private ulong WriteContent(uint number, Inode record, ReadOnlySpan<byte> content, ulong goal, bool extents)
    {
        var bs = _fs.BlockSize;
        var blocks = (content.Length + bs - 1) / bs;
        var withData = new List<ulong>();
        for (var i = 0; i < blocks; i++)
        {
            var slice = content.Slice(i * bs, Math.Min(bs, content.Length - i * bs));
            if (slice.IndexOfAnyExcept((byte)0) >= 0)
            {
                withData.Add((ulong)i);
            }
        }
        var physical = Allocator.Allocate((ulong)withData.Count, goal, $"the content of inode {number}");
        var runs = new List<MappedRun>();
        var next = 0;
        var buffer = new byte[bs];
        foreach (var run in physical)
        {
            for (ulong k = 0; k < run.Count; k++)
            {
                var logical = withData[next++];
                var slice = content.Slice((int)logical * bs, Math.Min(bs, content.Length - (int)logical * bs));
                buffer.AsSpan().Clear();
                slice.CopyTo(buffer);
                _device.WriteBlock(run.Start + k, buffer);
                if (runs.Count > 0 && runs[^1].LogicalEnd == logical && runs[^1].Physical + runs[^1].Count == run.Start + k)
                {
                    runs[^1] = runs[^1] with { Count = runs[^1].Count + 1 };
                }
                else
                {
                    runs.Add(new MappedRun(logical, run.Start + k, 1));
                }
            }
        }
        var map = Blocks.Build(number, record, runs, extents, goal);
        return (ulong)withData.Count + (ulong)map.Count;
    }

    /// <summary>Frees a map's blocks (not its data) and builds a new map for <paramref name="runs"/>; updates i_blocks.</summary>
    internal void ReplaceMap(uint number, Inode record, InodeBlocks old, IReadOnlyList<MappedRun> runs, ulong goal)
    {
        foreach (var block in old.MapBlocks)
        {
            Allocator.Free(block, 1, $"inode {number} map");
        }
        var map = Blocks.Build(number, record, runs, record.Flags.HasFlag(InodeFlags.Extents), goal);
        var data = runs.Aggregate(0UL, (sum, r) => sum + r.Count);
        var xattr = (_sb.Is64Bit ? record.FileAcl : record.FileAclLo) != 0 ? 1UL : 0UL;
        SetBlockCount(record, data + (ulong)map.Count + xattr);
    }

    private static ulong XattrBlocks(ExtInode inode) => inode.XattrBlock != 0 ? 1UL : 0UL;

    /// <summary>i_blocks in 512-byte units (with l_i_blocks_hi under huge_file; the HUGE_FILE inode flag is cleared).</summary>
    private void SetBlockCount(Inode record, ulong fsBlocks)
    {
        var sectors = fsBlocks * (ulong)(_fs.BlockSize / 512);
        record.Flags &= ~InodeFlags.HugeFile;
        if (sectors <= uint.MaxValue)
        {
            record.BlocksLo = (uint)sectors;
            record.BlocksHigh = 0;
        }
        else if (_sb.FeatureRoCompat.HasFlag(RoCompatFeatures.HugeFile) && sectors < 1UL << 48)
        {
            record.BlocksLo = (uint)sectors;
            record.BlocksHigh = (ushort)(sectors >> 32);
        }
        else
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"{Name}: {fsBlocks} blocks do not fit i_blocks");
        }
    }

    // ---- Creating ---------------------------------------------------------------------------------

    /// <summary>Creates a regular file with <paramref name="content"/>. Fails if the name exists.</summary>
    public uint CreateFile(string path, ReadOnlySpan<byte> content, NewInodeAttributes attributes)
    {
        var (parent, name, _) = SplitNew(path);
        var (number, record) = NewInode(parent, InodeType.RegularFile, attributes, path);
        var extents = _sb.FeatureIncompat.HasFlag(IncompatFeatures.Extents);
        var blocks = WriteContent(number, record, content, GroupGoal(number), extents);
        record.Size = (ulong)content.Length;
        SetBlockCount(record, blocks);
        WriteInode(number, record);
        Link(parent, name, number, InodeType.RegularFile);
        Settle();
        return number;
    }

    /// <summary>Creates an empty directory. Fails if the name exists.</summary>
    public uint CreateDirectory(string path, NewInodeAttributes attributes)
    {
        var (parent, name, _) = SplitNew(path);
        var (number, record) = NewInode(parent, InodeType.Directory, attributes, path);
        var block = Allocator.Allocate(1, GroupGoal(number), $"the first block of '{path}'")[0].Start;
        _directories.WriteNewDirectoryBlock(number, record.Generation, block, _directories.NewDirectoryBlock(number, parent.Number));
        var map = Blocks.Build(number, record, new[] { new MappedRun(0, block, 1) }, _sb.FeatureIncompat.HasFlag(IncompatFeatures.Extents), block);
        record.Size = (ulong)_fs.BlockSize;
        record.LinksCount = 2;
        SetBlockCount(record, 1 + (ulong)map.Count);
        WriteInode(number, record);
        var parentRecord = parent.Record;
        if (parentRecord.LinksCount >= 65000 - 1 || parentRecord.LinksCount == 1)
        {
            // dir_nlink: past 65000 links a directory's count is 1, meaning "not counted".
            parentRecord.LinksCount = _sb.FeatureRoCompat.HasFlag(RoCompatFeatures.DirNlink)
                ? (ushort)1
                : throw new ImageToolsException(ErrorKind.DoesNotFit, $"{Name}: '{path}': its parent has the most subdirectories ext allows without dir_nlink");
        }
        else
        {
            parentRecord.LinksCount++;
        }
        Link(parent, name, number, InodeType.Directory);
        Settle();
        return number;
    }

    /// <summary>Creates a symbolic link to <paramref name="target"/>: in the inode below 60 bytes (a fast link), else in one block.</summary>
    public uint CreateSymlink(string path, string target, NewInodeAttributes attributes)
    {
        var bytes = Encoding.UTF8.GetBytes(target);
        if (bytes.Length == 0 || bytes.Length >= _fs.BlockSize || bytes.AsSpan().IndexOf((byte)0) >= 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"'{target}' is not a valid symbolic link target");
        }
        var (parent, name, _) = SplitNew(path);
        var (number, record) = NewInode(parent, InodeType.SymbolicLink, attributes with { Permissions = 0x1FF }, path);
        record.Size = (ulong)bytes.Length;
        if (bytes.Length < Inode.BlockAreaSize)
        {
            var area = new byte[Inode.BlockAreaSize];
            bytes.CopyTo(area, 0);
            record.Block = area;
            record.Flags &= ~InodeFlags.Extents;
            SetBlockCount(record, 0);
        }
        else
        {
            var blocks = WriteContent(number, record, bytes, GroupGoal(number), _sb.FeatureIncompat.HasFlag(IncompatFeatures.Extents));
            SetBlockCount(record, blocks);
        }
        WriteInode(number, record);
        Link(parent, name, number, InodeType.SymbolicLink);
        Settle();
        return number;
    }

    /// <summary>
    /// Changes the permission bits (07777) and/or owner of the inode at <paramref name="path"/> (a last symbolic
    /// link is not followed; a link's own mode stays 0777, as Linux keeps it). Null leaves a value as it is.
    /// Only i_mode's permission bits, i_uid/i_gid and ctime change, as chmod(2)/chown(2) change them.
    /// </summary>
    public void SetAttributes(string path, int? permissions, uint? uid = null, uint? gid = null)
    {
        var inode = _fs.Resolve(path, followLast: false);
        var record = inode.Record;
        if (permissions is int bits && !inode.IsSymbolicLink)
        {
            record.Permissions = (ushort)(bits & 0xFFF);
        }
        if (uid is uint u)
        {
            record.Uid = u;
        }
        if (gid is uint g)
        {
            record.Gid = g;
        }
        record.ChangeTime = Stamp;
        WriteInode(inode.Number, record);
        Settle();
    }

    private (ExtInode Parent, byte[] Name, string ParentPath) SplitNew(string path)
    {
        var split = SplitPath(path);
        if (_directories.Find(split.Parent, split.Name) != null)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{Name}: '{path}' already exists") { Path = path };
        }
        return split;
    }

    private (uint Number, Inode Record) NewInode(ExtInode parent, InodeType type, NewInodeAttributes attributes, string path)
    {
        var number = Allocator.AllocateInode(Allocator.GroupOfInode(parent.Number), type == InodeType.Directory, $"'{path}'");
        var size = _sb.EffectiveInodeSize;
        var extra = size > Inode.BaseSize ? (ushort)Math.Min(Inode.DefaultExtraIsize, size - Inode.BaseSize) : (ushort)0;
        var record = new Inode
        {
            InodeSize = size,
            ExtraIsize = extra,
            // Inode.Read/Write keep everything after the extra fields (at least after i_extra_isize) as the xattr area.
            InlineArea = size > Inode.BaseSize ? new byte[size - Math.Max(Inode.BaseSize + extra, Inode.BaseSize + 2)] : Array.Empty<byte>(),
            LinksCount = 1,
        };
        record.Type = type;
        record.Permissions = (ushort)(attributes.Permissions & 0xFFF);
        record.Uid = attributes.Uid;
        record.Gid = attributes.Gid;
        record.AccessTime = Stamp;
        record.ModificationTime = Stamp;
        record.ChangeTime = Stamp;
        if (record.HasExtraField(0x90, 4))
        {
            record.CreationTime = Stamp;
        }
        if (_sb.FeatureIncompat.HasFlag(IncompatFeatures.Extents) && type is InodeType.RegularFile or InodeType.Directory)
        {
            record.Flags |= InodeFlags.Extents;
            record.Block = BlockTree.EmptyMap(extents: true);
        }
        InheritSecurityLabel(parent, record, path);
        return (number, record);
    }

    /// <summary>
    /// A new file gets its directory's SELinux label (security.selinux), as the kernel labels a new file
    /// that no type transition rule covers, so that images with labels stay labelled. Only in-inode space is
    /// used; a label that does not fit there is noted, not written.
    /// </summary>
    private void InheritSecurityLabel(ExtInode parent, Inode record, string path)
    {
        var label = _fs.ReadXattrs(parent).FirstOrDefault(x => x.NameIndex == XattrNamespaces.Security && x.NameSuffix.AsSpan().SequenceEqual("selinux"u8));
        if (label == null)
        {
            return;
        }
        var name = "selinux"u8.ToArray();
        var area = record.InlineArea;
        var entrySize = XattrEntry.EntrySizeFor(name.Length);
        var valueSize = XattrEntry.PaddedValueSize(label.Value.Length);
        // magic (4) + entry + end-of-list word (4) + value
        if (area.Length < 4 + entrySize + 4 + valueSize || record.ExtraIsize == 0)
        {
            _notes.Add($"'{path}' was created without the SELinux label of its directory (no room in the inode); relabel the image (touch /.autorelabel)");
            return;
        }
        // In the inode, value offsets count from the first entry; values sit at the end of the area.
        var valueOffset = area.Length - 4 - valueSize;
        BinaryPrimitives.WriteUInt32LittleEndian(area, Inode.InlineXattrMagic);
        var entry = new XattrEntry(XattrNamespaces.Security, name, (ushort)valueOffset, 0, (uint)label.Value.Length,
            XattrEntry.ComputeHash(name, label.Value));
        entry.Write(area.AsSpan(4));
        label.Value.CopyTo(area, 4 + valueOffset);
    }

    private void Link(ExtInode parent, byte[] name, uint number, InodeType type)
    {
        _directories.Add(parent, name, number, type);
        var record = parent.Record;
        record.ModificationTime = Stamp;
        record.ChangeTime = Stamp;
        WriteInode(parent.Number, record);
    }

    /// <summary>A block near the start of the inode's group: where its data should go.</summary>
    internal ulong GroupGoal(uint inode) => _fs.GroupFirstBlock(Allocator.GroupOfInode(inode));

    internal void NoteIndexDropped(uint directory) =>
        _notes.Add($"directory inode {directory}: its htree leaf had no room, so the index was dropped (it is a valid linear directory; e2fsck -fD re-indexes it)");

    // ---- The journal ------------------------------------------------------------------------------

    /// <summary>
    /// Zeroes every block of the (empty) journal but its superblock. A clean journal still holds copies of
    /// the metadata blocks (and, in data=journal mode, data) of past transactions: names of deleted files,
    /// old inodes, old file content. Nothing reads them once s_start is 0, so they can go. Blocks that already
    /// read as zeros are left out of the edit. Returns the blocks zeroed.
    /// </summary>
    public ulong ZeroJournalHistory()
    {
        var journal = JournalInodeNumber;
        if (journal == 0)
        {
            return 0;
        }
        var inode = _fs.ReadInode(journal, "s_journal_inum");
        var blocks = Blocks.Read(journal, inode.Record);
        var bs = _fs.BlockSize;
        const int Chunk = 256;
        var buffer = new byte[Chunk * bs];
        ulong zeroed = 0;
        foreach (var run in blocks.Data)
        {
            var first = run.Logical == 0 ? 1UL : 0UL;
            foreach (var (start, count) in BlocksThatMayHoldData(run.Physical + first, run.Count - first, Chunk))
            {
                _device.ReadBlocks(start, count, buffer, $"journal inode {journal}");
                for (var i = 0; i < count; i++)
                {
                    if (buffer.AsSpan(i * bs, bs).IndexOfAnyExcept((byte)0) >= 0)
                    {
                        _overlay.Zero(checked((long)(start + (ulong)i) * bs), bs);
                        zeroed++;
                    }
                }
            }
        }
        return zeroed;
    }

    /// <summary>
    /// Zeroes every free block that does not read as zeros: what earlier deletions left behind (the kernel
    /// frees blocks without clearing them), as zerofree or virt-sparsify do. Returns the blocks zeroed.
    /// </summary>
    public ulong ZeroFreeSpace(CancellationToken cancellation = default)
    {
        var bs = _fs.BlockSize;
        const int Chunk = 256;
        var buffer = new byte[Chunk * bs];
        ulong zeroed = 0;
        foreach (var run in Allocator.FreeRuns().ToList())
        {
            foreach (var (start, count) in BlocksThatMayHoldData(run.Start, run.Count, Chunk))
            {
                cancellation.ThrowIfCancellationRequested();
                _device.ReadBlocks(start, count, buffer, "free blocks");
                for (var i = 0; i < count; i++)
                {
                    if (buffer.AsSpan(i * bs, bs).IndexOfAnyExcept((byte)0) >= 0)
                    {
                        _overlay.Zero(checked((long)(start + (ulong)i) * bs), bs);
                        zeroed++;
                    }
                }
            }
        }
        return zeroed;
    }

    private Func<long, long, Streams.Extent?>? _findNextData;

    /// <summary>
    /// The blocks of [start, start + count) that may hold data, in pieces of at most <paramref name="chunk"/>
    /// blocks: all of them, or, when the image says where its holes are (<see cref="ExtEditorOptions.FindNextData"/>),
    /// only those not in a hole of the image underneath. (What the edit itself zeroed reads as zeros anyway.)
    /// </summary>
    private IEnumerable<(ulong Start, int Count)> BlocksThatMayHoldData(ulong start, ulong count, int chunk)
    {
        var bs = (ulong)_fs.BlockSize;
        var end = start + count;
        var at = start;
        while (at < end)
        {
            var dataEnd = end;
            if (_findNextData != null)
            {
                var data = _findNextData(checked((long)(at * bs)), checked((long)((end - at) * bs)));
                if (data is not { } extent || extent.Length <= 0)
                {
                    yield break;
                }
                var first = (ulong)extent.Offset / bs;
                var last = ((ulong)(extent.Offset + extent.Length) + bs - 1) / bs;
                if (first >= end)
                {
                    yield break;
                }
                at = Math.Max(at, first);
                dataEnd = Math.Min(end, Math.Max(last, at + 1));
            }
            while (at < dataEnd)
            {
                var n = (int)Math.Min((ulong)chunk, dataEnd - at);
                yield return (at, n);
                at += (ulong)n;
            }
        }
    }

    // ---- Plumbing ---------------------------------------------------------------------------------

    private void WriteInode(uint number, Inode record)
    {
        if (_sb.HasMetadataChecksums)
        {
            record.UpdateChecksum(Seed, number);
        }
        var bytes = new byte[record.InodeSize];
        record.Write(bytes);
        _device.WriteBytes(Allocator.InodeOffset(number), bytes);
    }

    /// <summary>Writes the allocation state into the overlay and reopens the reader over it, so the next step sees this one.</summary>
    private void Settle()
    {
        Allocator.WriteBack(Now);
        _fs = ExtFileSystem.Open(_device, new ExtOpenOptions { VerifyChecksums = true }, ownsDevice: false);
    }

    /// <summary>The whole edit so far as bytes to write and ranges to zero (relative to the filesystem's byte 0).</summary>
    public EditChanges CollectChanges() => _overlay.CollectChanges();

    public void Dispose() => _device.Dispose();
}
