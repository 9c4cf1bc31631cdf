using System.Buffers.Binary;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Writer;

/// <summary>One name in a directory being laid out.</summary>
internal readonly record struct DirectoryChild(byte[] Name, uint Inode, DirectoryEntryType Type);

/// <summary>
/// The blocks of one directory (docs/ext-format.md §7). Small directories are linear: '.', '..'
/// and the names in byte order, packed, the last entry of each block running to its end.
/// Directories that need three blocks or more get an htree index (dir_index), because e2fsck -fy
/// re-indexes any unindexed directory of that size and the image would not be a fixpoint.
/// The index is what the kernel and e2fsck expect (e2fsck/rehash.c, pass2.c parse_int_node): block 0
/// holds '.', '..' (rec_len bs − 12), dx_root_info and the root entries; leaves hold the names
/// sorted by (hash, minor hash, name) and filled to 80 % (e2fsck's default slack, room for later
/// inserts); an index entry whose hash equals the previous leaf's last hash gets the collision
/// bit; with more leaves than the root can point to, one level of interior nodes follows the
/// leaves. Blocks are produced one at a time, so a huge directory is never held as blocks.
/// </summary>
internal sealed class DirectoryLayout
{
    private const int DotLength = 12;
    private const int SlackPercent = 20;

    private readonly int _blockSize;
    private readonly uint _self;
    private readonly uint _parent;
    private readonly DirectoryChild[] _children;
    private readonly int[] _blockStarts; // index of the first child in each data block (linear) or leaf
    private readonly uint[] _leafHashes = Array.Empty<uint>();
    private readonly int _minimumBlocks;
    private readonly int _leafCount;
    private readonly int _interiorCount;
    private readonly DirectoryHashVersion _storedHashVersion;
    private readonly uint? _checksumSeed;
    private readonly int _area; // bytes of a leaf block that hold entries (the block less the checksum tail)
    private readonly int _dxTail; // bytes an index node keeps for its dx_tail

