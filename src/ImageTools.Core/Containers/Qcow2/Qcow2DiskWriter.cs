using System.Buffers.Binary;

namespace ImageTools.Core.Containers.Qcow2;

/// <summary>
/// Writes a qcow2 v3 image (64 KiB clusters, 16-bit refcounts) as the disk's data arrives, front to back:
/// data clusters are appended as they are first written, an L2 table is appended when the writes move past the
/// 512 MiB it covers, and at the end the L1 table, the refcount blocks and table and the header (cluster 0) are
/// written. Only the current L2 table, one refcount per host cluster (2 bytes per 64 KiB of output) and, when
/// compressing, a batch of clusters being compressed in parallel are in memory.
/// </summary>
public sealed class Qcow2DiskWriter : VirtualDiskWriter
{
    public const int DefaultClusterBits = 16;

    private readonly IContainerFile _file;
    private readonly int _clusterBits;
    private readonly long _clusterSize;
    private readonly int _l2Entries;
    private readonly ClusterCompression _compression;
    private readonly int _parallelism;

    /// <summary>Host offsets of L2 tables already written, by L1 index.</summary>
    private readonly Dictionary<int, long> _l2Offsets = new();
    private readonly List<ushort> _refcounts = new();
    private readonly ulong[] _currentL2;
    private int _currentL1Index = -1;
    private bool _currentL2Dirty;
    private long _hostEnd;

    // Compression: the cluster being filled, then batches compressed in parallel.
    private long _pendingCluster = -1;
    private byte[]? _pendingData;
    private readonly List<(long Cluster, byte[] Data)> _batch = new();
    private readonly Stack<byte[]> _spare = new();
    private long _compressedCursor; // next free byte for packed compressed data (0: start a new cluster)
    private long _lastWrittenEnd;

    public Qcow2DiskWriter(IContainerFile file, ClusterCompression compression = ClusterCompression.None, int clusterBits = DefaultClusterBits, int? parallelism = null)
    {
        if (clusterBits is < Qcow2Header.MinClusterBits or > Qcow2Header.MaxClusterBits)
        {
            throw new ArgumentOutOfRangeException(nameof(clusterBits));
        }
        _file = file;
        _clusterBits = clusterBits;
        _clusterSize = 1L << clusterBits;
        _l2Entries = (int)(_clusterSize / Qcow2L2Entry.Size);
        _compression = compression;
        _parallelism = Math.Max(1, parallelism ?? Environment.ProcessorCount);
        _currentL2 = new ulong[_l2Entries];
        _hostEnd = _clusterSize; // cluster 0: the header, written last
        _refcounts.Add(1);
    }

    public override ContainerFormat Format => ContainerFormat.Qcow2;

    /// <summary>Clusters compressed per parallel batch: enough to keep every core busy, few enough to bound memory.</summary>
    private int BatchSize => _parallelism * 16;

