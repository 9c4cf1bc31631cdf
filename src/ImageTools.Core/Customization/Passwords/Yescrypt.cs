using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace ImageTools.Core.Customization.Passwords;

/// <summary>
/// yescrypt password hashing as libxcrypt does it for <c>$y$</c> hashes (the default of Debian 11+, Fedora 35+,
/// Ubuntu 22.04+: <c>ENCRYPT_METHOD YESCRYPT</c> in /etc/login.defs). Only what those hashes use: the RW flavour
/// with pwxform (6 rounds, gather 4, simple 2, a 12 KiB S-box), p = 1, no ROM, no t, no key. Written from the
/// yescrypt specification and its reference implementation (openwall yescrypt, yescrypt-ref.c and
/// yescrypt-common.c); the tests check hashes against the system's libxcrypt in both directions.
/// Memory: 128 * r * N bytes (16 MiB at the default cost).
/// </summary>
public static class Yescrypt
{
    private const uint FlagRw = 0x002;
    private const uint FlagPrehash = 0x10000000;
    /// <summary>YESCRYPT_DEFAULTS: RW | ROUNDS_6 | GATHER_4 | SIMPLE_2 | SBOX_12K.</summary>
    private const uint FlagsDefault = 0x0B6;
    private const uint RwFlavorMask = 0x3FC;

    private const int PwxSimple = 2;
    private const int PwxGather = 4;
    private const int PwxRounds = 6;
    private const int SWidth = 8;
    private const int PwxWords = PwxGather * PwxSimple * 2;           // 16 words, 64 bytes
    private const int SBytes = 3 * (1 << SWidth) * PwxSimple * 8;     // 12288
    private const int SWords = SBytes / 4;
    private const uint SMask = ((1 << SWidth) - 1) * PwxSimple * 8;   // byte mask into one S-box
    private const int SBoxWords = (1 << SWidth) * PwxSimple * 2;      // words per S-box (S0, S1, S2)

