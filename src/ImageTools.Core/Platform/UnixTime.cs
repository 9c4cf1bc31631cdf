namespace ImageTools.Core.Platform;

/// <summary>
/// A point in time as Unix filesystems keep it: whole seconds since 1970-01-01 UTC (negative before)
/// and nanoseconds (0..999,999,999). What utimensat takes and what tar PAX records carry, without the
/// 100 ns rounding of <see cref="DateTime"/>.
/// </summary>
public readonly record struct UnixTime(long Seconds, uint Nanoseconds)
{
    public static UnixTime FromDateTimeOffset(DateTimeOffset value)
    {
        var ticks = value.UtcTicks - DateTime.UnixEpoch.Ticks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }
        return new UnixTime(seconds, (uint)(remainder * 100));
    }

    /// <summary>As a DateTimeOffset (nanoseconds rounded down to 100 ns ticks); clamped to its range.</summary>
    public DateTimeOffset ToDateTimeOffset()
    {
        const long minSeconds = -62135596800L; // 0001-01-01
        const long maxSeconds = 253402300799L; // 9999-12-31 23:59:59
        var s = Math.Clamp(Seconds, minSeconds, maxSeconds);
        return DateTimeOffset.UnixEpoch.AddSeconds(s).AddTicks(Nanoseconds / 100);
    }

    /// <summary>"seconds.nanoseconds" with the fraction trimmed, as PAX time records write it (e.g. "-1.5", "1700000000").</summary>
    public string ToPaxString()
    {
        // PAX writes a decimal number; for negative times with a fraction, -1.5 is 1.5 s before the epoch.
        long whole;
        uint fraction;
        var negative = Seconds < 0;
        if (negative && Nanoseconds > 0)
        {
            whole = -(Seconds + 1);
            fraction = 1_000_000_000 - Nanoseconds;
        }
        else
        {
            whole = Math.Abs(Seconds);
            fraction = Nanoseconds;
        }
        var text = (negative ? "-" : "") + whole.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (fraction != 0)
        {
            text += "." + fraction.ToString("D9", System.Globalization.CultureInfo.InvariantCulture).TrimEnd('0');
        }
        return text;
    }

    public override string ToString() => $"{Seconds}.{Nanoseconds:D9}";
}
