using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// One pass of the writer over the entries (docs/ext-writer.md). File data, symlink blocks, xattr
/// blocks and file inodes are written as the entries arrive; only the directory tree (names and
/// inode numbers) is kept in memory. At the end the directories are laid out (htree where needed),
/// hard-link counts patched, and the resize inode, journal, bitmaps, descriptors and superblocks
/// written. Unused inodes and blocks are never written, so a fresh image file stays sparse.
/// </summary>
internal sealed class BuildRun
{
    private const uint BadBlocksInode = 1;
    private const uint RootInode = 2;
    private const uint ResizeInode = 7;
    private const uint JournalInode = 8;
    private const int LinkMax = 65000; // EXT2_LINK_MAX; with dir_nlink a directory past it counts 1
    private const int ReadChunk = 1 << 20;
    private const long NegativeEpochWindowStart = (3L << 32) - (1L << 31);
    private const long NegativeEpochWindowEnd = 3L << 32;

    private readonly ExtGeometry _g;
    private readonly ExtFilesystemOptions _o;
    private readonly ExtImageTarget _target;
    private readonly IProgress<ExtBuildProgress>? _progress;
    private readonly CancellationToken _cancel;
    private readonly int _bs;
    private readonly BlockAllocator _blocks;
    private readonly InodeAllocator _inodes;
    private readonly XxHash128 _inputHash = new();
    private readonly Dictionary<uint, int> _extraLinks = new();
    private readonly List<DirNode> _directories = new();
    private readonly byte[] _readBuffer;
    private readonly byte[] _inodeBuffer;
    private readonly InodeTableBuffer _inodeTable;
    private readonly List<(long Block, byte[] Bytes, uint Inode, bool IsXattr)> _pendingChecksums = new();
    private uint _checksumSeed;
    private readonly ExtTimestamp _buildTime;
    private readonly DirNode _root;
    private readonly DirNode _lostFound;

    private long _journalAllocated;
    private long _journalFirstBlock;
    private uint[] _journalBlockMap = new uint[15];
    private long _resizeDind;
    private long _entries;
    private long _contentBytes;
    private long _dataBlocks;
    private long _files, _symlinks, _hardLinks, _specials, _indexed;

    public BuildRun(ExtGeometry geometry, ExtFilesystemOptions options, ExtImageTarget target, IProgress<ExtBuildProgress>? progress, CancellationToken cancellation)
    {
        _g = geometry;
        _o = options;
        _target = target;
        _progress = progress;
        _cancel = cancellation;
        _bs = geometry.BlockSize;
        _blocks = new BlockAllocator(geometry);
        _inodes = new InodeAllocator(geometry);
        _blocks.OnOverflow += () => _target.Discarding = true;
        _inodes.OnOverflow += () => _target.Discarding = true;
        _readBuffer = new byte[ReadChunk];
        _inodeBuffer = new byte[geometry.InodeSize];
        _inodeTable = new InodeTableBuffer(geometry);
        _buildTime = options.SourceDateEpoch is long sde
            ? new ExtTimestamp(sde, 0)
            : ExtTimestamp.FromDateTimeOffset(options.BuildTime ?? DateTimeOffset.UtcNow) with { Nanoseconds = 0 };

        _root = new DirNode(RootInode, null, "");
        _inodes.CountReservedDirectory(RootInode);
        _directories.Add(_root);
        _lostFound = new DirNode(_inodes.Allocate(isDirectory: true), _root, "lost+found")
        {
            Permissions = Convert.ToInt32("700", 8),
            IsLostFound = true,
        };
        _directories.Add(_lostFound);
        _root.Children["lost+found"] = new Child(DirectoryEntryType.Directory, _lostFound.Inode, _lostFound);
        _root.Subdirectories++;
    }

    public ExtBuildResult Execute(IFileTreeSource source)
    {
        HashOptions();
        PrepareTarget();
        foreach (var entry in source.ReadEntries(_cancel))
        {
            _cancel.ThrowIfCancellationRequested();
            Add(entry);
            _entries++;
            _progress?.Report(new ExtBuildProgress("writing", _entries, _contentBytes, entry.Path));
        }
        _progress?.Report(new ExtBuildProgress("finishing", _entries, _contentBytes, null));

        var (uuid, seed) = ChooseIdentifiers();
        // The seed of every metadata checksum: crc32c(~0, UUID) (no metadata_csum_seed feature).
        _checksumSeed = Crc32c.Compute(Crc32c.InitialSeed, uuid);
        WriteDirectories(seed);
        PatchHardLinkCounts();
        if (_blocks.Overflowed || _inodes.Overflowed)
        {
            throw SizePlanner.DoesNotFit(_o, _g, _blocks.AllocatedBlocks - _journalAllocated, _inodes.Last);
        }
        WriteReservedInodes();
        WritePendingChecksummedBlocks();
        _inodeTable.Flush(_target, _g.HasMetadataChecksums ? _checksumSeed : null);
        if (_g.HasJournal)
        {
            WriteJournalSuperblock(uuid);
        }
        var (freeBlocks, freeInodes) = WriteGroupMetadata(uuid, seed);
        _target.EnsureLength();

        return new ExtBuildResult
        {
            Type = _g.Type,
            SizeBytes = _g.SizeBytes,
            BlockSize = _bs,
            InodeSize = _g.InodeSize,
            BlocksCount = _g.BlocksCount,
            FreeBlocks = freeBlocks,
            InodesCount = _g.InodesCount,
            FreeInodes = freeInodes,
            GroupCount = _g.GroupCount,
            JournalBlocks = _g.JournalBlocks,
            Uuid = new Guid(uuid, bigEndian: true),
            HashSeed = new Guid(seed, bigEndian: true),
            Label = _o.Label ?? "",
            RegularFiles = _files,
            Directories = _directories.Count,
            SymbolicLinks = _symlinks,
            HardLinks = _hardLinks,
            SpecialFiles = _specials,
            IndexedDirectories = _indexed,
            ContentBytes = _contentBytes,
            DataBlocks = _dataBlocks,
            BytesWritten = _target.BytesWritten,
        };
    }

    // ---- Setup ----------------------------------------------------------------------------

