using System.Globalization;
using System.Security.Cryptography;

namespace ImageTools.TestSupport;

/// <summary>Facts about files that tests assert: content hash and space actually allocated.</summary>
public static class FileFacts
{
    public static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Bytes allocated on disk (st_blocks × 512), as <c>stat -c %b</c> reports.</summary>
    public static long AllocatedBytes(string path)
    {
        // Flush first: before write-back, ext4's delayed allocation may count blocks (extent-tree blocks
        // among them) that are not final, and two files written the same way could differ by a block.
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            RandomAccess.FlushToDisk(handle);
        }
        var r = ProcessRunner.Run("stat", "-c", "%b %B", path);
        if (r.ExitCode != 0)
        {
            throw new IOException($"stat {path} failed: {r.StdErr}");
        }
        var parts = r.StdOut.Trim().Split(' ');
        return long.Parse(parts[0], CultureInfo.InvariantCulture) * long.Parse(parts[1], CultureInfo.InvariantCulture);
    }
}
