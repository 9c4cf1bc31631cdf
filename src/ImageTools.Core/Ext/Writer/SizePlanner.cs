using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Ext.Writer;

/// <summary>What some content needs: inodes and, per block size, the blocks for data, mapping, symlinks, xattrs and directories.</summary>
internal sealed record ContentNeeds(long Inodes, IReadOnlyDictionary<int, long> BlocksByBlockSize, long Entries, long ContentBytes);

/// <summary>
/// The first pass when no size is given: walks the source without reading file data (only the data
/// ranges, so holes count for nothing) and adds up what the writer will allocate. It errs on the
/// large side: all-zero blocks inside data ranges are counted although the writer skips them.
/// </summary>
internal static class ContentEstimator
{
    public static ContentNeeds Measure(IFileTreeSource source, ExtFilesystemOptions options, IProgress<ExtBuildProgress>? progress, CancellationToken cancel)
    {
        int[] sizes = options.BlockSize is int b ? [b] : [1024, 4096];
        var blocks = sizes.ToDictionary(s => s, _ => 0L);
        var directoryBytes = new Dictionary<string, long>(StringComparer.Ordinal) { [""] = 0 };
        long inodes = ExtGeometry.FirstInode; // 1..10 reserved, 11 lost+found
        long entries = 0, contentBytes = 0;
        var inlineArea = options.InodeSize > Inode.BaseSize ? options.InodeSize - Inode.BaseSize - Inode.DefaultExtraIsize - 8 : 0;

        void AddName(string parent, string name) =>
            directoryBytes[parent] = directoryBytes.GetValueOrDefault(parent) + DirectoryEntry.MinimumLength(Encoding.UTF8.GetByteCount(name));

        string EnsureDirectory(List<string> parts, int count)
        {
            var path = "";
            for (var i = 0; i < count; i++)
            {
                var child = path.Length == 0 ? parts[i] : path + "/" + parts[i];
                if (!directoryBytes.ContainsKey(child))
                {
                    directoryBytes[child] = 0;
                    AddName(path, parts[i]);
                    inodes++;
                }
                path = child;
            }
            return path;
        }

        foreach (var entry in source.ReadEntries(cancel))
        {
            cancel.ThrowIfCancellationRequested();
            entries++;
            progress?.Report(new ExtBuildProgress("scanning", entries, contentBytes, entry.Path));
            var parts = entry.Path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
            if (parts.Count == 0)
            {
                continue;
            }
            if (entry.Type == FileEntryType.Directory)
            {
                EnsureDirectory(parts, parts.Count);
                continue;
            }
            var parent = EnsureDirectory(parts, parts.Count - 1);
            AddName(parent, parts[^1]);
            if (entry.Type == FileEntryType.HardLink)
            {
                continue;
            }
            inodes++;
            var xattrBytes = entry.ExtendedAttributes.Sum(x => XattrEntry.EntrySizeFor(Encoding.UTF8.GetByteCount(x.Name)) + XattrEntry.PaddedValueSize(x.Value.Length));
            foreach (var bs in sizes)
            {
                var extra = xattrBytes > inlineArea ? 1 : 0;
                if (entry.Type == FileEntryType.SymbolicLink && Encoding.UTF8.GetByteCount(entry.LinkTarget ?? "") >= Inode.BlockAreaSize)
                {
                    extra++;
                }
                blocks[bs] += extra;
            }
            if (entry.Type == FileEntryType.RegularFile && entry.Content is { Length: > 0 } content)
            {
                contentBytes += content.Length;
                var ranges = DataRanges(content, entry);
                foreach (var bs in sizes)
                {
                    blocks[bs] += FileBlocks(ranges, content.Length, bs);
                }
            }
        }

        foreach (var bs in sizes)
        {
            var total = 0L;
            foreach (var (_, bytes) in directoryBytes)
            {
                total += DirectoryBlocks(bytes, bs);
            }
            // lost+found (its own size rule) and the resize inode's DIND block.
            total += Math.Min(12, Math.Max(2, 16384 / bs)) + 1;
            blocks[bs] += total;
        }
        return new ContentNeeds(inodes, blocks, entries, contentBytes);
    }

