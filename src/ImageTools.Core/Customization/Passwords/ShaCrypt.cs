using System.Security.Cryptography;
using System.Text;

namespace ImageTools.Core.Customization.Passwords;

/// <summary>
/// SHA-crypt (<c>$5$</c> SHA-256, <c>$6$</c> SHA-512), as specified by Ulrich Drepper ("Unix crypt using
/// SHA-256 and SHA-512", the text glibc and libxcrypt implement): what login.defs' ENCRYPT_METHOD SHA512/SHA256
/// asks for. The tests check the hashes against libxcrypt and <c>openssl passwd</c>.
/// </summary>
public static class ShaCrypt
{
    public const int DefaultRounds = 5000;
    public const int MinRounds = 1000;
    public const int MaxRounds = 999_999_999;
    private const int MaxSaltLength = 16;

    // The order in which the digest's bytes are taken, three at a time (the spec's final step).
    private static readonly int[] Sha512Order =
    {
        0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51,
        31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60,
        40, 61, 19, 62, 20, 41,
    };

    private static readonly int[] Sha256Order =
    {
        0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29,
    };

    /// <summary>A $6$ (or, with <paramref name="sha256"/>, $5$) hash with a new 16-character salt.</summary>
    public static string Hash(string password, bool sha256 = false, int? rounds = null) =>
        Hash(password, CryptBase64.RandomSalt(MaxSaltLength), sha256, rounds);

    /// <summary>The hash for a given salt (at most 16 characters are used, as the spec says); rounds null: the default 5000, not written.</summary>
    public static string Hash(string password, string salt, bool sha256, int? rounds)
    {
        if (salt.Length > MaxSaltLength)
        {
            salt = salt[..MaxSaltLength];
        }
        if (salt.Contains('$') || salt.Contains(':') || salt.Contains('\n'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"SHA-crypt salt '{salt}' holds a character a hash cannot (':', '$' or a line break)");
        }
        var count = rounds is int r ? Math.Clamp(r, MinRounds, MaxRounds) : DefaultRounds;
        var key = Encoding.UTF8.GetBytes(password);
        var saltBytes = Encoding.UTF8.GetBytes(salt);
        var digest = Compute(key, saltBytes, count, sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA512);
        var text = new StringBuilder(sha256 ? "$5$" : "$6$");
        if (rounds != null)
        {
            text.Append("rounds=").Append(count.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('$');
        }
        text.Append(salt).Append('$');
        var order = sha256 ? Sha256Order : Sha512Order;
        for (var i = 0; i < order.Length; i += 3)
        {
            Append(text, (digest[order[i]] << 16) | (digest[order[i + 1]] << 8) | digest[order[i + 2]], 4);
        }
        if (sha256)
        {
            Append(text, (digest[31] << 8) | digest[30], 3);
        }
        else
        {
            Append(text, digest[63], 2);
        }
        return text.ToString();
    }

    private static void Append(StringBuilder text, int value, int chars)
    {
        for (var i = 0; i < chars; i++)
        {
            text.Append(CryptBase64.Alphabet[value & 0x3F]);
            value >>= 6;
        }
    }

    private static byte[] Compute(byte[] key, byte[] salt, int rounds, HashAlgorithmName algorithm)
    {
        byte[] Digest(params ReadOnlySpan<byte[]> parts)
        {
            using var h = IncrementalHash.CreateHash(algorithm);
            foreach (var part in parts)
            {
                h.AppendData(part);
            }
            return h.GetHashAndReset();
        }
        var b = Digest(key, salt, key);
        byte[] a;
        using (var h = IncrementalHash.CreateHash(algorithm))
        {
            h.AppendData(key);
            h.AppendData(salt);
            AppendRepeated(h, b, key.Length);
            for (var n = key.Length; n > 0; n >>= 1)
            {
                h.AppendData((n & 1) != 0 ? b : key);
            }
            a = h.GetHashAndReset();
        }
        byte[] dp;
        using (var h = IncrementalHash.CreateHash(algorithm))
        {
            for (var i = 0; i < key.Length; i++)
            {
                h.AppendData(key);
            }
            dp = h.GetHashAndReset();
        }
        var p = Repeat(dp, key.Length);
        byte[] ds;
        using (var h = IncrementalHash.CreateHash(algorithm))
        {
            for (var i = 0; i < 16 + a[0]; i++)
            {
                h.AppendData(salt);
            }
            ds = h.GetHashAndReset();
        }
        var s = Repeat(ds, salt.Length);
        using var c = IncrementalHash.CreateHash(algorithm);
        for (var i = 0; i < rounds; i++)
        {
            c.AppendData((i & 1) != 0 ? p : a);
            if (i % 3 != 0)
            {
                c.AppendData(s);
            }
            if (i % 7 != 0)
            {
                c.AppendData(p);
            }
            c.AppendData((i & 1) != 0 ? a : p);
            a = c.GetHashAndReset();
        }
        return a;
    }

    private static void AppendRepeated(IncrementalHash h, byte[] block, int length)
    {
        for (; length > block.Length; length -= block.Length)
        {
            h.AppendData(block);
        }
        h.AppendData(block, 0, length);
    }

    private static byte[] Repeat(byte[] block, int length)
    {
        var result = new byte[length];
        for (var i = 0; i < length; i++)
        {
            result[i] = block[i % block.Length];
        }
        return result;
    }
}
