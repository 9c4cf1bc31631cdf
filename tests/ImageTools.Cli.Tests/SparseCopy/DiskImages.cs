using FluentAssertions;
using ImageTools.TestSupport;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// Partitioned disk images for the partition and bmap tests: sparse files whose tables sfdisk writes, with
/// pseudo-random data scattered inside the partitions (so copies can be told apart and holes stay holes), and
/// the byte-level views the checks need (dd extraction, hashes of ranges, single-byte pokes).
/// </summary>
internal static class DiskImages
{
    public const int Sector = 512;

    /// <summary>
    /// A sparse image of <paramref name="size"/> bytes with data at <paramref name="data"/> (offset, length) and the
    /// table of the sfdisk <paramref name="script"/> written over it (sfdisk writes only the MBR and EBR sectors).
    /// </summary>
    public static string Create(string path, long size, string script, IEnumerable<(long Offset, int Length)>? data = null, int seed = 1)
    {
        SparseFiles.Create(path, size, data ?? [], seed);
        Sfdisk.Apply(path, script);
        return path;
    }

    /// <summary>Data every 1 MiB from <paramref name="from"/> to <paramref name="to"/>: 3000 bytes at an odd offset, leaving holes between.</summary>
    public static IEnumerable<(long Offset, int Length)> Scattered(long from, long to)
    {
        for (var at = from; at + (1 << 20) <= to; at += 1 << 20)
        {
            yield return (at + 1234, 3000);
        }
    }

    /// <summary>The SHA-256 of <c>dd if=IMAGE bs=512 skip=START count=SECTORS</c>, extracted to <paramref name="output"/>.</summary>
    public static string Dd(string image, long startSector, long sectors, string output)
    {
        var r = ExternalTools.Run("dd", $"if={image}", $"of={output}", $"bs={Sector}", $"skip={startSector}", $"count={sectors}", "status=none");
        r.ExitCode.Should().Be(0, r.ToString());
        return FileFacts.Sha256(output);
    }

    /// <summary>SHA-256 of bytes [offset, offset + length) of a file or device.</summary>
    public static string RangeSha256(string path, long offset, long length)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        f.Position = offset;
        for (var left = length; left > 0;)
        {
            var n = f.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0)
            {
                break;
            }
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static void Poke(string path, long offset, params byte[] bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.Position = offset;
        f.Write(bytes);
    }

    public static void PokeUInt32(string path, long offset, uint value)
    {
        var b = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Poke(path, offset, b);
    }

    /// <summary>The partition as <c>sfdisk -J</c> reports it.</summary>
    public static SfdiskPartition Partition(string image, int number) => Sfdisk.Json(image).Partitions.Single(p => p.Number == number);

    /// <summary>Compresses a file with an external tool into NAME.EXT (keeping the original).</summary>
    public static string Compress(string path, string tool)
    {
        var (ext, args) = tool switch
        {
            "gzip" => (".gz", new[] { "-k", "-f", "-1", path }),
            "zstd" => (".zst", new[] { "-q", "-f", "-1", path }),
            "xz" => (".xz", new[] { "-k", "-f", "-0", "-T1", path }),
            _ => throw new ArgumentException(tool),
        };
        var r = ExternalTools.Run(tool, args);
        r.ExitCode.Should().Be(0, r.ToString());
        return path + ext;
    }
}
