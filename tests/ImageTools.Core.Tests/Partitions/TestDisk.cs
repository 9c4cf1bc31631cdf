using ImageTools.TestSupport;

namespace ImageTools.Core.Tests.Partitions;

/// <summary>Sparse disk images in a temp folder, and the sector-level pokes the corruption tests need.</summary>
internal static class TestDisk
{
    public const int Sector = 512;

    /// <summary>A sparse file of <paramref name="bytes"/> bytes (no data blocks allocated).</summary>
    public static string Create(TempDirectory dir, string name, long bytes)
    {
        var path = dir.File(name);
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(bytes);
        return path;
    }

    public static byte[] ReadSector(string path, long lba) => ReadBytes(path, lba * Sector, Sector);

    public static byte[] ReadBytes(string path, long offset, int count)
    {
        using var f = File.OpenRead(path);
        f.Position = offset;
        var buffer = new byte[count];
        f.ReadExactly(buffer);
        return buffer;
    }

    public static void WriteBytes(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        f.Position = offset;
        f.Write(bytes);
    }

    public static void WriteUInt32(string path, long offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        WriteBytes(path, offset, b);
    }

    /// <summary>Fills the file with pseudo-random bytes from <paramref name="seed"/> (so partitions hold telling data).</summary>
    public static void FillRandom(string path, int seed)
    {
        var random = new Random(seed);
        var buffer = new byte[1 << 20];
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        var length = f.Length;
        for (long at = 0; at < length; at += buffer.Length)
        {
            random.NextBytes(buffer);
            f.Write(buffer, 0, (int)Math.Min(buffer.Length, length - at));
        }
    }

    public static Core.Partitions.PartitionTable ReadTable(string path)
    {
        using var f = File.OpenRead(path);
        return Core.Partitions.PartitionTable.Read(f, source: path);
    }
}
