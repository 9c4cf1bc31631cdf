using System.Buffers.Binary;
using System.Numerics;

namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// The directory-index name hashes (dx_hash): legacy, half-MD4 and TEA, each in the signed-char and
/// the unsigned-char variant. Which variant a filesystem uses comes from dx_root_info.hash_version
/// plus the superblock's s_flags: with EXT2_FLAGS_UNSIGNED_HASH (0x2) the stored versions 0..2 mean
/// 3..5 (docs/ext-format.md §7.2; e2fsprogs lib/ext2fs/dirhash.c, kernel fs/ext4/hash.c).
/// The seed is s_hash_seed read as four little-endian words; an all-zero seed means the MD4
/// initial vector. The result has bit 0 cleared: an index entry uses that bit to mark a hash
/// collision that continues in the next leaf block.
/// </summary>
public static class DirectoryHash
{
    /// <summary>s_flags bit: hashes treat name bytes as signed chars (x86 behaviour).</summary>
    public const uint SignedHashFlag = 0x1;

    /// <summary>s_flags bit: hashes treat name bytes as unsigned chars.</summary>
    public const uint UnsignedHashFlag = 0x2;

    // The MD4 initial chaining values (RFC 1320 §3.3), used when the seed is all zero.
    private static readonly uint[] DefaultSeed = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

    /// <summary>The hash version actually computed for a root's stored version under the superblock flags.</summary>
    public static DirectoryHashVersion Effective(DirectoryHashVersion stored, uint superblockFlags) =>
        stored <= DirectoryHashVersion.Tea && (superblockFlags & UnsignedHashFlag) != 0
            ? stored + 3
            : stored;

