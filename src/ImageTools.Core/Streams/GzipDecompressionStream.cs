using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace ImageTools.Core.Streams;

/// <summary>
/// Decompresses a gzip file (RFC 1952) member by member and checks what the BCL's <see cref="GZipStream"/>
/// does not: that every member ends with its 8-byte trailer (CRC-32 and ISIZE of the member's data), and
/// that nothing but further members follows the last one. A download cut anywhere (in the header, the
/// deflate data or the trailer) and a file with bytes appended are <see cref="InvalidDataException"/>s,
/// the "unexpected end of file" and "trailing garbage" of <c>gzip -t</c>, never a silently short result.
/// <para>
/// The deflate data of each member is inflated by the BCL's native <see cref="DeflateStream"/>, which reads
/// its input in chunks and so takes bytes past the end of the deflate data. Where that end was is found
/// afterwards: the trailer starts within the last chunk handed to the inflater, at the first position whose
/// eight bytes are the CRC-32 and length of what the member decompressed to (both computed here).
/// </para>
/// </summary>
public sealed class GzipDecompressionStream : ForwardReadStream
{
    private const byte FlagHeaderCrc = 0x02, FlagExtra = 0x04, FlagName = 0x08, FlagComment = 0x10, FlagReserved = 0xE0;
    private const int TrailerLength = 8;

    private readonly InflaterInput _input;
    private readonly bool _ownsInner;
    private readonly Crc32 _crc = new();
    private DeflateStream? _member;
    private long _memberStart;
    private long _memberLength;
    private bool _started;
    private bool _ended;

    public GzipDecompressionStream(Stream compressed, bool ownsInner = true)
    {
        _input = new InflaterInput(compressed);
        _ownsInner = ownsInner;
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (!_ended)
        {
            if (_member == null && !StartMember())
            {
                _ended = true;
                break;
            }
            var n = _member!.Read(buffer);
            if (n > 0)
            {
                _crc.Append(buffer[..n]);
                _memberLength += n;
                return n;
            }
            FinishMember();
        }
        return 0;
    }

    /// <summary>Reads the next member's header; false at the end of the input after at least one member.</summary>
    private bool StartMember()
    {
        _memberStart = _input.Offset;
        var first = _input.ReadByte();
        if (first < 0)
        {
            if (!_started)
            {
                throw new InvalidDataException("unexpected end of file: the gzip stream is empty");
            }
            return false;
        }
        var second = _input.ReadByte();
        if (first != 0x1F || second != 0x8B)
        {
            if (!_started)
            {
                throw new InvalidDataException("not in gzip format (no 1F 8B magic)");
            }
            throw new InvalidDataException(FormattableString.Invariant(
                $"trailing garbage at compressed offset {_memberStart}: after the last gzip member's trailer come bytes that are not another member (the file was appended to or damaged; gzip -t reports the same)"));
        }
        _started = true;
        Span<byte> fixedPart = stackalloc byte[8]; // CM FLG MTIME(4) XFL OS
        Need(_input.TryReadExactly(fixedPart), "header");
        if (fixedPart[0] != 8)
        {
            throw new InvalidDataException(FormattableString.Invariant($"gzip member at compressed offset {_memberStart}: compression method {fixedPart[0]} is not deflate (8)"));
        }
        var flags = fixedPart[1];
        if ((flags & FlagReserved) != 0)
        {
            throw new InvalidDataException(FormattableString.Invariant($"gzip member at compressed offset {_memberStart}: reserved header flags 0x{flags & FlagReserved:X2} are set"));
        }
        if ((flags & FlagExtra) != 0)
        {
            Span<byte> length = stackalloc byte[2];
            Need(_input.TryReadExactly(length), "extra field");
            Need(_input.Skip(BinaryPrimitives.ReadUInt16LittleEndian(length)), "extra field");
        }
        if ((flags & FlagName) != 0)
        {
            Need(_input.SkipZeroTerminated(), "file name");
        }
        if ((flags & FlagComment) != 0)
        {
            Need(_input.SkipZeroTerminated(), "comment");
        }
        if ((flags & FlagHeaderCrc) != 0)
        {
            Need(_input.Skip(2), "header CRC");
        }
        _crc.Reset();
        _memberLength = 0;
        _input.BeginMember();
        _member = new DeflateStream(_input, CompressionMode.Decompress, leaveOpen: true);
        return true;
    }

    private void Need(bool complete, string part)
    {
        if (!complete)
        {
            throw new InvalidDataException(FormattableString.Invariant(
                $"unexpected end of file: the gzip member at compressed offset {_memberStart} ends inside its {part} (a truncated file)"));
        }
    }