    private void PrepareTarget()
    {
        if (!_target.KnownZero)
        {
            // A target that may hold old bytes (a partition of an existing disk): every inode slot
            // must read as zero (e2fsck reads them all), and so must the reserved GDT blocks.
            foreach (var grp in _g.Groups)
            {
                _target.Zero(grp.InodeTable * _bs, (long)_g.InodeTableBlocks * _bs);
                if (grp.HasSuperblock)
                {
                    _target.Zero((grp.Start + 1 + _g.DescriptorBlocks) * _bs, (long)_g.ReservedGdtBlocks * _bs);
                }
            }
            if (_g.FirstDataBlock == 1)
            {
                _target.Zero(0, 1024); // the boot block of a 1K filesystem
            }
        }

        // resize_inode is one of mke2fs' base features, kept even when no GDT block is reserved (small
        // 4K filesystems): its DIND block is allocated first, right after group 0's inode table.
        _resizeDind = _blocks.AllocateOne();
        if (_g.HasJournal)
        {
            var before = _blocks.AllocatedBlocks;
            var map = NewMapper();
            long logical = 0;
            while (logical < _g.JournalBlocks)
            {
                var want = (int)Math.Min(Math.Min(_g.JournalBlocks - logical, map.SegmentEnd(logical) - logical), int.MaxValue);
                var (physical, got) = map.MapRun(logical, want);
                if (logical == 0)
                {
                    _journalFirstBlock = physical;
                }
                _target.Zero(physical * _bs, (long)got * _bs);
                logical += got;
            }
            var journal = new Inode { InodeSize = _g.InodeSize };
            FinishMap(map, journal, JournalInode);
            for (var i = 0; i < 15; i++)
            {
                _journalBlockMap[i] = journal.BlockWord(i);
            }
            _journalAllocated = _blocks.AllocatedBlocks - before;
        }
    }

    private void HashOptions()
    {
        var text = $"ext-writer/1 type={_g.Type} features={_g.Features} size={_g.SizeBytes} bs={_bs} isz={_g.InodeSize} inodes={_g.InodesCount} " +
                   $"label={_o.Label} owner={_o.OwnerUid}:{_o.OwnerGid} epoch={_o.SourceDateEpoch}";
        _inputHash.Append(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>
    /// UUID and hash seed: as given, or under SOURCE_DATE_EPOCH derived from the epoch and a hash of
    /// the whole input (options, every entry's metadata and content), or else random.
    /// </summary>
    private (byte[] Uuid, byte[] Seed) ChooseIdentifiers()
    {
        var digest = _inputHash.GetCurrentHash();
        byte[] Derive(string purpose)
        {
            var material = Encoding.UTF8.GetBytes($"imagetools ext {purpose} epoch={_o.SourceDateEpoch}").Concat(digest).ToArray();
            var id = SHA256.HashData(material).AsSpan(0, 16).ToArray();
            id[6] = (byte)((id[6] & 0x0F) | 0x80); // RFC 9562 version 8 (custom)
            id[8] = (byte)((id[8] & 0x3F) | 0x80); // RFC 4122 variant
            return id;
        }
        var deterministic = _o.SourceDateEpoch != null;
        var uuid = _o.Uuid?.ToByteArray(bigEndian: true) ?? (deterministic ? Derive("uuid") : Guid.NewGuid().ToByteArray(bigEndian: true));
        var seed = _o.HashSeed?.ToByteArray(bigEndian: true) ?? (deterministic ? Derive("hash seed") : Guid.NewGuid().ToByteArray(bigEndian: true));
        return (uuid, seed);
    }

    // ---- Entries --------------------------------------------------------------------------

    private void Add(FileEntry entry)
    {
        var components = SplitPath(entry);
        HashEntry(entry);
        if (components.Count == 0)
        {
            if (entry.Type != FileEntryType.Directory)
            {
                throw Bad(entry, "the root of the filesystem must be a directory");
            }
            _root.Source = entry;
            return;
        }

        var parent = _root;
        for (var i = 0; i < components.Count - 1; i++)
        {
            parent = ChildDirectory(parent, components[i], entry);
        }
        var name = components[^1];
        parent.Children.TryGetValue(name, out var existing);

        switch (entry.Type)
        {
            case FileEntryType.Directory:
                if (existing != null)
                {
                    if (existing.Dir == null)
                    {
                        throw Bad(entry, "a directory has the same path as an earlier non-directory entry");
                    }
                    existing.Dir.Source = entry;
                    return;
                }
                var dir = NewDirectory(parent, name);
                dir.Source = entry;
                return;

            case FileEntryType.HardLink:
            {
                if (existing != null)
                {
                    throw Bad(entry, "appears twice (a hard link with the name of an earlier entry)");
                }
                var target = Resolve(entry.LinkTarget, entry);
                parent.Children[name] = new Child(target.Type, target.Inode, null);
                _extraLinks[target.Inode] = _extraLinks.GetValueOrDefault(target.Inode) + 1;
                _hardLinks++;
                return;
            }

            default:
            {
                if (existing != null)
                {
                    throw Bad(entry, existing.Dir != null ? "has the same path as a directory" : "appears twice");
                }
                if (components.Count == 1 && name == "lost+found")
                {
                    throw Bad(entry, "lost+found is reserved for the filesystem's lost+found directory");
                }
                var ino = _inodes.Allocate(isDirectory: false);
                var type = WriteNonDirectory(ino, entry);
                parent.Children[name] = new Child(type, ino, null);
                return;
            }
        }
    }

    private DirNode ChildDirectory(DirNode parent, string name, FileEntry entry)
    {
        if (parent.Children.TryGetValue(name, out var child))
        {
            return child.Dir ?? throw Bad(entry, $"its parent '{name}' is not a directory");
        }
        // A parent that was never listed (tar archives may omit them): a plain 0755 root-owned directory.
        return NewDirectory(parent, name);
    }

    private DirNode NewDirectory(DirNode parent, string name)
    {
        var dir = new DirNode(_inodes.Allocate(isDirectory: true), parent, name);
        parent.Children[name] = new Child(DirectoryEntryType.Directory, dir.Inode, dir);
        parent.Subdirectories++;
        _directories.Add(dir);
        return dir;
    }

    private Child Resolve(string? path, FileEntry entry)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw Bad(entry, "is a hard link without a target");
        }
        var parts = NormalizeComponents(path, entry, "hard link target");
        var node = _root;
        for (var i = 0; i < parts.Count; i++)
        {
            if (!node.Children.TryGetValue(parts[i], out var child))
            {
                break;
            }
            if (i == parts.Count - 1)
            {
                if (child.Dir != null)
                {
                    throw Bad(entry, $"is a hard link to the directory '{path}' (directories cannot be hard-linked)");
                }
                return child;
            }
            if (child.Dir == null)
            {
                break;
            }
            node = child.Dir;
        }
        throw new ImageToolsException(ErrorKind.NotFound, $"{Describe(entry)}: is a hard link to '{path}', which is not an earlier entry of the source");
    }

