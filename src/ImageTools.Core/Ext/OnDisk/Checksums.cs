using System.Buffers.Binary;
using System.Numerics;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// CRC-32C (Castagnoli) as ext4 and jbd2 use it: the raw update step with no pre- or post-inversion
/// (Linux <c>crc32c(seed, data, len)</c>, e2fsprogs <c>ext2fs_crc32c_le</c>). Callers pass the seed:
/// ~0 for the superblock and the filesystem UUID, the running value elsewhere.
/// Hardware-accelerated through <see cref="BitOperations.Crc32C(uint, ulong)"/>.
/// </summary>
public static class Crc32c
{
    /// <summary>The seed ext4 starts from (~0).</summary>
    public const uint InitialSeed = 0xFFFFFFFF;

    public static uint Compute(uint seed, ReadOnlySpan<byte> data)
    {
        var crc = seed;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return crc;
    }

    /// <summary>Continues a checksum over a little-endian u32 (e.g. an inode number or generation).</summary>
    public static uint Append(uint crc, uint value) => BitOperations.Crc32C(crc, value);
}

/// <summary>
/// CRC-16 (polynomial 0x8005, reflected as 0xA001, no inversion), as the older uninit_bg/gdt_csum
/// group descriptor checksum uses it (ext4_group_desc_csum without metadata_csum).
/// </summary>
public static class Crc16
{
    private static readonly ushort[] Table = BuildTable();

    public static ushort Compute(ushort seed, ReadOnlySpan<byte> data)
    {
        var crc = seed;
        foreach (var b in data)
        {
            crc = (ushort)((crc >> 8) ^ Table[(crc ^ b) & 0xFF]);
        }
        return crc;
    }

    private static ushort[] BuildTable()
    {
        var table = new ushort[256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ushort)i;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 1) != 0 ? (ushort)((crc >> 1) ^ 0xA001) : (ushort)(crc >> 1);
            }
            table[i] = crc;
        }
        return table;
    }
}
