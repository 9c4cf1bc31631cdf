namespace ImageTools.Core.Ext.OnDisk;

/// <summary>
/// Inode timestamps: a 32-bit base plus, in large inodes, an "extra" word holding two epoch bits
/// and 30 bits of nanoseconds (docs/ext-format.md §5.2; kernel ext4_decode_extra_time).
/// The base is read as signed, so 1901-12-13 to 2446 is representable with the extra word,
/// and 1901..2038 without it.
/// </summary>
public readonly record struct ExtTimestamp(long Seconds, uint Nanoseconds)
{
    /// <summary>Lowest representable second: the signed 32-bit minimum (1901-12-13).</summary>
    public const long MinSeconds = int.MinValue;

    /// <summary>Highest second with the epoch bits: base int.MaxValue with epoch 3 (2446-05-10).</summary>
    public const long MaxSeconds = int.MaxValue + (3L << 32);

    /// <summary>Decodes a base value and, when the inode has it, its extra word.</summary>
    public static ExtTimestamp Decode(uint baseValue, uint? extra)
    {
        long seconds = (int)baseValue;
        uint nanos = 0;
        if (extra is uint e)
        {
            seconds += (long)(e & 3) << 32;
            nanos = e >> 2;
            if (nanos > 999_999_999)
            {
                // Out-of-range nanoseconds are garbage (e2fsck ignores them); do not propagate.
                nanos = 0;
            }
        }
        return new ExtTimestamp(seconds, nanos);
    }

    /// <summary>The base field value (low 32 bits of the seconds).</summary>
    public uint Base => (uint)Seconds;

    /// <summary>
    /// The extra field: epoch = ((seconds − (int32)seconds) &gt;&gt; 32) &amp; 3, nanoseconds in bits 2..31.
    /// Pre-1970 times encode with epoch 0 and a negative base, so the e2fsck "old pre-1970 encoding"
    /// check (epoch 3 with a negative base) never fires.
    /// </summary>
    public uint Extra => (uint)(((Seconds - (int)Seconds) >> 32) & 3) | (Nanoseconds << 2);

    /// <summary>Whether the value fits the extended encoding.</summary>
    public bool IsRepresentable => Seconds is >= MinSeconds and <= MaxSeconds && Nanoseconds <= 999_999_999;

    /// <summary>Whether a 128-byte inode (no extra word) can hold this time exactly.</summary>
    public bool FitsWithoutExtra => Seconds is >= int.MinValue and <= int.MaxValue && Nanoseconds == 0;

    public static ExtTimestamp FromDateTimeOffset(DateTimeOffset value)
    {
        var ticks = value.UtcTicks - DateTime.UnixEpoch.Ticks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += TimeSpan.TicksPerSecond;
        }
        return new ExtTimestamp(seconds, (uint)(remainder * 100));
    }

    public DateTimeOffset ToDateTimeOffset() =>
        DateTimeOffset.UnixEpoch.AddSeconds(Seconds).AddTicks(Nanoseconds / 100);

    public override string ToString() => $"{Seconds}.{Nanoseconds:D9}";
}
