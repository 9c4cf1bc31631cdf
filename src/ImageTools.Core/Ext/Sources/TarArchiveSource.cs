using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using ImageTools.Core.Ext.OnDisk;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;

namespace ImageTools.Core.Ext.Sources;

/// <summary>
/// Reads a tar archive (plain, gzip, zstd, xz or bzip2, recognised by magic bytes, not by name) with
/// System.Formats.Tar and describes each member as a <see cref="FileEntry"/>: ustar, GNU and PAX
/// headers, PAX times with fractions, PAX xattrs (SCHILY.xattr.*, LIBARCHIVE.xattr.*) with their exact
/// bytes, hard links, and GNU sparse members in the PAX 0.1 and 1.0 formats (expanded: holes stay
/// holes). Refused with a clear error: members whose path is absolute or contains "..", hard links to
/// members that did not come before, truncated or corrupt archives, and the sparse formats
/// System.Formats.Tar cannot read (old GNU 'S' members, PAX 0.0).
/// </summary>
public sealed class TarArchiveSource : IFileTreeSource
{
    private readonly string _path;

    private TarArchiveSource(string path)
    {
        _path = path;
    }

    public static TarArchiveSource Open(string path)
    {
        try
        {
            using var probe = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{path}: cannot open: {e.Message}", e) { Path = path };
        }
        return new TarArchiveSource(path);
    }

    public string Description => _path;

    public bool CanReadTwice => true;

    /// <summary>The compression of the archive, from its first bytes.</summary>
    public static string DetectCompression(ReadOnlySpan<byte> head) => head switch
    {
        [0x1F, 0x8B, ..] => "gzip",
        [0x28, 0xB5, 0x2F, 0xFD, ..] => "zstd",
        [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, ..] => "xz",
        [0x42, 0x5A, 0x68, >= (byte)'1' and <= (byte)'9', ..] => "bzip2",
        _ => "none",
    };