    private void FinishMember()
    {
        _member!.Dispose();
        _member = null;
        Span<byte> expected = stackalloc byte[TrailerLength];
        BinaryPrimitives.WriteUInt32LittleEndian(expected, _crc.GetCurrentHashAsUInt32());
        BinaryPrimitives.WriteUInt32LittleEndian(expected[4..], unchecked((uint)_memberLength));
        switch (_input.ConsumeTrailer(expected))
        {
            case TrailerSearch.Found:
                return;
            case TrailerSearch.EndOfInput:
                throw new InvalidDataException(FormattableString.Invariant(
                    $"unexpected end of file: the gzip member at compressed offset {_memberStart} ends after {_memberLength} bytes of data, without the rest of its data or its CRC-32 and length trailer (a truncated file; gzip -t reports the same)"));
            default:
                throw new InvalidDataException(FormattableString.Invariant(
                    $"the gzip member at compressed offset {_memberStart} decompressed to {_memberLength} bytes whose CRC-32 or length does not match its trailer, or the trailer is cut short (damaged or truncated data)"));
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _member?.Dispose();
            if (_ownsInner)
            {
                _input.Inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    private enum TrailerSearch
    {
        Found,
        EndOfInput,
        Mismatch,
    }

    /// <summary>
    /// The compressed input, buffered so that bytes the inflater was handed but did not use (the trailer and
    /// what follows it) can be found again. Refills only when empty, so the last chunk handed out stays in
    /// the buffer until the next read.
    /// </summary>
    private sealed class InflaterInput(Stream inner) : ForwardReadStream
    {
        private const int Capacity = 1 << 17;
        private const int MaxChunk = 1 << 15;
        private readonly byte[] _buffer = new byte[Capacity];
        private int _start;
        private int _end;
        private long _bufferOffset; // compressed offset of _buffer[0]
        private int _lastChunkStart;
        private int _lastChunkEnd;
        private bool _eof;
        private bool _inflaterStarved; // the inflater asked for more of this member's data at the end of the input

        public Stream Inner => inner;

        /// <summary>Compressed offset of the next unread byte.</summary>
        public long Offset => _bufferOffset + _start;

        public void BeginMember()
        {
            _inflaterStarved = false;
            _lastChunkStart = _lastChunkEnd = _start;
        }

        /// <summary>What the inflater reads.</summary>
        public override int Read(Span<byte> buffer)
        {
            if (_start == _end && !Fill(keepFrom: _end))
            {
                _lastChunkStart = _lastChunkEnd = _start;
                _inflaterStarved = true;
                return 0;
            }
            var n = Math.Min(Math.Min(buffer.Length, _end - _start), MaxChunk);
            _buffer.AsSpan(_start, n).CopyTo(buffer);
            _lastChunkStart = _start;
            _start += n;
            _lastChunkEnd = _start;
            return n;
        }

        public override int ReadByte()
        {
            if (_start == _end && !Fill(keepFrom: _end))
            {
                return -1;
            }
            return _buffer[_start++];
        }

        public bool TryReadExactly(Span<byte> destination)
        {
            for (var i = 0; i < destination.Length; i++)
            {
                var b = ReadByte();
                if (b < 0)
                {
                    return false;
                }
                destination[i] = (byte)b;
            }
            return true;
        }

        public bool Skip(int count)
        {
            for (var i = 0; i < count; i++)
            {
                if (ReadByte() < 0)
                {
                    return false;
                }
            }
            return true;
        }

        public bool SkipZeroTerminated()
        {
            while (true)
            {
                var b = ReadByte();
                if (b < 0)
                {
                    return false;
                }
                if (b == 0)
                {
                    return true;
                }
            }
        }

        /// <summary>
        /// Finds the trailer where the deflate data ended: inside the last chunk handed to the inflater or just
        /// after it. On success the next unread byte is the one after the trailer.
        /// </summary>
        public TrailerSearch ConsumeTrailer(ReadOnlySpan<byte> trailer)
        {
            // Make sure eight bytes past the last chunk are in the buffer (or the input has ended).
            var from = _lastChunkStart;
            while (_end < _lastChunkEnd + TrailerLength && !_eof)
            {
                if (!Fill(keepFrom: from))
                {
                    break;
                }
                from = _lastChunkStart;
            }
            for (var p = _lastChunkStart; p <= _lastChunkEnd && p + TrailerLength <= _end; p++)
            {
                if (_buffer.AsSpan(p, TrailerLength).SequenceEqual(trailer))
                {
                    _start = p + TrailerLength;
                    return TrailerSearch.Found;
                }
            }
            return _inflaterStarved ? TrailerSearch.EndOfInput : TrailerSearch.Mismatch;
        }

        /// <summary>Reads more input, keeping the bytes from <paramref name="keepFrom"/> on (moved to the front).</summary>
        private bool Fill(int keepFrom)
        {
            if (_eof)
            {
                return false;
            }
            if (keepFrom > 0)
            {
                var kept = _end - keepFrom;
                _buffer.AsSpan(keepFrom, kept).CopyTo(_buffer);
                _bufferOffset += keepFrom;
                _start -= keepFrom;
                _lastChunkStart = Math.Max(0, _lastChunkStart - keepFrom);
                _lastChunkEnd = Math.Max(0, _lastChunkEnd - keepFrom);
                _end = kept;
            }
            if (_end == _buffer.Length)
            {
                return true; // full already (only while keeping the last chunk, which is at most MaxChunk)
            }
            var n = inner.Read(_buffer.AsSpan(_end));
            if (n == 0)
            {
                _eof = true;
                return false;
            }
            _end += n;
            return true;
        }
    }
}
