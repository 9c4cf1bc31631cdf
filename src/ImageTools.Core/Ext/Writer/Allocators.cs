namespace ImageTools.Core.Ext.Writer;

/// <summary>
/// Hands out data blocks strictly in order, group after group, skipping each group's metadata.
/// Nothing is ever freed, so the used blocks of every group are one run from its first data
/// block: the block bitmaps and free counts follow from the cursor alone, and no bitmap of the
/// whole filesystem is held in memory.
/// When the filesystem is full the allocator keeps counting into virtual groups past the end
/// (<see cref="Overflowed"/>), so that the writer can finish the pass and report how much space the
/// content really needs.
/// </summary>
internal sealed class BlockAllocator
{
    private readonly ExtGeometry _geometry;
    private int _group;
    private long _next;

    public BlockAllocator(ExtGeometry geometry)
    {
        _geometry = geometry;
        _group = 0;
        _next = geometry.Groups[0].DataStart;
    }

    /// <summary>Data blocks handed out so far (including virtual ones past the end).</summary>
    public long AllocatedBlocks { get; private set; }

    /// <summary>Whether the filesystem ran out of blocks.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Raised once, the first time the filesystem runs out of blocks.</summary>
    public event Action? OnOverflow;

    /// <summary>Group the cursor is in (may be past the last group after an overflow).</summary>
    public int CursorGroup => _group;

    /// <summary>Next block the cursor will hand out.</summary>
    public long Cursor => _next;

    /// <summary>Allocates up to <paramref name="max"/> contiguous blocks at the cursor; returns the first and the count (≥ 1).</summary>
    public (long Start, int Count) Allocate(int max)
    {
        if (max <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(max));
        }
        while (true)
        {
            var (dataStart, end) = Region(_group);
            if (_next < dataStart)
            {
                _next = dataStart;
            }
            if (_next < end)
            {
                var count = (int)Math.Min(max, end - _next);
                var start = _next;
                _next += count;
                AllocatedBlocks += count;
                return (start, count);
            }
            _group++;
            if (_group == _geometry.GroupCount && !Overflowed)
            {
                Overflowed = true;
                OnOverflow?.Invoke();
            }
            _next = Region(_group).DataStart;
        }
    }

    public long AllocateOne() => Allocate(1).Start;

    /// <summary>Data blocks in use in group <paramref name="group"/> (a run from its DataStart).</summary>
    public long UsedDataBlocks(int group)
    {
        var layout = _geometry.Groups[group];
        if (group < _group)
        {
            return layout.End - layout.DataStart;
        }
        if (group > _group)
        {
            return 0;
        }
        return Math.Max(0, _next - layout.DataStart);
    }

    private (long DataStart, long End) Region(int group)
    {
        if (group < _geometry.GroupCount)
        {
            var g = _geometry.Groups[group];
            return (g.DataStart, g.End);
        }
        // A virtual group after the end, shaped like a full group without a superblock copy.
        var start = _geometry.FirstDataBlock + (long)group * _geometry.BlocksPerGroup;
        return (start + 2 + _geometry.InodeTableBlocks, start + _geometry.BlocksPerGroup);
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
