using System.Buffers.Binary;
using System.Text;
using ImageTools.Core.Streams;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Containers.Qcow2;

/// <summary>
/// Reads the virtual disk inside a qcow2 image (v2 and v3; standard, zero and compressed clusters, zlib or zstd;
/// a backing file). Refcounts are not read: what the L1/L2 tables reach is the disk. Every table is checked
/// as it is first used: entries inside the file, no host cluster used twice (by data or metadata), no reserved
/// bits; a damaged image fails naming the file, the table entry's offset and what is wrong, never reading
/// garbage as disk data. Only one L2 table and one decompressed cluster are held at a time.
/// </summary>
public sealed class Qcow2DiskSource : VirtualDiskSource
{
    /// <summary>How deep a chain of backing files may go (a loop would otherwise never end).</summary>
    public const int MaxBackingDepth = 16;

    private const uint BackingFormatExtension = 0xE2792ACA;
    private const uint ExternalDataFileExtension = 0x44415441;

    private readonly SafeFileHandle _handle;
    private readonly long _fileLength;
    private readonly Qcow2Header _header;
    private readonly int _clusterBits;
    private readonly long _clusterSize;
    private readonly int _l2Entries;
    private readonly long[] _l1;
    private readonly bool[] _l2Checked;
    private readonly ulong[] _hostClustersUsed;
    private readonly ClusterCompression _compression;
    private readonly DataSource? _backing;
    private readonly string? _backingName;

    private int _cachedL1Index = -1;
    private readonly Qcow2L2Entry[] _l2;
    private long _cachedCompressedCluster = -1;
    private byte[]? _decompressed;
    private byte[]? _compressedBuffer;
    private long _bytesRead;

    private Qcow2DiskSource(string name, SafeFileHandle handle, long fileLength, Qcow2Header header, long[] l1, DataSource? backing, string? backingName)
    {
        Name = name;
        _handle = handle;
        _fileLength = fileLength;
        _header = header;
        _clusterBits = header.ClusterBits;
        _clusterSize = header.ClusterSize;
        _l2Entries = (int)(_clusterSize / Qcow2L2Entry.Size);
        _l1 = l1;
        _l2Checked = new bool[l1.Length];
        _l2 = new Qcow2L2Entry[_l2Entries];
        _hostClustersUsed = new ulong[(fileLength / _clusterSize + 64) / 64 + 1];
        _compression = header.CompressionType == 1 ? ClusterCompression.Zstd : ClusterCompression.Zlib;
        _backing = backing;
        _backingName = backingName;
    }

    public override string Name { get; }

    public override ContainerFormat Format => ContainerFormat.Qcow2;

    public override long? Length => (long)_header.Size;

    public override long BytesRead => _bytesRead + (_backing?.BytesRead ?? 0);

    public Qcow2Header Header => _header;

    public override string? Detail => _backingName != null ? $"qcow2 v{_header.Version}, backing file {_backingName}" : $"qcow2 v{_header.Version}";

    /// <summary>True when the first bytes are qcow2's magic.</summary>
    public static bool IsQcow2(ReadOnlySpan<byte> header) => header.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(header) == Qcow2Header.Magic;

