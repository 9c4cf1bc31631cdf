namespace ImageTools.TestSupport;

/// <summary>
/// Builds real sparse files for tests: a file of a given size (a hole throughout) with data written at
/// chosen ranges. The data is deterministic pseudo-random bytes (seeded), never zero-heavy by accident.
/// </summary>
public static partial class SparseFiles
{
    /// <summary>Creates <paramref name="path"/> as a hole of <paramref name="size"/> bytes with data at each (offset, length).</summary>
    public static string Create(string path, long size, IEnumerable<(long Offset, int Length)> data, int seed = 1)
    {
        var random = new Random(seed);
        using var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
        file.SetLength(size);
        foreach (var (offset, length) in data)
        {
            var bytes = RandomBytes(random, length);
            file.Position = offset;
            file.Write(bytes);
        }
        return path;
    }

    /// <summary>Creates a fully allocated file of random bytes.</summary>
    public static string CreateRandom(string path, long size, int seed = 2)
    {
        var random = new Random(seed);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        var buffer = new byte[1 << 20];
        for (long done = 0; done < size;)
        {
            var n = (int)Math.Min(buffer.Length, size - done);
            random.NextBytes(buffer.AsSpan(0, n));
            file.Write(buffer, 0, n);
            done += n;
        }
        return path;
    }

    /// <summary>Random bytes with no zero byte, so no block of them is ever all zero.</summary>
    public static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == 0)
            {
                bytes[i] = 0x5A;
            }
        }
        return bytes;
    }

    /// <summary>The bytes of <paramref name="path"/> in <c>[offset, offset + length)</c>.</summary>
    public static byte[] ReadRange(string path, long offset, int length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[length];
        file.Position = offset;
        file.ReadExactly(bytes);
        return bytes;
    }
}
