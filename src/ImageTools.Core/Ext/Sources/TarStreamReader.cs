using System.Globalization;
using System.Text;

namespace ImageTools.Core.Ext.Sources;

/// <summary>One archive member as the tar headers describe it (after PAX, GNU long-name and sparse headers are applied).</summary>
internal sealed class TarMember
{
    public required string Name { get; init; }
    public required byte TypeFlag { get; init; }
    public required string LinkName { get; init; }
    public int Mode { get; init; }
    public long Uid { get; init; }
    public long Gid { get; init; }
    public long MtimeSeconds { get; init; }
    public long? GnuAtime { get; init; }
    public long? GnuCtime { get; init; }
    public int DevMajor { get; init; }
    public int DevMinor { get; init; }

    /// <summary>Bytes stored in the archive after the header (the packed data of a sparse member).</summary>
    public long StoredSize { get; init; }

    /// <summary>PAX records of this member (global ones first, then local), values as raw bytes, in archive order.</summary>
    public required Dictionary<string, List<byte[]>> Pax { get; init; }

    /// <summary>Old GNU sparse ('S') members: the map and the real size.</summary>
    public List<DataRange>? GnuSparseMap { get; init; }
    public long GnuSparseRealSize { get; init; }

    /// <summary>The member's data; reading it is only valid until the next member is requested.</summary>
    public required Stream Data { get; init; }
}

/// <summary>
/// A forward-only tar parser: POSIX ustar, pax ('x' and 'g' headers, with values kept as raw
/// bytes), GNU ('L'/'K' long names, base-256 numbers, atime/ctime, 'S' sparse members with
/// extension headers) and v7. Written for the filesystem builder because System.Formats.Tar (10.0)
/// refuses three things real archives contain: PAX records whose values are binary (GNU tar --xattrs
/// stores ACLs and file capabilities that way), old GNU sparse members, and the repeated keys of the
/// PAX 0.0 sparse format (see docs/ext-writer.md).
/// </summary>
internal sealed class TarStreamReader
{
    private const int BlockSize = 512;

    private readonly Stream _stream;
    private readonly string _archive;
    private readonly byte[] _header = new byte[BlockSize];
    private readonly Dictionary<string, List<byte[]>> _global = new(StringComparer.Ordinal);
    private MemberStream? _current;
    private long _position;

    public TarStreamReader(Stream stream, string archive)
    {
        _stream = stream;
        _archive = archive;
    }

    /// <summary>Bytes consumed from the (decompressed) stream.</summary>
    public long Position => _position;

