using System.Text.RegularExpressions;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Partitions;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Imaging;

/// <summary>An ext filesystem opened from an image specification, with everything it needs kept open.</summary>
public sealed class OpenedExtImage : IDisposable
{
    private readonly List<IDisposable> _owned;

    internal OpenedExtImage(ExtFileSystem fileSystem, string description, List<IDisposable> owned)
    {
        FileSystem = fileSystem;
        Description = description;
        _owned = owned;
    }

    public ExtFileSystem FileSystem { get; }

    /// <summary>What was opened, in words: "disk.img partition 2", "root.img.zst (decompressed)".</summary>
    public string Description { get; }

    public void Dispose()
    {
        FileSystem.Dispose();
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
    }
}

/// <summary>
/// Opens the ext filesystem an <c>IMAGE[:PARTITION]</c> argument names: a filesystem image, or a
/// partition of a disk image (by number; without one, the only ext partition, if there is exactly one).
/// A compressed image (gzip, zstd, xz, bzip2) is expanded into a temporary sparse file first, deleted
/// when the result is disposed.
/// </summary>
public static partial class ExtImageOpener
{
    [GeneratedRegex(@"^(?<path>.+):(?<number>[0-9]+)$")]
    private static partial Regex WithPartition();

    /// <summary>Splits "disk.img:2" into ("disk.img", 2); a path that exists as given is never split.</summary>
    public static (string Path, int? Partition) ParseSpecification(string specification)
    {
        if (File.Exists(specification))
        {
            return (specification, null);
        }
        var m = WithPartition().Match(specification);
        if (m.Success && File.Exists(m.Groups["path"].Value))
        {
            if (!int.TryParse(m.Groups["number"].Value, out var number) || number < 1)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument, $"{specification}: partition numbers start at 1");
            }
            return (m.Groups["path"].Value, number);
        }
        throw new ImageToolsException(ErrorKind.NotFound, $"{specification}: no such image file") { Path = specification };
    }

    public static OpenedExtImage Open(string specification, ExtOpenOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (path, partition) = ParseSpecification(specification);
        var owned = new List<IDisposable>();
        try
        {
            Stream stream = ImageFile.OpenRead(path);
            owned.Add(stream);
            var name = path;
            var head = new byte[Math.Min(KnownSignatures.ProbeLength, stream.Length)];
            stream.ReadExactly(head);
            if (Compression.Detect(head) is var format and not CompressionFormat.None)
            {
                stream.Dispose();
                owned.Clear();
                stream = CompressedInput.ExpandToTemporaryFile(path, format, cancellationToken);
                owned.Add(stream);
                name = $"{path} (decompressed)";
                head = new byte[Math.Min(KnownSignatures.ProbeLength, stream.Length)];
                stream.Position = 0;
                stream.ReadExactly(head);
            }

            if (partition is int number)
            {
                var table = ReadTable(stream, name, head);
                var window = table.Open(stream, number);
                owned.Add(window);
                name = $"{name} partition {number}";
                return Finish(window, name, options, owned);
            }
            if (HasExtMagic(head))
            {
                return Finish(stream, name, options, owned);
            }
            if (head.Length >= 512 && PartitionTable.LooksPartitioned(head))
            {
                var table = ReadTable(stream, name, head);
                var candidates = new List<DiskPartition>();
                var described = new List<string>();
                foreach (var p in table.Partitions.Where(p => !p.IsContainer))
                {
                    var holdsExt = PartitionHoldsExt(stream, p);
                    if (holdsExt)
                    {
                        candidates.Add(p);
                    }
                    described.Add($"{p.Number} ({(holdsExt ? "ext" : p.TypeName)})");
                }
                if (candidates.Count == 1)
                {
                    var window = table.Open(stream, candidates[0].Number);
                    owned.Add(window);
                    return Finish(window, $"{name} partition {candidates[0].Number}", options, owned);
                }
                throw candidates.Count == 0
                    ? new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: no partition holds an ext2/3/4 filesystem (partitions: {string.Join(", ", described)})") { Path = path }
                    : new ImageToolsException(ErrorKind.InvalidArgument,
                        $"{name}: partitions {string.Join(" and ", candidates.Select(c => c.Number))} hold ext filesystems; name one, e.g. {path}:{candidates[0].Number}") { Path = path };
            }
            var what = ImageInspector.InspectContent(stream, name);
            var description = what.Iso != null ? "an ISO 9660 image"
                : what.OtherFormat ?? (what.Unrecognised?.Meaning is { } meaning ? meaning : "unrecognised data");
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: not an ext2/3/4 filesystem or a partitioned disk: it is {description}") { Path = path };
        }
        catch
        {
            for (var i = owned.Count - 1; i >= 0; i--)
            {
                owned[i].Dispose();
            }
            throw;
        }
    }

    private static OpenedExtImage Finish(Stream stream, string name, ExtOpenOptions? options, List<IDisposable> owned)
    {
        var fs = ExtFileSystem.Open(stream, name, options, leaveOpen: true);
        return new OpenedExtImage(fs, name, owned);
    }

    private static PartitionTable ReadTable(Stream stream, string name, byte[] head)
    {
        if (head.Length < 512 || !PartitionTable.LooksPartitioned(head))
        {
            var what = HasExtMagic(head) ? "it is a bare ext filesystem (drop the :N)" : "sector 0 holds no partition table";
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name}: no partition table: {what}") { Path = name };
        }
        return PartitionTable.Read(stream, stream.Length, name);
    }

    private static bool HasExtMagic(ReadOnlySpan<byte> head) => head.Length >= 1082 && head[1080] == 0x53 && head[1081] == 0xEF;

    private static bool PartitionHoldsExt(Stream disk, DiskPartition partition)
    {
        if (partition.Offset + 1082 > disk.Length)
        {
            return false;
        }
        Span<byte> magic = stackalloc byte[2];
        disk.Position = partition.Offset + 1080;
        disk.ReadExactly(magic);
        return magic[0] == 0x53 && magic[1] == 0xEF;
    }
}
