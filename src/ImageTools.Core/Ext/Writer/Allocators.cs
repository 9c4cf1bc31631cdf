namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Hands out data blocks strictly in order, skipping the fixed metadata (each group's prefix without
/// flex_bg; the packed tables of each flex group with it). Nothing is ever freed, so every block below
/// the cursor is in use: the block bitmaps and free counts follow from the cursor and the metadata
/// runs alone, and no bitmap of the whole filesystem is held in memory.
/// When the filesystem is full the allocator keeps counting past the end (<see cref="Overflowed"/>),
/// so that the writer can finish the pass and report how much space the content really needs.
/// </summary>
internal sealed class BlockAllocator
{
    private readonly ExtGeometry _geometry;
    private readonly IReadOnlyList<(long Start, long Count)> _metadata;
    private readonly long _end;
    private int _nextExtent;
    private long _next;

    public BlockAllocator(ExtGeometry geometry)
    {
        _geometry = geometry;
        _metadata = geometry.MetadataExtents;
        _end = geometry.BlocksCount;
        _next = geometry.FirstDataBlock;
    }

    /// <summary>Data blocks handed out so far (including virtual ones past the end).</summary>
    public long AllocatedBlocks { get; private set; }

    /// <summary>Whether the filesystem ran out of blocks.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Raised once, the first time the filesystem runs out of blocks.</summary>
    public event Action? OnOverflow;

    /// <summary>Next block the cursor will hand out.</summary>
    public long Cursor => _next;

    /// <summary>Allocates up to <paramref name="max"/> contiguous blocks at the cursor; returns the first and the count (≥ 1).</summary>
    public (long Start, int Count) Allocate(int max)
    {
        if (max <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(max));
        }
        // Skip the metadata run the cursor stands on (runs are merged, so one skip is enough).
        while (_nextExtent < _metadata.Count && _metadata[_nextExtent].Start + _metadata[_nextExtent].Count <= _next)
        {
            _nextExtent++;
        }
        if (_nextExtent < _metadata.Count && _metadata[_nextExtent].Start <= _next)
        {
            _next = _metadata[_nextExtent].Start + _metadata[_nextExtent].Count;
            _nextExtent++;
        }
        long limit;
        if (_next >= _end)
        {
            if (!Overflowed)
            {
                Overflowed = true;
                OnOverflow?.Invoke();
            }
            limit = long.MaxValue; // virtual blocks past the end: only counted
        }
        else
        {
            limit = _nextExtent < _metadata.Count ? Math.Min(_metadata[_nextExtent].Start, _end) : _end;
        }
        var count = (int)Math.Min(max, limit - _next);
        var start = _next;
        _next += count;
        AllocatedBlocks += count;
        return (start, count);
    }

    public long AllocateOne() => Allocate(1).Start;

    /// <summary>Blocks in use in [start, end) of one group: everything below the cursor, and the metadata above it.</summary>
    public long UsedBlocks(long start, long end)
    {
        var below = Math.Clamp(_next, start, end);
        return below - start + _geometry.MetadataBlocksBetween(below, end);
    }
}

/// <summary>
/// Hands out inode numbers in order from s_first_ino + 1 (11 is lost+found), so the inodes in use
/// in each group are a run from its first slot, like the data blocks. Counts directories per group
/// for bg_used_dirs_count. Past the last inode it keeps counting (<see cref="Overflowed"/>).
/// </summary>
internal sealed class InodeAllocator
{
    private readonly ExtGeometry _geometry;
    private readonly int[] _directoriesPerGroup;
    private uint _next;

    public InodeAllocator(ExtGeometry geometry)
    {
        _geometry = geometry;
        _directoriesPerGroup = new int[geometry.GroupCount];
        _next = ExtGeometry.FirstInode; // lost+found is allocated first, as mke2fs does
    }

    /// <summary>Highest inode number handed out (≥ 10: the reserved ones always count as used).</summary>
    public uint Last => _next - 1;

    public bool Overflowed { get; private set; }

    public event Action? OnOverflow;

    public uint Allocate(bool isDirectory)
    {
        if (_next == uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, "more than 2^32 - 1 inodes are needed");
        }
        var ino = _next++;
        if (ino > _geometry.InodesCount)
        {
            if (!Overflowed)
            {
                Overflowed = true;
                OnOverflow?.Invoke();
            }
            return ino;
        }
        if (isDirectory)
        {
            _directoriesPerGroup[(int)((ino - 1) / _geometry.InodesPerGroup)]++;
        }
        return ino;
    }

    /// <summary>Records a reserved directory inode (the root, 2).</summary>
    public void CountReservedDirectory(uint ino) => _directoriesPerGroup[(int)((ino - 1) / _geometry.InodesPerGroup)]++;

    public int DirectoriesInGroup(int group) => _directoriesPerGroup[group];

    /// <summary>Inodes in use in a group: a run from its first slot.</summary>
    public long UsedInodes(int group)
    {
        var first = group * _geometry.InodesPerGroup; // inode numbers first+1 .. first+ipg
        var used = Math.Min((long)Last, _geometry.InodesCount) - first;
        return Math.Clamp(used, 0, _geometry.InodesPerGroup);
    }
}
