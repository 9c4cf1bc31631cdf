namespace ImageTools.Core.Streams;

/// <summary>
/// A range of bytes, <c>[Offset, Offset + Length)</c>: the currency in which sources say where their data is,
/// the copy engine decides what to write, and block maps describe an image.
/// </summary>
public readonly record struct Extent(long Offset, long Length)
{
    /// <summary>The first byte after the extent.</summary>
    public long End => Offset + Length;

    public bool IsEmpty => Length <= 0;

    /// <summary>The part of this extent inside <c>[start, end)</c>, possibly empty.</summary>
    public Extent Intersect(long start, long end)
    {
        var s = Math.Max(Offset, start);
        var e = Math.Min(End, end);
        return new Extent(s, Math.Max(0, e - s));
    }

    public override string ToString() => $"[{Offset}, {End})";
}
