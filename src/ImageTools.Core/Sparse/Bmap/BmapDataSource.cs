using ImageTools.Core.Streams;

namespace ImageTools.Core.Sparse.Bmap;

/// <summary>
/// An image seen through its block map: its data is exactly the mapped ranges (so a copy reads and writes only
/// those), the unmapped blocks are unused space a copy leaves alone (<see cref="DataSource.GapsAreUnused"/>), and
/// every mapped range is checked against its checksum as the copy reads it, streaming: the range's last byte
/// completes the check, before that byte is handed on to be written. A mismatch is
/// <see cref="ErrorKind.BmapMismatch"/> naming the range. Works over any source, a pipe or a decompressor too,
/// since the ranges ascend.
/// </summary>
public sealed class BmapDataSource : DataSource
{
    private readonly DataSource _image;
    private readonly BlockMap _map;
    private readonly BmapRangeVerifier _verifier;
    private readonly (long Start, long End)[] _byteRanges;
    private int _range = -1; // the range being verified
    private long _fed;       // the next byte the verifier expects

    /// <param name="image">The image the bmap describes (its length, when known, must be the bmap's image size).</param>
    /// <param name="map">The block map.</param>
    public BmapDataSource(DataSource image, BlockMap map)
    {
        _image = image;
        _map = map;
        if (image.Length is { } length && length != map.ImageSize)
        {
            throw new ImageToolsException(ErrorKind.BmapMismatch,
                $"{image.Name} is {length} bytes, but the bmap {map.Source} describes an image of {map.ImageSize} bytes; the bmap belongs to another image")
            { Path = image.Name };
        }
        _verifier = new BmapRangeVerifier(map, image.Name);
        _byteRanges = map.Ranges.Select(r =>
        {
            var (offset, len) = map.ByteRangeOf(r);
            return (offset, offset + len);
        }).ToArray();
    }

    public override string Name => _image.Name;

    /// <summary>The bmap's image size, also for a stream whose length is otherwise unknown.</summary>
    public override long? Length => _map.ImageSize;

    public override bool CanSkip => _image.CanSkip;

    public override long BytesRead => _image.BytesRead;

    public override bool GapsAreUnused => true;

    /// <summary>True once every mapped range was read and matched its checksum.</summary>
    public bool AllRangesVerified => _verifier.RangesVerified == _byteRanges.Length;

    public override Extent? NextData(long offset)
    {
        // The first range ending after the offset (binary search: ranges ascend and do not overlap).
        int lo = 0, hi = _byteRanges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_byteRanges[mid].End <= offset)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        if (lo == _byteRanges.Length)
        {
            return null;
        }
        var start = Math.Max(offset, _byteRanges[lo].Start);
        return new Extent(start, _byteRanges[lo].End - start);
    }

    public override int Read(long position, Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        if (_range < 0 || position >= _byteRanges[_range].End)
        {
            // A new range must be read from its first byte, or its checksum cannot be checked.
            var next = _range + 1;
            if (next >= _byteRanges.Length || position != _byteRanges[next].Start)
            {
                throw new InvalidOperationException(
                    $"{Name}: read at {position} is not the start of the next mapped range; a bmap copy reads the ranges in order");
            }
            _range = next;
            _fed = position;
            _verifier.Begin(_map.Ranges[_range]);
        }
        if (position != _fed)
        {
            throw new InvalidOperationException($"{Name}: read at {position}, expected {_fed}; a bmap range is read front to back");
        }
        var end = _byteRanges[_range].End;
        if (buffer.Length > end - position)
        {
            buffer = buffer[..(int)(end - position)];
        }
        var n = _image.Read(position, buffer);
        _verifier.Append(buffer[..n]);
        _fed += n;
        if (n == 0 || _fed == end)
        {
            _verifier.Complete(); // throws on a mismatch, or when the image ended inside the range
        }
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _verifier.Dispose();
        }
    }
}
