using SharpCompress.Compressors.Xz;

namespace ImageTools.Core.Streams;

/// <summary>
/// An .xz file as <c>xz -dc</c> reads it (xz file format 1.0.4 §2): one or more streams, each optionally
/// followed by stream padding (null bytes in multiples of four), and nothing else. SharpCompress's
/// <see cref="XZStream"/> decodes one stream and stops exactly at its footer, so a second stream
/// (<c>cat a.xz b.xz</c>) would be silently dropped and appended garbage silently ignored; here the first is
/// decoded and the second is an <see cref="InvalidDataException"/>.
/// </summary>
public sealed class XzSequenceStream : ForwardReadStream
{
    private static ReadOnlySpan<byte> Magic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
    private readonly Stream _inner;
    private readonly bool _ownsInner;
    private readonly CountingStream _counted;
    private XZStream? _current;
    private bool _ended;

    public XzSequenceStream(Stream compressed, bool ownsInner = true)
    {
        _inner = compressed;
        _ownsInner = ownsInner;
        _counted = new CountingStream(compressed, ownsInner: false);
        _current = new XZStream(_counted);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (!_ended)
        {
            var n = _current!.Read(buffer);
            if (n > 0)
            {
                return n;
            }
            _current.Dispose();
            _current = NextStream();
            _ended = _current == null;
        }
        return 0;
    }

    /// <summary>After a stream's footer: padding, then the end, or another stream; anything else is refused.</summary>
    private XZStream? NextStream()
    {
        var end = _counted.BytesRead;
        var padding = 0L;
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            var n = _counted.Read(one);
            if (n == 0)
            {
                if (padding % 4 != 0)
                {
                    throw new InvalidDataException(FormattableString.Invariant(
                        $"{padding} null bytes after the xz stream ending at compressed offset {end}: stream padding must be a multiple of four bytes (damaged file)"));
                }
                return null;
            }
            if (one[0] == 0)
            {
                padding++;
                continue;
            }
            break;
        }
        var header = new byte[Magic.Length];
        header[0] = one[0];
        var got = 1 + _counted.ReadAtLeast(header.AsSpan(1), header.Length - 1, throwOnEndOfStream: false);
        var at = end + padding;
        if (got < header.Length || !header.AsSpan().SequenceEqual(Magic) || padding % 4 != 0)
        {
            throw new InvalidDataException(FormattableString.Invariant(
                $"trailing garbage at compressed offset {at}: after the xz stream ending at {end} come bytes that are neither stream padding nor another xz stream (the file was appended to or damaged; xz -t reports the same)"));
        }
        return new XZStream(new PrefixedStream(header, _counted, ownsRest: false));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _current?.Dispose();
            if (_ownsInner)
            {
                _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
