using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Imaging.Export;

/// <summary>One archive member as <see cref="PaxTarWriter"/> writes it.</summary>
public sealed record TarMember
{
    /// <summary>The member name as bytes ("./etc/passwd", "./etc/" for a directory).</summary>
    public required byte[] Name { get; init; }

    /// <summary>ustar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' FIFO.</summary>
    public required byte TypeFlag { get; init; }

    public required int Mode { get; init; }

    public required uint Uid { get; init; }

    public required uint Gid { get; init; }

    public long Size { get; init; }

    public required UnixTime ModificationTime { get; init; }

    public UnixTime? AccessTime { get; init; }

    public UnixTime? ChangeTime { get; init; }

    /// <summary>Link target (symlink) or first name (hard link), as bytes.</summary>
    public byte[]? LinkName { get; init; }

    public uint DeviceMajor { get; init; }

    public uint DeviceMinor { get; init; }

    /// <summary>Extended attributes: written as SCHILY.xattr.NAME records with their exact bytes.</summary>
    public IReadOnlyList<(string Name, byte[] Value)> Xattrs { get; init; } = Array.Empty<(string, byte[])>();

    /// <summary>Further pax records, written as given after the xattrs (e.g. SCHILY.acl.access).</summary>
    public IReadOnlyList<(string Key, byte[] Value)> ExtraRecords { get; init; } = Array.Empty<(string, byte[])>();
}

/// <summary>
/// Writes POSIX.1-2001 (pax) tar archives, byte for byte what GNU tar and bsdtar read: a ustar header
/// per member, preceded when needed by an 'x' extended header of "LEN key=value\n" records (long or
/// non-ASCII paths and link targets, times with nanoseconds, sizes and ids too large for the octal
/// fields, device numbers, and SCHILY.xattr.* attributes). Hand-written because System.Formats.Tar
/// keeps PAX values as .NET strings and re-encodes them as UTF-8, which corrupts binary attribute
/// values (POSIX ACLs, file capabilities): this writer copies them exactly.
/// </summary>
public sealed class PaxTarWriter : IDisposable
{
    public const int BlockSize = 512;

    /// <summary>GNU tar's default record size (20 blocks): the archive is padded to a multiple of it.</summary>
    public const int RecordSize = 20 * BlockSize;

    // ustar header fields (POSIX.1-1988 ustar, pax "ustar Interchange Format").
    private const int OffName = 0, LenName = 100;
    private const int OffMode = 100, LenMode = 8;
    private const int OffUid = 108, LenUid = 8;
    private const int OffGid = 116, LenGid = 8;
    private const int OffSize = 124, LenSize = 12;
    private const int OffMtime = 136, LenMtime = 12;
    private const int OffChecksum = 148, LenChecksum = 8;
    private const int OffTypeFlag = 156;
    private const int OffLinkName = 157, LenLinkName = 100;
    private const int OffMagic = 257;
    private const int OffVersion = 263;
    private const int OffDevMajor = 329, LenDevMajor = 8;
    private const int OffDevMinor = 337, LenDevMinor = 8;
    private const int OffPrefix = 345, LenPrefix = 155;

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly byte[] _copyBuffer = new byte[1 << 16];
    private long _written;
    private bool _finished;