    private static List<string> SplitPath(FileEntry entry) => NormalizeComponents(entry.Path, entry, "path");

    private static List<string> NormalizeComponents(string path, FileEntry entry, string what)
    {
        if (path.StartsWith('/'))
        {
            throw Bad(entry, $"has an absolute {what} '{path}'");
        }
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                throw Bad(entry, $"has a {what} with '..' ('{path}'), which would point outside the filesystem");
            }
            if (part.Contains('\0'))
            {
                throw Bad(entry, $"has a NUL byte in its {what}");
            }
            var bytes = Encoding.UTF8.GetByteCount(part);
            if (bytes > DirectoryEntry.MaxNameLength)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"{Describe(entry)}: the name '{Shorten(part)}' is {bytes} bytes long; names are at most 255 bytes in ext2/ext3/ext4");
            }
            parts.Add(part);
        }
        return parts;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..20] + "…" + s[^12..];

    private static string Describe(FileEntry e) => e.Path.Length == 0 ? "/ (root)" : e.Path;

    private static ImageToolsException Bad(FileEntry entry, string what) =>
        new(ErrorKind.InvalidArgument, $"{Describe(entry)}: {what}");

    private void HashEntry(FileEntry e)
    {
        Span<byte> fixedPart = stackalloc byte[64];
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart, (int)e.Type);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[4..], e.Permissions);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[8..], e.Uid);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[12..], e.Gid);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[16..], Clamp(e.ModificationTime).Seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[24..], Clamp(e.ModificationTime).Nanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[28..], e.DeviceMajor);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[32..], e.DeviceMinor);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[36..], e.Size);
        _inputHash.Append(fixedPart);
        _inputHash.Append(Encoding.UTF8.GetBytes(e.Path + "\0" + e.LinkTarget + "\0"));
        foreach (var x in e.ExtendedAttributes)
        {
            _inputHash.Append(Encoding.UTF8.GetBytes(x.Name + "\0"));
            _inputHash.Append(x.Value);
        }
    }

    // ---- Inodes ---------------------------------------------------------------------------

    private ExtTimestamp Clamp(ExtTimestamp t)
    {
        if (_o.SourceDateEpoch is long sde && t.Seconds > sde)
        {
            return new ExtTimestamp(sde, 0);
        }
        if (_g.InodeSize == Inode.BaseSize)
        {
            // 128-byte inodes: signed 32-bit seconds, no nanoseconds.
            return new ExtTimestamp(Math.Clamp(t.Seconds, int.MinValue, int.MaxValue), 0);
        }
        if (t.Seconds < ExtTimestamp.MinSeconds)
        {
            return new ExtTimestamp(ExtTimestamp.MinSeconds, 0);
        }
        if (t.Seconds > ExtTimestamp.MaxSeconds)
        {
            return new ExtTimestamp(ExtTimestamp.MaxSeconds, 999_999_999);
        }
        if (t.Seconds is >= NegativeEpochWindowStart and < NegativeEpochWindowEnd)
        {
            // Years 2310..2378 encode as epoch 3 with a negative base, which e2fsck (before 2242) takes
            // for the old buggy pre-1970 encoding and rewrites (pass1.c check_inode_extra_negative_epoch).
            return new ExtTimestamp(NegativeEpochWindowStart - 1, 999_999_999);
        }
        return t.Nanoseconds > 999_999_999 ? t with { Nanoseconds = 0 } : t;
    }

    private Inode NewInode(InodeType type, int permissions, uint uid, uint gid, ExtTimestamp mtime, ExtTimestamp? atime, ExtTimestamp? ctime)
    {
        var inode = new Inode { InodeSize = _g.InodeSize, Type = type, Permissions = (ushort)(permissions & 0xFFF), LinksCount = 1 };
        inode.Uid = _o.OwnerUid ?? uid;
        inode.Gid = _o.OwnerGid ?? gid;
        inode.ModificationTime = Clamp(mtime);
        inode.AccessTime = Clamp(atime ?? mtime);
        inode.ChangeTime = Clamp(ctime ?? mtime);
        if (_g.InodeSize > Inode.BaseSize)
        {
            inode.ExtraIsize = Inode.DefaultExtraIsize;
            inode.CreationTime = _buildTime;
        }
        return inode;
    }

    private int InlineXattrArea => _g.InodeSize > Inode.BaseSize ? _g.InodeSize - Inode.BaseSize - Inode.DefaultExtraIsize : 0;

    /// <summary>Places the xattrs: in-inode area and, when needed, one block (allocated now). Returns blocks used.</summary>
    private long ApplyXattrs(Inode inode, IReadOnlyList<ExtendedAttribute> attributes, string path)
    {
        if (attributes.Count == 0)
        {
            return 0;
        }
        var prepared = XattrLayout.Prepare(attributes, path);
        var layout = XattrLayout.Layout(prepared, InlineXattrArea, _bs, path);
        inode.InlineArea = layout.InlineArea;
        if (layout.Block == null)
        {
            return 0;
        }
        var block = _blocks.AllocateOne();
        if (_g.HasMetadataChecksums)
        {
            // Its checksum covers the block number and needs the checksum seed: written at the end.
            _pendingChecksums.Add((block, layout.Block, 0, true));
        }
        else
        {
            _target.Write(block * _bs, layout.Block);
        }
        inode.FileAcl = (ulong)block;
        return 1;
    }

    private void WriteInode(uint ino, Inode inode)
    {
        if (ino > _g.InodesCount)
        {
            return; // measuring only: the filesystem is already out of inodes
        }
        inode.Write(_inodeTable.Slot(ino));
    }

    // ---- Block maps and extents --------------------------------------------------------------

    private IBlockMapper NewMapper() => _g.HasExtents ? new ExtentMapBuilder(_blocks, _bs) : new BlockMapBuilder(_blocks, _target, _bs);

    /// <summary>Closes a mapping and stores it in the inode's i_block (with the EXTENTS flag for an extent tree).</summary>
    private void FinishMap(IBlockMapper mapper, Inode inode, uint ino)
    {
        if (mapper is ExtentMapBuilder extents)
        {
            inode.Block = extents.Finish((block, bytes) => WriteTreeBlock(block, bytes, ino));
            inode.Flags |= InodeFlags.Extents;
            return;
        }
        var iblock = ((BlockMapBuilder)mapper).Finish();
        for (var i = 0; i < 15; i++)
        {
            inode.SetBlockWord(i, iblock[i]);
        }
    }

    private void WriteTreeBlock(long block, byte[] bytes, uint ino)
    {
        if (_g.HasMetadataChecksums)
        {
            _pendingChecksums.Add((block, bytes, ino, false));
        }
        else
        {
            _target.Write(block * _bs, bytes);
        }
    }

    /// <summary>Extent tree and xattr blocks written during the pass wait for the checksum seed; written here, in block order.</summary>
    private void WritePendingChecksummedBlocks()
    {
        foreach (var (block, bytes, ino, isXattr) in _pendingChecksums.OrderBy(p => p.Block))
        {
            if (isXattr)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), XattrBlockHeader.ComputeChecksum(_checksumSeed, (ulong)block, bytes));
            }
            else
            {
                var header = ExtentHeader.TryRead(bytes)!.Value;
                var tail = ExtentBlockChecksum.TailOffset(header);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(tail), ExtentBlockChecksum.Compute(_checksumSeed, ino, 0, bytes, header));
            }
            _target.Write(block * _bs, bytes);
        }
        _pendingChecksums.Clear();
    }

    /// <summary>An empty extent root (regular files without data, as mke2fs and the kernel make them).</summary>
    private void SetEmptyExtentRoot(Inode inode)
    {
        if (_g.HasExtents)
        {
            new ExtentHeader(0, 4, 0, 0).Write(inode.Block);
            inode.Flags |= InodeFlags.Extents;
        }
    }

    private DirectoryEntryType WriteNonDirectory(uint ino, FileEntry entry)
    {
        var path = Describe(entry);
        var (type, dirType) = entry.Type switch
        {
            FileEntryType.RegularFile => (InodeType.RegularFile, DirectoryEntryType.RegularFile),
            FileEntryType.SymbolicLink => (InodeType.SymbolicLink, DirectoryEntryType.SymbolicLink),
            FileEntryType.CharacterDevice => (InodeType.CharacterDevice, DirectoryEntryType.CharacterDevice),
            FileEntryType.BlockDevice => (InodeType.BlockDevice, DirectoryEntryType.BlockDevice),
            FileEntryType.Fifo => (InodeType.Fifo, DirectoryEntryType.Fifo),
            FileEntryType.Socket => (InodeType.Socket, DirectoryEntryType.Socket),
            _ => throw Bad(entry, $"has an unknown type {entry.Type}"),
        };
        var permissions = type == InodeType.SymbolicLink ? Convert.ToInt32("777", 8) : entry.Permissions;
        var inode = NewInode(type, permissions, entry.Uid, entry.Gid, entry.ModificationTime, entry.AccessTime, entry.ChangeTime);
        long blocksUsed = 0;

        switch (type)
        {
            case InodeType.RegularFile:
                _files++;
                if (entry.Content != null && entry.Content.Length > 0)
                {
                    blocksUsed += WriteContent(entry, entry.Content, inode, ino);
                    inode.Size = (ulong)entry.Content.Length;
                }
                else
                {
                    SetEmptyExtentRoot(inode);
                }
                break;

            case InodeType.SymbolicLink:
            {
                _symlinks++;
                var target = Encoding.UTF8.GetBytes(entry.LinkTarget ?? "");
                if (target.Length == 0)
                {
                    throw Bad(entry, "is a symbolic link with an empty target");
                }
                if (Array.IndexOf(target, (byte)0) >= 0)
                {
                    throw Bad(entry, "is a symbolic link whose target contains a NUL byte");
                }
                if (target.Length < Inode.BlockAreaSize)
                {
                    // Fast symlink: the target lives in i_block (NUL padded).
                    target.CopyTo(inode.Block, 0);
                }
                else if (target.Length < _bs)
                {
                    var map = NewMapper();
                    var (physical, _) = map.MapRun(0, 1);
                    var block = new byte[_bs];
                    target.CopyTo(block, 0);
                    _target.Write(physical * _bs, block);
                    FinishMap(map, inode, ino);
                    blocksUsed += map.DataBlocks + map.MappingBlocks;
                }
                else
                {
                    throw new ImageToolsException(ErrorKind.DoesNotFit,
                        $"{path}: its symbolic link target is {target.Length} bytes; with {_bs}-byte blocks at most {_bs - 1} can be stored");
                }
                inode.Size = (ulong)target.Length;
                break;
            }

            case InodeType.CharacterDevice:
            case InodeType.BlockDevice:
                _specials++;
                EncodeDevice(inode, entry.DeviceMajor, entry.DeviceMinor, path);
                break;

            default:
                _specials++;
                break;
        }

        blocksUsed += ApplyXattrs(inode, entry.ExtendedAttributes, path);
        SetBlocks(inode, blocksUsed, path);
        WriteInode(ino, inode);
        return dirType;
    }

    private ulong CheckBlocks(long blocks, string path)
    {
        var sectors = (ulong)blocks * (ulong)(_bs / 512);
        if (sectors > uint.MaxValue && !_g.Features.HasFlag(Ext4Features.HugeFile))
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{path}: uses {blocks} blocks, more than i_blocks can count without the huge_file feature (2 TiB)");
        }
        return sectors;
    }

    private void SetBlocks(Inode inode, long blocks, string path)
    {
        var sectors = CheckBlocks(blocks, path);
        if (_g.Features.HasFlag(Ext4Features.HugeFile))
        {
            inode.SetBlocksIn512ByteUnitsHuge(sectors);
        }
        else
        {
            inode.SetBlocksIn512ByteUnits(sectors);
        }
    }

    /// <summary>Old encoding when major and minor fit a byte each, else the new one (docs/ext-format.md §7.4).</summary>
    private static void EncodeDevice(Inode inode, uint major, uint minor, string path)
    {
        if (major > 0xFFF || minor > 0xFFFFF)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: device number {major}:{minor} does not fit Linux' 12-bit major and 20-bit minor");
        }
        if (major < 256 && minor < 256)
        {
            inode.SetBlockWord(0, (major << 8) | minor);
            inode.SetBlockWord(1, 0);
        }
        else
        {
            inode.SetBlockWord(0, 0);
            inode.SetBlockWord(1, (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12));
        }
    }

    // ---- File data ------------------------------------------------------------------------

    /// <summary>
    /// Reads the file's data ranges (holes are never read), skips all-zero blocks (they become holes,
    /// as with mke2fs -d), maps and writes the rest. Returns i_block and the blocks used.
    /// </summary>
    private long WriteContent(FileEntry entry, FileContent content, Inode inode, uint ino)
    {
        var length = content.Length;
        var maxBytes = (_g.HasExtents ? ExtentMapBuilder.MaxLogicalBlocks : BlockMapBuilder.MaxLogicalBlocks(_bs)) * _bs;
        if (length > maxBytes)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"{Describe(entry)}: is {length} bytes; {(_g.HasExtents ? "extent trees" : "ext2/ext3 block maps")} with {_bs}-byte blocks address at most {maxBytes} bytes (use a larger block size)");
        }
        _contentBytes += length;
        var map = NewMapper();
        IContentReader reader;
        try
        {
            reader = content.Open();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{Describe(entry)}: cannot open: {e.Message}", e) { Path = entry.Path };
        }
        using (reader)
        {
            long position = 0;
            while (position < length)
            {
                _cancel.ThrowIfCancellationRequested();
                DataRange? next;
                try
                {
                    next = reader.NextData(position);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{Describe(entry)}: cannot read: {e.Message}", e) { Path = entry.Path };
                }
                if (next is not { } range || range.Offset >= length)
                {
                    break;
                }
                var start = Math.Max(range.Offset, position) / _bs * _bs;
                var end = Math.Min(range.End, length);
                end = (end + _bs - 1) / _bs * _bs;
                for (var chunkStart = start; chunkStart < end;)
                {
                    var chunk = (int)Math.Min(_readBuffer.Length, end - chunkStart);
                    var wanted = (int)Math.Min(chunk, length - chunkStart);
                    var got = ReadFully(reader, chunkStart, _readBuffer.AsSpan(0, wanted), entry);
                    if (got < wanted)
                    {
                        throw new ImageToolsException(ErrorKind.SourceUnreadable,
                            $"{Describe(entry)}: ended after {chunkStart + got} of {length} bytes (was it changed while being read?)") { Path = entry.Path };
                    }
                    _readBuffer.AsSpan(wanted, chunk - wanted).Clear();
                    _inputHash.Append(_readBuffer.AsSpan(0, wanted));
                    WriteNonZeroBlocks(map, chunkStart / _bs, _readBuffer.AsSpan(0, chunk), entry);
                    chunkStart += chunk;
                }
                position = end;
            }
        }
        FinishMap(map, inode, ino);
        _dataBlocks += map.DataBlocks;
        return map.DataBlocks + map.MappingBlocks;
    }

    private int ReadFully(IContentReader reader, long position, Span<byte> buffer, FileEntry entry)
    {
        var total = 0;
        try
        {
            while (total < buffer.Length)
            {
                var n = reader.Read(position + total, buffer[total..]);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{Describe(entry)}: cannot read: {e.Message}", e) { Path = entry.Path };
        }
        return total;
    }

    private void WriteNonZeroBlocks(IBlockMapper map, long firstLogical, ReadOnlySpan<byte> data, FileEntry entry)
    {
        var blocks = data.Length / _bs;
        var i = 0;
        while (i < blocks)
        {
            while (i < blocks && IsZero(data.Slice(i * _bs, _bs)))
            {
                i++;
            }
            var j = i;
            while (j < blocks && !IsZero(data.Slice(j * _bs, _bs)))
            {
                j++;
            }
            var logical = firstLogical + i;
            while (i < j)
            {
                var want = (int)Math.Min(j - i, Math.Min(map.SegmentEnd(logical) - logical, int.MaxValue));
                var (physical, got) = map.MapRun(logical, want);
                _target.Write(physical * _bs, data.Slice(i * _bs, got * _bs));
                i += got;
                logical += got;
            }
        }
        _ = entry;
    }

    private static bool IsZero(ReadOnlySpan<byte> block) => block.IndexOfAnyExcept((byte)0) < 0;

    // ---- Directories ----------------------------------------------------------------------

    private void WriteDirectories(byte[] seed)
    {
        var block = new byte[_bs];
        foreach (var dir in _directories)
        {
            _cancel.ThrowIfCancellationRequested();
            var path = dir.PathForMessages();
            var links = 2 + dir.Subdirectories;
            if (links > LinkMax && _g.Features.HasFlag(Ext4Features.DirNlink))
            {
                links = 1; // dir_nlink: "many", as the kernel counts a directory past EXT4_LINK_MAX
            }
            if (links > LinkMax)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"{path}: has {dir.Subdirectories} subdirectories; ext2/ext3 allows at most {LinkMax - 2} (the link count limit)");
            }
            var children = new List<DirectoryChild>(dir.Children.Count);
            foreach (var (name, child) in dir.Children)
            {
                children.Add(new DirectoryChild(Encoding.UTF8.GetBytes(name), child.Inode, child.Type));
            }
            var layout = new DirectoryLayout(dir.Inode, dir.Parent?.Inode ?? RootInode, children, _bs,
                minimumBlocks: dir.IsLostFound ? LostFoundBlocks : 1, allowIndex: !dir.IsLostFound,
                DirectoryHashVersion.HalfMd4, DirectoryHash.SignedHashFlag, seed, path,
                _g.HasMetadataChecksums ? _checksumSeed : null);
            if (layout.IsIndexed)
            {
                _indexed++;
            }

            var map = NewMapper();
            var logical = 0;
            while (logical < layout.BlockCount)
            {
                var want = (int)Math.Min(layout.BlockCount - logical, map.SegmentEnd(logical) - logical);
                var (physical, got) = map.MapRun(logical, want);
                for (var k = 0; k < got; k++)
                {
                    layout.WriteBlock(logical + k, block);
                    _target.Write((physical + k) * _bs, block);
                }
                logical += got;
            }

            var src = dir.Source;
            var defaultTime = _buildTime;
            var inode = NewInode(InodeType.Directory,
                src?.Permissions ?? dir.Permissions ?? Convert.ToInt32("755", 8),
                src?.Uid ?? 0, src?.Gid ?? 0u,
                src?.ModificationTime ?? defaultTime, src?.AccessTime ?? (src == null ? defaultTime : null), src?.ChangeTime ?? (src == null ? defaultTime : null));
            inode.LinksCount = (ushort)links;
            inode.Size = (ulong)layout.BlockCount * (ulong)_bs;
            if (layout.IsIndexed)
            {
                inode.Flags |= InodeFlags.Index;
            }
            FinishMap(map, inode, dir.Inode);
            var used = map.DataBlocks + map.MappingBlocks;
            used += ApplyXattrs(inode, src?.ExtendedAttributes ?? Array.Empty<ExtendedAttribute>(), path);
            SetBlocks(inode, used, path);
            WriteInode(dir.Inode, inode);
            dir.Children.Clear();
            dir.Children.TrimExcess();
        }
    }

    /// <summary>lost+found as mke2fs makes it: at least 16 KiB and 2 blocks, at most 12 (direct) blocks.</summary>
    private int LostFoundBlocks => Math.Min(12, Math.Max(2, 16384 / _bs));

    private void PatchHardLinkCounts()
    {
        if (_target.Discarding)
        {
            return;
        }
        foreach (var (ino, extra) in _extraLinks)
        {
            if (ino > _g.InodesCount)
            {
                continue;
            }
            // i_links_count (0x1A) patched in the held inode table.
            var slot = _inodeTable.Slot(ino).Slice(0x1A, 2);
            var links = BinaryPrimitives.ReadUInt16LittleEndian(slot) + extra;
            if (links > LinkMax)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit, $"inode {ino} would have {links} hard links; ext2/ext3/ext4 allow at most {LinkMax}");
            }
            BinaryPrimitives.WriteUInt16LittleEndian(slot, (ushort)links);
        }
    }

    // ---- Reserved inodes, journal ---------------------------------------------------------

    private void WriteReservedInodes()
    {
        // Inode 1 (bad blocks list): empty, with the mkfs time as mke2fs leaves it.
        var bad = new Inode { InodeSize = _g.InodeSize };
        bad.AccessTime = _buildTime;
        bad.ModificationTime = _buildTime;
        bad.ChangeTime = _buildTime;
        WriteInode(BadBlocksInode, bad);

        WriteResizeInode();
        if (_g.HasJournal)
        {
            var journal = NewInode(InodeType.RegularFile, Convert.ToInt32("600", 8), 0, 0u, _buildTime, null, null);
            journal.Size = (ulong)_g.JournalBlocks * (ulong)_bs;
            for (var i = 0; i < 15; i++)
            {
                journal.SetBlockWord(i, _journalBlockMap[i]);
            }
            if (_g.HasExtents)
            {
                journal.Flags |= InodeFlags.Extents;
            }
            SetBlocks(journal, _journalAllocated, "the journal");
            WriteInode(JournalInode, journal);
        }
    }

    /// <summary>
    /// The resize inode (docs/ext-format.md §5.3; lib/ext2fs/res_gdt.c): a DIND block whose entry
    /// (desc_blocks + k) mod apb points at the k-th primary reserved GDT block, which in turn lists
    /// the same reserved block in each backup group.
    /// </summary>
    private void WriteResizeInode()
    {
        var apb = _g.AddressesPerBlock;
        var dind = new byte[_bs];
        var ind = new byte[_bs];
        var backups = _g.BackupGroups().ToList();
        var sbBlock = _g.FirstDataBlock;
        for (var k = 0; k < _g.ReservedGdtBlocks; k++)
        {
            var primary = sbBlock + 1 + _g.DescriptorBlocks + k;
            BinaryPrimitives.WriteUInt32LittleEndian(dind.AsSpan((_g.DescriptorBlocks + k) % apb * 4), (uint)primary);
            Array.Clear(ind);
            for (var b = 0; b < backups.Count && b < apb; b++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(ind.AsSpan(b * 4), (uint)(primary + backups[b] * _g.BlocksPerGroup));
            }
            _target.Write(primary * _bs, ind);
        }
        _target.Write(_resizeDind * _bs, dind);

        var inode = NewInode(InodeType.RegularFile, Convert.ToInt32("600", 8), 0, 0u, _buildTime, null, null);
        inode.SetBlockWord(13, (uint)_resizeDind);
        long a = apb;
        inode.Size = (ulong)((12 + a + a * a) * _bs);
        var blocks = 1L + _g.ReservedGdtBlocks + (long)_g.ReservedGdtBlocks * Math.Min(backups.Count, apb);
        inode.SetBlocksIn512ByteUnits(CheckBlocks(blocks, "the resize inode"));
        WriteInode(ResizeInode, inode);
    }

    private void WriteJournalSuperblock(byte[] uuid)
    {
        var jsb = new JournalSuperblock
        {
            BlockSize = (uint)_bs,
            MaxLength = (uint)_g.JournalBlocks,
            First = 1,
            Sequence = 1,
            Start = 0,
            Uuid = (byte[])uuid.Clone(),
            UserCount = 1,
        };
        if (_g.HasMetadataChecksums)
        {
            // What the kernel sets on a metadata_csum filesystem at the first mount (ext4 set_journal_csum_feature_set).
            jsb.FeatureIncompat |= JournalSuperblock.IncompatChecksumV3;
            jsb.ChecksumType = JournalSuperblock.ChecksumTypeCrc32c;
            jsb.Checksum = jsb.ComputeChecksum();
        }
        var block = new byte[_bs];
        jsb.Write(block);
        _target.Write(_journalFirstBlock * _bs, block);
    }

    // ---- Bitmaps, descriptors, superblocks -----------------------------------------------

    private (long FreeBlocks, long FreeInodes) WriteGroupMetadata(byte[] uuid, byte[] seed)
    {
        var descriptors = new GroupDescriptor[_g.GroupCount];
        var blockBitmaps = new byte[_g.GroupCount][];
        var inodeBitmaps = new byte[_g.GroupCount][];
        long freeBlocks = 0, freeInodes = 0;
        var csum = _g.HasMetadataChecksums;
        for (var g = 0; g < _g.GroupCount; g++)
        {
            var layout = _g.Groups[g];
            var bitmap = new byte[_bs];
            // Every block below the allocation cursor is in use; above it only the fixed metadata.
            var cursor = Math.Clamp(_blocks.Cursor, layout.Start, layout.End);
            SetBits(bitmap, 0, cursor - layout.Start);
            for (var i = _g.FirstExtentEndingAfter(cursor); i < _g.MetadataExtents.Count && _g.MetadataExtents[i].Start < layout.End; i++)
            {
                var (ms, mc) = _g.MetadataExtents[i];
                SetBits(bitmap, Math.Max(ms, cursor) - layout.Start, Math.Min(ms + mc, layout.End) - layout.Start);
            }
            var usedBlocks = _blocks.UsedBlocks(layout.Start, layout.End);
            SetBits(bitmap, layout.BlockCount, 8L * _bs); // padding past the last group's end
            blockBitmaps[g] = bitmap;

            var usedInodes = _inodes.UsedInodes(g);
            var ibitmap = new byte[_bs];
            SetBits(ibitmap, 0, usedInodes);
            SetBits(ibitmap, _g.InodesPerGroup, 8L * _bs);
            inodeBitmaps[g] = ibitmap;

            var groupFreeBlocks = layout.BlockCount - usedBlocks;
            var groupFreeInodes = _g.InodesPerGroup - usedInodes;
            freeBlocks += groupFreeBlocks;
            freeInodes += groupFreeInodes;
            descriptors[g] = new GroupDescriptor
            {
                BlockBitmap = (ulong)layout.BlockBitmap,
                InodeBitmap = (ulong)layout.InodeBitmap,
                InodeTable = (ulong)layout.InodeTable,
                FreeBlocksCount = (uint)groupFreeBlocks,
                FreeInodesCount = (uint)groupFreeInodes,
                UsedDirsCount = (uint)_inodes.DirectoriesInGroup(g),
            };
            if (csum)
            {
                // The inode tables read as zeros (a fresh file, or zeroed in PrepareTarget); the slots
                // past the last used inode need not be scanned (bg_itable_unused).
                // The flags libext2fs sets when it closes a filesystem (csum.c ext2fs_set_gdt_csum), so that
                // e2fsck -fy leaves them: INODE_UNINIT for a group without inodes in use, BLOCK_UNINIT for
                // one (not the last) without a block in use (with flex_bg its tables live elsewhere).
                descriptors[g].Flags = GroupDescriptorFlags.InodeTableZeroed
                    | (usedInodes == 0 ? GroupDescriptorFlags.InodeUninit : 0)
                    | (groupFreeBlocks == _g.BlocksPerGroup && g != _g.GroupCount - 1 ? GroupDescriptorFlags.BlockUninit : 0);
                descriptors[g].ItableUnused = (uint)groupFreeInodes;
                descriptors[g].BlockBitmapChecksum = Crc32c.Compute(_checksumSeed, bitmap.AsSpan(0, (int)(_g.BlocksPerGroup / 8)));
                descriptors[g].InodeBitmapChecksum = Crc32c.Compute(_checksumSeed, ibitmap.AsSpan(0, (int)(_g.InodesPerGroup / 8)));
            }
        }

        var sb = BuildSuperblock(uuid, seed, freeBlocks, freeInodes);
        var descSize = _g.DescriptorSize;
        var gdt = new byte[(long)_g.DescriptorBlocks * _bs];
        for (var g = 0; g < _g.GroupCount; g++)
        {
            if (csum)
            {
                descriptors[g].Checksum = descriptors[g].ComputeChecksum(sb, (uint)g);
            }
            descriptors[g].Write(gdt.AsSpan(g * descSize), descSize);
        }

        // Bitmaps in block order (with flex_bg they sit together in the flex group's first group).
        foreach (var (block, bytes) in Enumerable.Range(0, _g.GroupCount)
                     .SelectMany(g => new[] { (_g.Groups[g].BlockBitmap, blockBitmaps[g]), (_g.Groups[g].InodeBitmap, inodeBitmaps[g]) })
                     .OrderBy(p => p.Item1))
        {
            _target.Write(block * _bs, bytes);
        }

        var sbBytes = new byte[Superblock.Size];
        foreach (var layout in _g.Groups.Where(l => l.HasSuperblock))
        {
            var group = _g.GroupOfBlock(layout.Start);
            sb.BlockGroupNumber = (ushort)group;
            // libext2fs writes backups with the VALID bit cleared (closefs.c); the primary says clean.
            sb.State = group == 0 ? Superblock.StateValid : (ushort)0;
            sb.UpdateChecksum();
            sb.Write(sbBytes);
            var sbOffset = group == 0 ? Superblock.PrimaryOffset : layout.Start * _bs;
            _target.Write(sbOffset, sbBytes);
            _target.Write((layout.Start + 1) * _bs, gdt);
        }
        return (freeBlocks, freeInodes);
    }

    private static void SetBits(byte[] bitmap, long from, long to)
    {
        to = Math.Min(to, bitmap.Length * 8L);
        var i = from;
        while (i < to && (i & 7) != 0)
        {
            bitmap[i >> 3] |= (byte)(1 << (int)(i & 7));
            i++;
        }
        if (to - i >= 8)
        {
            var bytes = (int)((to - i) / 8);
            bitmap.AsSpan((int)(i >> 3), bytes).Fill(0xFF);
            i += bytes * 8L;
        }
        while (i < to)
        {
            bitmap[i >> 3] |= (byte)(1 << (int)(i & 7));
            i++;
        }
    }

    private Superblock BuildSuperblock(byte[] uuid, byte[] seed, long freeBlocks, long freeInodes)
    {
        var compat = CompatFeatures.ExtAttr | CompatFeatures.DirIndex | CompatFeatures.ResizeInode;
        if (_g.HasJournal)
        {
            compat |= CompatFeatures.HasJournal;
        }
        var incompat = IncompatFeatures.FileType;
        var roCompat = RoCompatFeatures.SparseSuper | RoCompatFeatures.LargeFile;
        if (_g.HasExtents)
        {
            var f = _g.Features;
            incompat |= IncompatFeatures.Extents;
            incompat |= f.HasFlag(Ext4Features.SixtyFourBit) ? IncompatFeatures.SixtyFourBit : 0;
            incompat |= f.HasFlag(Ext4Features.FlexBg) ? IncompatFeatures.FlexBg : 0;
            roCompat |= f.HasFlag(Ext4Features.HugeFile) ? RoCompatFeatures.HugeFile : 0;
            roCompat |= f.HasFlag(Ext4Features.DirNlink) ? RoCompatFeatures.DirNlink : 0;
            roCompat |= f.HasFlag(Ext4Features.ExtraIsize) && _g.InodeSize > Inode.BaseSize ? RoCompatFeatures.ExtraIsize : 0;
            roCompat |= f.HasFlag(Ext4Features.MetadataCsum) ? RoCompatFeatures.MetadataCsum : 0;
        }
        var sb = new Superblock
        {
            InodesCount = (uint)_g.InodesCount,
            BlocksCount = (ulong)_g.BlocksCount,
            ReservedBlocksCount = (ulong)_g.ReservedBlocks,
            FreeBlocksCount = (ulong)freeBlocks,
            FreeInodesCount = (uint)freeInodes,
            FirstDataBlock = (uint)_g.FirstDataBlock,
            LogBlockSize = (uint)System.Numerics.BitOperations.Log2((uint)_bs / 1024),
            BlocksPerGroup = (uint)_g.BlocksPerGroup,
            ClustersPerGroup = (uint)_g.BlocksPerGroup,
            InodesPerGroup = (uint)_g.InodesPerGroup,
            MaxMountCount = -1,
            MagicValue = Superblock.Magic,
            State = Superblock.StateValid,
            Errors = 1, // continue
            RevisionLevel = 1,
            FirstInode = ExtGeometry.FirstInode,
            InodeSize = (ushort)_g.InodeSize,
            FeatureCompat = compat,
            FeatureIncompat = incompat,
            FeatureRoCompat = roCompat,
            Uuid = uuid,
            HashSeed = seed,
            ReservedGdtBlocks = (ushort)_g.ReservedGdtBlocks,
            DefaultHashVersion = (byte)DirectoryHashVersion.HalfMd4,
            DefaultMountOptions = 0x0C, // user_xattr | acl, as mke2fs.conf's default_mntopts
            Flags = DirectoryHash.SignedHashFlag,
            OverheadClusters = (uint)_g.OverheadBlocks,
        };
        sb.LogClusterSize = sb.LogBlockSize;
        if (_g.Is64Bit)
        {
            sb.DescriptorSizeField = (ushort)_g.DescriptorSize;
        }
        if (_g.FlexGroupSize > 0)
        {
            sb.LogGroupsPerFlex = (byte)System.Numerics.BitOperations.Log2((uint)_g.FlexGroupSize);
        }
        if (_g.HasMetadataChecksums)
        {
            sb.ChecksumType = Superblock.ChecksumTypeCrc32c;
        }
        sb.WriteTime = _buildTime.Seconds;
        sb.LastCheck = _buildTime.Seconds;
        sb.MkfsTime = _buildTime.Seconds;
        if (_o.Label != null)
        {
            sb.VolumeName = _o.Label;
        }
        if (_g.InodeSize > Inode.BaseSize)
        {
            sb.MinExtraInodeSize = Inode.DefaultExtraIsize;
            sb.WantExtraInodeSize = Inode.DefaultExtraIsize;
        }
        if (_g.HasJournal)
        {
            sb.JournalInode = JournalInode;
            sb.JournalBackupType = 1; // EXT3_JNL_BACKUP_BLOCKS: s_jnl_blocks holds i_block and the size
            for (var i = 0; i < 15; i++)
            {
                sb.JournalBlocks[i] = _journalBlockMap[i];
            }
            var size = (ulong)_g.JournalBlocks * (ulong)_bs;
            sb.JournalBlocks[15] = (uint)(size >> 32);
            sb.JournalBlocks[16] = (uint)size;
        }
        return sb;
    }

    // ---- Tree -----------------------------------------------------------------------------

    private sealed class Child(DirectoryEntryType type, uint inode, DirNode? dir)
    {
        public DirectoryEntryType Type { get; } = type;

        public uint Inode { get; } = inode;

        public DirNode? Dir { get; } = dir;
    }

    private sealed class DirNode(uint inode, DirNode? parent, string name)
    {
        public uint Inode { get; } = inode;

        public DirNode? Parent { get; } = parent;

        public string Name { get; } = name;

        public Dictionary<string, Child> Children { get; } = new(StringComparer.Ordinal);

        public int Subdirectories { get; set; }

        /// <summary>The entry that described this directory; null for one that was only implied by a path.</summary>
        public FileEntry? Source { get; set; }

        /// <summary>Permissions when no entry describes the directory.</summary>
        public int? Permissions { get; init; }

        public bool IsLostFound { get; init; }

        public string PathForMessages()
        {
            if (Parent == null)
            {
                return "/ (root)";
            }
            var parts = new List<string>();
            for (var n = this; n.Parent != null; n = n.Parent)
            {
                parts.Add(n.Name);
            }
            parts.Reverse();
            return string.Join('/', parts);
        }
    }
}
