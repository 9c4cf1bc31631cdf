using System.Globalization;
using System.Text;
using ImageTools.Core.Ext.OnDisk;

namespace ImageTools.Core.Ext.Sources;

/// <summary>
/// Reads a tar archive (plain, gzip, zstd, xz or bzip2, recognised by magic bytes, not by name) and
/// describes each member as a <see cref="FileEntry"/>: ustar, GNU and PAX headers, PAX times with
/// fractions, PAX xattrs (SCHILY.xattr.*, LIBARCHIVE.xattr.*) with their exact bytes, text ACLs
/// (SCHILY.acl.*), hard links, and GNU sparse members in all four formats (old GNU 'S', PAX 0.0, 0.1
/// and 1.0), expanded so that holes stay holes. Refused with a clear error naming the member: absolute
/// paths, paths with "..", truncated or corrupt archives. The headers are parsed by
/// <see cref="TarStreamReader"/> because System.Formats.Tar cannot read binary PAX values or the GNU
/// sparse formats (docs/ext-writer.md).
/// </summary>
public sealed class TarArchiveSource : IFileTreeSource
{
    private readonly string _path;
    private readonly bool _regularFile;

    private TarArchiveSource(string path, bool regularFile)
    {
        _path = path;
        _regularFile = regularFile;
    }

    /// <summary>An archive file, or a pipe (which can be read once only, so a size must be given).</summary>
    public static TarArchiveSource Open(string path)
    {
        var regular = (File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) == 0
            && Platform.FileMetadataReader.Get(path).Kind == Platform.FileNodeKind.RegularFile;
        if (!regular)
        {
            return new TarArchiveSource(path, false);
        }
        try
        {
            using var probe = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{path}: cannot open: {e.Message}", e) { Path = path };
        }
        return new TarArchiveSource(path, true);
    }

    public string Description => _path;

    public bool CanReadTwice => _regularFile;

