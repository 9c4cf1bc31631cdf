namespace ImageTools.Core.Customization.Passwords;

/// <summary>
/// The base-64 alphabet of crypt(3) ("./0-9A-Za-z", not RFC 4648's), with the bit orders its hash formats use.
/// </summary>
internal static class CryptBase64
{
    public const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>The value of one character, or -1 when it is not in the alphabet.</summary>
    public static int ValueOf(char c) => Alphabet.IndexOf(c);

    /// <summary>A random salt of <paramref name="length"/> characters of the alphabet.</summary>
    public static string RandomSalt(int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = Alphabet[System.Security.Cryptography.RandomNumberGenerator.GetInt32(64)];
        }
        return new string(chars);
    }

    /// <summary>
    /// Little-endian groups of 3 bytes, 6 bits at a time from the low end, a short last group giving
    /// ceil(bits / 6) characters: yescrypt's encode64 (and what libxcrypt's gensalt uses for its salts).
    /// </summary>
    public static string EncodeLittleEndian(ReadOnlySpan<byte> data)
    {
        var text = new System.Text.StringBuilder((data.Length * 8 + 5) / 6);
        for (var i = 0; i < data.Length; i += 3)
        {
            uint value = 0;
            var bits = 0;
            for (var k = 0; k < 3 && i + k < data.Length; k++)
            {
                value |= (uint)data[i + k] << bits;
                bits += 8;
            }
            for (var done = 0; done < bits; done += 6)
            {
                text.Append(Alphabet[(int)(value & 0x3F)]);
                value >>= 6;
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// The inverse of <see cref="EncodeLittleEndian"/> (yescrypt's decode64): groups of up to 4 characters, each
    /// giving as many whole bytes as its bits hold; null when a character is not in the alphabet or a group's
    /// value does not fit its bytes.
    /// </summary>
    public static byte[]? DecodeLittleEndian(string text)
    {
        var bytes = new List<byte>(text.Length * 3 / 4);
        for (var i = 0; i < text.Length; i += 4)
        {
            var count = Math.Min(4, text.Length - i);
            uint value = 0;
            for (var k = 0; k < count; k++)
            {
                var v = ValueOf(text[i + k]);
                if (v < 0)
                {
                    return null;
                }
                value |= (uint)v << (6 * k);
            }
            var bits = 6 * count;
            var whole = bits / 8;
            if (whole == 0 || (whole < 4 && value >> (8 * whole) != 0))
            {
                return null;
            }
            for (var k = 0; k < whole; k++)
            {
                bytes.Add((byte)(value >> (8 * k)));
            }
        }
        return bytes.ToArray();
    }
}