    public IEnumerable<FileEntry> ReadEntries(CancellationToken cancellation)
    {
        Stream file;
        try
        {
            file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{_path}: cannot open: {e.Message}", e) { Path = _path };
        }
        using var counting = new RecordingStream(OpenDecompressed(file));
        using var reader = new TarReader(counting, leaveOpen: true);
        string? previous = null;
        TarEntry? last = null;
        var sawEntry = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            if (last?.DataStream is { } pending)
            {
                Drain(pending, previous);
            }
            counting.StartRecording();
            TarEntry? entry;
            try
            {
                entry = reader.GetNextEntry(copyData: false);
            }
            catch (NotSupportedException e)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{_path}: the member after {(previous == null ? "the start" : $"'{previous}'")} is a GNU sparse file in the old GNU format, which cannot be read ({e.Message}); " +
                    "create the archive with 'tar --format=pax -S' (PAX sparse format 1.0) or without -S", e) { Path = _path };
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or ArgumentException or IOException)
            {
                if (e.Message.Contains("duplicate extended attribute", StringComparison.OrdinalIgnoreCase))
                {
                    throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                        $"{_path}: the member after {(previous == null ? "the start" : $"'{previous}'")} uses the GNU sparse PAX format 0.0, which cannot be read ({e.Message}); " +
                        "create the archive with 'tar --format=pax -S' (sparse format 1.0)", e) { Path = _path };
                }
                throw Truncated(previous, e);
            }
            if (entry == null)
            {
                if (!sawEntry && counting.Position == 0)
                {
                    throw new ImageToolsException(ErrorKind.WrongInputKind, $"{_path}: is empty, not a tar archive") { Path = _path };
                }
                yield break;
            }
            sawEntry = true;
            var raw = counting.StopRecording();
            last = entry;
            var converted = Convert(entry, raw, counting);
            previous = converted?.Path ?? entry.Name;
            if (converted != null)
            {
                yield return converted;
            }
        }
    }

    private Stream OpenDecompressed(Stream file)
    {
        Span<byte> head = stackalloc byte[6];
        var n = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        file.Position = 0;
        return DetectCompression(head[..n]) switch
        {
            "gzip" => new GZipStream(file, CompressionMode.Decompress),
            "zstd" => new ZstdSharp.DecompressionStream(file),
            "xz" => new XZStream(file),
            "bzip2" => BZip2Stream.Create(file, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
            _ => file,
        };
    }

    private ImageToolsException Truncated(string? previous, Exception e) =>
        new(ErrorKind.CorruptImage,
            $"{_path}: truncated or corrupt tar archive {(previous == null ? "at its start" : $"after member '{previous}'")}: {e.Message}", e) { Path = _path };

    private void Drain(Stream data, string? name)
    {
        try
        {
            data.CopyTo(Stream.Null);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or EndOfStreamException)
        {
            throw Truncated(name, e);
        }
    }

    private FileEntry? Convert(TarEntry entry, byte[] rawHeaders, RecordingStream stream)
    {
        var pax = entry is PaxTarEntry p ? p.ExtendedAttributes : null;
        var rawPax = RawPaxRecords(rawHeaders, stream.RecordingStart);
        var name = entry.Name;
        long? sparseRealSize = null;
        List<DataRange>? sparseMap = null;
        var sparseMapInData = false;
        if (pax != null && (pax.ContainsKey("GNU.sparse.major") || pax.ContainsKey("GNU.sparse.map") || pax.ContainsKey("GNU.sparse.offset")))
        {
            name = pax.GetValueOrDefault("GNU.sparse.name") ?? pax.GetValueOrDefault("path") ?? name;
            if (pax.GetValueOrDefault("GNU.sparse.major") == "1" && pax.GetValueOrDefault("GNU.sparse.minor") == "0")
            {
                sparseMapInData = true;
                sparseRealSize = ParseLong(pax.GetValueOrDefault("GNU.sparse.realsize"), name, "GNU.sparse.realsize");
            }
            else if (pax.TryGetValue("GNU.sparse.map", out var map))
            {
                sparseRealSize = ParseLong(pax.GetValueOrDefault("GNU.sparse.size") ?? pax.GetValueOrDefault("GNU.sparse.realsize"), name, "GNU.sparse.size");
                sparseMap = ParseSparseMap(map.Split(','), name);
            }
            else
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{_path}: member '{name}' is a GNU sparse file in a format that cannot be read (GNU.sparse.major {pax.GetValueOrDefault("GNU.sparse.major") ?? "?"}); create the archive with 'tar --format=pax -S'") { Path = _path };
            }
        }

        var path = NormalizePath(name, "member");
        var type = entry.EntryType switch
        {
            TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile => FileEntryType.RegularFile,
            TarEntryType.Directory => FileEntryType.Directory,
            TarEntryType.SymbolicLink => FileEntryType.SymbolicLink,
            TarEntryType.HardLink => FileEntryType.HardLink,
            TarEntryType.CharacterDevice => FileEntryType.CharacterDevice,
            TarEntryType.BlockDevice => FileEntryType.BlockDevice,
            TarEntryType.Fifo => FileEntryType.Fifo,
            TarEntryType.GlobalExtendedAttributes => (FileEntryType?)null,
            _ => throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{_path}: member '{name}' has type '{entry.EntryType}', which cannot be stored in a filesystem") { Path = _path },
        };
        if (type == null)
        {
            return null;
        }

        string? linkTarget = null;
        if (type == FileEntryType.SymbolicLink)
        {
            linkTarget = entry.LinkName;
        }
        else if (type == FileEntryType.HardLink)
        {
            linkTarget = NormalizePath(entry.LinkName, $"hard link '{path}' target");
        }

        var mtime = PaxTime(rawPax, "mtime") ?? FromDate(entry.ModificationTime);
        ExtTimestamp? atime = PaxTime(rawPax, "atime");
        ExtTimestamp? ctime = PaxTime(rawPax, "ctime");
        if (entry is GnuTarEntry gnu)
        {
            atime ??= gnu.AccessTime > DateTimeOffset.UnixEpoch ? FromDate(gnu.AccessTime) : null;
            ctime ??= gnu.ChangeTime > DateTimeOffset.UnixEpoch ? FromDate(gnu.ChangeTime) : null;
        }

        FileContent? content = null;
        if (type == FileEntryType.RegularFile)
        {
            var data = entry.DataStream;
            if (sparseMapInData)
            {
                content = data == null ? null : new SparseV1Content(data, sparseRealSize!.Value, entry.Length, path, this);
            }
            else if (sparseMap != null)
            {
                content = data == null && sparseMap.All(r => r.Length == 0) ? EmptySized(sparseRealSize!.Value) : data == null ? null : new SparseMapContent(data, sparseRealSize!.Value, sparseMap, path, this);
            }
            else if (entry.Length > 0 && data != null)
            {
                content = new SequentialContent(data, entry.Length, path, this);
            }
        }

        return new FileEntry
        {
            Path = path,
            Type = type.Value,
            Permissions = (int)entry.Mode & 0xFFF,
            Uid = (uint)entry.Uid,
            Gid = (uint)entry.Gid,
            ModificationTime = mtime,
            AccessTime = atime,
            ChangeTime = ctime,
            DeviceMajor = entry is PosixTarEntry px && type is FileEntryType.CharacterDevice or FileEntryType.BlockDevice ? (uint)((PosixTarEntry)entry).DeviceMajor : 0,
            DeviceMinor = entry is PosixTarEntry py && type is FileEntryType.CharacterDevice or FileEntryType.BlockDevice ? (uint)((PosixTarEntry)entry).DeviceMinor : 0,
            LinkTarget = linkTarget,
            ExtendedAttributes = Xattrs(rawPax, path),
            Content = content,
        };
    }

    private static FileContent EmptySized(long length) =>
        FileContent.FromRanges(length, Array.Empty<DataRange>(), (_, _) => { });

    private string NormalizePath(string name, string what)
    {
        if (name.StartsWith('/'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{_path}: {what} '{name}' has an absolute path; refusing it (a filesystem image holds paths relative to its root)") { Path = _path };
        }
        var parts = new List<string>();
        foreach (var part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"{_path}: {what} '{name}' contains '..', which would point outside the filesystem; refusing it") { Path = _path };
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private long ParseLong(string? text, string name, string key) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{name}': bad {key} '{text}'") { Path = _path };

    private List<DataRange> ParseSparseMap(IReadOnlyList<string> numbers, string name)
    {
        if (numbers.Count % 2 != 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{name}': the GNU sparse map has an odd number of values") { Path = _path };
        }
        var list = new List<DataRange>();
        long end = 0;
        for (var i = 0; i < numbers.Count; i += 2)
        {
            var offset = ParseLong(numbers[i].Trim(), name, "sparse map offset");
            var size = ParseLong(numbers[i + 1].Trim(), name, "sparse map size");
            if (offset < end)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{name}': the GNU sparse map is not in ascending order") { Path = _path };
            }
            list.Add(new DataRange(offset, size));
            end = offset + size;
        }
        return list;
    }

    private static ExtTimestamp FromDate(DateTimeOffset d) => ExtTimestamp.FromDateTimeOffset(d);

    /// <summary>A PAX time ("1795654211.564037643", possibly negative) with its fraction kept to the nanosecond.</summary>
    private static ExtTimestamp? PaxTime(Dictionary<string, List<byte[]>> pax, string key)
    {
        if (!pax.TryGetValue(key, out var values))
        {
            return null;
        }
        var text = Encoding.ASCII.GetString(values[^1]).Trim();
        var negative = text.StartsWith('-');
        if (negative)
        {
            text = text[1..];
        }
        var dot = text.IndexOf('.');
        var whole = dot < 0 ? text : text[..dot];
        var fraction = dot < 0 ? "" : text[(dot + 1)..];
        if (!long.TryParse(whole, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return null;
        }
        fraction = (fraction + "000000000")[..9];
        if (!uint.TryParse(fraction, NumberStyles.None, CultureInfo.InvariantCulture, out var nanos))
        {
            nanos = 0;
        }
        if (!negative)
        {
            return new ExtTimestamp(seconds, nanos);
        }
        // -12.25 is 12.25 seconds before 1970: second -13 plus 0.75.
        return nanos == 0 ? new ExtTimestamp(-seconds, 0) : new ExtTimestamp(-seconds - 1, 1_000_000_000 - nanos);
    }

    private List<ExtendedAttribute> Xattrs(Dictionary<string, List<byte[]>> pax, string path)
    {
        var list = new List<ExtendedAttribute>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, values) in pax.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            string name;
            byte[] value;
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                name = key["SCHILY.xattr.".Length..];
                value = values[^1];
            }
            else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
            {
                name = Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..]);
                try
                {
                    value = System.Convert.FromBase64String(Encoding.ASCII.GetString(values[^1]));
                }
                catch (FormatException)
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{path}': xattr {name} is not valid base64") { Path = _path };
                }
            }
            else if (key is "SCHILY.acl.access" or "SCHILY.acl.default")
            {
                name = key == "SCHILY.acl.access" ? "system.posix_acl_access" : "system.posix_acl_default";
                value = TextAcl.ToVfs(Encoding.UTF8.GetString(values[^1]), $"{_path}: member '{path}'");
                if (value.Length == 0)
                {
                    continue;
                }
            }
            else
            {
                continue;
            }
            if (names.Add(name))
            {
                list.Add(new ExtendedAttribute(name, value));
            }
        }
        return list;
    }

    /// <summary>
    /// The PAX records of the member, with their values as the exact bytes in the archive
    /// (System.Formats.Tar decodes them as UTF-8 text, which would mangle binary xattr values such as
    /// security.capability). <paramref name="raw"/> holds what was read for the member's headers,
    /// starting at stream position <paramref name="start"/>.
    /// </summary>
    private static Dictionary<string, List<byte[]>> RawPaxRecords(byte[] raw, long start)
    {
        var result = new Dictionary<string, List<byte[]>>(StringComparer.Ordinal);
        var offset = (int)((512 - start % 512) % 512); // headers start on a 512-byte boundary
        while (offset + 512 <= raw.Length)
        {
            var header = raw.AsSpan(offset, 512);
            var typeFlag = header[156];
            var size = ParseOctal(header.Slice(124, 12));
            var dataStart = offset + 512;
            var padded = (int)((size + 511) / 512 * 512);
            if (typeFlag == (byte)'x' && dataStart + size <= raw.Length)
            {
                ParsePaxRecords(raw.AsSpan(dataStart, (int)size), result);
            }
            if (typeFlag is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K')
            {
                offset = dataStart + padded;
                continue;
            }
            break; // the member's own header: its data is not part of the recording
        }
        return result;
    }

    private static long ParseOctal(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            // GNU base-256.
            long v = field[0] & 0x7F;
            for (var i = 1; i < field.Length; i++)
            {
                v = (v << 8) | field[i];
            }
            return v;
        }
        long value = 0;
        foreach (var c in field)
        {
            if (c is >= (byte)'0' and <= (byte)'7')
            {
                value = value * 8 + (c - '0');
            }
            else if (c is 0 or (byte)' ' && value > 0)
            {
                break;
            }
        }
        return value;
    }

    /// <summary>"LEN KEY=VALUE\n" records (POSIX pax); values are kept as bytes.</summary>
    private static void ParsePaxRecords(ReadOnlySpan<byte> data, Dictionary<string, List<byte[]>> into)
    {
        var pos = 0;
        while (pos < data.Length)
        {
            var space = data[pos..].IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(data.Slice(pos, space)), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                || length <= space + 1 || pos + length > data.Length)
            {
                return;
            }
            var record = data.Slice(pos + space + 1, length - space - 2); // without the trailing newline
            var eq = record.IndexOf((byte)'=');
            if (eq > 0)
            {
                var key = Encoding.UTF8.GetString(record[..eq]);
                if (!into.TryGetValue(key, out var values))
                {
                    into[key] = values = new List<byte[]>();
                }
                values.Add(record[(eq + 1)..].ToArray());
            }
            pos += length;
        }
    }

    // ---- Contents -------------------------------------------------------------------------

    /// <summary>A member's data read straight from the archive, in order (gaps are read and dropped).</summary>
    private sealed class SequentialContent(Stream data, long length, string path, TarArchiveSource owner) : FileContent
    {
        private bool _opened;

        public override long Length => length;

        public override IContentReader Open()
        {
            if (_opened)
            {
                throw new InvalidOperationException($"{path}: a tar member can be read only once");
            }
            _opened = true;
            return new PackedReader(data, length, new List<DataRange> { new(0, length) }, path, owner);
        }
    }

    /// <summary>PAX 0.1: the map is in the header; the data holds the non-hole ranges back to back.</summary>
    private sealed class SparseMapContent(Stream data, long length, List<DataRange> map, string path, TarArchiveSource owner) : FileContent
    {
        public override long Length => length;

        public override IContentReader Open() => new PackedReader(data, length, map, path, owner);
    }

    /// <summary>PAX 1.0: the data starts with the map as decimal lines (count, then offset/size pairs), padded to 512.</summary>
    private sealed class SparseV1Content(Stream data, long length, long storedLength, string path, TarArchiveSource owner) : FileContent
    {
        private List<DataRange>? _map;

        public override long Length => length;

        public override IContentReader Open()
        {
            if (_map == null)
            {
                ReadMap();
            }
            return new PackedReader(data, length, _map!, path, owner);
        }

        private void ReadMap()
        {
            var numbers = new List<string>();
            var line = new StringBuilder();
            long consumed = 0;
            long? count = null;
            while (count == null || numbers.Count < 1 + 2 * count)
            {
                var b = data.ReadByte();
                if (b < 0)
                {
                    throw owner.Truncated(path, new EndOfStreamException("the sparse map ends early"));
                }
                consumed++;
                if (b == '\n')
                {
                    numbers.Add(line.ToString());
                    line.Clear();
                    if (count == null)
                    {
                        count = owner.ParseLong(numbers[0], path, "sparse map count");
                    }
                }
                else
                {
                    line.Append((char)b);
                }
                if (consumed > storedLength)
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage, $"{owner._path}: member '{path}': bad GNU sparse map") { Path = owner._path };
                }
            }
            var pad = (512 - consumed % 512) % 512;
            for (var i = 0; i < pad; i++)
            {
                if (data.ReadByte() < 0)
                {
                    throw owner.Truncated(path, new EndOfStreamException("the sparse map ends early"));
                }
            }
            _map = owner.ParseSparseMap(numbers.Skip(1).ToList(), path);
        }
    }

    /// <summary>Reads packed ranges back into their file offsets; everything else is a hole.</summary>
    private sealed class PackedReader(Stream data, long length, List<DataRange> map, string path, TarArchiveSource owner) : IContentReader
    {
        private int _range;
        private long _rangeDone;

        public DataRange? NextData(long offset)
        {
            foreach (var r in map)
            {
                if (r.Length > 0 && r.End > offset && r.Offset < length)
                {
                    var start = Math.Max(r.Offset, offset);
                    return new DataRange(start, Math.Min(r.End, length) - start);
                }
            }
            return null;
        }

        public int Read(long position, Span<byte> buffer)
        {
            if (position >= length)
            {
                return 0;
            }
            var n = (int)Math.Min(buffer.Length, length - position);
            var output = buffer[..n];
            output.Clear();
            // Walk the packed data forward to the wanted position, copying what overlaps.
            while (_range < map.Count)
            {
                var r = map[_range];
                var readFrom = r.Offset + _rangeDone;
                if (readFrom >= position + n)
                {
                    break;
                }
                if (_rangeDone >= r.Length)
                {
                    _range++;
                    _rangeDone = 0;
                    continue;
                }
                var remaining = r.Length - _rangeDone;
                if (readFrom < position)
                {
                    // Before the wanted position: read and drop.
                    var skip = (int)Math.Min(remaining, Math.Min(position - readFrom, 1 << 16));
                    ReadExact(SkipBuffer(skip));
                    _rangeDone += skip;
                    continue;
                }
                var take = (int)Math.Min(remaining, position + n - readFrom);
                ReadExact(output.Slice((int)(readFrom - position), take));
                _rangeDone += take;
            }
            return n;
        }

        private byte[]? _skipBuffer;

        private Span<byte> SkipBuffer(int size)
        {
            _skipBuffer ??= new byte[1 << 16];
            return _skipBuffer.AsSpan(0, size);
        }

        private void ReadExact(Span<byte> into)
        {
            try
            {
                data.ReadExactly(into);
            }
            catch (Exception e) when (e is EndOfStreamException or IOException or InvalidDataException)
            {
                throw owner.Truncated(path, e);
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Counts bytes read, and records them between StartRecording and StopRecording (the headers of one member).</summary>
    private sealed class RecordingStream(Stream inner) : Stream
    {
        private MemoryStream? _recording;

        public long RecordingStart { get; private set; }

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        private long _position;

        public void StartRecording()
        {
            _recording = new MemoryStream();
            RecordingStart = _position;
        }

        public byte[] StopRecording()
        {
            var bytes = _recording?.ToArray() ?? Array.Empty<byte>();
            _recording = null;
            return bytes;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            if (_recording != null && n > 0)
            {
                if (_recording.Length + n > 64 << 20)
                {
                    throw new InvalidDataException("a member's headers are larger than 64 MiB");
                }
                _recording.Write(buffer[..n]);
            }
            _position += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override void Flush()
        {
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// POSIX.1e text ACLs ("user::rw-,user:1000:r--,group::r-x,mask::r-x,other::r--") as star and GNU tar
/// store them in SCHILY.acl.*, converted to the VFS xattr form. Only numeric user and group
/// qualifiers can be converted: names would need the target system's user database.
/// </summary>
internal static class TextAcl
{
    public static byte[] ToVfs(string text, string where)
    {
        var entries = text.Split([',', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
        {
            return Array.Empty<byte>();
        }
        using var output = new MemoryStream();
        Span<byte> buf = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(buf, PosixAcl.VfsVersion);
        output.Write(buf[..4]);
        foreach (var e in entries)
        {
            var hash = e.IndexOf('#');
            var parts = (hash >= 0 ? e[..hash] : e).Trim().Split(':');
            if (parts.Length < 3)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: ACL entry '{e}' is not tag:qualifier:permissions");
            }
            var (kind, qualifier, perms) = (parts[0], parts[1], parts[2]);
            ushort tag;
            uint id = uint.MaxValue;
            switch (kind)
            {
                case "user" or "u":
                    tag = qualifier.Length == 0 ? PosixAcl.TagUserObj : PosixAcl.TagUser;
                    break;
                case "group" or "g":
                    tag = qualifier.Length == 0 ? PosixAcl.TagGroupObj : PosixAcl.TagGroup;
                    break;
                case "mask" or "m":
                    tag = PosixAcl.TagMask;
                    break;
                case "other" or "o":
                    tag = PosixAcl.TagOther;
                    break;
                default:
                    throw new ImageToolsException(ErrorKind.CorruptImage, $"{where}: ACL entry '{e}' has an unknown tag");
            }
            if (tag is PosixAcl.TagUser or PosixAcl.TagGroup)
            {
                // star writes "user:name:rwx:uid"; the fourth field is the numeric id when present.
                var numeric = parts.Length >= 4 ? parts[3] : qualifier;
                if (!uint.TryParse(numeric, NumberStyles.None, CultureInfo.InvariantCulture, out id))
                {
                    throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                        $"{where}: ACL entry '{e}' names {kind} '{qualifier}' instead of a numeric id; create the archive with numeric ids (e.g. tar --numeric-owner)");
                }
            }
            ushort p = 0;
            foreach (var c in perms)
            {
                p |= c switch { 'r' => (ushort)4, 'w' => (ushort)2, 'x' => (ushort)1, _ => (ushort)0 };
            }
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(buf, tag);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(buf[2..], p);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(buf[4..], id);
            output.Write(buf);
        }
        return output.ToArray();
    }
}
