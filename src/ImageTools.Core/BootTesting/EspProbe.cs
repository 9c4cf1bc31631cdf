using System.Buffers.Binary;

namespace ImageTools.Core.BootTesting;

/// <summary>
/// Reads just enough of a FAT12/16/32 EFI system partition to find the removable-media loaders
/// (<c>\EFI\BOOT\BOOT*.EFI</c>, UEFI 2.10 §3.5.1.1) and the machine type in each one's PE header
/// (PE/COFF "Machine": 0x8664 x64, 0xAA64 arm64). Everything read is bounds-checked: a damaged ESP gives
/// an empty answer, never an exception or a loop.
/// </summary>
public static class EspProbe
{
    private const ushort MachineX64 = 0x8664;
    private const ushort MachineArm64 = 0xAA64;
    private const int DirectoryEntrySize = 32;
    private const byte AttributeDirectory = 0x10;
    private const byte AttributeLongName = 0x0F;
    private const int MaximumClusterChain = 65536;

    /// <summary>A loader found on the ESP: its name and the architecture its PE header says (null if unreadable).</summary>
    public sealed record Loader(string Name, BootArchitecture? Architecture);

    /// <summary>The loaders in \EFI\BOOT of the FAT filesystem in <paramref name="partition"/>; empty when there are none or it is not FAT.</summary>
    public static IReadOnlyList<Loader> FindLoaders(Stream partition)
    {
        try
        {
            var fat = Fat.Open(partition);
            if (fat == null)
            {
                return [];
            }
            var efi = fat.Find(fat.RootEntries(), "EFI        ", directory: true);
            var boot = efi is { } e ? fat.Find(fat.DirectoryEntries(e.Cluster), "BOOT       ", directory: true) : null;
            if (boot is not { } b)
            {
                return [];
            }
            var loaders = new List<Loader>();
            foreach (var entry in fat.DirectoryEntries(b.Cluster))
            {
                if ((entry.Attributes & AttributeDirectory) != 0 || !entry.ShortName.StartsWith("BOOT", StringComparison.Ordinal)
                    || !entry.ShortName.EndsWith("EFI", StringComparison.Ordinal))
                {
                    continue;
                }
                var name = entry.ShortName[..8].TrimEnd() + "." + entry.ShortName[8..].TrimEnd();
                loaders.Add(new Loader(name, MachineOf(fat.ReadStart(entry.Cluster, (int)Math.Min(entry.Size, 4096)))));
            }
            return loaders;
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static BootArchitecture? MachineOf(byte[] head)
    {
        if (head.Length < 0x40 || head[0] != (byte)'M' || head[1] != (byte)'Z')
        {
            return null;
        }
        var peOffset = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(0x3C));
        if (peOffset < 0x40 || peOffset + 6 > head.Length || !head.AsSpan(peOffset, 4).SequenceEqual("PE\0\0"u8))
        {
            return null;
        }
        return BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(peOffset + 4)) switch
        {
            MachineX64 => BootArchitecture.X86_64,
            MachineArm64 => BootArchitecture.Arm64,
            _ => null,
        };
    }

    private readonly record struct Entry(string ShortName, byte Attributes, uint Cluster, uint Size);

    /// <summary>The BIOS parameter block's geometry (Microsoft FAT specification, "BPB") and cluster reading.</summary>
    private sealed class Fat
    {
        private readonly Stream _stream;
        private readonly int _bytesPerSector;
        private readonly int _sectorsPerCluster;
        private readonly long _fatOffset;
        private readonly long _rootDirectoryOffset;
        private readonly int _rootEntryCount;
        private readonly long _dataOffset;
        private readonly uint _clusterCount;
        private readonly int _fatBits;
        private readonly uint _rootCluster;

        private Fat(Stream stream, int bytesPerSector, int sectorsPerCluster, long fatOffset, long rootDirectoryOffset, int rootEntryCount,
            long dataOffset, uint clusterCount, int fatBits, uint rootCluster)
        {
            (_stream, _bytesPerSector, _sectorsPerCluster, _fatOffset, _rootDirectoryOffset, _rootEntryCount, _dataOffset, _clusterCount, _fatBits, _rootCluster) =
                (stream, bytesPerSector, sectorsPerCluster, fatOffset, rootDirectoryOffset, rootEntryCount, dataOffset, clusterCount, fatBits, rootCluster);
        }

        private int ClusterSize => _bytesPerSector * _sectorsPerCluster;

        public static Fat? Open(Stream stream)
        {
            if (stream.Length < 512)
            {
                return null;
            }
            var bpb = new byte[512];
            stream.Position = 0;
            stream.ReadExactly(bpb);
            if (bpb[510] != 0x55 || bpb[511] != 0xAA)
            {
                return null;
            }
            int bytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(bpb.AsSpan(11));
            int sectorsPerCluster = bpb[13];
            int reserved = BinaryPrimitives.ReadUInt16LittleEndian(bpb.AsSpan(14));
            int fats = bpb[16];
            int rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(bpb.AsSpan(17));
            long totalSectors = BinaryPrimitives.ReadUInt16LittleEndian(bpb.AsSpan(19));
            long fatSize = BinaryPrimitives.ReadUInt16LittleEndian(bpb.AsSpan(22));
            if (totalSectors == 0)
            {
                totalSectors = BinaryPrimitives.ReadUInt32LittleEndian(bpb.AsSpan(32));
            }
            if (fatSize == 0)
            {
                fatSize = BinaryPrimitives.ReadUInt32LittleEndian(bpb.AsSpan(36));
            }
            if (bytesPerSector is not (512 or 1024 or 2048 or 4096) || sectorsPerCluster == 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) != 0
                || reserved == 0 || fats == 0 || fatSize == 0 || totalSectors == 0)
            {
                return null;
            }
            long rootSectors = ((rootEntries * DirectoryEntrySize) + bytesPerSector - 1) / bytesPerSector;
            long firstData = reserved + (fats * fatSize) + rootSectors;
            if (firstData >= totalSectors)
            {
                return null;
            }
            var clusters = (uint)Math.Min(uint.MaxValue, (totalSectors - firstData) / sectorsPerCluster);
            // The FAT type follows from the cluster count alone (FAT specification, "FAT Type Determination").
            var bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
            var rootCluster = bits == 32 ? BinaryPrimitives.ReadUInt32LittleEndian(bpb.AsSpan(44)) & 0x0FFFFFFF : 0;
            return new Fat(stream, bytesPerSector, sectorsPerCluster, (long)reserved * bytesPerSector,
                (reserved + (fats * fatSize)) * bytesPerSector, rootEntries, firstData * bytesPerSector, clusters, bits, rootCluster);
        }

