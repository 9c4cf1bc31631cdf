namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// Checks the bytes of a block map's ranges against their checksums, either fed piece by piece while copying
/// (<see cref="Begin"/>, <see cref="Append"/>, <see cref="Complete"/>) or by reading an image
/// (<see cref="VerifyImage"/>). A mismatch is <see cref="ErrorKind.BmapMismatch"/> (or the kind given) naming
/// the range in blocks and bytes, both checksums and the image.
/// </summary>
public sealed class BmapRangeVerifier : IDisposable
{
    private readonly BlockMap _map;
    private readonly string _image;
    private readonly ErrorKind _mismatchKind;
    private readonly System.Security.Cryptography.IncrementalHash? _hash;
    private BmapRange? _current;
    private long _expected;
    private long _seen;

    /// <param name="map">The block map whose ranges are checked.</param>
    /// <param name="image">Names the image in messages.</param>
    /// <param name="mismatchKind">
    /// The error kind of a mismatch: <see cref="ErrorKind.BmapMismatch"/> when checking an image against its bmap,
    /// <see cref="ErrorKind.ChecksumMismatch"/> when checking a copy read back.
    /// </param>
    public BmapRangeVerifier(BlockMap map, string image = "image", ErrorKind mismatchKind = ErrorKind.BmapMismatch)
    {
        _map = map;
        _image = image;
        _mismatchKind = mismatchKind;
        _hash = map.ChecksumType != null ? BmapChecksum.Create(map.ChecksumType) : null;
    }

    /// <summary>Ranges completed and found to match.</summary>
    public long RangesVerified { get; private set; }

    /// <summary>Starts checking <paramref name="range"/>: its bytes must follow through <see cref="Append"/>.</summary>
    public void Begin(BmapRange range)
    {
        if (_current != null)
        {
            throw new InvalidOperationException($"{_map.Describe(_current.Value)} was begun but not completed");
        }
        _current = range;
        _expected = _map.ByteRangeOf(range).Length;
        _seen = 0;
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        if (_current == null)
        {
            throw new InvalidOperationException("Append before Begin");
        }
        _seen += data.Length;
        _hash?.AppendData(data);
    }

    /// <summary>Ends the current range; throws when its bytes do not match its checksum.</summary>
    public void Complete()
    {
        if (_current is not { } range)
        {
            throw new InvalidOperationException("Complete before Begin");
        }
        _current = null;
        var digest = _hash != null ? Convert.ToHexStringLower(_hash.GetHashAndReset()) : null;
        if (_seen != _expected)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable,
                $"{_image}: {_map.Describe(range)} gave {_seen} bytes, {_expected} expected: the image is shorter than the bmap says") { Path = _image };
        }
        if (range.Checksum != null && digest != null && !string.Equals(digest, range.Checksum, StringComparison.OrdinalIgnoreCase))
        {
            throw new ImageToolsException(_mismatchKind,
                $"{_image}: checksum mismatch in {_map.Describe(range)}: {BmapChecksum.DisplayName(_map.ChecksumType!)} is {digest}, " +
                $"the bmap {_map.Source} says {range.Checksum}; the image is damaged or the bmap belongs to another image")
            { Path = _image };
        }
        RangesVerified++;
    }

    /// <summary>Reads every mapped range of <paramref name="image"/> and checks it; throws at the first mismatch.</summary>
    public static void VerifyImage(BlockMap map, Stream image, string imageName = "image", CancellationToken cancellationToken = default,
        ErrorKind mismatchKind = ErrorKind.BmapMismatch)
    {
        using var verifier = new BmapRangeVerifier(map, imageName, mismatchKind);
        var buffer = new byte[1024 * 1024];
        foreach (var range in map.Ranges)
        {
            var (offset, length) = map.ByteRangeOf(range);
            verifier.Begin(range);
            image.Position = offset;
            var left = length;
            while (left > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var got = image.Read(buffer, 0, (int)Math.Min(left, buffer.Length));
                if (got == 0)
                {
                    break;
                }
                verifier.Append(buffer.AsSpan(0, got));
                left -= got;
            }
            verifier.Complete();
        }
    }

    public void Dispose() => _hash?.Dispose();
}
