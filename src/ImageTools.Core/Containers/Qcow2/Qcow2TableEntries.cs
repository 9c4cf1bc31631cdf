using System.Buffers.Binary;

namespace ImageTools.Core.Containers.Qcow2;

/// <summary>
/// An L1 table entry (qcow2.txt "Cluster mapping"): bits 9-55 the L2 table's host offset (0: no L2 table, every
/// cluster it covers unallocated), bit 63 "refcount exactly one"; bits 0-8 and 56-62 reserved.
/// </summary>
public readonly record struct Qcow2L1Entry(long L2Offset, bool Copied)
{
    public const int Size = 8;
    private const ulong OffsetMask = 0x00FF_FFFF_FFFF_FE00UL;
    private const ulong CopiedBit = 1UL << 63;
    private const ulong ReservedMask = ~(OffsetMask | CopiedBit);

    /// <summary>Decodes the entry; <paramref name="problem"/> says what is wrong with it, or is null.</summary>
    public static Qcow2L1Entry Read(ReadOnlySpan<byte> data, out string? problem)
    {
        var raw = BinaryPrimitives.ReadUInt64BigEndian(data);
        problem = (raw & ReservedMask) != 0 ? $"reserved bits set (0x{raw:x16})" : null;
        return new Qcow2L1Entry((long)(raw & OffsetMask), (raw & CopiedBit) != 0);
    }

    public void Write(Span<byte> data)
    {
        if (((ulong)L2Offset & ~OffsetMask) != 0)
        {
            throw new ArgumentException($"L2 offset {L2Offset} is not 512-aligned or beyond 56 bits");
        }
        BinaryPrimitives.WriteUInt64BigEndian(data, (ulong)L2Offset | (Copied ? CopiedBit : 0));
    }
}

/// <summary>What an L2 entry says about one guest cluster.</summary>
public enum Qcow2ClusterKind
{
    /// <summary>Offset 0, not zero: read from the backing file, or zeros without one.</summary>
    Unallocated,
    /// <summary>Standard descriptor with bit 0 set (v3): reads as zeros, never from the backing file.</summary>
    Zero,
    /// <summary>Standard descriptor: the cluster's bytes at a cluster-aligned host offset.</summary>
    Standard,
    /// <summary>Compressed descriptor (bit 62): a compressed stream at any host byte offset.</summary>
    Compressed,
}

/// <summary>
/// An L2 table entry (qcow2.txt "Cluster mapping"), without extended L2 entries. Standard: bits 9-55 the host
/// cluster offset, bit 0 "reads as zeros", bit 63 "refcount exactly one". Compressed (bit 62): with
/// x = 62 - (cluster_bits - 8), bits 0..x-1 the host byte offset and bits x..61 the number of 512-byte sectors
/// the compressed data uses beyond the one holding its first byte.
/// </summary>
public readonly record struct Qcow2L2Entry(Qcow2ClusterKind Kind, long HostOffset, int CompressedSectors = 0, bool Copied = false)
{
    public const int Size = 8;
    private const ulong CopiedBit = 1UL << 63;
    private const ulong CompressedBit = 1UL << 62;
    private const ulong StandardOffsetMask = 0x00FF_FFFF_FFFF_FE00UL;
    private const ulong ZeroBit = 1UL;
    private const ulong StandardReservedMask = 0x3F00_0000_0000_01FEUL; // bits 1-8 and 56-61

    public static Qcow2L2Entry Unallocated => default;

    /// <summary>Bytes of host file a compressed cluster's data may span: to the end of its last sector.</summary>
    public long CompressedLength => (HostOffset & ~511L) + (CompressedSectors + 1L) * 512 - HostOffset;

    public static Qcow2L2Entry Read(ReadOnlySpan<byte> data, int clusterBits, out string? problem)
    {
        var raw = BinaryPrimitives.ReadUInt64BigEndian(data);
        problem = null;
        if ((raw & CompressedBit) != 0)
        {
            var x = 62 - (clusterBits - 8);
            var offset = (long)(raw & ((1UL << x) - 1));
            var sectors = (int)((raw >> x) & ((1UL << (62 - x)) - 1));
            if ((raw & CopiedBit) != 0)
            {
                problem = $"compressed cluster with the 'copied' bit 63 set (0x{raw:x16})";
            }
            return new Qcow2L2Entry(Qcow2ClusterKind.Compressed, offset, sectors);
        }
        if ((raw & StandardReservedMask) != 0)
        {
            problem = $"reserved bits set (0x{raw:x16})";
        }
        var host = (long)(raw & StandardOffsetMask);
        var copied = (raw & CopiedBit) != 0;
        if ((raw & ZeroBit) != 0)
        {
            return new Qcow2L2Entry(Qcow2ClusterKind.Zero, host, 0, copied);
        }
        return host == 0 && !copied ? Unallocated : new Qcow2L2Entry(Qcow2ClusterKind.Standard, host, 0, copied);
    }

    public void Write(Span<byte> data, int clusterBits)
    {
        ulong raw;
        switch (Kind)
        {
            case Qcow2ClusterKind.Unallocated:
                raw = 0;
                break;
            case Qcow2ClusterKind.Zero:
                raw = ((ulong)HostOffset & StandardOffsetMask) | ZeroBit | (Copied ? CopiedBit : 0);
                break;
            case Qcow2ClusterKind.Standard:
                if (((ulong)HostOffset & ~StandardOffsetMask) != 0 || (HostOffset & ((1L << clusterBits) - 1)) != 0)
                {
                    throw new ArgumentException($"host cluster offset {HostOffset} is not cluster-aligned or beyond 56 bits");
                }
                raw = (ulong)HostOffset | (Copied ? CopiedBit : 0);
                break;
            default:
                var x = 62 - (clusterBits - 8);
                if ((ulong)HostOffset >= 1UL << x || CompressedSectors < 0 || (ulong)CompressedSectors >= 1UL << (62 - x))
                {
                    throw new ArgumentException($"compressed cluster at {HostOffset} with {CompressedSectors} more sectors does not fit the descriptor");
                }
                raw = CompressedBit | ((ulong)CompressedSectors << x) | (ulong)HostOffset;
                break;
        }
        BinaryPrimitives.WriteUInt64BigEndian(data, raw);
    }
}