    /// <summary>
    /// Opens the qcow2 image at <paramref name="path"/> (<paramref name="handle"/> is owned by the result).
    /// <paramref name="openBacking"/> opens a backing file by its resolved path (probing its format) at the next depth.
    /// </summary>
    public static Qcow2DiskSource Open(string path, SafeFileHandle handle, Func<string, string?, int, DataSource> openBacking, int depth = 0)
    {
        try
        {
            return OpenCore(path, handle, openBacking, depth);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static Qcow2DiskSource OpenCore(string path, SafeFileHandle handle, Func<string, string?, int, DataSource> openBacking, int depth)
    {
        var fileLength = RandomAccess.GetLength(handle);
        var first = new byte[(int)Math.Min(fileLength, 1 << Qcow2Header.MaxClusterBits)];
        ReadExactly(handle, first, 0, path, "header");
        var header = Qcow2Header.Read(first, path);
        var clusterSize = header.ClusterSize;
        if (first.Length > clusterSize)
        {
            first = first[..(int)clusterSize];
        }
        if (header.CryptMethod != 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{path}: the qcow2 image is encrypted (crypt_method {header.CryptMethod} at offset 32, {(header.CryptMethod == 1 ? "AES" : "LUKS")}); decrypt it first (qemu-img convert with --object secret,...)") { Path = path };
        }
        var incompatible = header.IncompatibleFeatures;
        if ((incompatible & Qcow2Header.ExternalDataFileBit) != 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{path}: the qcow2 image keeps its data in an external data file (incompatible feature bit 2, offset 72), which is not supported; convert it with qemu-img convert first") { Path = path };
        }
        if ((incompatible & Qcow2Header.ExtendedL2Bit) != 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{path}: the qcow2 image uses extended L2 entries (subclusters, incompatible feature bit 4, offset 72), which are not supported; convert it with qemu-img convert -o extended_l2=off first") { Path = path };
        }
        if ((incompatible & Qcow2Header.CorruptBit) != 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{path}: the qcow2 image is marked corrupt (incompatible feature bit 1, offset 72); repair it with qemu-img check -r all first") { Path = path };
        }
        var unknown = incompatible & ~(Qcow2Header.DirtyBit | Qcow2Header.CompressionTypeBit);
        if (unknown != 0)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{path}: the qcow2 image needs incompatible features 0x{unknown:x} (offset 72) that this version does not know") { Path = path };
        }
        if (header.CompressionType > 1)
        {
            throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{path}: qcow2 compression_type {header.CompressionType} (offset 104) is not zlib (0) or zstd (1)") { Path = path };
        }

        var backingFormat = ReadExtensions(first, header, path);

        // The L1 table, inside the file.
        var l1Bytes = (long)header.L1Size * Qcow2L1Entry.Size;
        if (header.L1Size > 0 && (header.L1TableOffset == 0 || (long)header.L1TableOffset + l1Bytes > fileLength))
        {
            throw Qcow2Header.Corrupt(path, 40, "l1_table_offset", $"the L1 table ({header.L1Size} entries at offset {header.L1TableOffset}) lies past the end of the file ({fileLength} bytes); the image is truncated");
        }
        var rawL1 = new byte[l1Bytes];
        ReadExactly(handle, rawL1, (long)header.L1TableOffset, path, "L1 table");
        var l1 = new long[header.L1Size];
        for (var i = 0; i < l1.Length; i++)
        {
            var entry = Qcow2L1Entry.Read(rawL1.AsSpan(i * 8), out var problem);
            var at = (long)header.L1TableOffset + i * 8L;
            if (problem != null)
            {
                throw Qcow2Header.Corrupt(path, at, $"L1 entry {i}", problem);
            }
            if (entry.L2Offset != 0 && ((entry.L2Offset & (clusterSize - 1)) != 0 || entry.L2Offset + clusterSize > fileLength))
            {
                throw Qcow2Header.Corrupt(path, at, $"L1 entry {i}",
                    $"L2 table offset {entry.L2Offset} is {((entry.L2Offset & (clusterSize - 1)) != 0 ? "not cluster-aligned" : $"past the end of the file ({fileLength} bytes)")}");
            }
            l1[i] = entry.L2Offset;
        }

        DataSource? backing = null;
        string? backingName = null;
        if (header.BackingFileOffset != 0)
        {
            backingName = Encoding.UTF8.GetString(first.AsSpan((int)header.BackingFileOffset, (int)header.BackingFileSize));
            if (depth + 1 > MaxBackingDepth)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{path}: backing file {backingName}: the chain of backing files is deeper than {MaxBackingDepth} (a loop?)") { Path = path };
            }
            if (backingName.Contains("://", StringComparison.Ordinal) || backingName.StartsWith("json:", StringComparison.Ordinal))
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature, $"{path}: backing file '{backingName}' is not a local file; convert the image with qemu-img convert first") { Path = path };
            }
            // As qemu does: a relative name is relative to the directory of the image that names it.
            var resolved = Path.IsPathRooted(backingName) ? backingName : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", backingName);
            if (!File.Exists(resolved))
            {
                throw new ImageToolsException(ErrorKind.NotFound,
                    $"{path}: its backing file {backingName} (looked for at {resolved}) does not exist; the clusters the image does not hold come from it, so it cannot be read without it (put it there, or give the full chain with qemu-img rebase)") { Path = path };
            }
            backing = openBacking(resolved, backingFormat, depth + 1);
        }
        var source = new Qcow2DiskSource(path, handle, fileLength, header, l1, backing, backingName);
        source.MarkMetadata();
        return source;
    }

    /// <summary>Walks the header extensions; returns the backing file format extension's value, if any.</summary>
    private static string? ReadExtensions(byte[] first, Qcow2Header header, string path)
    {
        string? backingFormat = null;
        var at = (int)header.HeaderLength;
        var end = header.BackingFileOffset != 0 ? (int)Math.Min((long)header.BackingFileOffset, first.Length) : first.Length;
        while (at + 8 <= end)
        {
            var type = BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(at));
            var length = BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(at + 4));
            if (type == 0)
            {
                break;
            }
            if (length > end - at - 8)
            {
                throw Qcow2Header.Corrupt(path, at + 4, "header extension length", $"extension 0x{type:x8} of {length} bytes runs past the header cluster");
            }
            if (type == BackingFormatExtension)
            {
                backingFormat = Encoding.ASCII.GetString(first.AsSpan(at + 8, (int)length));
            }
            else if (type == ExternalDataFileExtension)
            {
                throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                    $"{path}: the qcow2 image names an external data file (header extension at offset {at}), which is not supported") { Path = path };
            }
            at += 8 + (int)((length + 7) / 8 * 8);
        }
        return backingFormat;
    }

    private void MarkMetadata()
    {
        MarkHostCluster(0, 0, "the header");
        var l1Bytes = _l1.Length * 8L;
        for (long c = (long)_header.L1TableOffset; c < (long)_header.L1TableOffset + l1Bytes; c += _clusterSize)
        {
            MarkHostCluster(c, 40, "the L1 table");
        }
    }

    private void MarkHostCluster(long hostOffset, long fieldOffset, string what)
    {
        var index = hostOffset >> _clusterBits;
        var word = index >> 6;
        var bit = 1UL << (int)(index & 63);
        if ((_hostClustersUsed[word] & bit) != 0)
        {
            throw Qcow2Header.Corrupt(Name, fieldOffset, what.StartsWith("the ", StringComparison.Ordinal) ? what[4..] : what,
                $"{what} uses host cluster {hostOffset}, which something else in the image already uses (overlapping clusters)");
        }
        _hostClustersUsed[word] |= bit;
    }

    /// <summary>Loads (and, the first time, checks) the L2 table of L1 entry <paramref name="l1Index"/>; false when it has none.</summary>
    private bool LoadL2(int l1Index)
    {
        if (_cachedL1Index == l1Index)
        {
            return true;
        }
        var l2Offset = _l1[l1Index];
        if (l2Offset == 0)
        {
            return false;
        }
        var raw = new byte[_clusterSize];
        ReadExactly(_handle, raw, l2Offset, Name, $"L2 table of L1 entry {l1Index}");
        _bytesRead += raw.Length;
        var firstCheck = !_l2Checked[l1Index];
        if (firstCheck)
        {
            MarkHostCluster(l2Offset, (long)_header.L1TableOffset + l1Index * 8L, $"the L2 table of L1 entry {l1Index}");
        }
        for (var i = 0; i < _l2Entries; i++)
        {
            var entryOffset = l2Offset + i * 8L;
            var guest = ((long)l1Index * _l2Entries + i) << _clusterBits;
            var entry = Qcow2L2Entry.Read(raw.AsSpan(i * 8), _clusterBits, out var problem);
            if (problem != null)
            {
                throw Qcow2Header.Corrupt(Name, entryOffset, $"L2 entry for guest offset {guest}", problem);
            }
            if (entry.Kind == Qcow2ClusterKind.Zero && _header.Version < 3)
            {
                throw Qcow2Header.Corrupt(Name, entryOffset, $"L2 entry for guest offset {guest}", "a zero cluster (bit 0) in a version 2 image");
            }
            if (entry.Kind != Qcow2ClusterKind.Unallocated && guest >= (long)_header.Size)
            {
                // Clusters past the virtual size hold a snapshot's VM state; the disk never reads them.
                entry = Qcow2L2Entry.Unallocated;
            }
            switch (entry.Kind)
            {
                case Qcow2ClusterKind.Standard:
                    if ((entry.HostOffset & (_clusterSize - 1)) != 0)
                    {
                        throw Qcow2Header.Corrupt(Name, entryOffset, $"L2 entry for guest offset {guest}", $"host offset {entry.HostOffset} is not cluster-aligned");
                    }
                    if (entry.HostOffset + _clusterSize > _fileLength)
                    {
                        throw Qcow2Header.Corrupt(Name, entryOffset, $"L2 entry for guest offset {guest}",
                            $"host cluster {entry.HostOffset} lies past the end of the file ({_fileLength} bytes); the image is truncated");
                    }
                    if (firstCheck)
                    {
                        MarkHostCluster(entry.HostOffset, entryOffset, $"guest cluster at offset {guest}");
                    }
                    break;
                case Qcow2ClusterKind.Compressed:
                    if (entry.HostOffset < _clusterSize || entry.HostOffset >= _fileLength)
                    {
                        throw Qcow2Header.Corrupt(Name, entryOffset, $"L2 entry for guest offset {guest}",
                            $"compressed data at host offset {entry.HostOffset} lies {(entry.HostOffset < _clusterSize ? "inside the header cluster" : $"past the end of the file ({_fileLength} bytes); the image is truncated")}");
                    }
                    break;
            }
            _l2[i] = entry;
        }
        _l2Checked[l1Index] = true;
        _cachedL1Index = l1Index;
        return true;
    }

    private Qcow2L2Entry Lookup(long guestCluster)
    {
        var l1Index = (int)(guestCluster / _l2Entries);
        return LoadL2(l1Index) ? _l2[guestCluster % _l2Entries] : Qcow2L2Entry.Unallocated;
    }

    public override Extent? NextData(long offset)
    {
        var size = (long)_header.Size;
        if (offset >= size)
        {
            return null;
        }
        var cluster = offset >> _clusterBits;
        var lastCluster = (size - 1) >> _clusterBits;
        long? start = null;
        while (cluster <= lastCluster)
        {
            var clusterStart = Math.Max(offset, cluster << _clusterBits);
            var l1Index = (int)(cluster / _l2Entries);
            if (_l1[l1Index] == 0 && _backing == null)
            {
                // No L2 table and nothing beneath: the whole range it would cover is a hole.
                if (start != null)
                {
                    return new Extent(start.Value, clusterStart - start.Value);
                }
                cluster = (long)(l1Index + 1) * _l2Entries;
                continue;
            }
            var entry = Lookup(cluster);
            var hasData = entry.Kind is Qcow2ClusterKind.Standard or Qcow2ClusterKind.Compressed
                          || (entry.Kind == Qcow2ClusterKind.Unallocated && BackingHasData(clusterStart, (cluster + 1) << _clusterBits));
            if (hasData)
            {
                start ??= clusterStart;
            }
            else if (start != null)
            {
                return new Extent(start.Value, clusterStart - start.Value);
            }
            cluster++;
        }
        return start is { } begin ? new Extent(begin, size - begin) : null;
    }

    private bool BackingHasData(long start, long end) =>
        _backing?.NextData(start) is { } extent && extent.Offset < end;

    public override int Read(long position, Span<byte> buffer)
    {
        var size = (long)_header.Size;
        if (position >= size)
        {
            return 0;
        }
        if (buffer.Length > size - position)
        {
            buffer = buffer[..(int)(size - position)];
        }
        var done = 0;
        while (done < buffer.Length)
        {
            var at = position + done;
            var cluster = at >> _clusterBits;
            var within = (int)(at & (_clusterSize - 1));
            var piece = buffer.Slice(done, (int)Math.Min(buffer.Length - done, _clusterSize - within));
            var entry = Lookup(cluster);
            switch (entry.Kind)
            {
                case Qcow2ClusterKind.Standard:
                    // Clusters that follow each other on the host too are read in one go (qemu-img's own images
                    // and ours lay data out in guest order).
                    var runEnd = entry.HostOffset + _clusterSize;
                    var next = cluster + 1;
                    while (piece.Length < buffer.Length - done && next / _l2Entries == cluster / _l2Entries
                           && Lookup(next) is { Kind: Qcow2ClusterKind.Standard } following && following.HostOffset == runEnd)
                    {
                        piece = buffer.Slice(done, (int)Math.Min(buffer.Length - done, piece.Length + _clusterSize));
                        runEnd += _clusterSize;
                        next++;
                    }
                    ReadExactly(_handle, piece, entry.HostOffset + within, Name, $"cluster at guest offset {cluster << _clusterBits}");
                    _bytesRead += piece.Length;
                    break;
                case Qcow2ClusterKind.Compressed:
                    Decompressed(cluster, entry).AsSpan(within, piece.Length).CopyTo(piece);
                    break;
                case Qcow2ClusterKind.Unallocated when _backing != null:
                    var got = _backing.ReadFully(at, piece);
                    piece[got..].Clear(); // past a shorter backing file: zeros
                    break;
                default:
                    piece.Clear();
                    break;
            }
            done += piece.Length;
        }
        return done;
    }

    private byte[] Decompressed(long cluster, Qcow2L2Entry entry)
    {
        _decompressed ??= new byte[_clusterSize];
        if (_cachedCompressedCluster == cluster)
        {
            return _decompressed;
        }
        var length = (int)Math.Min(entry.CompressedLength, _fileLength - entry.HostOffset);
        if (_compressedBuffer == null || _compressedBuffer.Length < length)
        {
            _compressedBuffer = new byte[Math.Max(length, (int)_clusterSize * 2)];
        }
        ReadExactly(_handle, _compressedBuffer.AsSpan(0, length), entry.HostOffset, Name, "compressed cluster");
        _bytesRead += length;
        if (!ClusterCodec.TryDecompress(_compression, _compressedBuffer, length, _decompressed))
        {
            _cachedCompressedCluster = -1;
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{Name}: the compressed cluster for guest offset {cluster << _clusterBits} ({ContainerFormats.NameOf(_compression)}, {length} bytes at host offset {entry.HostOffset}) does not decompress to a whole {_clusterSize}-byte cluster; the image is damaged") { Path = Name };
        }
        _cachedCompressedCluster = cluster;
        return _decompressed;
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string name, string what)
    {
        var total = 0;
        try
        {
            while (total < buffer.Length)
            {
                var n = RandomAccess.Read(handle, buffer[total..], offset + total);
                if (n == 0)
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage,
                        $"{name}: the {what} at offset {offset} ({buffer.Length} bytes) runs past the end of the file; the image is truncated") { Path = name };
                }
                total += n;
            }
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"cannot read {name} at offset {offset + total} ({what}): {e.Message}", e) { Path = name };
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _handle.Dispose();
            _backing?.Dispose();
        }
    }
}