    /// <summary>
    /// The setting libxcrypt's crypt_gensalt makes for a cost factor (login.defs' YESCRYPT_COST_FACTOR, 1..11,
    /// default 5): r = 8 and N = 2^(9+cost) for cost 1 and 2, else r = 32 and N = 2^(7+cost); 16 random salt bytes.
    /// </summary>
    public static string NewSetting(int cost = 5, byte[]? salt = null)
    {
        if (cost is < 1 or > 11)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"yescrypt cost factor {cost}: it goes from 1 to 11 (login.defs YESCRYPT_COST_FACTOR)");
        }
        var (nLog2, r) = cost <= 2 ? (9 + cost, 8u) : (7 + cost, 32u);
        salt ??= RandomNumberGenerator.GetBytes(16);
        var flavor = (FlagsDefault & 3) + ((FlagsDefault & RwFlavorMask) >> 2);
        return "$y$" + EncodeNumber(flavor, 0) + EncodeNumber((uint)nLog2, 1) + EncodeNumber(r, 1) + "$" + CryptBase64.EncodeLittleEndian(salt);
    }

    /// <summary>Hashes <paramref name="password"/> with a new random salt at the given cost.</summary>
    public static string Hash(string password, int cost = 5) => Hash(password, NewSetting(cost));

    /// <summary>crypt(password, setting) for a <c>$y$</c> setting (or a whole hash, whose hash part is ignored).</summary>
    public static string Hash(string password, string setting)
    {
        var (flags, n, r, prefix, saltText) = ParseSetting(setting);
        var salt = CryptBase64.DecodeLittleEndian(saltText)
            ?? throw new ImageToolsException(ErrorKind.InvalidArgument, $"yescrypt setting '{setting}': the salt is not valid crypt base-64");
        var hash = Kdf(Encoding.UTF8.GetBytes(password), salt, flags, n, r);
        return prefix + saltText + "$" + CryptBase64.EncodeLittleEndian(hash);
    }

    private static (uint Flags, ulong N, uint R, string Prefix, string Salt) ParseSetting(string setting)
    {
        ImageToolsException Bad(string why) => new(ErrorKind.InvalidArgument, $"yescrypt setting '{setting}': {why}");
        if (!setting.StartsWith("$y$", StringComparison.Ordinal))
        {
            throw Bad("it does not start with $y$");
        }
        var at = 3;
        var flavor = DecodeNumber(setting, ref at, 0) ?? throw Bad("bad flavour");
        uint flags = flavor < FlagRw ? flavor
            : flavor <= FlagRw + (RwFlavorMask >> 2) ? FlagRw + ((flavor - FlagRw) << 2)
            : throw Bad("unknown flavour");
        if (flags != FlagsDefault)
        {
            throw Bad("only the standard RW flavour (as crypt_gensalt makes it) is supported");
        }
        var nLog2 = DecodeNumber(setting, ref at, 1) ?? throw Bad("bad N");
        var r = DecodeNumber(setting, ref at, 1) ?? throw Bad("bad r");
        if (at >= setting.Length || setting[at] != '$')
        {
            throw Bad("p, t, g or a ROM are not supported (only p = 1)");
        }
        at++;
        // At most 1 GiB (cost factor 11, the most login.defs allows, needs exactly that).
        if (nLog2 is < 1 or > 30 || r is < 1 or > 1024 || (1UL << (int)nLog2) * r * 128 > 1UL << 30)
        {
            throw Bad("N or r out of the supported range");
        }
        var end = setting.IndexOf('$', at);
        var salt = end < 0 ? setting[at..] : setting[at..end];
        return (flags, 1UL << (int)nLog2, r, setting[..at], salt);
    }

    private static string EncodeNumber(uint value, uint min)
    {
        uint start = 0, end = 47, chars = 1, bits = 0;
        value -= min;
        while (true)
        {
            var count = (end + 1 - start) << (int)bits;
            if (value < count)
            {
                break;
            }
            start = end + 1;
            end = start + (62 - end) / 2;
            value -= count;
            chars++;
            bits += 6;
        }
        var text = new StringBuilder();
        text.Append(CryptBase64.Alphabet[(int)(start + (value >> (int)bits))]);
        while (--chars > 0)
        {
            bits -= 6;
            text.Append(CryptBase64.Alphabet[(int)((value >> (int)bits) & 0x3F)]);
        }
        return text.ToString();
    }

    private static uint? DecodeNumber(string text, ref int at, uint min)
    {
        uint start = 0, end = 47, chars = 1, bits = 0;
        var c = at < text.Length ? CryptBase64.ValueOf(text[at]) : -1;
        if (c < 0)
        {
            return null;
        }
        at++;
        var value = min;
        while ((uint)c > end)
        {
            value += (end + 1 - start) << (int)bits;
            start = end + 1;
            end = start + (62 - end) / 2;
            chars++;
            bits += 6;
        }
        value += ((uint)c - start) << (int)bits;
        while (--chars > 0)
        {
            var next = at < text.Length ? CryptBase64.ValueOf(text[at]) : -1;
            if (next < 0)
            {
                return null;
            }
            at++;
            bits -= 6;
            value += (uint)next << (int)bits;
        }
        return value;
    }

    /// <summary>yescrypt_kdf with p = 1, t = 0, no ROM, 32 bytes out.</summary>
    internal static byte[] Kdf(byte[] password, byte[] salt, uint flags, ulong n, uint r)
    {
        if ((flags & FlagRw) != 0 && n >= 0x100 && n * r >= 0x20000)
        {
            // Pre-hashing with N/64 first: an attacker cannot skip the large allocation (yescrypt_kdf).
            password = KdfBody(password, salt, flags | FlagPrehash, n >> 6, r);
        }
        return KdfBody(password, salt, flags, n, r);
    }

    private static byte[] KdfBody(byte[] password, byte[] salt, uint flags, ulong n, uint r)
    {
        var key = (flags & FlagPrehash) != 0 ? "yescrypt-prehash"u8.ToArray() : "yescrypt"u8.ToArray();
        var passwd = HMACSHA256.HashData(key, password);
        var s = 32 * (int)r;
        var bBytes = Rfc2898DeriveBytes.Pbkdf2(passwd, salt, 1, HashAlgorithmName.SHA256, 128 * (int)r);
        var b = Words(bBytes);
        // sha256 <- the first 32 bytes of B; it is the password of the last PBKDF2 (after smix rehashes it).
        bBytes.AsSpan(0, 32).CopyTo(passwd);
        var v = new uint[checked((int)n * s)];
        var xy = new uint[2 * s];
        var sbox = new uint[SWords];
        Smix(b, (int)r, n, flags, v, xy, sbox, passwd);
        var bOut = Bytes(b);
        var dk = Rfc2898DeriveBytes.Pbkdf2(passwd, bOut, 1, HashAlgorithmName.SHA256, 32);
        if ((flags & FlagPrehash) != 0)
        {
            return dk;
        }
        // SCRAM's last steps: ClientKey = HMAC(dk, "Client Key"), StoredKey = SHA-256(ClientKey).
        var clientKey = HMACSHA256.HashData(dk, "Client Key"u8);
        return SHA256.HashData(clientKey);
    }

    private static uint[] Words(byte[] bytes)
    {
        var words = new uint[bytes.Length / 4];
        for (var i = 0; i < words.Length; i++)
        {
            words[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * i));
        }
        return words;
    }

    private static byte[] Bytes(ReadOnlySpan<uint> words)
    {
        var bytes = new byte[words.Length * 4];
        for (var i = 0; i < words.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), words[i]);
        }
        return bytes;
    }

    /// <summary>The pwxform state: the S-box (S2, S1, S0 as word offsets into it) and the write index w.</summary>
    private sealed class PwxformContext(uint[] s)
    {
        public readonly uint[] S = s;
        public int S0 = 2 * SBoxWords;
        public int S1 = SBoxWords;
        public int S2;
        public int W;
    }

    private static void Smix(uint[] b, int r, ulong n, uint flags, uint[] v, uint[] xy, uint[] sbox, byte[] passwd)
    {
        var s = 32 * r;
        // p = 1, t = 0: Nloop_all = ceil(N / 3) (RW), all of it read-write; both rounded up to even.
        var nloopAll = (n + 2) / 3;
        var nloopRw = nloopAll;
        nloopAll = (nloopAll + 1) & ~1UL;
        nloopRw = (nloopRw + 1) & ~1UL;

        // The S-box is filled by SMix1 with r = 1 (salsa20/8), which also changes B's first block.
        Smix1(b, 1, (ulong)(SBytes / 128), 0, sbox, xy, null);
        var ctx = new PwxformContext(sbox);
        // passwd <- HMAC-SHA256(key: the last 64 bytes of B, message: passwd).
        var last = Bytes(b.AsSpan(s - 16, 16));
        HMACSHA256.HashData(last, passwd).CopyTo(passwd, 0);

        Smix1(b, r, n, flags, v, xy, ctx);
        Smix2(b, r, n, nloopRw, flags, v, xy, ctx);
        Smix2(b, r, n, nloopAll - nloopRw, flags & ~FlagRw, v, xy, ctx);
    }

    private static void LoadShuffled(uint[] b, Span<uint> x, int r)
    {
        for (var k = 0; k < 2 * r; k++)
        {
            for (var i = 0; i < 16; i++)
            {
                x[k * 16 + i] = b[k * 16 + i * 5 % 16];
            }
        }
    }

    private static void StoreShuffled(uint[] b, ReadOnlySpan<uint> x, int r)
    {
        for (var k = 0; k < 2 * r; k++)
        {
            for (var i = 0; i < 16; i++)
            {
                b[k * 16 + i * 5 % 16] = x[k * 16 + i];
            }
        }
    }

    private static void Smix1(uint[] b, int r, ulong n, uint flags, uint[] v, uint[] xy, PwxformContext? ctx)
    {
        var s = 32 * r;
        var x = xy.AsSpan(0, s);
        var y = xy.AsSpan(s, s);
        LoadShuffled(b, x, r);
        for (ulong i = 0; i < n; i++)
        {
            x.CopyTo(v.AsSpan(checked((int)i * s), s));
            if ((flags & FlagRw) != 0 && i > 1)
            {
                var j = Wrap(Integerify(x, r), i);
                Xor(x, v.AsSpan(checked((int)j * s), s));
            }
            if (ctx != null)
            {
                BlockmixPwxform(x, ctx, r);
            }
            else
            {
                BlockmixSalsa8(x, y, r);
            }
        }
        StoreShuffled(b, x, r);
    }

    private static void Smix2(uint[] b, int r, ulong n, ulong nloop, uint flags, uint[] v, uint[] xy, PwxformContext? ctx)
    {
        var s = 32 * r;
        var x = xy.AsSpan(0, s);
        var y = xy.AsSpan(s, s);
        LoadShuffled(b, x, r);
        for (ulong i = 0; i < nloop; i++)
        {
            var j = Integerify(x, r) & (n - 1);
            var vj = v.AsSpan(checked((int)j * s), s);
            Xor(x, vj);
            if ((flags & FlagRw) != 0)
            {
                x.CopyTo(vj);
            }
            if (ctx != null)
            {
                BlockmixPwxform(x, ctx, r);
            }
            else
            {
                BlockmixSalsa8(x, y, r);
            }
        }
        StoreShuffled(b, x, r);
    }

    private static ulong Integerify(ReadOnlySpan<uint> b, int r)
    {
        var x = b.Slice((2 * r - 1) * 16, 16);
        return ((ulong)x[13] << 32) + x[0];
    }

    private static ulong Wrap(ulong x, ulong i)
    {
        var n = 1UL << (63 - BitOperations.LeadingZeroCount(i));
        return (x & (n - 1)) + (i - n);
    }

    private static void Xor(Span<uint> destination, ReadOnlySpan<uint> source)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] ^= source[i];
        }
    }

    private static void BlockmixSalsa8(Span<uint> b, Span<uint> y, int r)
    {
        Span<uint> x = stackalloc uint[16];
        b.Slice((2 * r - 1) * 16, 16).CopyTo(x);
        for (var i = 0; i < 2 * r; i++)
        {
            Xor(x, b.Slice(i * 16, 16));
            Salsa20(x, 8);
            x.CopyTo(y.Slice(i * 16, 16));
        }
        for (var i = 0; i < r; i++)
        {
            y.Slice(i * 2 * 16, 16).CopyTo(b.Slice(i * 16, 16));
        }
        for (var i = 0; i < r; i++)
        {
            y.Slice((i * 2 + 1) * 16, 16).CopyTo(b.Slice((i + r) * 16, 16));
        }
    }

    private static void BlockmixPwxform(Span<uint> b, PwxformContext ctx, int r)
    {
        Span<uint> x = stackalloc uint[PwxWords];
        var r1 = 128 * r / (PwxWords * 4);
        b.Slice((r1 - 1) * PwxWords, PwxWords).CopyTo(x);
        for (var i = 0; i < r1; i++)
        {
            if (r1 > 1)
            {
                Xor(x, b.Slice(i * PwxWords, PwxWords));
            }
            Pwxform(x, ctx);
            x.CopyTo(b.Slice(i * PwxWords, PwxWords));
        }
        var last = (r1 - 1) * PwxWords * 4 / 64;
        Salsa20(b.Slice(last * 16, 16), 2);
        for (var i = last + 1; i < 2 * r; i++)
        {
            Xor(b.Slice(i * 16, 16), b.Slice((i - 1) * 16, 16));
            Salsa20(b.Slice(i * 16, 16), 2);
        }
    }

    private static void Pwxform(Span<uint> x, PwxformContext ctx)
    {
        var s = ctx.S;
        int s0 = ctx.S0, s1 = ctx.S1, s2 = ctx.S2, w = ctx.W;
        for (var i = 0; i < PwxRounds; i++)
        {
            for (var j = 0; j < PwxGather; j++)
            {
                var xl = x[j * 4];
                var xh = x[j * 4 + 1];
                // Byte offsets into an S-box of 8-byte pairs, as word offsets.
                var p0 = s0 + (int)((xl & SMask) / 4);
                var p1 = s1 + (int)((xh & SMask) / 4);
                for (var k = 0; k < PwxSimple; k++)
                {
                    var at = j * 4 + k * 2;
                    var s0v = ((ulong)s[p0 + 2 * k + 1] << 32) + s[p0 + 2 * k];
                    var s1v = ((ulong)s[p1 + 2 * k + 1] << 32) + s[p1 + 2 * k];
                    var value = (ulong)x[at + 1] * x[at];
                    value += s0v;
                    value ^= s1v;
                    x[at] = (uint)value;
                    x[at + 1] = (uint)(value >> 32);
                    if (i != 0 && i != PwxRounds - 1)
                    {
                        s[s2 + 2 * w] = (uint)value;
                        s[s2 + 2 * w + 1] = (uint)(value >> 32);
                        w++;
                    }
                }
            }
        }
        ctx.S0 = s2;
        ctx.S1 = s0;
        ctx.S2 = s1;
        ctx.W = w & ((1 << SWidth) * PwxSimple - 1);
    }

    private static void Salsa20(Span<uint> b, int rounds)
    {
        Span<uint> x = stackalloc uint[16];
        for (var i = 0; i < 16; i++)
        {
            x[i * 5 % 16] = b[i];
        }
        for (var i = 0; i < rounds; i += 2)
        {
            x[4] ^= BitOperations.RotateLeft(x[0] + x[12], 7); x[8] ^= BitOperations.RotateLeft(x[4] + x[0], 9);
            x[12] ^= BitOperations.RotateLeft(x[8] + x[4], 13); x[0] ^= BitOperations.RotateLeft(x[12] + x[8], 18);
            x[9] ^= BitOperations.RotateLeft(x[5] + x[1], 7); x[13] ^= BitOperations.RotateLeft(x[9] + x[5], 9);
            x[1] ^= BitOperations.RotateLeft(x[13] + x[9], 13); x[5] ^= BitOperations.RotateLeft(x[1] + x[13], 18);
            x[14] ^= BitOperations.RotateLeft(x[10] + x[6], 7); x[2] ^= BitOperations.RotateLeft(x[14] + x[10], 9);
            x[6] ^= BitOperations.RotateLeft(x[2] + x[14], 13); x[10] ^= BitOperations.RotateLeft(x[6] + x[2], 18);
            x[3] ^= BitOperations.RotateLeft(x[15] + x[11], 7); x[7] ^= BitOperations.RotateLeft(x[3] + x[15], 9);
            x[11] ^= BitOperations.RotateLeft(x[7] + x[3], 13); x[15] ^= BitOperations.RotateLeft(x[11] + x[7], 18);

            x[1] ^= BitOperations.RotateLeft(x[0] + x[3], 7); x[2] ^= BitOperations.RotateLeft(x[1] + x[0], 9);
            x[3] ^= BitOperations.RotateLeft(x[2] + x[1], 13); x[0] ^= BitOperations.RotateLeft(x[3] + x[2], 18);
            x[6] ^= BitOperations.RotateLeft(x[5] + x[4], 7); x[7] ^= BitOperations.RotateLeft(x[6] + x[5], 9);
            x[4] ^= BitOperations.RotateLeft(x[7] + x[6], 13); x[5] ^= BitOperations.RotateLeft(x[4] + x[7], 18);
            x[11] ^= BitOperations.RotateLeft(x[10] + x[9], 7); x[8] ^= BitOperations.RotateLeft(x[11] + x[10], 9);
            x[9] ^= BitOperations.RotateLeft(x[8] + x[11], 13); x[10] ^= BitOperations.RotateLeft(x[9] + x[8], 18);
            x[12] ^= BitOperations.RotateLeft(x[15] + x[14], 7); x[13] ^= BitOperations.RotateLeft(x[12] + x[15], 9);
            x[14] ^= BitOperations.RotateLeft(x[13] + x[12], 13); x[15] ^= BitOperations.RotateLeft(x[14] + x[13], 18);
        }
        for (var i = 0; i < 16; i++)
        {
            b[i] += x[i * 5 % 16];
        }
    }
}