    public IEnumerable<FileEntry> ReadEntries(CancellationToken cancellation)
    {
        Stream file;
        try
        {
            file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, _regularFile ? FileOptions.SequentialScan : FileOptions.None);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{_path}: cannot open: {e.Message}", e) { Path = _path };
        }
        // Sniffed without seeking: the archive may be a pipe.
        using var stream = Streams.Compression.OpenSniffed(file, out _);
        var reader = new TarStreamReader(stream, _path);
        string? previous = null;
        var any = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            TarMember? member;
            try
            {
                member = reader.Next(previous);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
            {
                throw Truncated(previous, e);
            }
            if (member == null)
            {
                if (!any)
                {
                    throw new ImageToolsException(ErrorKind.WrongInputKind, $"{_path}: holds no tar members (empty, or not a tar archive)") { Path = _path };
                }
                yield break;
            }
            any = true;
            var entry = Convert(member);
            previous = entry?.Path ?? member.Name;
            if (entry != null)
            {
                yield return entry;
            }
        }
    }

    private ImageToolsException Truncated(string? previous, Exception e) =>
        e as ImageToolsException ?? new(ErrorKind.CorruptImage,
            $"{_path}: truncated or corrupt tar archive {(previous == null ? "at its start" : $"after member '{previous}'")}: {e.Message}", e) { Path = _path };

    private static string? Text(Dictionary<string, List<byte[]>> pax, string key) =>
        pax.TryGetValue(key, out var v) ? Encoding.UTF8.GetString(v[^1]) : null;

    private FileEntry? Convert(TarMember m)
    {
        var pax = m.Pax;
        var name = m.Name;
        long? realSize = null;
        List<DataRange>? map = null;
        var mapInData = false;
        if (m.TypeFlag == (byte)'S')
        {
            realSize = m.GnuSparseRealSize;
            map = m.GnuSparseMap;
        }
        else if (pax.ContainsKey("GNU.sparse.major") || pax.ContainsKey("GNU.sparse.map") || pax.ContainsKey("GNU.sparse.offset"))
        {
            name = Text(pax, "GNU.sparse.name") ?? name;
            if (Text(pax, "GNU.sparse.major") == "1")
            {
                mapInData = true;
                realSize = ParseLong(Text(pax, "GNU.sparse.realsize"), name, "GNU.sparse.realsize");
            }
            else if (Text(pax, "GNU.sparse.map") is { } mapText)
            {
                realSize = ParseLong(Text(pax, "GNU.sparse.size") ?? Text(pax, "GNU.sparse.realsize"), name, "GNU.sparse.size");
                map = mapText.Length == 0 ? new List<DataRange>() : ParseSparseMap(mapText.Split(','), name);
            }
            else if (pax.TryGetValue("GNU.sparse.offset", out var offsets) && pax.TryGetValue("GNU.sparse.numbytes", out var sizes))
            {
                // PAX 0.0: one offset/numbytes record pair per range, in order.
                realSize = ParseLong(Text(pax, "GNU.sparse.size"), name, "GNU.sparse.size");
                var numbers = new List<string>();
                for (var i = 0; i < Math.Min(offsets.Count, sizes.Count); i++)
                {
                    numbers.Add(Encoding.ASCII.GetString(offsets[i]));
                    numbers.Add(Encoding.ASCII.GetString(sizes[i]));
                }
                map = ParseSparseMap(numbers, name);
            }
            else
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{_path}: member '{name}' is a GNU sparse file in an unknown format (GNU.sparse.major {Text(pax, "GNU.sparse.major") ?? "?"})") { Path = _path };
            }
        }

        var path = NormalizePath(name, "member");
        FileEntryType? type = m.TypeFlag switch
        {
            (byte)'0' or 0 or (byte)'7' or (byte)'S' => FileEntryType.RegularFile,
            (byte)'5' or (byte)'D' => FileEntryType.Directory,
            (byte)'2' => FileEntryType.SymbolicLink,
            (byte)'1' => FileEntryType.HardLink,
            (byte)'3' => FileEntryType.CharacterDevice,
            (byte)'4' => FileEntryType.BlockDevice,
            (byte)'6' => FileEntryType.Fifo,
            (byte)'V' => null, // GNU volume label
            _ => throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{_path}: member '{name}' has tar type '{(char)m.TypeFlag}', which cannot be stored in a filesystem") { Path = _path },
        };
        if (type == null)
        {
            return null;
        }
        if (path.Length == 0 && type != FileEntryType.Directory)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{_path}: member '{name}' has an empty path") { Path = _path };
        }
        if (m.Uid < 0 || m.Uid > uint.MaxValue || m.Gid < 0 || m.Gid > uint.MaxValue)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"{_path}: member '{name}' has uid {m.Uid} / gid {m.Gid} outside 0..4294967295") { Path = _path };
        }

        string? linkTarget = type switch
        {
            FileEntryType.SymbolicLink => m.LinkName,
            FileEntryType.HardLink => NormalizePath(m.LinkName, $"hard link '{path}' target"),
            _ => null,
        };

        var mtime = PaxTime(pax, "mtime") ?? new ExtTimestamp(m.MtimeSeconds, 0);
        var atime = PaxTime(pax, "atime") ?? (m.GnuAtime is long a ? new ExtTimestamp(a, 0) : null);
        var ctime = PaxTime(pax, "ctime") ?? (m.GnuCtime is long c ? new ExtTimestamp(c, 0) : null);

        FileContent? content = null;
        if (type == FileEntryType.RegularFile)
        {
            if (mapInData)
            {
                content = new SparseV1Content(m.Data, realSize!.Value, m.StoredSize, path, this);
            }
            else if (map != null)
            {
                CheckSparseMap(map, realSize!.Value, m.StoredSize, name);
                content = new SparseMapContent(m.Data, realSize!.Value, map, path, this);
            }
            else if (m.StoredSize > 0)
            {
                content = new SequentialContent(m.Data, m.StoredSize, path, this);
            }
        }

        return new FileEntry
        {
            Path = path,
            Type = type.Value,
            Permissions = m.Mode & 0xFFF,
            Uid = (uint)m.Uid,
            Gid = (uint)m.Gid,
            ModificationTime = mtime,
            AccessTime = atime,
            ChangeTime = ctime,
            DeviceMajor = type is FileEntryType.CharacterDevice or FileEntryType.BlockDevice ? (uint)m.DevMajor : 0,
            DeviceMinor = type is FileEntryType.CharacterDevice or FileEntryType.BlockDevice ? (uint)m.DevMinor : 0,
            LinkTarget = linkTarget,
            ExtendedAttributes = Xattrs(pax, path),
            Content = content,
        };
    }

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

    /// <summary>
    /// What GNU tar refuses too: a sparse map whose ranges (ascending, checked when parsed) end past the file's
    /// real size, or whose data is more than the member stores (the rest would be read from the next header).
    /// </summary>
    private void CheckSparseMap(List<DataRange> map, long realSize, long storedData, string name)
    {
        if (realSize < 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{name}': negative sparse real size {realSize}") { Path = _path };
        }
        long packed = 0;
        foreach (var range in map)
        {
            if (range.Offset < 0 || range.Length < 0 || range.Offset + range.Length > realSize)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"{_path}: member '{name}': the GNU sparse map has a range {range.Offset}+{range.Length} past the file's size {realSize}: a corrupt archive") { Path = _path };
            }
            packed += range.Length;
        }
        if (packed > storedData)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{_path}: member '{name}': the GNU sparse map describes {packed} bytes of data but the member stores {storedData}: a corrupt archive") { Path = _path };
        }
    }

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
            if (size > long.MaxValue - offset)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{_path}: member '{name}': the GNU sparse map has a range {offset}+{size} that overflows") { Path = _path };
            }
            list.Add(new DataRange(offset, size));
            end = offset + size;
        }
        return list;
    }

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
        // Binary xattrs first: where an archive has both (GNU tar --xattrs --acls), they are exact.
        foreach (var (key, values) in pax.OrderBy(k => k.Key.StartsWith("SCHILY.acl.", StringComparison.Ordinal)).ThenBy(k => k.Key, StringComparer.Ordinal))
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
                if (names.Contains(name))
                {
                    continue;
                }
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
            owner.CheckSparseMap(_map, length, storedLength - consumed - pad, path);
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

}

