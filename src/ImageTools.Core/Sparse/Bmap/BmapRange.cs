namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// A run of mapped blocks, <see cref="FirstBlock"/> to <see cref="LastBlock"/> inclusive, as a bmap's
/// <c>&lt;Range&gt;</c> element lists it, with the hex checksum of the run's bytes when the bmap has one (the
/// bytes stop at the image's end, so the last block of an image may count fewer than a block's worth).
/// </summary>
public readonly record struct BmapRange(long FirstBlock, long LastBlock, string? Checksum = null)
{
    public long BlockCount => LastBlock - FirstBlock + 1;

    /// <summary>"blocks 10-19" or "block 7": how messages name the range, in bmaptool's own block numbers.</summary>
    public string Describe() => FirstBlock == LastBlock ? $"block {FirstBlock}" : $"blocks {FirstBlock}-{LastBlock}";
}
