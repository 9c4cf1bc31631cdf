using System.Diagnostics;
using System.Security.Cryptography;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Sparse;

/// <summary>
/// The copy engine: walks SOURCE's data ranges (holes are never read), reads them in large buffers on one
/// thread, and on another finds all-zero blocks of <see cref="SparseCopyOptions.BlockSize"/> (vectorised), writes
/// the runs of data and skips the runs of zeros — after making sure DEST reads zeros there (blank check).
/// The buffers are few and fixed, so memory stays bounded whatever the image size. Zero detection works on
/// whole blocks on a grid anchored at SOURCE offset 0, so short reads from a pipe never shift it.
/// </summary>
public sealed class SparseCopier
{
    private static readonly byte[] Zeros = new byte[1 << 20];

    /// <summary>How much is read before it is scanned: small enough to still be in the L2 cache.</summary>
    private const int ScanSliceSize = 256 << 10;

    private readonly DataSource _source;
    private readonly CopyTarget _target;
    private readonly SparseCopyOptions _options;
    private readonly IProgress<CopyProgress>? _progress;
    private readonly CancellationToken _cancellation;
    private readonly int _blockSize;
    private readonly int _chunkSize;
    private readonly int _scanSlice;
    private readonly long _destinationOffset;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly IncrementalHash? _sourceHash;
    private byte[]? _readBackBuffer;

    private long _written;
    private long _sparse;
    private long _nonZeroDest;
    private long _zeroedByOs;
    private long _blankCheckRead;
    private long _sinceSync;
    private long _done;

