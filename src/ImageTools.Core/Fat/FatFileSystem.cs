using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Fat;

/// <summary>A file or directory found in a FAT volume.</summary>
public sealed record FatNode(string Path, string Name, bool IsDirectory, long Length, uint FirstCluster, string ShortName);

/// <summary>
/// Reads a FAT16 or FAT32 volume (what inspect, export and the tests need): the boot sector, the first FAT,
/// directories with their long names, and files by their cluster chains. Everything read from the volume is
/// checked: clusters outside the volume, chains that loop or end early, and names that do not decode are refused
/// with the path and cluster at fault, never followed.
/// </summary>
public sealed class FatFileSystem
{
    private readonly Stream _volume;
    private readonly uint[] _fat;

    private FatFileSystem(Stream volume, FatBootSector boot, uint[] fat, string source)
    {
        _volume = volume;
        Boot = boot;
        _fat = fat;
        Source = source;
    }

    public FatBootSector Boot { get; }

    public string Source { get; }

    /// <summary>Opens the volume in <paramref name="volume"/> (a seekable stream over the partition).</summary>
    public static FatFileSystem Open(Stream volume, string source = "FAT volume")
    {
        var sector = new byte[FatBootSector.Size];
        volume.Position = 0;
        if (volume.ReadAtLeast(sector, sector.Length, throwOnEndOfStream: false) < sector.Length)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{source}: shorter than a boot sector") { Path = source };
        }
        var boot = FatBootSector.Read(sector, source);
        var length = volume.Length;
        if (length > 0 && boot.TotalSectors * boot.BytesPerSector > length)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{source}: the boot sector says {boot.TotalSectors} sectors, but the volume holds {length / boot.BytesPerSector}") { Path = source };
        }
        var entries = boot.ClusterCount + 2;
        var entryBytes = boot.Type == FatType.Fat32 ? 4 : 2;
        var raw = new byte[entries * entryBytes];
        volume.Position = boot.FatStartSector * boot.BytesPerSector;
        volume.ReadExactly(raw);
        var fat = new uint[entries];
        for (var i = 0; i < entries; i++)
        {
            fat[i] = entryBytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(i * 4)) & 0x0FFFFFFF : BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2));
        }
        return new FatFileSystem(volume, boot, fat, source);
    }

    private bool IsEndOfChain(uint value) => Boot.Type == FatType.Fat32 ? value >= 0x0FFFFFF8 : value >= 0xFFF8;

    /// <summary>The clusters of the chain starting at <paramref name="first"/>, checked (in range, no loop, no free or bad cluster).</summary>
    public List<uint> Chain(uint first, string what)
    {
        var clusters = new List<uint>();
        var limit = Boot.ClusterCount + 2;
        var cluster = first;
        while (true)
        {
            if (cluster < 2 || cluster >= limit)
            {
                throw Corrupt($"{what}: cluster {cluster} of its chain is outside the volume's clusters 2-{limit - 1}");
            }
            if (clusters.Count >= Boot.ClusterCount)
            {
                throw Corrupt($"{what}: its cluster chain loops (more than {Boot.ClusterCount} clusters)");
            }
            clusters.Add(cluster);
            var next = _fat[cluster];
            if (IsEndOfChain(next))
            {
                return clusters;
            }
            if (next is 0 or 1 || (Boot.Type == FatType.Fat32 ? next == 0x0FFFFFF7 : next == 0xFFF7))
            {
                throw Corrupt($"{what}: cluster {cluster} leads to {(next == 0xFFF7 || next == 0x0FFFFFF7 ? "a bad cluster" : "a free cluster")}");
            }
            cluster = next;
        }
    }

    /// <summary>The entries of the directory at <paramref name="path"/> ("" or "/" is the root), without "." and "..".</summary>
    public IReadOnlyList<FatNode> List(string path)
    {
        if (path.Trim('/').Length == 0)
        {
            return ReadDirectory(RootBytes(), "");
        }
        var node = Find(path) ?? throw new ImageToolsException(ErrorKind.NotFound, $"{Source}: no {path}") { Path = Source };
        if (!node.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{Source}: {path} is a file, not a directory") { Path = Source };
        }
        return ReadDirectory(ReadChain(node.FirstCluster, node.Path, long.MaxValue), node.Path);
    }

    /// <summary>The node at <paramref name="path"/> (names compared ignoring case, as FAT does), or null.</summary>
    public FatNode? Find(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        FatNode? node = null;
        var listing = List("");
        foreach (var part in parts)
        {
            node = listing.FirstOrDefault(n => string.Equals(n.Name, part, StringComparison.OrdinalIgnoreCase)
                                               || string.Equals(n.ShortName, part, StringComparison.OrdinalIgnoreCase));
            if (node == null)
            {
                return null;
            }
            if (node.IsDirectory)
            {
                listing = ReadDirectory(ReadChain(node.FirstCluster, node.Path, long.MaxValue), node.Path);
            }
            else if (part != parts[^1])
            {
                return null;
            }
        }
        return node;
    }

    /// <summary>Every file and directory, depth first in directory order, with its full path.</summary>
    public IEnumerable<FatNode> Walk()
    {
        var visited = new HashSet<uint>();
        var stack = new Stack<FatNode>(List("").Reverse());
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            yield return node;
            if (node.IsDirectory)
            {
                if (!visited.Add(node.FirstCluster))
                {
                    throw Corrupt($"{node.Path}: its directory cluster {node.FirstCluster} is already used by another directory (a loop)");
                }
                var children = ReadDirectory(ReadChain(node.FirstCluster, node.Path, long.MaxValue), node.Path);
                for (var i = children.Count - 1; i >= 0; i--)
                {
                    var child = children[i];
                    stack.Push(child);
                }
            }
        }
    }

    /// <summary>The content of a file (read whole: for the small files of an ESP; use <see cref="CopyTo"/> for large ones).</summary>
    public byte[] ReadAllBytes(FatNode file)
    {
        using var ms = new MemoryStream();
        CopyTo(file, ms);
        return ms.ToArray();
    }

    /// <summary>Streams a file's content to <paramref name="destination"/>, cluster by cluster.</summary>
    public void CopyTo(FatNode file, Stream destination)
    {
        if (file.IsDirectory)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{Source}: {file.Path} is a directory") { Path = Source };
        }
        if (file.Length == 0)
        {
            return;
        }
        var chain = Chain(file.FirstCluster, file.Path);
        if ((long)chain.Count * Boot.ClusterBytes < file.Length)
        {
            throw Corrupt($"{file.Path}: {file.Length} bytes, but its cluster chain holds only {chain.Count} clusters of {Boot.ClusterBytes}");
        }
        var buffer = new byte[Boot.ClusterBytes];
        var left = file.Length;
        foreach (var cluster in chain)
        {
            if (left <= 0)
            {
                break;
            }
            _volume.Position = Boot.ClusterOffset(cluster);
            var n = (int)Math.Min(buffer.Length, left);
            _volume.ReadExactly(buffer, 0, n);
            destination.Write(buffer, 0, n);
            left -= n;
        }
    }

    private byte[] RootBytes()
    {
        if (Boot.Type == FatType.Fat32)
        {
            return ReadChain(Boot.RootCluster, "the root directory", long.MaxValue);
        }
        var bytes = new byte[Boot.RootDirectorySectors * Boot.BytesPerSector];
        _volume.Position = Boot.RootDirectoryStartSector * Boot.BytesPerSector;
        _volume.ReadExactly(bytes);
        return bytes;
    }

    private byte[] ReadChain(uint first, string what, long maxBytes)
    {
        var chain = Chain(first, what);
        // A directory holds at most 65536 entries (2 MiB).
        var bytes = (long)chain.Count * Boot.ClusterBytes;
        if (bytes > Math.Min(maxBytes, 65536L * 32 + Boot.ClusterBytes))
        {
            throw Corrupt($"{what}: a directory of {bytes} bytes (at most 65536 entries)");
        }
        var data = new byte[bytes];
        for (var i = 0; i < chain.Count; i++)
        {
            _volume.Position = Boot.ClusterOffset(chain[i]);
            _volume.ReadExactly(data, i * Boot.ClusterBytes, Boot.ClusterBytes);
        }
        return data;
    }

    private List<FatNode> ReadDirectory(byte[] bytes, string parent)
    {
        var nodes = new List<FatNode>();
        var longParts = new List<string>();
        byte longChecksum = 0;
        for (var at = 0; at + FatDirectoryEntry.Size <= bytes.Length; at += FatDirectoryEntry.Size)
        {
            var raw = bytes.AsSpan(at, FatDirectoryEntry.Size);
            if (raw[0] == 0)
            {
                break;
            }
            if (raw[0] == FatDirectoryEntry.DeletedMarker)
            {
                longParts.Clear();
                continue;
            }
            if (raw[0x0B] == FatDirectoryEntry.AttributeLongName)
            {
                if ((raw[0] & FatLongNameEntry.LastPartFlag) != 0)
                {
                    longParts.Clear();
                    longChecksum = raw[0x0D];
                }
                longParts.Insert(0, FatLongNameEntry.Decode(raw));
                continue;
            }
            var entry = FatDirectoryEntry.Read(raw);
            var shortName = entry.DisplayName();
            if ((entry.Attributes & FatDirectoryEntry.AttributeVolumeLabel) != 0 || shortName is "." or "..")
            {
                longParts.Clear();
                continue;
            }
            var name = longParts.Count > 0 && longChecksum == FatDirectoryEntry.Checksum(entry.ShortName) ? string.Concat(longParts) : shortName;
            longParts.Clear();
            if (name.Length == 0 || name.Contains('/') || name is "." or "..")
            {
                throw Corrupt($"{parent}/: an entry at byte {at} has the name \"{name}\"");
            }
            nodes.Add(new FatNode(parent + "/" + name, name, entry.IsDirectory, entry.IsDirectory ? 0 : entry.FileSize, entry.FirstCluster, shortName));
        }
        return nodes;
    }

    private ImageToolsException Corrupt(string message) => new(ErrorKind.CorruptImage, $"{Source}: {message}") { Path = Source };
}
