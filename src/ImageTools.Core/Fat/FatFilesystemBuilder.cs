using System.Buffers.Binary;

namespace ImageTools.Core.Fat;

/// <summary>What a FAT build made.</summary>
public sealed record FatBuildResult(FatType Type, int ClusterBytes, long Clusters, long FreeClusters, uint VolumeId, string Label);

/// <summary>
/// Writes a FAT16 or FAT32 file system (an EFI System Partition) holding the directories and files added, into a
/// zeroed volume (a partition of a new image): FAT16 up to 512 MiB, FAT32 above, with cluster sizes as
/// Microsoft's specification tabulates them, two FATs, long file names, and every byte a function of the input
/// (names sorted, files laid out contiguously in that order, one timestamp), so the same input gives the same
/// volume. Files are streamed from their sources; only the FAT and directories are held in memory.
/// </summary>
public sealed class FatFilesystemBuilder
{
    private const int SectorSize = 512;
    private readonly Node _root = new("", true, 0, null);

    /// <param name="sizeBytes">The volume's size (the partition's).</param>
    public FatFilesystemBuilder(long sizeBytes)
    {
        SizeBytes = sizeBytes;
    }

    public long SizeBytes { get; }

    /// <summary>The volume label (up to 11 characters, upper case); "NO NAME" writes none.</summary>
    public string Label { get; set; } = "NO NAME";

    /// <summary>The volume serial number; null derives it from <see cref="Timestamp"/>, as mkfs.fat derives it from the time.</summary>
    public uint? VolumeId { get; set; }

    /// <summary>The time every entry carries (UTC): SOURCE_DATE_EPOCH for reproducible builds.</summary>
    public DateTime Timestamp { get; set; } = new(1980, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The partition's first sector on its disk (the BPB's hidden sectors).</summary>
    public uint HiddenSectors { get; set; }

    /// <summary>FAT16 up to 512 MiB, FAT32 above (Microsoft's rule; UEFI reads both).</summary>
    public static FatType TypeFor(long sizeBytes) => sizeBytes <= 512L << 20 ? FatType.Fat16 : FatType.Fat32;

    /// <summary>The smallest volume a FAT16 file system fits (4085 clusters of one sector plus its metadata).</summary>
    public const long MinimumSize = 4200L * SectorSize;

    /// <summary>Adds a directory (and its parents); '/' separates path components.</summary>
    public void AddDirectory(string path) => Resolve(path, createLast: true, directory: true);