    private SparseCopier(DataSource source, CopyTarget target, SparseCopyOptions options, IProgress<CopyProgress>? progress, CancellationToken cancellation)
    {
        _source = source;
        _target = target;
        _options = options;
        _progress = progress;
        _cancellation = cancellation;
        _blockSize = options.BlockSize;
        // Large I/O whatever the block size: a whole number of blocks, at least one.
        var blocksPerChunk = Math.Max(1, (options.IoBufferSize + _blockSize - 1) / _blockSize);
        _chunkSize = (int)Math.Min((long)blocksPerChunk * _blockSize, Array.MaxLength / 2);
        // Reads (and zero scans) go a slice at a time inside the buffer: a slice fits in a core's L2 cache.
        _scanSlice = (int)Math.Min(_chunkSize, Math.Max(1, ScanSliceSize / _blockSize) * (long)_blockSize);
        _destinationOffset = options.DestinationOffset;
        _sourceHash = options.Verify ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="target"/> and finishes the target (final size,
    /// flush, verification) without committing it: the caller commits on success and aborts on failure.
    /// </summary>
    /// <param name="source">What to copy (slice it for <c>--skip</c> or a partition).</param>
    /// <param name="target">Where to write it.</param>
    /// <param name="options">Block size, limits, blank check, verification.</param>
    /// <param name="finalSize">DEST's size at the end (<c>-f</c>), for targets that have one.</param>
    /// <param name="progress">Receives an event after each buffer (callers throttle what they show).</param>
    /// <param name="cancellation">Stops the copy; the result is an <see cref="ErrorKind.Cancelled"/> error.</param>
    public static CopyStatistics Copy(DataSource source, CopyTarget target, SparseCopyOptions options, long? finalSize = null,
        IProgress<CopyProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validate();
        var copier = new SparseCopier(source, target, options, progress, cancellation);
        try
        {
            return copier.Run(finalSize);
        }
        catch (OperationCanceledException e)
        {
            throw new ImageToolsException(ErrorKind.Cancelled, copier.Describe("interrupted"), e) { Path = target.Name };
        }
        finally
        {
            copier._sourceHash?.Dispose();
        }
    }

    private CopyStatistics Run(long? finalSize)
    {
        if (_options.Verify && !_target.CanReadBack)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, $"--verify needs a DEST that can be read back; {_target.Name} cannot");
        }
        CheckFirstBlock();

        var limited = _options.MaxBytes is { } max ? _source.Slice(0, max) : _source;
        if (_options.FailIfSourceExceedsMax && _options.MaxBytes is { } limit && _source.Length is { } known && known > limit)
        {
            throw new ImageToolsException(ErrorKind.SourceExceedsMaximum,
                $"SOURCE {_source.Name} holds {known} bytes, more than the maximum of {limit}; nothing was copied") { Path = _source.Name };
        }
        if (_target.Capacity is { } capacity && limited.Length is { } length && _destinationOffset + length > capacity)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit,
                $"SOURCE {_source.Name} ({length} bytes) does not fit in DEST {_target.Name} ({capacity} bytes) at offset {_destinationOffset}; nothing was written") { Path = _target.Name };
        }

        var total = Pump(limited);

        if (_options.FailIfSourceExceedsMax && _options.MaxBytes is { } max2 && _source.Length is null)
        {
            Span<byte> probe = stackalloc byte[1];
            if (_source.Read(max2, probe) > 0)
            {
                throw new ImageToolsException(ErrorKind.SourceExceedsMaximum,
                    Describe($"SOURCE {_source.Name} holds more than the maximum of {max2} bytes")) { Path = _source.Name };
            }
        }

        Guard(() => _target.Finish(_destinationOffset + total, finalSize), "finishing");

        string? sourceSha = null, destSha = null;
        if (_sourceHash != null)
        {
            sourceSha = Convert.ToHexStringLower(_sourceHash.GetHashAndReset());
            destSha = HashDestination(total);
            if (sourceSha != destSha)
            {
                throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                    $"verification failed: DEST {_target.Name} reads back with SHA-256 {destSha}, SOURCE had {sourceSha}") { Path = _target.Name };
            }
        }

        return new CopyStatistics
        {
            TotalBytes = total,
            WrittenBytes = _written,
            SparseBytes = _sparse,
            NonZeroDestBytes = _nonZeroDest,
            ZeroedByOsBytes = _zeroedByOs,
            SourceBytesRead = _source.BytesRead,
            BlankCheckBytesRead = _blankCheckRead,
            Elapsed = _clock.Elapsed,
            SourceSha256 = sourceSha,
            DestinationSha256 = destSha,
        };
    }

    private void CheckFirstBlock()
    {
        if (!_options.RequireBlankFirstBlock || !_target.CanReadBack || _target.KnownZeroFrom <= 0)
        {
            return; // a new or truncated file is blank
        }
        var block = new byte[(int)Math.Min(_blockSize, _target.KnownZeroFrom)];
        int n;
        try
        {
            n = _target.ReadBack(0, block);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.BlankCheckReadFailed, $"cannot read the first block of DEST {_target.Name}: {e.Message}", e) { Path = _target.Name };
        }
        var nonZero = block.AsSpan(0, n).IndexOfAnyExcept((byte)0);
        if (nonZero >= 0)
        {
            throw new ImageToolsException(ErrorKind.DestinationNotBlank,
                $"DEST {_target.Name} is not blank: byte {nonZero} of its first {block.Length}-byte block is 0x{block[nonZero]:x2}; nothing was written (--check)") { Path = _target.Name };
        }
    }

    /// <summary>One unit of work from the reader to the writer.</summary>
    private readonly record struct Chunk(long Offset, long Length, ChunkBuffer? Buffer, bool IsEnd);

    /// <summary>A run of whole blocks inside a buffer: all zero, or holding data.</summary>
    private readonly record struct BlockRun(int Start, int Length, bool IsData);

    /// <summary>
    /// An I/O buffer and the runs found in it. The reader classifies the blocks right after reading them,
    /// while they are still in its core's cache; the writer only acts on the runs.
    /// </summary>
    private sealed class ChunkBuffer(int size)
    {
        public byte[] Data { get; } = GC.AllocateUninitializedArray<byte>(size);

        public List<BlockRun> Runs { get; } = new();
    }

    /// <summary>
    /// Reads, classifies and writes SOURCE; returns the bytes of SOURCE copied. The reader (and decompressor)
    /// runs on its own thread, the writer on this one, with four buffers handed between them: reading (or
    /// decompressing) overlaps writing, and so do the kernel's work for the reads and for the writes.
    /// </summary>
    private long Pump(DataSource source)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_cancellation);
        var free = new BufferHandoff<ChunkBuffer>(_options.IoBufferCount);
        var filled = new BufferHandoff<Chunk>(_options.IoBufferCount + 1);
        for (var i = 0; i < _options.IoBufferCount; i++)
        {
            free.Add(new ChunkBuffer(_chunkSize), CancellationToken.None);
        }

        Exception? readerFailure = null;
        var reader = new Thread(() =>
        {
            try
            {
                Produce(source, free, filled, stop.Token);
            }
            catch (Exception e)
            {
                readerFailure = e;
            }
            finally
            {
                filled.Complete();
            }
        })
        {
            IsBackground = true,
            Name = "sparsecopy reader",
        };
        reader.Start();

        long end = 0;
        try
        {
            while (filled.TryTake(out var chunk, stop.Token))
            {
                if (!Consume(source, chunk, ref end))
                {
                    break;
                }
                if (chunk.Buffer != null)
                {
                    free.Add(chunk.Buffer, stop.Token);
                }
            }
        }
        finally
        {
            stop.Cancel();
            reader.Join();
        }
        if (readerFailure != null)
        {
            if (readerFailure is OperationCanceledException && _cancellation.IsCancellationRequested)
            {
                throw readerFailure;
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(readerFailure).Throw();
        }
        _cancellation.ThrowIfCancellationRequested();
        return end;
    }

    /// <summary>The writer's part: acts on one chunk; false at the end of SOURCE (<paramref name="end"/> then holds its length).</summary>
    private bool Consume(DataSource source, Chunk chunk, ref long end)
    {
        _cancellation.ThrowIfCancellationRequested();
        if (chunk.IsEnd)
        {
            end = chunk.Offset;
            return false;
        }
        if (chunk.Buffer == null)
        {
            HashZeros(chunk.Length);
            if (source.GapsAreUnused && _target.CanSkip)
            {
                _sparse += chunk.Length; // unused space (unmapped bmap blocks): DEST keeps what it holds
            }
            else
            {
                ZeroRun(chunk.Offset, chunk.Length);
            }
        }
        else
        {
            _sourceHash?.AppendData(chunk.Buffer.Data, 0, (int)chunk.Length);
            foreach (var run in chunk.Buffer.Runs)
            {
                if (run.IsData)
                {
                    WriteData(chunk.Offset + run.Start, chunk.Buffer.Data.AsSpan(run.Start, run.Length));
                }
                else
                {
                    ZeroRun(chunk.Offset + run.Start, run.Length);
                }
            }
        }
        _done = chunk.Offset + chunk.Length;
        _progress?.Report(new CopyProgress(_done, source.Length, _written, _clock.Elapsed));
        return true;
    }

    /// <summary>
    /// The reader: emits holes (never read) and buffers of data, each starting on the block grid and
    /// (but for the last) a whole number of blocks long, so every block is judged whole.
    /// </summary>
    private void Produce(DataSource source, BufferHandoff<ChunkBuffer> free, BufferHandoff<Chunk> filled, CancellationToken token)
    {
        long B = _blockSize;
        long position = 0;
        Extent? current = source.NextData(0);
        var knownLength = source.Length;
        while (true)
        {
            token.ThrowIfCancellationRequested();
            if (current is not { } extent)
            {
                // Only a hole remains: up to the known length, or nothing for a stream.
                var end = knownLength ?? position;
                if (end > position)
                {
                    filled.Add(new Chunk(position, end - position, null, false), token);
                }
                filled.Add(new Chunk(Math.Max(end, position), 0, null, true), token);
                return;
            }
            // Skip the hole before the block holding the extent's first byte.
            var firstBlock = extent.Offset / B * B;
            if (firstBlock > position)
            {
                filled.Add(new Chunk(position, firstBlock - position, null, false), token);
                position = firstBlock;
            }

            var chunkBuffer = free.Take(token);
            var buffer = chunkBuffer.Data;
            // Never past a known end: a partial last block stays partial.
            var chunkEnd = knownLength is { } lengthCap ? Math.Min(position + _chunkSize, lengthCap) : position + _chunkSize;
            var cursor = position;
            var endOfSource = false;
            var runs = chunkBuffer.Runs;
            runs.Clear();
            var classified = 0; // bytes of the buffer already split into runs
            while (cursor < chunkEnd)
            {
                if (current is not { } e || e.Offset >= chunkEnd)
                {
                    if (current == null && knownLength == null)
                    {
                        endOfSource = true; // a stream with nothing more to give (a --maxwrite limit reached)
                        chunkEnd = cursor;
                    }
                    else
                    {
                        chunkEnd = RoundUp(cursor, B, chunkEnd); // the rest of the block is hole: zeros
                    }
                    break;
                }
                if (e.Offset > cursor)
                {
                    var holeBlocksStart = RoundUp(cursor, B, chunkEnd);
                    if (e.Offset / B * B > holeBlocksStart)
                    {
                        chunkEnd = holeBlocksStart; // whole blocks of hole follow: end the buffer here
                        break;
                    }
                    buffer.AsSpan((int)(cursor - position), (int)(e.Offset - cursor)).Clear();
                    cursor = e.Offset;
                }
                // Read a slice at a time and classify each while it is still in this core's cache.
                var want = (int)(Math.Min(Math.Min(e.End, chunkEnd), cursor + _scanSlice) - cursor);
                var got = source.ReadFully(cursor, buffer.AsSpan((int)(cursor - position), want));
                cursor += got;
                var wholeBlocks = (int)((cursor - position) / B * B);
                if (wholeBlocks > classified)
                {
                    Classify(buffer.AsSpan(classified, wholeBlocks - classified), classified, _blockSize, runs);
                    classified = wholeBlocks;
                }
                if (got < want)
                {
                    endOfSource = true; // a stream ended, or a file shrank under us
                    chunkEnd = cursor;
                    break;
                }
                if (cursor >= e.End)
                {
                    current = source.NextData(cursor);
                }
            }
            if (cursor < chunkEnd)
            {
                buffer.AsSpan((int)(cursor - position), (int)(chunkEnd - cursor)).Clear();
            }
            if (chunkEnd > position)
            {
                var filledLength = (int)(chunkEnd - position);
                if (filledLength > classified)
                {
                    Classify(buffer.AsSpan(classified, filledLength - classified), classified, _blockSize, runs);
                }
                filled.Add(new Chunk(position, chunkEnd - position, chunkBuffer, false), token);
            }
            else
            {
                free.Add(chunkBuffer, token);
            }
            position = chunkEnd;
            if (endOfSource)
            {
                filled.Add(new Chunk(position, 0, null, true), token);
                return;
            }
            if (knownLength is { } len && position >= len)
            {
                filled.Add(new Chunk(len, 0, null, true), token);
                return;
            }
        }
    }

    private static long RoundUp(long value, long unit, long cap) => Math.Min(cap, (value + unit - 1) / unit * unit);

    /// <summary>
    /// Splits part of a buffer (starting on the block grid, at <paramref name="baseOffset"/> in the buffer)
    /// into runs of all-zero blocks and runs of data blocks, appended to <paramref name="runs"/> (merged with
    /// the previous run when of the same kind). One vectorised scan finds the end of each zero run; data
    /// blocks are checked one by one until an all-zero block ends the data run.
    /// </summary>
    private static void Classify(ReadOnlySpan<byte> data, int baseOffset, int B, List<BlockRun> runs)
    {
        var i = 0;
        while (i < data.Length)
        {
            var nonZero = ZeroScan.IndexOfNonZero(data[i..]);
            if (nonZero < 0)
            {
                AddRun(runs, new BlockRun(baseOffset + i, data.Length - i, IsData: false));
                return;
            }
            var dataStart = i + nonZero / B * B;
            if (dataStart > i)
            {
                AddRun(runs, new BlockRun(baseOffset + i, dataStart - i, IsData: false));
            }
            var dataEnd = Math.Min(data.Length, dataStart + B);
            while (dataEnd < data.Length)
            {
                var next = Math.Min(B, data.Length - dataEnd);
                if (ZeroScan.IsAllZero(data.Slice(dataEnd, next)))
                {
                    break;
                }
                dataEnd += next;
            }
            AddRun(runs, new BlockRun(baseOffset + dataStart, dataEnd - dataStart, IsData: true));
            i = dataEnd;
        }
    }

    private static void AddRun(List<BlockRun> runs, BlockRun run)
    {
        if (runs.Count > 0 && runs[^1] is var last && last.IsData == run.IsData && last.Start + last.Length == run.Start)
        {
            runs[^1] = last with { Length = last.Length + run.Length };
        }
        else
        {
            runs.Add(run);
        }
    }

    private void WriteData(long sourceOffset, ReadOnlySpan<byte> data)
    {
        var at = _destinationOffset + sourceOffset;
        try
        {
            _target.Write(at, data);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, Describe($"cannot write DEST {_target.Name} at offset {at}: {e.Message}"), e) { Path = _target.Name };
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, Describe($"cannot write DEST {_target.Name} at offset {at}: {e.Message}"), e) { Path = _target.Name };
        }
        catch (ArgumentOutOfRangeException e)
        {
            // EFBIG: the offset is past the largest file DEST's filesystem allows (e.g. -s 16T on ext4).
            throw new ImageToolsException(ErrorKind.WriteFailed,
                Describe($"cannot write DEST {_target.Name} at offset {at}: past the largest file its filesystem allows; give a smaller --seek"), e) { Path = _target.Name };
        }
        _written += data.Length;
        _sinceSync += data.Length;
        if (_options.SyncEvery is { } every && _sinceSync >= every)
        {
            _sinceSync = 0;
            Guard(_target.FlushToDisk, "syncing");
        }
    }

    /// <summary>SOURCE has zeros at [offset, offset + length): leave a hole where DEST is known blank, else make it blank.</summary>
    private void ZeroRun(long sourceOffset, long length)
    {
        if (length <= 0)
        {
            return;
        }
        if (!_target.CanSkip)
        {
            for (long done = 0; done < length;)
            {
                var n = (int)Math.Min(Zeros.Length, length - done);
                WriteData(sourceOffset + done, Zeros.AsSpan(0, n));
                done += n;
            }
            return;
        }
        var start = _destinationOffset + sourceOffset;
        var end = start + length;
        var blankFrom = Math.Max(start, Math.Min(end, _target.KnownZeroFrom));
        if (blankFrom > start && _options.BlankCheck != BlankCheckMode.Off)
        {
            MakeBlank(start, blankFrom);
        }
        else
        {
            _sparse += blankFrom - start;
        }
        _sparse += end - blankFrom;
    }

    /// <summary>DEST may hold data in [start, end): zero it cheaply where the OS can, else read back and write zeros where needed.</summary>
    private void MakeBlank(long start, long end)
    {
        if (_options.BlankCheck == BlankCheckMode.Auto && _target.ZeroesCheaply)
        {
            // Whole 512-byte sectors through the OS; the ragged edges (if any) by reading back.
            var alignedStart = (start + 511) / 512 * 512;
            var alignedEnd = end / 512 * 512;
            if (alignedEnd > alignedStart && Guard(() => _target.TryZero(alignedStart, alignedEnd - alignedStart), "zeroing"))
            {
                _zeroedByOs += alignedEnd - alignedStart;
                _sparse += alignedEnd - alignedStart;
                ReadBackAndZero(start, alignedStart);
                ReadBackAndZero(alignedEnd, end);
                return;
            }
        }
        ReadBackAndZero(start, end);
    }

    private void ReadBackAndZero(long start, long end)
    {
        if (end <= start)
        {
            return;
        }
        _readBackBuffer ??= GC.AllocateUninitializedArray<byte>(_chunkSize);
        var B = _blockSize;
        for (var at = start; at < end;)
        {
            var want = (int)Math.Min(_readBackBuffer.Length, end - at);
            int got;
            try
            {
                got = _target.ReadBack(at, _readBackBuffer.AsSpan(0, want));
            }
            catch (IOException e)
            {
                throw new ImageToolsException(ErrorKind.BlankCheckReadFailed, Describe($"blank check: cannot read DEST {_target.Name} at offset {at}: {e.Message}"), e) { Path = _target.Name };
            }
            if (got <= 0)
            {
                _sparse += end - at; // past DEST's end: nothing to clear
                return;
            }
            var span = _readBackBuffer.AsSpan(0, got);
            _blankCheckRead += got;
            for (var i = 0; i < got;)
            {
                var n = Math.Min(B, got - i);
                var block = span.Slice(i, n);
                if (!ZeroScan.IsAllZero(block))
                {
                    block.Clear();
                    WriteData(at + i - _destinationOffset, block);
                    _nonZeroDest += n;
                }
                else
                {
                    _sparse += n;
                }
                i += n;
            }
            at += got;
        }
    }

    private void HashZeros(long length)
    {
        if (_sourceHash == null)
        {
            return;
        }
        for (long done = 0; done < length;)
        {
            var n = (int)Math.Min(Zeros.Length, length - done);
            _sourceHash.AppendData(Zeros, 0, n);
            done += n;
        }
    }

    private string HashDestination(long total)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = GC.AllocateUninitializedArray<byte>(_chunkSize);
        for (long done = 0; done < total;)
        {
            _cancellation.ThrowIfCancellationRequested();
            var want = (int)Math.Min(buffer.Length, total - done);
            int got;
            try
            {
                got = _target.ReadBack(_destinationOffset + done, buffer.AsSpan(0, want));
            }
            catch (IOException e)
            {
                throw new ImageToolsException(ErrorKind.ChecksumMismatch, $"verification: cannot read DEST {_target.Name} at offset {_destinationOffset + done}: {e.Message}", e) { Path = _target.Name };
            }
            if (got <= 0)
            {
                throw new ImageToolsException(ErrorKind.ChecksumMismatch,
                    $"verification failed: DEST {_target.Name} ends at offset {_destinationOffset + done}, before the {total} bytes copied") { Path = _target.Name };
            }
            hash.AppendData(buffer, 0, got);
            done += got;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private void Guard(Action action, string what) => Guard(() =>
    {
        action();
        return true;
    }, what);

    private T Guard<T>(Func<T> action, string what)
    {
        try
        {
            return action();
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, Describe($"{what} DEST {_target.Name} failed: {e.Message}"), e) { Path = _target.Name };
        }
    }

    /// <summary>Adds how far the copy got, which matters most for a device (it cannot be rolled back).</summary>
    private string Describe(string problem) =>
        _target.IsDevice
            ? $"{problem}; {_written} bytes were written to {_target.Name} (SOURCE offset {_done} reached)"
            : $"{problem} (after {_done} bytes of SOURCE)";
}
