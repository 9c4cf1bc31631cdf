using System.Buffers.Binary;

namespace ImageTools.Core.Containers.Qcow2;

/// <summary>
/// The qcow2 header at offset 0 (QEMU docs/interop/qcow2.txt, "Header"), big-endian. Version 2 ends at byte 72;
/// version 3 adds the feature bitmaps, refcount_order and header_length (104), and byte 104 compression_type
/// (header_length 112 when present, a multiple of 8).
/// </summary>
public sealed record Qcow2Header
{
    public const uint Magic = 0x514649FB; // "QFI\xfb"
    public const int Version2Length = 72;
    public const int Version3Length = 104;
    public const int Version3WithCompressionLength = 112;

    // Byte offsets of the fields.
    private const int MagicOffset = 0, VersionOffset = 4, BackingFileOffsetOffset = 8, BackingFileSizeOffset = 16, ClusterBitsOffset = 20;
    private const int SizeOffset = 24, CryptMethodOffset = 32, L1SizeOffset = 36, L1TableOffsetOffset = 40, RefcountTableOffsetOffset = 48;
    private const int RefcountTableClustersOffset = 56, SnapshotCountOffset = 60, SnapshotsOffsetOffset = 64;
    private const int IncompatibleOffset = 72, CompatibleOffset = 80, AutoclearOffset = 88, RefcountOrderOffset = 96, HeaderLengthOffset = 100;
    private const int CompressionTypeOffset = 104;

    /// <summary>Incompatible feature bits (header bytes 72-79).</summary>
    public const ulong DirtyBit = 1UL << 0, CorruptBit = 1UL << 1, ExternalDataFileBit = 1UL << 2, CompressionTypeBit = 1UL << 3, ExtendedL2Bit = 1UL << 4;

    public const int MinClusterBits = 9;
    /// <summary>qemu's implementation limit (2 MiB clusters).</summary>
    public const int MaxClusterBits = 21;
    /// <summary>qemu's limit on the L1 table (32 MiB): a bound on what a hostile header makes us allocate.</summary>
    public const long MaxL1Bytes = 32L << 20;
    public const int MaxBackingFileNameLength = 1023;

    public uint Version { get; init; } = 3;
    public ulong BackingFileOffset { get; init; }
    public uint BackingFileSize { get; init; }
    public int ClusterBits { get; init; } = 16;
    public ulong Size { get; init; }
    public uint CryptMethod { get; init; }
    public uint L1Size { get; init; }
    public ulong L1TableOffset { get; init; }
    public ulong RefcountTableOffset { get; init; }
    public uint RefcountTableClusters { get; init; }
    public uint SnapshotCount { get; init; }
    public ulong SnapshotsOffset { get; init; }
    public ulong IncompatibleFeatures { get; init; }
    public ulong CompatibleFeatures { get; init; }
    public ulong AutoclearFeatures { get; init; }
    public uint RefcountOrder { get; init; } = 4;
    public uint HeaderLength { get; init; } = Version3Length;
    /// <summary>0 zlib, 1 zstd (present only when header_length &gt; 104).</summary>
    public byte CompressionType { get; init; }

    public long ClusterSize => 1L << ClusterBits;