    public PaxTarWriter(Stream output, bool leaveOpen = false)
    {
        _output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten => _written;

    /// <summary>
    /// Writes one member; <paramref name="content"/> must supply exactly <see cref="TarMember.Size"/> bytes
    /// for a regular file (and is not read otherwise).
    /// </summary>
    public void Write(TarMember member, Stream? content = null)
    {
        if (_finished)
        {
            throw new InvalidOperationException("the archive is already finished");
        }
        var records = new List<(string Key, byte[] Value)>();
        var header = new byte[BlockSize];

        if (!FitsUstarName(member.Name, out var prefix, out var name))
        {
            records.Add(("path", member.Name));
            (prefix, name) = (Array.Empty<byte>(), Truncated(member.Name, LenName));
        }
        name.CopyTo(header, OffName);
        prefix.CopyTo(header, OffPrefix);
        if (member.LinkName is { } link)
        {
            if (link.Length > LenLinkName || !IsPlainAscii(link))
            {
                records.Add(("linkpath", link));
            }
            Truncated(link, LenLinkName).CopyTo(header, OffLinkName);
        }
        if (!IsValidUtf8(member.Name) || member.LinkName is { } l && !IsValidUtf8(l))
        {
            // pax says path/linkpath are UTF-8 unless hdrcharset says otherwise; raw names are kept exact.
            records.Insert(0, ("hdrcharset", "BINARY"u8.ToArray()));
        }

        Numeric(header, OffMode, LenMode, member.Mode & 0xFFF, null, records);
        Numeric(header, OffUid, LenUid, member.Uid, "uid", records);
        Numeric(header, OffGid, LenGid, member.Gid, "gid", records);
        Numeric(header, OffSize, LenSize, member.TypeFlag == (byte)'0' ? member.Size : 0, "size", records);
        Numeric(header, OffMtime, LenMtime, member.ModificationTime.Seconds, null, records);
        if (member.ModificationTime.Nanoseconds != 0 || !FitsOctal(member.ModificationTime.Seconds, LenMtime))
        {
            records.Add(("mtime", Encoding.ASCII.GetBytes(member.ModificationTime.ToPaxString())));
        }
        if (member.AccessTime is { } atime)
        {
            records.Add(("atime", Encoding.ASCII.GetBytes(atime.ToPaxString())));
        }
        if (member.ChangeTime is { } ctime)
        {
            records.Add(("ctime", Encoding.ASCII.GetBytes(ctime.ToPaxString())));
        }
        header[OffTypeFlag] = member.TypeFlag;
        "ustar\0"u8.CopyTo(header.AsSpan(OffMagic));
        "00"u8.CopyTo(header.AsSpan(OffVersion));
        if (member.TypeFlag is (byte)'3' or (byte)'4')
        {
            Numeric(header, OffDevMajor, LenDevMajor, member.DeviceMajor, "SCHILY.devmajor", records);
            Numeric(header, OffDevMinor, LenDevMinor, member.DeviceMinor, "SCHILY.devminor", records);
        }
        foreach (var (xattrName, value) in member.Xattrs)
        {
            records.Add(("SCHILY.xattr." + xattrName, value));
        }
        records.AddRange(member.ExtraRecords);

        if (records.Count > 0)
        {
            WriteExtendedHeader(member.Name, records);
        }
        SetChecksum(header);
        WriteRaw(header);

        if (member.TypeFlag == (byte)'0' && member.Size > 0)
        {
            if (content == null)
            {
                throw new ArgumentNullException(nameof(content), "a regular file member needs its content");
            }
            var left = member.Size;
            while (left > 0)
            {
                var n = content.Read(_copyBuffer, 0, (int)Math.Min(_copyBuffer.Length, left));
                if (n == 0)
                {
                    throw new InvalidOperationException($"the content of {Encoding.UTF8.GetString(member.Name)} ended {left} bytes short of its size {member.Size}");
                }
                WriteRaw(_copyBuffer.AsSpan(0, n));
                left -= n;
            }
            Pad();
        }
    }

    /// <summary>
    /// Writes a regular file with holes as a GNU sparse member, format 1.0 in pax headers (what
    /// <c>tar --sparse --format=pax</c> writes and GNU tar, bsdtar and Python's tarfile read): the header names
    /// <c>DIR/GNUSparseFile.0/NAME</c> and carries GNU.sparse.major=1, minor=0, name (the real path) and
    /// realsize; the member's data is the map (decimal lines: the count, then offset and size of each data
    /// range; a file ending in a hole ends with a range of size 0 at its end), padded to a block, then only
    /// the bytes of the data ranges. A file of 1 TiB with 8 MiB of data takes 8 MiB, not 1 TiB.
    /// </summary>
    /// <param name="member">The member as for <see cref="Write"/>, with the file's real size.</param>
    /// <param name="content">The whole file (holes read as zeros); read only inside the data ranges.</param>
    /// <param name="dataRanges">Ascending, non-overlapping ranges holding data, inside the file.</param>
    public void WriteSparse(TarMember member, Stream content, IReadOnlyList<(long Offset, long Length)> dataRanges)
    {
        var map = new List<(long Offset, long Length)>(dataRanges);
        var lastEnd = map.Count == 0 ? 0 : map[^1].Offset + map[^1].Length;
        if (lastEnd < member.Size)
        {
            map.Add((member.Size, 0)); // the file's end, as GNU tar records it
        }
        var text = new StringBuilder();
        text.Append(map.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        long packed = 0;
        foreach (var (offset, length) in map)
        {
            text.Append(offset.ToString(CultureInfo.InvariantCulture)).Append('\n').Append(length.ToString(CultureInfo.InvariantCulture)).Append('\n');
            packed += length;
        }
        var mapBytes = Encoding.ASCII.GetBytes(text.ToString());
        var mapBlock = new byte[(mapBytes.Length + BlockSize - 1) / BlockSize * BlockSize];
        mapBytes.CopyTo(mapBlock, 0);

        var slash = Array.LastIndexOf(member.Name, (byte)'/');
        var sparseName = slash < 0
            ? [.. "GNUSparseFile.0/"u8, .. member.Name]
            : (byte[])[.. member.Name.AsSpan(0, slash + 1), .. "GNUSparseFile.0/"u8, .. member.Name.AsSpan(slash + 1)];
        var records = new List<(string Key, byte[] Value)>(member.ExtraRecords)
        {
            ("GNU.sparse.major", "1"u8.ToArray()),
            ("GNU.sparse.minor", "0"u8.ToArray()),
            ("GNU.sparse.name", member.Name),
            ("GNU.sparse.realsize", Encoding.ASCII.GetBytes(member.Size.ToString(CultureInfo.InvariantCulture))),
        };
        var stored = member with { Name = sparseName, Size = mapBlock.Length + packed, ExtraRecords = records };
        Write(stored, new SparseBody(mapBlock, content, map));
    }

    /// <summary>The stored data of a sparse member: the map block, then each data range read from the file.</summary>
    private sealed class SparseBody(byte[] mapBlock, Stream content, List<(long Offset, long Length)> map) : Stream
    {
        private int _mapDone;
        private int _range = -1;
        private long _rangeLeft;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_mapDone < mapBlock.Length)
            {
                var n = Math.Min(buffer.Length, mapBlock.Length - _mapDone);
                mapBlock.AsSpan(_mapDone, n).CopyTo(buffer);
                _mapDone += n;
                return n;
            }
            while (_rangeLeft == 0)
            {
                if (++_range >= map.Count)
                {
                    return 0;
                }
                _rangeLeft = map[_range].Length;
                if (_rangeLeft > 0)
                {
                    Skip(map[_range].Offset);
                }
            }
            var got = content.Read(buffer[..(int)Math.Min(buffer.Length, _rangeLeft)]);
            _rangeLeft -= got;
            return got;
        }

        private void Skip(long offset)
        {
            if (content.CanSeek)
            {
                content.Position = offset;
                return;
            }
            throw new NotSupportedException("a sparse member needs content that can seek");
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Ends the archive: two zero blocks, then zeros up to a whole record.</summary>
    public void Finish()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        WriteRaw(new byte[2 * BlockSize]);
        var remainder = (int)(_written % RecordSize);
        if (remainder != 0)
        {
            WriteRaw(new byte[RecordSize - remainder]);
        }
        _output.Flush();
    }

    private void WriteExtendedHeader(byte[] memberName, List<(string Key, byte[] Value)> records)
    {
        using var body = new MemoryStream();
        foreach (var (key, value) in records)
        {
            var keyBytes = Encoding.UTF8.GetBytes(key);
            // "LEN key=value\n", where LEN counts itself: find the length whose own digits make it consistent.
            var rest = 1 + keyBytes.Length + 1 + value.Length + 1;
            var length = rest + 1;
            while (length.ToString(CultureInfo.InvariantCulture).Length + rest != length)
            {
                length = length.ToString(CultureInfo.InvariantCulture).Length + rest;
            }
            body.Write(Encoding.ASCII.GetBytes(length.ToString(CultureInfo.InvariantCulture)));
            body.WriteByte((byte)' ');
            body.Write(keyBytes);
            body.WriteByte((byte)'=');
            body.Write(value);
            body.WriteByte((byte)'\n');
        }
        var header = new byte[BlockSize];
        // GNU tar's naming: DIR/PaxHeaders/BASENAME, kept ASCII and short.
        var baseName = Encoding.UTF8.GetString(memberName).TrimEnd('/');
        baseName = baseName[(baseName.LastIndexOf('/') + 1)..];
        var safe = new string(baseName.Select(c => c is >= ' ' and < (char)127 ? c : '_').ToArray());
        Truncated(Encoding.ASCII.GetBytes("./PaxHeaders/" + safe), LenName).CopyTo(header, OffName);
        Octal(header, OffMode, LenMode, 0x1A4); // 0644
        Octal(header, OffUid, LenUid, 0);
        Octal(header, OffGid, LenGid, 0);
        Octal(header, OffSize, LenSize, body.Length);
        Octal(header, OffMtime, LenMtime, 0);
        header[OffTypeFlag] = (byte)'x';
        "ustar\0"u8.CopyTo(header.AsSpan(OffMagic));
        "00"u8.CopyTo(header.AsSpan(OffVersion));
        SetChecksum(header);
        WriteRaw(header);
        WriteRaw(body.GetBuffer().AsSpan(0, (int)body.Length));
        Pad();
    }

    // ustar splits a long name at a '/' into prefix (≤ 155) and name (≤ 100); only plain ASCII is put there.
    private static bool FitsUstarName(byte[] full, out byte[] prefix, out byte[] name)
    {
        prefix = Array.Empty<byte>();
        name = full;
        if (!IsPlainAscii(full))
        {
            return false;
        }
        if (full.Length <= LenName)
        {
            return true;
        }
        for (var i = full.Length - 1; i > 0; i--)
        {
            if (full[i] == (byte)'/' && i <= LenPrefix && full.Length - i - 1 <= LenName && full.Length - i - 1 > 0)
            {
                prefix = full[..i];
                name = full[(i + 1)..];
                return true;
            }
        }
        return false;
    }

    private static bool IsPlainAscii(byte[] bytes) => bytes.AsSpan().IndexOfAnyExceptInRange((byte)0x20, (byte)0x7E) < 0;

    private static bool IsValidUtf8(byte[] bytes) => System.Text.Unicode.Utf8.IsValid(bytes);

    private static byte[] Truncated(byte[] bytes, int length) => bytes.Length <= length ? bytes : bytes[..length];

    private static bool FitsOctal(long value, int fieldLength) => value >= 0 && value < 1L << (3 * (fieldLength - 1));

    // An octal field when the value fits (width − 1 digits and a NUL); otherwise the GNU base-256 form
    // (top bit set, big-endian two's complement) plus a pax record, which readers prefer.
    private static void Numeric(byte[] header, int offset, int length, long value, string? paxKey, List<(string, byte[])> records)
    {
        if (FitsOctal(value, length))
        {
            Octal(header, offset, length, value);
            return;
        }
        if (paxKey != null)
        {
            records.Add((paxKey, Encoding.ASCII.GetBytes(value.ToString(CultureInfo.InvariantCulture))));
        }
        var field = header.AsSpan(offset, length);
        field.Fill(value < 0 ? (byte)0xFF : (byte)0);
        Span<byte> big = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(big, value);
        var take = Math.Min(8, length);
        big[(8 - take)..].CopyTo(field[(length - take)..]);
        field[0] = value < 0 ? (byte)0xFF : (byte)0x80;
    }

    private static void Octal(byte[] header, int offset, int length, long value)
    {
        var digits = Convert.ToString(value, 8).PadLeft(length - 1, '0');
        Encoding.ASCII.GetBytes(digits).CopyTo(header, offset);
        header[offset + length - 1] = 0;
    }

    private static void SetChecksum(byte[] header)
    {
        header.AsSpan(OffChecksum, LenChecksum).Fill((byte)' ');
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }
        var digits = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(digits).CopyTo(header, OffChecksum);
        header[OffChecksum + 6] = 0;
        header[OffChecksum + 7] = (byte)' ';
    }

    private void Pad()
    {
        var remainder = (int)(_written % BlockSize);
        if (remainder != 0)
        {
            WriteRaw(new byte[BlockSize - remainder]);
        }
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _output.Write(bytes);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"writing the tar archive failed: {e.Message}", e);
        }
        _written += bytes.Length;
    }

    public void Dispose()
    {
        if (!_leaveOpen)
        {
            _output.Dispose();
        }
    }
}
