using System.Globalization;

namespace ImageTools.SparseCopy;

/// <summary>
/// v0.10's size rules: a bare number counts blocks of the block size; a suffix B, K, M, G, T, P or E
/// (either case) makes it bytes times a power of 1024. <c>-b</c> itself is read with 512-byte blocks.
/// </summary>
public static class SizeParser
{
    /// <summary>The unit of bare numbers given to <c>-b</c>, and the default block size.</summary>
    public const long DefaultBlockSize = 512;

    /// <summary>Parses <paramref name="text"/>; null with a reason when it is not a valid size.</summary>
    public static bool TryParse(string text, long blockSize, out long bytes, out string? error)
    {
        bytes = 0;
        error = null;
        var s = text.Trim();
        if (s.Length == 0)
        {
            error = "empty size";
            return false;
        }
        long multiplier = blockSize;
        var last = char.ToUpperInvariant(s[^1]);
        if (!char.IsAsciiDigit(last))
        {
            var shift = last switch
            {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => -1,
            };
            if (shift < 0)
            {
                error = $"'{text}' has an unknown suffix '{s[^1]}' (use B, K, M, G, T, P or E, or a bare number of {blockSize}-byte blocks)";
                return false;
            }
            multiplier = 1L << shift;
            s = s[..^1];
        }
        if (s.Length == 0 || !s.All(char.IsAsciiDigit)
            || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            error = $"'{text}' is not a size (a whole number, optionally followed by B, K, M, G, T, P or E)";
            return false;
        }
        try
        {
            bytes = checked(number * multiplier);
        }
        catch (OverflowException)
        {
            error = $"'{text}' is too large";
            return false;
        }
        return true;
    }
}
