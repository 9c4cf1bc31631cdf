using System.Globalization;

namespace ImageTools.SparseCopy;

/// <summary>
/// Sizes written the way util-linux writes them, so <c>--list</c> reads like <c>sfdisk -l</c>: the largest
/// power-of-1024 unit not above the size, one decimal rounded half up and dropped when it is 0 ("10M",
/// "19.5M", "1.5G", "512B"); the disk line uses the long form ("100 MiB").
/// </summary>
public static class HumanSize
{
    private const string Letters = "BKMGTPE";

    /// <param name="bytes">The size.</param>
    /// <param name="longForm">"100 MiB" (sfdisk's disk line) instead of "100M" (its Size column).</param>
    public static string Format(long bytes, bool longForm = false)
    {
        var value = (ulong)Math.Max(0, bytes);
        var exponent = 0;
        for (var shift = 10; shift <= 60 && value >= 1UL << shift; shift += 10)
        {
            exponent = shift;
        }
        var whole = value >> exponent;
        var remainder = exponent == 0 ? 0 : value & ((1UL << exponent) - 1);
        ulong tenths = 0;
        if (remainder != 0)
        {
            // Thousandths of the unit, then rounded to tenths (half up), carrying into the whole part.
            var thousandths = (ulong)((UInt128)remainder * 1000 >> exponent);
            tenths = (thousandths + 50) / 100;
            if (tenths == 10)
            {
                whole++;
                tenths = 0;
            }
        }
        var letter = Letters[exponent / 10];
        var suffix = longForm ? (letter == 'B' ? " B" : $" {letter}iB") : letter.ToString();
        return tenths == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{whole}{suffix}")
            : string.Create(CultureInfo.InvariantCulture, $"{whole}.{tenths}{suffix}");
    }
}