    private static List<DataRange> DataRanges(FileContent content, FileEntry entry)
    {
        var list = new List<DataRange>();
        try
        {
            using var reader = content.Open();
            long position = 0;
            while (position < content.Length && reader.NextData(position) is { } r && r.Offset < content.Length)
            {
                var end = Math.Min(r.End, content.Length);
                list.Add(new DataRange(r.Offset, end - r.Offset));
                position = end;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{entry.Path}: cannot open: {e.Message}", e) { Path = entry.Path };
        }
        return list;
    }

    /// <summary>Data blocks touched by the ranges plus the IND/DIND/TIND blocks mapping them.</summary>
    internal static long FileBlocks(IReadOnlyList<DataRange> ranges, long length, int bs)
    {
        long apb = bs / 4;
        long data = 0, mapping = 0;
        long lastBlock = -1, lastInd = -1, lastDind = -1;
        var tind = false;
        foreach (var r in ranges)
        {
            if (r.Length <= 0)
            {
                continue;
            }
            var first = Math.Max(r.Offset / bs, lastBlock + 1);
            var last = (Math.Min(r.End, length) - 1) / bs;
            if (last < first)
            {
                continue;
            }
            data += last - first + 1;
            lastBlock = last;
            if (last >= 12)
            {
                var indFirst = Math.Max((Math.Max(first, 12) - 12) / apb, lastInd + 1);
                var indLast = (last - 12) / apb;
                if (indLast >= indFirst)
                {
                    mapping += indLast - indFirst + 1;
                    lastInd = indLast;
                }
            }
            if (last >= 12 + apb)
            {
                var dindFirst = Math.Max((Math.Max(first, 12 + apb) - 12 - apb) / (apb * apb), lastDind + 1);
                var dindLast = (last - 12 - apb) / (apb * apb);
                if (dindLast >= dindFirst)
                {
                    mapping += dindLast - dindFirst + 1;
                    lastDind = dindLast;
                }
            }
            if (last >= 12 + apb + apb * apb && !tind)
            {
                tind = true;
                mapping++;
            }
        }
        return data + mapping;
    }

    /// <summary>Blocks of a directory whose entries take <paramref name="entryBytes"/>: linear, or htree leaves at 80 % plus index.</summary>
    internal static long DirectoryBlocks(long entryBytes, int bs)
    {
        var linear = (24 + entryBytes + bs - 1) / bs;
        if (linear < 3)
        {
            return linear;
        }
        var leaves = (entryBytes + bs * 8 / 10 - 1) / (bs * 8 / 10) + 1;
        var interior = leaves > (bs - 32) / 8 ? (leaves + (bs - 8) / 8 - 1) / ((bs - 8) / 8) : 0;
        var total = 1 + leaves + interior;
        return total + ExtGeometry.MappingBlocksForDense(total, bs / 4);
    }
}

/// <summary>
/// Chooses sizes: the default size when none is given (content plus headroom), and the smallest size
/// that would hold the content when it does not fit (for the error message).
/// </summary>
internal static class SizePlanner
{
    private const long MiB = 1024 * 1024;

    /// <summary>Blocks available for data once the fixed metadata and the journal are placed.</summary>
    public static long DataCapacity(ExtGeometry g) =>
        g.BlocksCount - g.FirstDataBlock - g.MetadataExtents.Sum(e => e.Count) - g.JournalBlocks - g.JournalMappingBlocks;

    /// <summary>
    /// The default size rule (docs/ext-writer.md): the smallest whole number of MiB whose filesystem
    /// holds the content and still has, beyond the blocks reserved for root, max(10 % of the content,
    /// 8 MiB) free, and max(10 % of the inodes used, 64) free inodes. The block size follows mke2fs'
    /// size classes: 1 KiB blocks when that size is below 512 MiB, else 4 KiB.
    /// </summary>
    public static ExtFilesystemOptions DefaultOptions(ExtFilesystemOptions options, ContentNeeds needs)
    {
        var inodeHeadroom = Math.Max(needs.Inodes / 10, 64);
        ExtFilesystemOptions Plan(int bs)
        {
            var need = needs.BlocksByBlockSize[bs];
            var headroom = Math.Max(need / 10, 8 * MiB / bs);
            var o = options with { BlockSize = bs };
            var size = Smallest(o, g => DataCapacity(g) - need >= headroom + g.ReservedBlocks && g.InodesCount - needs.Inodes >= inodeHeadroom,
                dataOnly: g => DataCapacity(g) - need >= headroom + g.ReservedBlocks);
            if (size.Size == null && options.InodeCount == null)
            {
                // Many small files: more inodes than the size class' ratio gives. Ask for them instead
                // of growing the filesystem.
                o = o with { InodeCount = needs.Inodes + inodeHeadroom };
                size = Smallest(o, g => DataCapacity(g) - need >= headroom + g.ReservedBlocks && g.InodesCount - needs.Inodes >= inodeHeadroom, dataOnly: null);
            }
            if (size.Size == null)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"the content ({needs.Entries} entries, {needs.ContentBytes} bytes) is too large for an ext2/ext3 filesystem with {bs}-byte blocks");
            }
            return o with { SizeBytes = size.Size };
        }