    public override void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset));
        }
        if (_compression != ClusterCompression.None)
        {
            WriteCompressed(offset, data);
            return;
        }
        while (!data.IsEmpty)
        {
            var cluster = offset >> _clusterBits;
            var within = offset & (_clusterSize - 1);
            var n = (int)Math.Min(data.Length, _clusterSize - within);
            var host = HostClusterFor(cluster);
            _file.Write(host + within, data[..n]);
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>The host cluster holding guest <paramref name="cluster"/>, appended on first use.</summary>
    private long HostClusterFor(long cluster)
    {
        SelectL2((int)(cluster / _l2Entries));
        var index = (int)(cluster % _l2Entries);
        if (_currentL2[index] == 0)
        {
            var host = AllocateClusters(1);
            _currentL2[index] = EncodeStandard(host);
            _currentL2Dirty = true;
            return host;
        }
        return new Qcow2L2Entry(Qcow2ClusterKind.Standard, (long)(_currentL2[index] & 0x00FF_FFFF_FFFF_FE00UL)).HostOffset;
    }

    private ulong EncodeStandard(long host)
    {
        Span<byte> raw = stackalloc byte[8];
        new Qcow2L2Entry(Qcow2ClusterKind.Standard, host, 0, Copied: true).Write(raw, _clusterBits);
        return BinaryPrimitives.ReadUInt64BigEndian(raw);
    }

    /// <summary>Makes the L2 table of <paramref name="l1Index"/> current, writing out the previous one.</summary>
    private void SelectL2(int l1Index)
    {
        if (l1Index == _currentL1Index)
        {
            return;
        }
        FlushL2();
        Array.Clear(_currentL2);
        if (_l2Offsets.TryGetValue(l1Index, out var existing))
        {
            // Writes went back to a range whose table is already out (not the copy engine's order): read it back.
            var raw = new byte[_clusterSize];
            _file.Read(existing, raw);
            for (var i = 0; i < _l2Entries; i++)
            {
                _currentL2[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
            }
        }
        _currentL1Index = l1Index;
        _currentL2Dirty = false;
    }

    private void FlushL2()
    {
        if (_currentL1Index < 0 || !_currentL2Dirty)
        {
            return;
        }
        if (!_l2Offsets.TryGetValue(_currentL1Index, out var at))
        {
            at = AllocateClusters(1);
            _l2Offsets[_currentL1Index] = at;
        }
        var raw = new byte[_clusterSize];
        for (var i = 0; i < _l2Entries; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(raw.AsSpan(i * 8), _currentL2[i]);
        }
        _file.Write(at, raw);
        _currentL2Dirty = false;
    }

    private long AllocateClusters(int count)
    {
        if (_compressedCursor != 0)
        {
            // Packed compressed data ends inside a cluster: whole clusters start after it.
            _compressedCursor = 0;
        }
        var at = _hostEnd;
        _hostEnd += count * _clusterSize;
        for (var i = 0; i < count; i++)
        {
            _refcounts.Add(1);
        }
        return at;
    }

    private void WriteCompressed(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < _lastWrittenEnd && (offset >> _clusterBits) < _pendingCluster)
        {
            throw new InvalidOperationException($"compressed qcow2 output is written front to back; a write went back to offset {offset}");
        }
        _lastWrittenEnd = offset + data.Length;
        while (!data.IsEmpty)
        {
            var cluster = offset >> _clusterBits;
            var within = (int)(offset & (_clusterSize - 1));
            var n = (int)Math.Min(data.Length, _clusterSize - within);
            if (cluster != _pendingCluster)
            {
                QueuePending();
                _pendingCluster = cluster;
                _pendingData = _spare.Count > 0 ? _spare.Pop() : new byte[_clusterSize];
                Array.Clear(_pendingData);
            }
            data[..n].CopyTo(_pendingData.AsSpan(within));
            data = data[n..];
            offset += n;
        }
    }

    private void QueuePending()
    {
        if (_pendingData == null)
        {
            return;
        }
        _batch.Add((_pendingCluster, _pendingData));
        _pendingData = null;
        _pendingCluster = -1;
        if (_batch.Count >= BatchSize)
        {
            CompressBatch();
        }
    }

    /// <summary>Compresses the batch on every core, then appends the results in guest order.</summary>
    private void CompressBatch()
    {
        if (_batch.Count == 0)
        {
            return;
        }
        var outputs = new byte[_batch.Count][];
        var lengths = new int[_batch.Count];
        // The compressed form must save at least a sector, or the cluster is stored as it is.
        var limit = (int)_clusterSize - 512;
        Parallel.For(0, _batch.Count, new ParallelOptions { MaxDegreeOfParallelism = _parallelism }, i =>
        {
            var output = new byte[limit];
            lengths[i] = ClusterCodec.Compress(_compression, _batch[i].Data, output);
            outputs[i] = output;
        });
        for (var i = 0; i < _batch.Count; i++)
        {
            var (cluster, data) = _batch[i];
            SelectL2((int)(cluster / _l2Entries));
            var index = (int)(cluster % _l2Entries);
            if (lengths[i] < 0)
            {
                var host = AllocateClusters(1);
                _file.Write(host, data);
                _currentL2[index] = EncodeStandard(host);
            }
            else
            {
                _currentL2[index] = AppendCompressed(outputs[i].AsSpan(0, lengths[i]));
            }
            _currentL2Dirty = true;
            _spare.Push(data);
        }
        _batch.Clear();
    }

    /// <summary>Packs compressed bytes after the previous ones (across cluster boundaries); returns the L2 entry.</summary>
    private ulong AppendCompressed(ReadOnlySpan<byte> compressed)
    {
        if (_compressedCursor == 0)
        {
            _compressedCursor = _hostEnd;
        }
        var start = _compressedCursor;
        var end = start + compressed.Length;
        // Every host cluster the bytes touch is referenced once more (qemu counts compressed clusters so).
        var firstCluster = start >> _clusterBits;
        var lastCluster = (end - 1) >> _clusterBits;
        for (var c = firstCluster; c <= lastCluster; c++)
        {
            if (c < _refcounts.Count)
            {
                _refcounts[(int)c]++;
            }
            else
            {
                _refcounts.Add(1);
            }
        }
        _file.Write(start, compressed);
        _hostEnd = (lastCluster + 1) << _clusterBits;
        _compressedCursor = end == _hostEnd ? 0 : end;
        var sectors = (int)(((end - 1) >> 9) - (start >> 9));
        Span<byte> raw = stackalloc byte[8];
        new Qcow2L2Entry(Qcow2ClusterKind.Compressed, start, sectors).Write(raw, _clusterBits);
        return BinaryPrimitives.ReadUInt64BigEndian(raw);
    }

    public override long Finish(long virtualSize)
    {
        // qemu sizes disks in whole 512-byte sectors.
        var size = (virtualSize + 511) / 512 * 512;
        QueuePending();
        CompressBatch();
        FlushL2();

        // The L1 table.
        var l2Coverage = (long)_l2Entries << _clusterBits;
        var l1Size = (int)((size + l2Coverage - 1) / l2Coverage);
        var l1Bytes = Math.Max(1, l1Size) * 8L;
        var l1Clusters = (int)((l1Bytes + _clusterSize - 1) / _clusterSize);
        var l1Offset = AllocateClusters(l1Clusters);
        var l1 = new byte[l1Clusters * _clusterSize];
        foreach (var (index, offset) in _l2Offsets)
        {
            if (index >= l1Size)
            {
                throw new InvalidOperationException($"data was written at or past the virtual size {size}");
            }
            new Qcow2L1Entry(offset, Copied: true).Write(l1.AsSpan(index * 8));
        }
        _file.Write(l1Offset, l1);

        // Refcount blocks and the table: they count themselves, so find sizes that cover everything.
        var perBlock = _clusterSize * 8 / 16;
        var perTableCluster = _clusterSize / 8;
        long blocks = 0, tableClusters = 0;
        while (true)
        {
            var total = _refcounts.Count + blocks + tableClusters;
            var needBlocks = (total + perBlock - 1) / perBlock;
            var needTable = (needBlocks + perTableCluster - 1) / perTableCluster;
            if (needBlocks == blocks && needTable == tableClusters)
            {
                break;
            }
            blocks = needBlocks;
            tableClusters = needTable;
        }
        var tableOffset = AllocateClusters((int)tableClusters);
        var blocksOffset = AllocateClusters((int)blocks);
        var table = new byte[tableClusters * _clusterSize];
        var block = new byte[_clusterSize];
        for (var b = 0; b < blocks; b++)
        {
            Array.Clear(block);
            for (var i = 0; i < perBlock; i++)
            {
                var c = b * perBlock + i;
                if (c >= _refcounts.Count)
                {
                    break;
                }
                BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(i * 2), _refcounts[(int)c]);
            }
            var at = blocksOffset + b * _clusterSize;
            _file.Write(at, block);
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(b * 8), (ulong)at);
        }
        _file.Write(tableOffset, table);

        var header = new Qcow2Header
        {
            Version = 3,
            ClusterBits = _clusterBits,
            Size = (ulong)size,
            L1Size = (uint)l1Size,
            L1TableOffset = (ulong)l1Offset,
            RefcountTableOffset = (ulong)tableOffset,
            RefcountTableClusters = (uint)tableClusters,
            RefcountOrder = 4,
            HeaderLength = (uint)(_compression == ClusterCompression.Zstd ? Qcow2Header.Version3WithCompressionLength : Qcow2Header.Version3Length),
            IncompatibleFeatures = _compression == ClusterCompression.Zstd ? Qcow2Header.CompressionTypeBit : 0,
            CompressionType = _compression == ClusterCompression.Zstd ? (byte)1 : (byte)0,
        };
        var first = new byte[_clusterSize];
        header.Write(first); // followed by zeros: the end-of-extensions marker
        _file.Write(0, first);
        VirtualSize = size;
        return _hostEnd;
    }
}