    /// <summary>The next member, or null at the end of the archive.</summary>
    /// <param name="previous">The previous member's name, for messages.</param>
    public TarMember? Next(string? previous)
    {
        if (_current != null)
        {
            _current.SkipRest();
            _current = null;
        }

        var pax = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        string? longName = null;
        string? longLink = null;
        while (true)
        {
            if (!ReadBlock(_header, allowEnd: true, previous))
            {
                return null;
            }
            if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
            {
                // End of archive: one zero block (a second one usually follows; the rest is padding).
                return null;
            }
            VerifyChecksum(previous);
            var type = _header[156];
            var size = Number(_header.AsSpan(124, 12), "size", previous);
            if (size < 0)
            {
                // GNU tar: "Archive contains a negative size"; skipping by it would read the archive backwards.
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{_archive}: the header after {Describe(previous)} (at byte {_position - BlockSize}) has a negative size {size}: a corrupt archive") { Path = _archive };
            }
            switch (type)
            {
                case (byte)'x':
                    ParsePax(ReadData(size, previous), pax);
                    continue;
                case (byte)'g':
                    ParsePax(ReadData(size, previous), _global);
                    continue;
                case (byte)'L':
                    longName = CString(ReadData(size, previous));
                    continue;
                case (byte)'K':
                    longLink = CString(ReadData(size, previous));
                    continue;
            }

            var merged = new Dictionary<string, List<byte[]>>(_global, StringComparer.Ordinal);
            foreach (var (k, v) in pax)
            {
                merged[k] = v;
            }
            var isUstar = _header.AsSpan(257, 5).SequenceEqual("ustar"u8);
            var isGnu = _header.AsSpan(257, 8).SequenceEqual("ustar  \0"u8);
            var name = CString(_header.AsSpan(0, 100));
            if (isUstar && !isGnu && _header[345] != 0)
            {
                name = CString(_header.AsSpan(345, 155)) + "/" + name;
            }
            name = longName ?? name;
            name = Text(merged, "path") ?? name;
            var link = Text(merged, "linkpath") ?? longLink ?? CString(_header.AsSpan(157, 100));
            var stored = merged.TryGetValue("size", out var sizeValues) ? ParseDecimal(sizeValues[^1], "size", name) : size;
            if (stored < 0)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{_archive}: member '{name}' has a negative size {stored}: a corrupt archive") { Path = _archive };
            }

            List<DataRange>? gnuMap = null;
            long gnuRealSize = 0;
            if (type == (byte)'S')
            {
                (gnuMap, gnuRealSize) = ReadGnuSparseMap(name);
            }

            // Hard links, symlinks, devices, fifos and directories carry no data even if a size is set
            // (except GNU dumpdir 'D', whose listing we skip).
            var dataSize = type is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6' ? 0 : stored;
            _current = new MemberStream(this, dataSize, name);
            return new TarMember
            {
                Name = name,
                TypeFlag = type,
                LinkName = link,
                Mode = (int)Number(_header.AsSpan(100, 8), "mode", name),
                Uid = merged.TryGetValue("uid", out var u) ? ParseDecimal(u[^1], "uid", name) : Number(_header.AsSpan(108, 8), "uid", name),
                Gid = merged.TryGetValue("gid", out var g) ? ParseDecimal(g[^1], "gid", name) : Number(_header.AsSpan(116, 8), "gid", name),
                MtimeSeconds = Number(_header.AsSpan(136, 12), "mtime", name),
                GnuAtime = isGnu && _header[345] != 0 ? Number(_header.AsSpan(345, 12), "atime", name) : null,
                GnuCtime = isGnu && _header[357] != 0 ? Number(_header.AsSpan(357, 12), "ctime", name) : null,
                DevMajor = isUstar ? (int)Number(_header.AsSpan(329, 8), "devmajor", name) : 0,
                DevMinor = isUstar ? (int)Number(_header.AsSpan(337, 8), "devminor", name) : 0,
                StoredSize = dataSize,
                Pax = merged,
                GnuSparseMap = gnuMap,
                GnuSparseRealSize = gnuRealSize,
                Data = _current,
            };
        }
    }

    /// <summary>The sparse map of an old GNU 'S' header: 4 entries in the header, 21 in each extension block.</summary>
    private (List<DataRange> Map, long RealSize) ReadGnuSparseMap(string name)
    {
        var map = new List<DataRange>();
        void AddEntries(ReadOnlySpan<byte> area, int count)
        {
            for (var i = 0; i < count; i++)
            {
                var entry = area.Slice(i * 24, 24);
                if (entry[0] == 0)
                {
                    return;
                }
                map.Add(new DataRange(Number(entry[..12], "sparse offset", name), Number(entry.Slice(12, 12), "sparse size", name)));
            }
        }
        AddEntries(_header.AsSpan(386, 96), 4);
        var realSize = Number(_header.AsSpan(483, 12), "realsize", name);
        var extended = _header[482] != 0;
        var block = new byte[BlockSize];
        while (extended)
        {
            ReadBlock(block, allowEnd: false, name);
            AddEntries(block.AsSpan(0, 21 * 24), 21);
            extended = block[504] != 0;
        }
        return (map, realSize);
    }

    private bool ReadBlock(byte[] block, bool allowEnd, string? previous)
    {
        var n = _stream.ReadAtLeast(block, BlockSize, throwOnEndOfStream: false);
        _position += n;
        if (n == 0 && allowEnd)
        {
            return false;
        }
        if (n < BlockSize)
        {
            throw Truncated(previous, $"the archive ends inside a header ({n} of 512 bytes)");
        }
        return true;
    }

    private byte[] ReadData(long size, string? previous)
    {
        if (size > 64 << 20)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{_archive}: an extended header after {Describe(previous)} claims {size} bytes") { Path = _archive };
        }
        var data = new byte[size];
        var n = _stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        _position += n;
        if (n < size)
        {
            throw Truncated(previous, "the archive ends inside an extended header");
        }
        SkipPadding(size, previous);
        return data;
    }

    private void SkipPadding(long size, string? previous)
    {
        var pad = (int)((BlockSize - size % BlockSize) % BlockSize);
        if (pad > 0)
        {
            Span<byte> junk = stackalloc byte[BlockSize];
            var n = _stream.ReadAtLeast(junk[..pad], pad, throwOnEndOfStream: false);
            _position += n;
            if (n < pad)
            {
                throw Truncated(previous, "the archive ends inside a member's padding");
            }
        }
    }

    private void VerifyChecksum(string? previous)
    {
        var stored = Number(_header.AsSpan(148, 8), "checksum", previous);
        long unsignedSum = 0, signedSum = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : _header[i];
            unsignedSum += b;
            signedSum += (sbyte)b;
        }
        if (stored != unsignedSum && stored != signedSum)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{_archive}: the header after {Describe(previous)} (at byte {_position - BlockSize}) has a bad checksum: not a tar archive, or a corrupt one") { Path = _archive };
        }
    }

    private ImageToolsException Truncated(string? previous, string what) =>
        new(ErrorKind.CorruptImage, $"{_archive}: truncated tar archive: {what} (after {Describe(previous)})") { Path = _archive };

    private static string Describe(string? previous) => previous == null ? "the start" : $"member '{previous}'";

    /// <summary>Octal (NUL/space terminated) or GNU base-256 (high bit set).</summary>
    private long Number(ReadOnlySpan<byte> field, string what, string? member)
    {
        if ((field[0] & 0x80) != 0)
        {
            // GNU base-256: a big-endian two's-complement number after the marker bit; negative when
            // the next bit is set (times before 1970). Values are assumed to fit 64 bits.
            long v = (field[0] & 0x40) != 0 ? -1 : 0;
            v = (v << 6) | (long)(field[0] & 0x3F);
            for (var i = 1; i < field.Length; i++)
            {
                v = (v << 8) | field[i];
            }
            return v;
        }
        long value = 0;
        var started = false;
        foreach (var c in field)
        {
            if (c is >= (byte)'0' and <= (byte)'7')
            {
                value = value * 8 + (c - '0');
                started = true;
            }
            else if (c == (byte)' ' && !started)
            {
                continue;
            }
            else if (c is 0 or (byte)' ')
            {
                break;
            }
            else
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{_archive}: member after {Describe(member)}: bad {what} field in the tar header: not a tar archive, or a corrupt one") { Path = _archive };
            }
        }
        return value;
    }

    private long ParseDecimal(byte[] text, string what, string member) =>
        long.TryParse(Encoding.ASCII.GetString(text), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new ImageToolsException(ErrorKind.CorruptImage, $"{_archive}: member '{member}': bad PAX {what}") { Path = _archive };

    private static string CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    private static string? Text(Dictionary<string, List<byte[]>> pax, string key) =>
        pax.TryGetValue(key, out var v) ? Encoding.UTF8.GetString(v[^1]) : null;

    /// <summary>"LEN KEY=VALUE\n" records; values kept as bytes; repeated keys kept in order (PAX 0.0 sparse maps).</summary>
    private void ParsePax(ReadOnlySpan<byte> data, Dictionary<string, List<byte[]>> into)
    {
        var pos = 0;
        while (pos < data.Length)
        {
            if (data[pos] == 0)
            {
                break;
            }
            var space = data[pos..].IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(data.Slice(pos, space)), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                || length <= space + 2 || pos + length > data.Length || data[pos + length - 1] != (byte)'\n')
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{_archive}: malformed PAX extended header record at byte {pos}") { Path = _archive };
            }
            var record = data.Slice(pos + space + 1, length - space - 2);
            var eq = record.IndexOf((byte)'=');
            if (eq > 0)
            {
                var key = Encoding.UTF8.GetString(record[..eq]);
                var value = record[(eq + 1)..].ToArray();
                if (value.Length == 0 && key is not ("GNU.sparse.offset" or "GNU.sparse.numbytes"))
                {
                    into.Remove(key); // an empty value deletes the key (POSIX pax)
                }
                else
                {
                    if (!into.TryGetValue(key, out var values))
                    {
                        into[key] = values = new List<byte[]>();
                    }
                    values.Add(value);
                }
            }
            pos += length;
        }
    }

    /// <summary>The current member's data, read straight from the archive; the rest is skipped when the next member is read.</summary>
    private sealed class MemberStream(TarStreamReader owner, long length, string name) : Stream
    {
        private long _read;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var want = (int)Math.Min(buffer.Length, length - _read);
            if (want <= 0)
            {
                return 0;
            }
            var n = owner._stream.Read(buffer[..want]);
            if (n == 0)
            {
                throw owner.Truncated(name, $"member '{name}' ends after {_read} of {length} bytes");
            }
            _read += n;
            owner._position += n;
            return n;
        }

        public void SkipRest()
        {
            var buffer = new byte[1 << 16];
            while (_read < length && Read(buffer) > 0)
            {
            }
            owner.SkipPadding(length, name);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush()
        {
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