    /// <summary>Reads and validates the header (<paramref name="name"/> names the file in messages).</summary>
    public static Qcow2Header Read(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < Version2Length)
        {
            throw Corrupt(name, 0, "header", $"the file is {data.Length} bytes long, shorter than a qcow2 header ({Version2Length} bytes)");
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(data[MagicOffset..]) != Magic)
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{name} is not a qcow2 image (no QFI\\xfb magic at offset 0)") { Path = name };
        }
        var version = BinaryPrimitives.ReadUInt32BigEndian(data[VersionOffset..]);
        if (version is not (2 or 3))
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{name}: qcow2 version {version} (offset {VersionOffset}) is not supported; versions 2 and 3 are") { Path = name };
        }
        var header = new Qcow2Header
        {
            Version = version,
            BackingFileOffset = BinaryPrimitives.ReadUInt64BigEndian(data[BackingFileOffsetOffset..]),
            BackingFileSize = BinaryPrimitives.ReadUInt32BigEndian(data[BackingFileSizeOffset..]),
            ClusterBits = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[ClusterBitsOffset..]), 64),
            Size = BinaryPrimitives.ReadUInt64BigEndian(data[SizeOffset..]),
            CryptMethod = BinaryPrimitives.ReadUInt32BigEndian(data[CryptMethodOffset..]),
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[L1SizeOffset..]),
            L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[L1TableOffsetOffset..]),
            RefcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[RefcountTableOffsetOffset..]),
            RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(data[RefcountTableClustersOffset..]),
            SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(data[SnapshotCountOffset..]),
            SnapshotsOffset = BinaryPrimitives.ReadUInt64BigEndian(data[SnapshotsOffsetOffset..]),
            HeaderLength = Version2Length,
        };
        if (version >= 3)
        {
            if (data.Length < Version3Length)
            {
                throw Corrupt(name, 0, "header", $"a version 3 header needs {Version3Length} bytes; the file has {data.Length}");
            }
            var length = BinaryPrimitives.ReadUInt32BigEndian(data[HeaderLengthOffset..]);
            header = header with
            {
                IncompatibleFeatures = BinaryPrimitives.ReadUInt64BigEndian(data[IncompatibleOffset..]),
                CompatibleFeatures = BinaryPrimitives.ReadUInt64BigEndian(data[CompatibleOffset..]),
                AutoclearFeatures = BinaryPrimitives.ReadUInt64BigEndian(data[AutoclearOffset..]),
                RefcountOrder = BinaryPrimitives.ReadUInt32BigEndian(data[RefcountOrderOffset..]),
                HeaderLength = length,
                CompressionType = length > CompressionTypeOffset && data.Length > CompressionTypeOffset ? data[CompressionTypeOffset] : (byte)0,
            };
        }
        header.Validate(name);
        return header;
    }

    /// <summary>Writes the header (<see cref="HeaderLength"/> bytes) after validating it.</summary>
    public void Write(Span<byte> data)
    {
        Validate("qcow2 header being written");
        if (data.Length < HeaderLength)
        {
            throw new ArgumentException($"the header needs {HeaderLength} bytes", nameof(data));
        }
        data[..(int)HeaderLength].Clear();
        BinaryPrimitives.WriteUInt32BigEndian(data[MagicOffset..], Magic);
        BinaryPrimitives.WriteUInt32BigEndian(data[VersionOffset..], Version);
        BinaryPrimitives.WriteUInt64BigEndian(data[BackingFileOffsetOffset..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[BackingFileSizeOffset..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(data[ClusterBitsOffset..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(data[SizeOffset..], Size);
        BinaryPrimitives.WriteUInt32BigEndian(data[CryptMethodOffset..], CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(data[L1SizeOffset..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(data[L1TableOffsetOffset..], L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(data[RefcountTableOffsetOffset..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[RefcountTableClustersOffset..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(data[SnapshotCountOffset..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(data[SnapshotsOffsetOffset..], SnapshotsOffset);
        if (Version >= 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(data[IncompatibleOffset..], IncompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(data[CompatibleOffset..], CompatibleFeatures);
            BinaryPrimitives.WriteUInt64BigEndian(data[AutoclearOffset..], AutoclearFeatures);
            BinaryPrimitives.WriteUInt32BigEndian(data[RefcountOrderOffset..], RefcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(data[HeaderLengthOffset..], HeaderLength);
            if (HeaderLength > CompressionTypeOffset)
            {
                data[CompressionTypeOffset] = CompressionType;
            }
        }
    }

    /// <summary>The checks both directions share: field ranges and alignments the format requires.</summary>
    public void Validate(string name)
    {
        if (ClusterBits is < MinClusterBits or > MaxClusterBits)
        {
            throw Corrupt(name, ClusterBitsOffset, "cluster_bits", $"{ClusterBits} is outside {MinClusterBits}..{MaxClusterBits} (512 bytes to 2 MiB clusters)");
        }
        var mask = (ulong)ClusterSize - 1;
        if (Size > long.MaxValue / 2)
        {
            throw Corrupt(name, SizeOffset, "size", $"virtual size {Size} is not plausible");
        }
        if (Version >= 3)
        {
            if (HeaderLength < Version3Length || HeaderLength % 8 != 0 || HeaderLength > ClusterSize)
            {
                throw Corrupt(name, HeaderLengthOffset, "header_length", $"{HeaderLength} must be at least {Version3Length}, a multiple of 8 and within the first cluster");
            }
            if (RefcountOrder > 6)
            {
                throw Corrupt(name, RefcountOrderOffset, "refcount_order", $"{RefcountOrder} is more than 6");
            }
        }
        if ((L1TableOffset & mask) != 0)
        {
            throw Corrupt(name, L1TableOffsetOffset, "l1_table_offset", $"{L1TableOffset} is not aligned to the {ClusterSize}-byte cluster");
        }
        if ((ulong)L1Size * 8 > MaxL1Bytes)
        {
            throw Corrupt(name, L1SizeOffset, "l1_size", $"{L1Size} entries is more than qemu's limit of {MaxL1Bytes >> 20} MiB of L1 table");
        }
        var l2Coverage = (ulong)ClusterSize * (ulong)(ClusterSize / 8);
        var needed = (Size + l2Coverage - 1) / l2Coverage;
        if (L1Size < needed)
        {
            throw Corrupt(name, L1SizeOffset, "l1_size", $"{L1Size} entries cover less than the virtual size {Size} (it needs {needed})");
        }
        if (BackingFileOffset != 0 && (BackingFileSize == 0 || BackingFileSize > MaxBackingFileNameLength || BackingFileOffset + BackingFileSize > (ulong)ClusterSize))
        {
            throw Corrupt(name, BackingFileSizeOffset, "backing_file_size",
                $"backing file name of {BackingFileSize} bytes at offset {BackingFileOffset} must be 1..{MaxBackingFileNameLength} bytes within the first cluster");
        }
        if ((IncompatibleFeatures & CompressionTypeBit) != 0 && CompressionType == 0)
        {
            throw Corrupt(name, CompressionTypeOffset, "compression_type", "the compression-type feature bit is set but compression_type is 0");
        }
        if ((IncompatibleFeatures & CompressionTypeBit) == 0 && CompressionType != 0)
        {
            throw Corrupt(name, CompressionTypeOffset, "compression_type", $"{CompressionType} without the compression-type incompatible feature bit");
        }
    }

    internal static ImageToolsException Corrupt(string name, long offset, string field, string problem) =>
        new(ErrorKind.CorruptImage, $"{name}: qcow2 {field} at offset {offset}: {problem}; the image is damaged (qemu-img check {name} says more)") { Path = name };
}