/// <summary>
/// POSIX.1e text ACLs ("user::rw-,user:1000:r--,group::r-x,mask::r-x,other::r--") as star and GNU tar
/// store them in SCHILY.acl.*, converted to the VFS xattr form. Only numeric user and group
/// qualifiers can be converted: names would need the target system's user database.
/// </summary>
internal static class TextAcl
{
    private static readonly Lazy<Dictionary<string, uint>> LazyUsers = new(() => ReadIds("/etc/passwd"));
    private static readonly Lazy<Dictionary<string, uint>> LazyGroups = new(() => ReadIds("/etc/group"));

    private static Dictionary<string, uint> Users => LazyUsers.Value;

    private static Dictionary<string, uint> Groups => LazyGroups.Value;

    /// <summary>name → id from a passwd or group file ("name:x:id:...").</summary>
    private static Dictionary<string, uint> ReadIds(string file)
    {
        var map = new Dictionary<string, uint>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                var f = line.Split(':');
                if (f.Length >= 3 && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    map.TryAdd(f[0], id);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No user database: only numeric qualifiers can be converted.
        }
        return map;
    }

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
                // star writes "user:name:rwx:uid" (the fourth field is the numeric id); GNU tar writes
                // names, which are resolved as 'tar -x --acls' would: through this host's passwd/group.
                var numeric = parts.Length >= 4 ? parts[3] : qualifier;
                if (!uint.TryParse(numeric, NumberStyles.None, CultureInfo.InvariantCulture, out id)
                    && !(tag == PosixAcl.TagUser ? Users : Groups).TryGetValue(qualifier, out id))
                {
                    throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                        $"{where}: ACL entry '{e}' names {kind} '{qualifier}', which is not a number and not in this system's {(tag == PosixAcl.TagUser ? "/etc/passwd" : "/etc/group")}");
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