        if (options.BlockSize is int fixedSize)
        {
            return Plan(fixedSize) with { BlockSize = options.BlockSize };
        }
        var small = Plan(1024);
        if (small.SizeBytes < 512 * MiB)
        {
            return small with { BlockSize = null };
        }
        return Plan(4096);
    }

    /// <summary>The smallest size (a whole number of MiB) whose filesystem holds the content, with no headroom; null when none does.</summary>
    public static long? Minimum(ExtFilesystemOptions options, ContentNeeds needs) =>
        Smallest(options, g => needs.BlocksByBlockSize.TryGetValue(g.BlockSize, out var need) && DataCapacity(g) >= need && g.InodesCount >= needs.Inodes,
            dataOnly: null).Size;

    /// <summary>The message for content that does not fit, with the smallest size that would hold it.</summary>
    public static ImageToolsException DoesNotFit(ExtFilesystemOptions options, ExtGeometry g, long neededBlocks, long neededInodes)
    {
        var capacity = DataCapacity(g);
        var o = options with { BlockSize = g.BlockSize };
        var inodesShort = neededInodes > g.InodesCount;
        var sb = new StringBuilder();
        sb.Append($"the content does not fit in {g.SizeBytes} bytes: it needs {neededBlocks} blocks of {g.BlockSize} bytes ");
        sb.Append($"(the filesystem has {capacity} for data) and {neededInodes} inodes (it has {g.InodesCount})");
        if (inodesShort && options.InodeCount != null)
        {
            sb.Append($"; ask for at least {neededInodes} inodes (--inodes)");
            o = o with { InodeCount = neededInodes };
        }
        var smallest = Smallest(o, x => DataCapacity(x) >= neededBlocks && x.InodesCount >= neededInodes, dataOnly: null).Size;
        if (smallest != null)
        {
            var mib = (smallest.Value + MiB - 1) / MiB;
            sb.Append(inodesShort && options.InodeCount != null ? "; with that many, the" : "; the");
            sb.Append($" smallest filesystem that holds it is {mib} MiB ({smallest.Value} bytes");
            sb.Append(options.BlockSize == null && ExtGeometry.DefaultBlockSize(smallest.Value) != g.BlockSize
                ? $", with block size {g.BlockSize})" : ")");
        }
        return new ImageToolsException(ErrorKind.DoesNotFit, sb.ToString());
    }

    /// <summary>
    /// The smallest size (a whole number of MiB) for which <paramref name="fits"/> holds, or null if none
    /// does up to the format's limit. <paramref name="dataOnly"/>, when given, stops the search early
    /// when data already fits but <paramref name="fits"/> does not (the caller then changes the inode count).
    /// </summary>
    private static (long? Size, bool InodesShort) Smallest(ExtFilesystemOptions o, Func<ExtGeometry, bool> fits, Func<ExtGeometry, bool>? dataOnly)
    {
        var bs = o.BlockSize ?? 4096;
        var maxMiB = (long)uint.MaxValue * bs / MiB;
        bool Test(long mib, out bool dataFits)
        {
            dataFits = false;
            ExtGeometry g;
            try
            {
                g = ExtGeometry.Compute(o with { SizeBytes = mib * MiB }, mib * MiB);
            }
            catch (ImageToolsException)
            {
                return false;
            }
            dataFits = dataOnly?.Invoke(g) ?? false;
            return fits(g);
        }

        long lo = 0, hi = 1;
        while (true)
        {
            if (hi > maxMiB)
            {
                return (null, false);
            }
            if (Test(hi, out var dataFits))
            {
                break;
            }
            if (dataFits)
            {
                return (null, true);
            }
            lo = hi;
            hi *= 2;
        }
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (Test(mid, out _))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }
        return (hi * MiB, false);
    }
}