    /// <summary>Major (the index key, bit 0 clear) and minor hash of <paramref name="name"/>.</summary>
    public static (uint Major, uint Minor) Compute(DirectoryHashVersion version, ReadOnlySpan<byte> name, ReadOnlySpan<byte> seed16)
    {
        Span<uint> buf = stackalloc uint[4];
        DefaultSeed.CopyTo(buf);
        if (seed16.Length >= 16 && seed16[..16].IndexOfAnyExcept((byte)0) >= 0)
        {
            for (var i = 0; i < 4; i++)
            {
                buf[i] = BinaryPrimitives.ReadUInt32LittleEndian(seed16[(i * 4)..]);
            }
        }

        uint major, minor = 0;
        switch (version)
        {
            case DirectoryHashVersion.Legacy:
            case DirectoryHashVersion.LegacyUnsigned:
                major = LegacyHash(name, version == DirectoryHashVersion.LegacyUnsigned);
                break;
            case DirectoryHashVersion.HalfMd4:
            case DirectoryHashVersion.HalfMd4Unsigned:
            {
                var unsignedChars = version == DirectoryHashVersion.HalfMd4Unsigned;
                Span<uint> input = stackalloc uint[8];
                // The name is consumed 32 bytes at a time; an empty name still runs no rounds.
                for (var rest = name; rest.Length > 0; rest = rest.Length > 32 ? rest[32..] : ReadOnlySpan<byte>.Empty)
                {
                    FillWords(rest, input, unsignedChars);
                    HalfMd4Transform(buf, input);
                }
                major = buf[1];
                minor = buf[2];
                break;
            }
            case DirectoryHashVersion.Tea:
            case DirectoryHashVersion.TeaUnsigned:
            {
                var unsignedChars = version == DirectoryHashVersion.TeaUnsigned;
                Span<uint> input = stackalloc uint[4];
                for (var rest = name; rest.Length > 0; rest = rest.Length > 16 ? rest[16..] : ReadOnlySpan<byte>.Empty)
                {
                    FillWords(rest, input, unsignedChars);
                    TeaTransform(buf, input);
                }
                major = buf[0];
                minor = buf[1];
                break;
            }
            default:
                throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"directory hash version {(int)version} is not supported");
        }
        return (major & ~1u, minor);
    }

    /// <summary>
    /// Packs up to 4×words.Length bytes of the name into big-endian-ordered words, padded with a
    /// pattern made of the (full) remaining length, as str2hashbuf does. Each byte is sign-extended
    /// unless <paramref name="unsignedChars"/>, which is what makes the signed and unsigned variants
    /// differ for bytes ≥ 0x80.
    /// </summary>
    private static void FillWords(ReadOnlySpan<byte> message, Span<uint> words, bool unsignedChars)
    {
        var pad = (uint)message.Length | ((uint)message.Length << 8);
        pad |= pad << 16;
        var val = pad;
        var take = Math.Min(message.Length, words.Length * 4);
        var w = 0;
        for (var i = 0; i < take; i++)
        {
            var c = unsignedChars ? message[i] : (uint)(sbyte)message[i];
            val = c + (val << 8);
            if (i % 4 == 3)
            {
                words[w++] = val;
                val = pad;
            }
        }
        if (w < words.Length)
        {
            words[w++] = val;
        }
        while (w < words.Length)
        {
            words[w++] = pad;
        }
    }

    private static uint F(uint x, uint y, uint z) => z ^ (x & (y ^ z));

    private static uint G(uint x, uint y, uint z) => (x & y) + ((x ^ y) & z);

    private static uint H(uint x, uint y, uint z) => x ^ y ^ z;

    private const uint K2 = 0x5A827999; // octal 013240474631
    private const uint K3 = 0x6ED9EBA1; // octal 015666365641

    /// <summary>Three MD4 rounds of eight steps each over eight input words (the "half" MD4).</summary>
    private static void HalfMd4Transform(Span<uint> buf, ReadOnlySpan<uint> x)
    {
        uint a = buf[0], b = buf[1], c = buf[2], d = buf[3];

        a = BitOperations.RotateLeft(a + F(b, c, d) + x[0], 3);
        d = BitOperations.RotateLeft(d + F(a, b, c) + x[1], 7);
        c = BitOperations.RotateLeft(c + F(d, a, b) + x[2], 11);
        b = BitOperations.RotateLeft(b + F(c, d, a) + x[3], 19);
        a = BitOperations.RotateLeft(a + F(b, c, d) + x[4], 3);
        d = BitOperations.RotateLeft(d + F(a, b, c) + x[5], 7);
        c = BitOperations.RotateLeft(c + F(d, a, b) + x[6], 11);
        b = BitOperations.RotateLeft(b + F(c, d, a) + x[7], 19);

        a = BitOperations.RotateLeft(a + G(b, c, d) + x[1] + K2, 3);
        d = BitOperations.RotateLeft(d + G(a, b, c) + x[3] + K2, 5);
        c = BitOperations.RotateLeft(c + G(d, a, b) + x[5] + K2, 9);
        b = BitOperations.RotateLeft(b + G(c, d, a) + x[7] + K2, 13);
        a = BitOperations.RotateLeft(a + G(b, c, d) + x[0] + K2, 3);
        d = BitOperations.RotateLeft(d + G(a, b, c) + x[2] + K2, 5);
        c = BitOperations.RotateLeft(c + G(d, a, b) + x[4] + K2, 9);
        b = BitOperations.RotateLeft(b + G(c, d, a) + x[6] + K2, 13);

        a = BitOperations.RotateLeft(a + H(b, c, d) + x[3] + K3, 3);
        d = BitOperations.RotateLeft(d + H(a, b, c) + x[7] + K3, 9);
        c = BitOperations.RotateLeft(c + H(d, a, b) + x[2] + K3, 11);
        b = BitOperations.RotateLeft(b + H(c, d, a) + x[6] + K3, 15);
        a = BitOperations.RotateLeft(a + H(b, c, d) + x[1] + K3, 3);
        d = BitOperations.RotateLeft(d + H(a, b, c) + x[5] + K3, 9);
        c = BitOperations.RotateLeft(c + H(d, a, b) + x[0] + K3, 11);
        b = BitOperations.RotateLeft(b + H(c, d, a) + x[4] + K3, 15);

        buf[0] += a;
        buf[1] += b;
        buf[2] += c;
        buf[3] += d;
    }

    /// <summary>TEA in a Davies-Meyer construction: 16 cycles keyed by four input words.</summary>
    private static void TeaTransform(Span<uint> buf, ReadOnlySpan<uint> input)
    {
        const uint Delta = 0x9E3779B9;
        uint sum = 0, b0 = buf[0], b1 = buf[1];
        uint a = input[0], b = input[1], c = input[2], d = input[3];
        for (var n = 0; n < 16; n++)
        {
            sum += Delta;
            b0 += ((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >> 5) + b);
            b1 += ((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >> 5) + d);
        }
        buf[0] += b0;
        buf[1] += b1;
    }

    /// <summary>The original (pre-2.6) dx hash.</summary>
    private static uint LegacyHash(ReadOnlySpan<byte> name, bool unsignedChars)
    {
        uint hash0 = 0x12a3fe2d, hash1 = 0x37abe8f9;
        foreach (var raw in name)
        {
            var c = unsignedChars ? raw : (int)(sbyte)raw;
            var hash = unchecked(hash1 + (hash0 ^ (uint)(c * 7152373)));
            if ((hash & 0x80000000) != 0)
            {
                hash -= 0x7fffffff;
            }
            hash1 = hash0;
            hash0 = hash;
        }
        return hash0 << 1;
    }
}