        public IEnumerable<Entry> RootEntries()
        {
            if (_fatBits == 32)
            {
                return DirectoryEntries(_rootCluster);
            }
            var bytes = Read(_rootDirectoryOffset, _rootEntryCount * DirectoryEntrySize);
            return Parse(bytes);
        }

        public IEnumerable<Entry> DirectoryEntries(uint firstCluster)
        {
            var entries = new List<Entry>();
            foreach (var cluster in Chain(firstCluster))
            {
                var bytes = Read(ClusterOffset(cluster), ClusterSize);
                var parsed = Parse(bytes, out var ended);
                entries.AddRange(parsed);
                if (ended)
                {
                    break;
                }
            }
            return entries;
        }

        public Entry? Find(IEnumerable<Entry> entries, string shortName, bool directory) =>
            entries.Where(e => e.ShortName == shortName && ((e.Attributes & AttributeDirectory) != 0) == directory).Select(e => (Entry?)e).FirstOrDefault();

        /// <summary>The first <paramref name="length"/> bytes of the file starting at <paramref name="firstCluster"/>.</summary>
        public byte[] ReadStart(uint firstCluster, int length)
        {
            var result = new byte[length];
            var done = 0;
            foreach (var cluster in Chain(firstCluster))
            {
                if (done >= length)
                {
                    break;
                }
                var part = Read(ClusterOffset(cluster), Math.Min(ClusterSize, length - done));
                part.CopyTo(result, done);
                done += part.Length;
            }
            return result.AsSpan(0, done).ToArray();
        }

        private long ClusterOffset(uint cluster) => _dataOffset + ((long)(cluster - 2) * ClusterSize);

        private IEnumerable<uint> Chain(uint cluster)
        {
            var seen = 0;
            while (cluster >= 2 && cluster < _clusterCount + 2 && seen++ < MaximumClusterChain)
            {
                yield return cluster;
                cluster = Next(cluster);
            }
        }

        private uint Next(uint cluster)
        {
            switch (_fatBits)
            {
                case 12:
                {
                    var bytes = Read(_fatOffset + cluster + (cluster / 2), 2);
                    if (bytes.Length < 2)
                    {
                        return 0;
                    }
                    var pair = BinaryPrimitives.ReadUInt16LittleEndian(bytes);
                    var value = (cluster & 1) != 0 ? (uint)(pair >> 4) : (uint)(pair & 0x0FFF);
                    return value >= 0xFF8 ? 0 : value;
                }
                case 16:
                {
                    var bytes = Read(_fatOffset + (cluster * 2L), 2);
                    var value = bytes.Length < 2 ? 0u : BinaryPrimitives.ReadUInt16LittleEndian(bytes);
                    return value >= 0xFFF8 ? 0 : value;
                }
                default:
                {
                    var bytes = Read(_fatOffset + (cluster * 4L), 4);
                    var value = bytes.Length < 4 ? 0u : BinaryPrimitives.ReadUInt32LittleEndian(bytes) & 0x0FFFFFFF;
                    return value >= 0x0FFFFFF8 ? 0 : value;
                }
            }
        }

        private byte[] Read(long offset, int length)
        {
            if (offset < 0 || offset >= _stream.Length || length <= 0)
            {
                return [];
            }
            var buffer = new byte[(int)Math.Min(length, _stream.Length - offset)];
            _stream.Position = offset;
            _stream.ReadExactly(buffer);
            return buffer;
        }

        private static List<Entry> Parse(byte[] bytes) => Parse(bytes, out _);

        private static List<Entry> Parse(byte[] bytes, out bool ended)
        {
            var entries = new List<Entry>();
            ended = false;
            for (var i = 0; i + DirectoryEntrySize <= bytes.Length; i += DirectoryEntrySize)
            {
                var e = bytes.AsSpan(i, DirectoryEntrySize);
                if (e[0] == 0)
                {
                    ended = true;
                    break;
                }
                if (e[0] == 0xE5 || e[11] == AttributeLongName)
                {
                    continue;
                }
                var name = System.Text.Encoding.ASCII.GetString(e[..11]);
                var cluster = ((uint)BinaryPrimitives.ReadUInt16LittleEndian(e[20..]) << 16) | BinaryPrimitives.ReadUInt16LittleEndian(e[26..]);
                entries.Add(new Entry(name, e[11], cluster, BinaryPrimitives.ReadUInt32LittleEndian(e[28..])));
            }
            return entries;
        }
    }
}
