using System.Security.Cryptography;

namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// The checksum functions a bmap may name in <c>&lt;ChecksumType&gt;</c>. bmaptool accepts any name Python's
/// hashlib knows and writes "sha256"; version 1.3 files use SHA-1 implicitly. We support the ones the BCL has.
/// </summary>
public static class BmapChecksum
{
    public const string Sha256 = "sha256";
    public const string Sha1 = "sha1";

    private static readonly Dictionary<string, (HashAlgorithmName Algorithm, int Bytes, string DisplayName)> Known =
        new(StringComparer.OrdinalIgnoreCase)
        {
            ["md5"] = (HashAlgorithmName.MD5, 16, "MD5"),
            [Sha1] = (HashAlgorithmName.SHA1, 20, "SHA-1"),
            [Sha256] = (HashAlgorithmName.SHA256, 32, "SHA-256"),
            ["sha384"] = (HashAlgorithmName.SHA384, 48, "SHA-384"),
            ["sha512"] = (HashAlgorithmName.SHA512, 64, "SHA-512"),
        };

    public static bool IsSupported(string type) => Known.ContainsKey(type);

    /// <summary>Length of the checksum in hex digits.</summary>
    public static int HexLength(string type) => Lookup(type).Bytes * 2;

    /// <summary>"SHA-256" for "sha256".</summary>
    public static string DisplayName(string type) => Lookup(type).DisplayName;

    public static IncrementalHash Create(string type) => IncrementalHash.CreateHash(Lookup(type).Algorithm);

    /// <summary>The checksum of <paramref name="data"/> in lower-case hex, as bmaptool writes it.</summary>
    public static string Compute(string type, ReadOnlySpan<byte> data)
    {
        using var hash = Create(type);
        hash.AppendData(data);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static (HashAlgorithmName Algorithm, int Bytes, string DisplayName) Lookup(string type) =>
        Known.TryGetValue(type, out var info)
            ? info
            : throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"bmap checksum type \"{type}\" is not supported (supported: {string.Join(", ", Known.Keys)})");
}