    /// <param name="children">The entries, without '.' and '..'.</param>
    /// <param name="minimumBlocks">Pad a linear directory to this many blocks (lost+found).</param>
    /// <param name="allowIndex">False keeps the directory linear whatever its size (lost+found, which e2fsck never re-indexes).</param>
    /// <param name="checksumSeed">With metadata_csum: the filesystem's checksum seed. Every leaf block then ends in a
    /// 12-byte tail with its crc32c and every index node in a dx_tail (ext4_dirblock_csum, ext4_dx_csum).</param>
    public DirectoryLayout(uint self, uint parent, List<DirectoryChild> children, int blockSize, int minimumBlocks, bool allowIndex,
        DirectoryHashVersion storedHashVersion, uint superblockFlags, byte[] hashSeed, string path, uint? checksumSeed = null)
    {
        _blockSize = blockSize;
        _checksumSeed = checksumSeed;
        _area = checksumSeed != null ? blockSize - DirectoryBlockTail.Size : blockSize;
        _dxTail = checksumSeed != null ? DxNodeChecksum.TailSize : 0;
        _self = self;
        _parent = parent;
        _minimumBlocks = Math.Max(1, minimumBlocks);
        _storedHashVersion = storedHashVersion;

        children.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        _children = children.ToArray();

        var linearStarts = PackLinear(_children, _area, firstBlockUsed: 2 * DotLength, fill: _area);
        if (!allowIndex || linearStarts.Count < 3)
        {
            IsIndexed = false;
            _blockStarts = linearStarts.ToArray();
            BlockCount = Math.Max(_blockStarts.Length, _minimumBlocks);
            return;
        }

        // htree: sort by hash, fill leaves.
        IsIndexed = true;
        var effective = DirectoryHash.Effective(storedHashVersion, superblockFlags);
        var keyed = new (uint Major, uint Minor, DirectoryChild Child)[_children.Length];
        for (var i = 0; i < _children.Length; i++)
        {
            var (major, minor) = DirectoryHash.Compute(effective, _children[i].Name, hashSeed);
            keyed[i] = (major, minor, _children[i]);
        }
        Array.Sort(keyed, (a, b) =>
        {
            var c = a.Major.CompareTo(b.Major);
            if (c == 0)
            {
                c = a.Minor.CompareTo(b.Minor);
            }
            return c != 0 ? c : a.Child.Name.AsSpan().SequenceCompareTo(b.Child.Name);
        });
        for (var i = 0; i < keyed.Length; i++)
        {
            _children[i] = keyed[i].Child;
        }

        var fill = _area - blockSize * SlackPercent / 100;
        var leafStarts = PackLinear(_children, _area, firstBlockUsed: 0, fill: fill);
        _leafCount = leafStarts.Count;
        _blockStarts = leafStarts.ToArray();
        _leafHashes = new uint[_leafCount];
        for (var l = 0; l < _leafCount; l++)
        {
            var first = _blockStarts[l];
            var hash = keyed[first].Major;
            // A leaf that starts inside a run of equal hashes is marked as the collision's continuation.
            if (first > 0 && keyed[first - 1].Major == hash)
            {
                hash |= 1;
            }
            _leafHashes[l] = hash;
        }

        if (_leafCount <= RootLimit)
        {
            IndirectLevels = 0;
            _interiorCount = 0;
        }
        else
        {
            IndirectLevels = 1;
            _interiorCount = (_leafCount + InteriorLimit - 1) / InteriorLimit;
            if (_interiorCount > RootLimit)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"{path}: a directory of {_children.Length} entries needs {_leafCount} index leaves; an htree of two levels without large_dir holds at most {RootLimit * InteriorLimit} (split the directory or use a larger block size)");
            }
        }
        BlockCount = 1 + _leafCount + _interiorCount;
    }

    public int BlockCount { get; }

    public bool IsIndexed { get; }

    public byte IndirectLevels { get; }

    private int RootLimit => (_blockSize - (DxRootInfo.Offset + DxRootInfo.Size) - _dxTail) / DxEntry.Size;

    private int InteriorLimit => (_blockSize - 8 - _dxTail) / DxEntry.Size;

    /// <summary>
    /// Greedy packing: returns the index of the first child of every block. The first block starts
    /// with <paramref name="firstBlockUsed"/> bytes taken; a block is closed when the next entry would
    /// pass <paramref name="fill"/> bytes (the last entry's rec_len then runs to the block end).
    /// </summary>
    private static List<int> PackLinear(DirectoryChild[] children, int blockSize, int firstBlockUsed, int fill)
    {
        var starts = new List<int> { 0 };
        var used = firstBlockUsed;
        var inBlock = 0;
        for (var i = 0; i < children.Length; i++)
        {
            var len = DirectoryEntry.MinimumLength(children[i].Name.Length);
            if (used + len > blockSize || (inBlock > 0 && used + len > fill))
            {
                starts.Add(i);
                used = 0;
                inBlock = 0;
            }
            used += len;
            inBlock++;
        }
        return starts;
    }

    /// <summary>Writes logical block <paramref name="logical"/> of the directory into <paramref name="block"/> (bs bytes), checksums included.</summary>
    public void WriteBlock(int logical, Span<byte> block)
    {
        WriteContent(logical, block);
        if (_checksumSeed is not uint seed)
        {
            return;
        }
        var isIndexNode = IsIndexed && (logical == 0 || logical > _leafCount);
        if (isIndexNode)
        {
            var countOffset = logical == 0 ? DxRootInfo.Offset + DxRootInfo.Size : 8;
            var limit = logical == 0 ? RootLimit : InteriorLimit;
            var tail = block.Slice(countOffset + limit * DxEntry.Size, DxNodeChecksum.TailSize);
            tail.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(tail[4..], DxNodeChecksum.Compute(seed, _self, 0, block, countOffset));
        }
        else
        {
            new DirectoryBlockTail(0).Write(block);
            new DirectoryBlockTail(DirectoryBlockTail.Compute(seed, _self, 0, block)).Write(block);
        }
    }

    private void WriteContent(int logical, Span<byte> block)
    {
        block.Clear();
        if (!IsIndexed)
        {
            if (logical >= _blockStarts.Length)
            {
                // Padding block (lost+found): one empty entry spanning the block.
                new DirectoryEntry(0, _area, DirectoryEntryType.Unknown, Array.Empty<byte>()).Write(block, _blockSize);
                return;
            }
            var offset = 0;
            if (logical == 0)
            {
                offset = WriteDots(block, dotDotLength: _children.Length == 0 ? _area - DotLength : DotLength);
            }
            WriteEntries(block, offset, LinearRange(logical));
            return;
        }

        if (logical == 0)
        {
            WriteRoot(block);
        }
        else if (logical <= _leafCount)
        {
            WriteEntries(block, 0, LeafRange(logical - 1));
        }
        else
        {
            WriteInterior(block, logical - 1 - _leafCount);
        }
    }

    private (int Start, int End) LinearRange(int logical) =>
        (_blockStarts[logical], logical + 1 < _blockStarts.Length ? _blockStarts[logical + 1] : _children.Length);

    private (int Start, int End) LeafRange(int leaf) =>
        (_blockStarts[leaf], leaf + 1 < _leafCount ? _blockStarts[leaf + 1] : _children.Length);

    private int WriteDots(Span<byte> block, int dotDotLength)
    {
        new DirectoryEntry(_self, DotLength, DirectoryEntryType.Directory, "."u8.ToArray()).Write(block, _blockSize);
        new DirectoryEntry(_parent, dotDotLength, DirectoryEntryType.Directory, ".."u8.ToArray()).Write(block[DotLength..], _blockSize);
        return 2 * DotLength;
    }

    private void WriteEntries(Span<byte> block, int offset, (int Start, int End) range)
    {
        if (range.Start == range.End)
        {
            if (offset == 0)
            {
                new DirectoryEntry(0, _area, DirectoryEntryType.Unknown, Array.Empty<byte>()).Write(block, _blockSize);
            }
            return;
        }
        for (var i = range.Start; i < range.End; i++)
        {
            var c = _children[i];
            var len = i == range.End - 1 ? _area - offset : DirectoryEntry.MinimumLength(c.Name.Length);
            new DirectoryEntry(c.Inode, len, c.Type, c.Name).Write(block[offset..], _blockSize);
            offset += len;
        }
    }

    private void WriteRoot(Span<byte> block)
    {
        WriteDots(block, dotDotLength: _blockSize - DotLength);
        new DxRootInfo(_storedHashVersion, IndirectLevels).Write(block);
        var entries = block[(DxRootInfo.Offset + DxRootInfo.Size)..];
        if (IndirectLevels == 0)
        {
            WriteIndex(entries, RootLimit, Enumerable.Range(0, _leafCount).Select(l => new DxEntry(_leafHashes[l], (uint)(1 + l))));
        }
        else
        {
            WriteIndex(entries, RootLimit, Enumerable.Range(0, _interiorCount)
                .Select(n => new DxEntry(_leafHashes[n * InteriorLimit], (uint)(1 + _leafCount + n))));
        }
    }

    private void WriteInterior(Span<byte> block, int node)
    {
        // A fake empty entry spanning the block hides the node from linear readers.
        BinaryPrimitives.WriteUInt32LittleEndian(block, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(block[4..], DirectoryEntry.EncodeRecordLength(_blockSize, _blockSize));
        var first = node * InteriorLimit;
        var count = Math.Min(InteriorLimit, _leafCount - first);
        WriteIndex(block[8..], InteriorLimit, Enumerable.Range(first, count).Select(l => new DxEntry(_leafHashes[l], (uint)(1 + l))));
    }

    /// <summary>count/limit header in the first entry's hash slot, then the entries; entry 0's hash is implicit.</summary>
    private static void WriteIndex(Span<byte> area, int limit, IEnumerable<DxEntry> entries)
    {
        var count = 0;
        foreach (var e in entries)
        {
            if (count == 0)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(area[4..], e.Block);
            }
            else
            {
                e.Write(area[(count * DxEntry.Size)..]);
            }
            count++;
        }
        new DxCountLimit((ushort)limit, (ushort)count).Write(area);
    }
}