    /// <summary>Adds a file of <paramref name="length"/> bytes, read from <paramref name="open"/> when the volume is written.</summary>
    public void AddFile(string path, long length, Func<Stream> open)
    {
        if (length is < 0 or > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"{path}: {length} bytes; a FAT file holds at most 4 GiB - 1");
        }
        var node = Resolve(path, createLast: true, directory: false);
        node.Length = length;
        node.Open = open;
    }

    /// <summary>Adds a file with the given bytes.</summary>
    public void AddFile(string path, byte[] content) => AddFile(path, content.Length, () => new MemoryStream(content, writable: false));

    private Node Resolve(string path, bool createLast, bool directory)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"\"{path}\" names no file");
        }
        var node = _root;
        for (var i = 0; i < parts.Length; i++)
        {
            var name = parts[i];
            CheckName(path, name);
            var last = i == parts.Length - 1;
            var existing = node.Children.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));
            if (existing != null)
            {
                if (last && !(directory && existing.IsDirectory))
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument,
                        $"{path}: \"{existing.Name}\" is already there (FAT names ignore case)");
                }
                if (!existing.IsDirectory)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: \"{existing.Name}\" is a file, not a directory");
                }
                node = existing;
                continue;
            }
            var child = new Node(name, !last || directory, 0, null) { Parent = node };
            node.Children.Add(child);
            node = child;
        }
        return node;
    }

    private static void CheckName(string path, string name)
    {
        if (name is "." or ".." || name.Length > 255 || name.IndexOfAny("\\:*?\"<>|".ToCharArray()) >= 0 || name.Any(c => c < 0x20) || name.EndsWith(' ') || name.EndsWith('.'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{path}: \"{name}\" cannot be a FAT file name (at most 255 characters, none of \\ : * ? \" < > | or control characters, not ending in a space or dot)");
        }
    }

    /// <summary>Lays the volume out and writes it to <paramref name="volume"/> (a stream over the zeroed partition).</summary>
    public FatBuildResult Write(Stream volume, CancellationToken cancellation = default)
    {
        var boot = Geometry();
        var fat32 = boot.Type == FatType.Fat32;
        var clusterBytes = boot.ClusterBytes;

        // Directory contents first (their sizes decide the allocation), then clusters in depth-first name order.
        var directories = new List<Node>();
        Collect(_root, directories);
        foreach (var dir in directories)
        {
            dir.Children.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }
        foreach (var dir in directories)
        {
            dir.Entries = EncodeDirectoryWithoutClusters(dir);
        }
        uint next = 2;
        var fat = new uint[boot.ClusterCount + 2];
        fat[0] = fat32 ? 0x0FFFFFF8u : 0xFFF8u;
        fat[1] = fat32 ? 0x0FFFFFFFu : 0xFFFFu;
        var endOfChain = fat32 ? 0x0FFFFFFFu : 0xFFFFu;
        void Allocate(Node node, long bytes)
        {
            var clusters = (bytes + clusterBytes - 1) / clusterBytes;
            if (clusters == 0)
            {
                node.Cluster = 0;
                return;
            }
            if (next + clusters > boot.ClusterCount + 2)
            {
                throw new ImageToolsException(ErrorKind.DoesNotFit,
                    $"the {HumanBytes(SizeBytes)} FAT volume is full: \"{node.Name}\" needs {clusters} more clusters of {clusterBytes} bytes " +
                    $"and {(long)boot.ClusterCount + 2 - next} are left; make the partition larger");
            }
            node.Cluster = next;
            for (var i = 0; i < clusters; i++)
            {
                fat[next + i] = i == clusters - 1 ? endOfChain : (uint)(next + i + 1);
            }
            next += (uint)clusters;
        }
        foreach (var dir in directories)
        {
            if (dir == _root && !fat32)
            {
                if (dir.Entries!.Count > boot.RootEntries)
                {
                    throw new ImageToolsException(ErrorKind.DoesNotFit,
                        $"the FAT16 root directory holds {boot.RootEntries} entries; {dir.Entries.Count} are needed (long names take several): put files in a subdirectory");
                }
                continue;
            }
            Allocate(dir, Math.Max(1, (long)dir.Entries!.Count) * FatDirectoryEntry.Size);
        }
        foreach (var dir in directories)
        {
            foreach (var file in dir.Children.Where(c => !c.IsDirectory))
            {
                Allocate(file, file.Length);
            }
        }

        var volumeId = VolumeId ?? DeriveVolumeId();
        boot = boot with { VolumeId = volumeId, RootCluster = fat32 ? _root.Cluster : 0 };
        var used = next - 2;
        var free = boot.ClusterCount - used;

        // Reserved sectors: boot sector, FAT32's FSInfo and their backups at 6 and 7.
        var sector = new byte[SectorSize];
        boot.Write(sector);
        WriteAt(volume, 0, sector);
        if (fat32)
        {
            WriteAt(volume, (long)boot.BackupBootSector * SectorSize, sector);
            var info = FsInfo((uint)free, next);
            WriteAt(volume, (long)boot.FsInfoSector * SectorSize, info);
            WriteAt(volume, (long)(boot.BackupBootSector + 1) * SectorSize, info);
        }

        // The FATs, each in full (a used volume must not keep stale entries).
        var fatBytes = new byte[boot.FatSectors * SectorSize];
        for (var i = 0; i < fat.Length; i++)
        {
            if (fat32)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(fatBytes.AsSpan(i * 4), fat[i]);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(fatBytes.AsSpan(i * 2), (ushort)fat[i]);
            }
        }
        for (var copy = 0; copy < boot.FatCount; copy++)
        {
            WriteAt(volume, (boot.FatStartSector + copy * boot.FatSectors) * SectorSize, fatBytes);
        }

        // Directories, with their children's clusters filled in.
        foreach (var dir in directories)
        {
            var bytes = EncodeDirectory(dir);
            if (dir == _root && !fat32)
            {
                var region = new byte[boot.RootDirectorySectors * SectorSize];
                bytes.CopyTo(region, 0);
                WriteAt(volume, boot.RootDirectoryStartSector * SectorSize, region);
            }
            else
            {
                var padded = new byte[(bytes.Length + clusterBytes - 1) / clusterBytes * clusterBytes];
                bytes.CopyTo(padded, 0);
                WriteAt(volume, boot.ClusterOffset(dir.Cluster), padded);
            }
        }

        // Files, streamed into their clusters.
        var buffer = new byte[Math.Max(clusterBytes, 1 << 20) / clusterBytes * clusterBytes];
        foreach (var dir in directories)
        {
            foreach (var file in dir.Children.Where(c => !c.IsDirectory && c.Length > 0))
            {
                cancellation.ThrowIfCancellationRequested();
                using var source = file.Open!();
                var offset = boot.ClusterOffset(file.Cluster);
                long done = 0;
                while (done < file.Length)
                {
                    var want = (int)Math.Min(buffer.Length, file.Length - done);
                    var got = source.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
                    if (got < want)
                    {
                        throw new ImageToolsException(ErrorKind.InvalidArgument,
                            $"\"{file.Name}\" ended after {done + got} bytes, but {file.Length} were announced (did it change while the image was built?)");
                    }
                    var padTo = (int)Math.Min(buffer.Length, (want + clusterBytes - 1) / clusterBytes * clusterBytes);
                    buffer.AsSpan(want, padTo - want).Clear();
                    WriteAt(volume, offset + done, buffer.AsSpan(0, padTo));
                    done += want;
                }
                if (source.CanSeek ? source.Position < source.Length : source.ReadByte() >= 0)
                {
                    throw new ImageToolsException(ErrorKind.InvalidArgument,
                        $"\"{file.Name}\" holds more than the {file.Length} bytes announced (did it change while the image was built?)");
                }
            }
        }
        return new FatBuildResult(boot.Type, clusterBytes, boot.ClusterCount, free, volumeId, boot.Label);
    }

    /// <summary>The boot sector's layout for this size: cluster size from the specification's table, FAT size solved for it.</summary>
    public FatBootSector Geometry()
    {
        var total = SizeBytes / SectorSize;
        if (SizeBytes < MinimumSize)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"a FAT volume of {SizeBytes} bytes is too small: FAT16 needs at least {MinimumSize} bytes ({MinimumSize / 1024} KiB)");
        }
        var label = Label.ToUpperInvariant();
        if (label.Length > 11 || label.Any(c => c < 0x20 || c > 0x7E || "\\/:*?\"<>|.".Contains(c)))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"FAT volume label \"{Label}\": at most 11 printable ASCII characters, none of \\ / : * ? \" < > | .");
        }
        var type = TypeFor(SizeBytes);
        int spc;
        if (type == FatType.Fat16)
        {
            spc = total <= 32680 ? 2 : total <= 262144 ? 4 : total <= 524288 ? 8 : 16;
        }
        else
        {
            spc = total <= 16777216 ? 8 : total <= 33554432 ? 16 : total <= 67108864 ? 32 : 64;
        }
        while (true)
        {
            var boot = Solve(type, total, spc, label);
            var clusters = boot.ClusterCount;
            if (type == FatType.Fat16 && clusters < FatBootSector.MinFat16Clusters && spc > 1)
            {
                spc /= 2;
                continue;
            }
            if (type == FatType.Fat16 && clusters > FatBootSector.MaxFat16Clusters)
            {
                spc *= 2;
                continue;
            }
            if (type == FatType.Fat32 && clusters <= FatBootSector.MaxFat16Clusters && spc > 1)
            {
                spc /= 2;
                continue;
            }
            return boot;
        }
    }

    private FatBootSector Solve(FatType type, long total, int spc, string label)
    {
        var fat32 = type == FatType.Fat32;
        var reserved = fat32 ? 32 : 1;
        var rootEntries = fat32 ? 0 : 512;
        var rootSectors = rootEntries * 32 / SectorSize;
        var entryBytes = fat32 ? 4 : 2;
        long fatSectors = 1;
        while (true)
        {
            var clusters = (total - reserved - 2 * fatSectors - rootSectors) / spc;
            var need = ((clusters + 2) * entryBytes + SectorSize - 1) / SectorSize;
            if (need <= fatSectors)
            {
                break;
            }
            fatSectors = need;
        }
        return new FatBootSector
        {
            Type = type,
            SectorsPerCluster = spc,
            ReservedSectors = reserved,
            RootEntries = rootEntries,
            TotalSectors = total,
            FatSectors = fatSectors,
            HiddenSectors = HiddenSectors,
            Label = label,
        };
    }

    private static byte[] FsInfo(uint free, uint nextFree)
    {
        var info = new byte[SectorSize];
        BinaryPrimitives.WriteUInt32LittleEndian(info, 0x41615252);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(484), 0x61417272);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(488), free);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(492), nextFree);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(508), 0xAA550000);
        return info;
    }

    private uint DeriveVolumeId()
    {
        var seconds = (long)(Timestamp - DateTime.UnixEpoch).TotalSeconds;
        var id = (uint)(seconds ^ (seconds >> 32) ^ 0x1D5EED);
        return id == 0 ? 1 : id;
    }

    private static void Collect(Node dir, List<Node> into)
    {
        into.Add(dir);
        foreach (var child in dir.Children.Where(c => c.IsDirectory).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            Collect(child, into);
        }
    }

    /// <summary>The directory's entries with cluster fields still empty: counts them, and fixes the short names.</summary>
    private List<byte[]> EncodeDirectoryWithoutClusters(Node dir)
    {
        var names = new FatShortNames();
        var entries = new List<byte[]>();
        var (time, date) = FatDirectoryEntry.DosTime(Timestamp);
        if (dir == _root)
        {
            if (Label.ToUpperInvariant() != "NO NAME")
            {
                var label = new byte[FatDirectoryEntry.Size];
                new FatDirectoryEntry
                {
                    ShortName = System.Text.Encoding.ASCII.GetBytes(Label.ToUpperInvariant().PadRight(11)),
                    Attributes = FatDirectoryEntry.AttributeVolumeLabel, Time = time, Date = date,
                }.Write(label);
                entries.Add(label);
            }
        }
        else
        {
            names.Reserve(".          ");
            names.Reserve("..         ");
            entries.Add(new byte[FatDirectoryEntry.Size]);
            entries.Add(new byte[FatDirectoryEntry.Size]);
        }
        foreach (var child in dir.Children)
        {
            var (shortName, needsLong) = names.Make(child.Name);
            child.ShortName = shortName;
            if (needsLong)
            {
                entries.AddRange(FatLongNameEntry.Encode(child.Name, FatDirectoryEntry.Checksum(shortName)));
            }
            entries.Add(new byte[FatDirectoryEntry.Size]);
        }
        return entries;
    }

    private byte[] EncodeDirectory(Node dir)
    {
        var (time, date) = FatDirectoryEntry.DosTime(Timestamp);
        var bytes = new byte[dir.Entries!.Count * FatDirectoryEntry.Size];
        var at = 0;
        for (var i = 0; i < dir.Entries.Count; i++)
        {
            dir.Entries[i].CopyTo(bytes, i * FatDirectoryEntry.Size);
        }
        if (dir != _root)
        {
            new FatDirectoryEntry { ShortName = "."u8.ToArray().Concat(Enumerable.Repeat((byte)' ', 10)).ToArray(), Attributes = FatDirectoryEntry.AttributeDirectory, FirstCluster = dir.Cluster, Time = time, Date = date }
                .Write(bytes.AsSpan(0));
            // ".." of a directory in the root points at cluster 0, whatever the FAT type.
            var parentCluster = dir.Parent == _root ? 0 : dir.Parent!.Cluster;
            new FatDirectoryEntry { ShortName = ".."u8.ToArray().Concat(Enumerable.Repeat((byte)' ', 9)).ToArray(), Attributes = FatDirectoryEntry.AttributeDirectory, FirstCluster = parentCluster, Time = time, Date = date }
                .Write(bytes.AsSpan(FatDirectoryEntry.Size));
            at = 2;
        }
        else if (Label.ToUpperInvariant() != "NO NAME")
        {
            at = 1;
        }
        foreach (var child in dir.Children)
        {
            // Skip the child's long-name entries, then fill its short entry.
            while (bytes[at * FatDirectoryEntry.Size + 0x0B] == FatDirectoryEntry.AttributeLongName)
            {
                at++;
            }
            new FatDirectoryEntry
            {
                ShortName = child.ShortName!,
                Attributes = child.IsDirectory ? FatDirectoryEntry.AttributeDirectory : FatDirectoryEntry.AttributeArchive,
                FirstCluster = child.Cluster,
                FileSize = child.IsDirectory ? 0 : (uint)child.Length,
                Time = time,
                Date = date,
            }.Write(bytes.AsSpan(at * FatDirectoryEntry.Size));
            at++;
        }
        return bytes;
    }

    private static void WriteAt(Stream volume, long offset, ReadOnlySpan<byte> data)
    {
        volume.Position = offset;
        volume.Write(data);
    }

    private static string HumanBytes(long bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : $"{bytes} bytes";

    private sealed class Node(string name, bool isDirectory, long length, Func<Stream>? open)
    {
        public string Name { get; } = name;
        public bool IsDirectory { get; } = isDirectory;
        public long Length { get; set; } = length;
        public Func<Stream>? Open { get; set; } = open;
        public List<Node> Children { get; } = new();
        public Node? Parent { get; set; }
        public uint Cluster { get; set; }
        public byte[]? ShortName { get; set; }
        public List<byte[]>? Entries { get; set; }
    }
}
