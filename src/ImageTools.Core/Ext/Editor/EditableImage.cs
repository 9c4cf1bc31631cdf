using ImageTools.Core.Imaging;
using ImageTools.Core.Partitions;
using ImageTools.Core.Platform;
using Microsoft.Win32.SafeHandles;

namespace ImageTools.Core.Ext.Editor;

/// <summary>How an image is opened for editing.</summary>
public sealed record EditableImageOptions
{
    /// <summary>
    /// Where the redo log goes; null: beside the image (IMAGE.imagetools-redo). A block device has no
    /// "beside": give a path on a persistent filesystem (and the same path again after a crash).
    /// </summary>
    public string? RedoLogPath { get; init; }
}

/// <summary>Where a commit is.</summary>
public enum CommitStage
{
    /// <summary>The redo log is on disk and committed; nothing of the image is written yet.</summary>
    RedoLogCommitted,
    /// <summary>One range was zeroed or written (<see cref="CommitProgress.Done"/> of <see cref="CommitProgress.Total"/>).</summary>
    Applying,
    /// <summary>Every change is on disk (the image was synced); the redo log is about to be deleted.</summary>
    Applied,
}

/// <summary>Progress of a commit, for progress reports (and for tests, which stop a commit half way to check recovery).</summary>
public readonly record struct CommitProgress(CommitStage Stage, int Done, int Total);

/// <summary>
/// An ext filesystem image opened for in-place editing: a filesystem image or one partition of a disk
/// image (<c>IMAGE[:N]</c>), held open exclusively (no second editor can open it meanwhile). It gives the
/// editor a read-only view of the filesystem and commits a finished edit crash-safely:
/// <list type="number">
/// <item>the edit is planned entirely in memory (<see cref="ExtEditor"/>): nothing is written;</item>
/// <item>its bytes go to a redo log beside the image, which is synced and atomically renamed (commit point);</item>
/// <item>the image is written and synced;</item>
/// <item>the log is deleted.</item>
/// </list>
/// A crash before the commit point leaves the image byte-identical (a leftover IMAGE.imagetools-redo.partial is
/// discarded); a crash after it is completed the next time the image is opened for editing, by applying the
/// log again. Either way the image ends up unchanged or fully edited, never in between.
/// </summary>
public sealed class EditableImage : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _fileLength;
    private readonly FileKind _kind;
    private readonly bool _ownsHandle = true;

    private EditableImage(SafeFileHandle handle, FileKind kind, string path, int? partition, long fileLength, long baseOffset, long length, string description, string? redoLog)
    {
        _handle = handle;
        _kind = kind;
        Path = path;
        Partition = partition;
        _fileLength = fileLength;
        BaseOffset = baseOffset;
        Length = length;
        Description = description;
        RedoLogPath = redoLog;
    }

    /// <summary>The image file (or device).</summary>
    public string Path { get; }

    /// <summary>The partition number, when a partition was named or found.</summary>
    public int? Partition { get; }

    /// <summary>Where the filesystem starts in the file.</summary>
    public long BaseOffset { get; }

    /// <summary>How many bytes the filesystem's window has.</summary>
    public long Length { get; }

    /// <summary>"disk.img partition 1", "root.img".</summary>
    public string Description { get; }

    /// <summary>Where the redo log goes; null for an image being built (<see cref="OverNewImage"/>), which needs none.</summary>
    public string? RedoLogPath { get; }

    /// <summary>Set when opening completed an edit that a crash had interrupted.</summary>
    public string? RecoveryNote { get; private set; }

    /// <summary>
    /// Opens <paramref name="specification"/> (IMAGE or IMAGE:N) for editing, after completing (or
    /// discarding, if it never committed) an edit a crash interrupted.
    /// </summary>
    public static EditableImage Open(string specification, EditableImageOptions? options = null)
    {
        var (path, partition) = ExtImageOpener.ParseSpecification(specification);
        var platform = PlatformIo.Current;
        var kind = platform.Identify(path, ErrorKind.SourceUnreadable, "IMAGE").Kind;
        if (kind is not (FileKind.RegularFile or FileKind.BlockDevice))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, $"{path} is not a regular file or a block device; an image is edited in place") { Path = path };
        }
        SafeFileHandle handle;
        try
        {
            // A device is opened exclusively (O_EXCL): the kernel refuses while it or a partition of it is mounted.
            // A file is locked against a second editor (FileShare.None takes an flock).
            handle = kind == FileKind.BlockDevice
                ? platform.OpenBlockDevice(path, write: true)
                : File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new ImageToolsException(ErrorKind.DeviceBusy, $"{path}: cannot open it for editing (is another program using it?): {e.Message}", e) { Path = path };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var errorKind = e is FileNotFoundException or DirectoryNotFoundException ? ErrorKind.NotFound : ErrorKind.DestinationUnwritable;
            throw new ImageToolsException(errorKind, $"{path}: cannot open it for editing: {e.Message}", e) { Path = path };
        }
        try
        {
            var isDevice = kind == FileKind.BlockDevice;
            var fileLength = isDevice ? platform.GetBlockDeviceSize(handle) : RandomAccess.GetLength(handle);
            var redoLog = options?.RedoLogPath ?? (isDevice
                ? throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"{path} is a device: give a redo log path on a persistent filesystem (the same one again after a crash)")
                : path + RedoLog.Suffix);

            using var whole = new HandleWindowStream(handle, 0, fileLength);
            var head = new byte[Math.Min(KnownSignatures.ProbeLength, fileLength)];
            whole.ReadExactly(head);
            if (Streams.Compression.Detect(head) is var format and not Streams.CompressionFormat.None)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind,
                    $"{path} is {Streams.Compression.NameOf(format)}-compressed; an image is edited in place, so decompress it first") { Path = path };
            }
            var (baseOffset, length, description, number) = Locate(whole, path, partition, head);
            var image = new EditableImage(handle, kind, path, number, fileLength, baseOffset, length, description, redoLog);
            image.Recover();
            return image;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A filesystem inside an image that is still being made (fsmaker's build, which writes a temporary file
    /// and renames it into place only when complete): edits are applied directly, without a redo log or a
    /// sync, because a build that fails discards the whole file, so there is no half-edited image anyone could
    /// see. The handle stays open (and owned by the caller) when this is disposed.
    /// </summary>
    public static EditableImage OverNewImage(SafeFileHandle handle, long baseOffset, long length, string description)
    {
        var fileLength = RandomAccess.GetLength(handle);
        if (baseOffset < 0 || length <= 0 || baseOffset + length > fileLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"{description}: a {length}-byte window at {baseOffset} does not fit a {fileLength}-byte file");
        }
        return new EditableImage(handle, FileKind.RegularFile, description, null, fileLength, baseOffset, length, description, redoLog: null, ownsHandle: false);
    }

    private EditableImage(SafeFileHandle handle, FileKind kind, string path, int? partition, long fileLength, long baseOffset, long length, string description, string? redoLog, bool ownsHandle)
        : this(handle, kind, path, partition, fileLength, baseOffset, length, description, redoLog)
    {
        _ownsHandle = ownsHandle;
    }

    private static (long Offset, long Length, string Description, int? Number) Locate(Stream disk, string path, int? partition, byte[] head)
    {
        static bool HasExtMagic(ReadOnlySpan<byte> bytes) => bytes.Length >= 1082 && bytes[1080] == 0x53 && bytes[1081] == 0xEF;

        if (partition == null && HasExtMagic(head))
        {
            return (0, disk.Length, path, null);
        }
        if (head.Length < 512 || !PartitionTable.LooksPartitioned(head))
        {
            throw new ImageToolsException(ErrorKind.WrongInputKind, partition == null
                ? $"{path}: not an ext2/3/4 filesystem or a partitioned disk"
                : $"{path}: no partition table: {(HasExtMagic(head) ? "it is a bare ext filesystem (drop the :N)" : "sector 0 holds no partition table")}") { Path = path };
        }
        var table = PartitionTable.Read(disk, disk.Length, path);
        DiskPartition chosen;
        if (partition is int n)
        {
            chosen = table.Get(n);
        }
        else
        {
            var candidates = table.Partitions.Where(p => !p.IsContainer && HoldsExt(disk, p)).ToList();
            if (candidates.Count != 1)
            {
                throw candidates.Count == 0
                    ? new ImageToolsException(ErrorKind.WrongInputKind, $"{path}: no partition holds an ext2/3/4 filesystem") { Path = path }
                    : new ImageToolsException(ErrorKind.InvalidArgument, $"{path}: partitions {string.Join(" and ", candidates.Select(c => c.Number))} hold ext filesystems; name one, e.g. {path}:{candidates[0].Number}") { Path = path };
            }
            chosen = candidates[0];
        }
        if (chosen.EndOffset > disk.Length)
        {
            throw new ImageToolsException(ErrorKind.InvalidPartitionTable, $"{path}: partition {chosen.Number} ends past the end of the image") { Path = path };
        }
        return (chosen.Offset, chosen.Length, $"{path} partition {chosen.Number}", chosen.Number);

        static bool HoldsExt(Stream disk, DiskPartition p)
        {
            if (p.Offset + 1082 > disk.Length)
            {
                return false;
            }
            Span<byte> magic = stackalloc byte[2];
            disk.Position = p.Offset + 1080;
            disk.ReadExactly(magic);
            return magic[0] == 0x53 && magic[1] == 0xEF;
        }
    }

    /// <summary>
    /// The first range at or after <paramref name="offset"/> (relative to the filesystem) within
    /// <paramref name="length"/> bytes that may hold data, or null when the rest of that span is a hole of the image
    /// file (SEEK_DATA/SEEK_HOLE through the platform layer). A device, or a file system that cannot say, is all data.
    /// Meant for <see cref="ExtEditorOptions.FindNextData"/>.
    /// </summary>
    public Streams.Extent? FindNextData(long offset, long length)
    {
        if (_kind != FileKind.RegularFile)
        {
            return new Streams.Extent(offset, length);
        }
        var limit = Math.Min(_fileLength, BaseOffset + offset + length);
        var data = PlatformIo.Current.FindNextData(_handle, BaseOffset + offset, limit);
        return data is { } d ? new Streams.Extent(d.Offset - BaseOffset, Math.Min(d.Length, limit - d.Offset)) : null;
    }

    /// <summary>A read-only stream over the filesystem's window (what the editor reads; its overlay takes the writes).</summary>
    public Stream OpenReadView() => new HandleWindowStream(_handle, BaseOffset, Length);

    private void Recover()
    {
        if (RedoLogPath == null)
        {
            return;
        }
        if (RedoLog.DiscardUncommitted(RedoLogPath))
        {
            RecoveryNote = $"discarded {RedoLogPath}.partial, the log of an edit that stopped before it was committed (the image was not changed by it)";
        }
        if (!File.Exists(RedoLogPath) && !IsDanglingLink(RedoLogPath))
        {
            return;
        }
        RedoLog.CheckTrusted(RedoLogPath, ImageOwner());
        var header = RedoLog.ReadHeader(RedoLogPath);
        if (header.ImageLength != _fileLength || header.BaseOffset != BaseOffset)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{RedoLogPath}: the redo log of an interrupted edit is for a {header.ImageLength}-byte image at offset {header.BaseOffset}, "
                + $"not for {Description} ({_fileLength} bytes, filesystem at {BaseOffset}); open the image it belongs to (the same IMAGE[:N]) to complete it") { Path = RedoLogPath };
        }
        var uuid = new byte[16];
        RandomAccess.Read(_handle, uuid, BaseOffset + 1024 + 0x68);
        if (!uuid.AsSpan().SequenceEqual(header.FilesystemUuid))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"{RedoLogPath}: the redo log of an interrupted edit belongs to filesystem {new Guid(header.FilesystemUuid, bigEndian: true)}, not to the one in {Description}") { Path = RedoLogPath };
        }
        var inode = ImageInode();
        if (header.ImageInode != inode)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage,
                $"{RedoLogPath}: refusing to replay this redo log: it was written for the file with inode {header.ImageInode}, and {Path} is inode {inode} (a copy, or another file); nothing was written. {RedoLog.HowToDiscard(RedoLogPath)}") { Path = RedoLogPath };
        }
        RedoLog.CheckState(RedoLogPath, Description, ReadCurrent);
        RedoLog.Replay(RedoLogPath, new Applier(this, null, 0));
        PlatformIo.Current.FlushToDisk(_handle);
        RedoLog.Delete(RedoLogPath);
        RecoveryNote = $"completed an edit that was interrupted after it was committed (from {RedoLogPath})";
    }

    /// <summary>The image's bytes as they are now, at a filesystem offset (what the redo log records as the state before the edit).</summary>
    private void ReadCurrent(long offset, Span<byte> into)
    {
        if (offset < 0 || offset + into.Length > Length)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"{Description}: a logged range of {into.Length} bytes at {offset} lies outside the filesystem's {Length} bytes") { Path = Path };
        }
        into.Clear();
        var done = 0;
        while (done < into.Length)
        {
            var n = RandomAccess.Read(_handle, into[done..], BaseOffset + offset + done);
            if (n <= 0)
            {
                break;
            }
            done += n;
        }
    }

    private ulong ImageInode() => _kind == FileKind.RegularFile ? PlatformIo.Current.GetIdentity(_handle).Inode : 0;

    /// <summary>The owner of the image file (through links), null where the OS has none.</summary>
    private uint? ImageOwner()
    {
        if (!FileMetadataReader.IsComplete)
        {
            return null;
        }
        var target = new FileInfo(Path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path;
        return FileMetadataReader.Get(target).Uid;
    }

    private static bool IsDanglingLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget != null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// Applies an edit crash-safely (see the class summary). <paramref name="filesystemUuid"/> is s_uuid, which
    /// identifies the filesystem in the log. Nothing happens for an empty edit.
    /// </summary>
    public void Commit(EditChanges changes, byte[] filesystemUuid, Action<CommitProgress>? observer = null)
    {
        if (changes.IsEmpty)
        {
            return;
        }
        if (RedoLogPath == null)
        {
            ApplyUnlogged(changes, observer);
            return;
        }
        RedoLog.Write(RedoLogPath, new RedoLogHeader(_fileLength, BaseOffset, filesystemUuid, ImageInode()), changes, ReadCurrent);
        var total = changes.Writes.Count + changes.Zeroes.Count;
        observer?.Invoke(new CommitProgress(CommitStage.RedoLogCommitted, 0, total));
        var applier = new Applier(this, observer, total);
        foreach (var zero in changes.Zeroes)
        {
            applier.Zero(zero.Offset, zero.Length);
        }
        foreach (var write in changes.Writes)
        {
            applier.Write(write.Offset, write.Data);
        }
        try
        {
            PlatformIo.Current.FlushToDisk(_handle);
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{Path}: syncing the edited image failed: {e.Message}; the redo log {RedoLogPath} completes the edit when the image is opened again", e) { Path = Path };
        }
        observer?.Invoke(new CommitProgress(CommitStage.Applied, total, total));
        RedoLog.Delete(RedoLogPath);
    }

    /// <summary>An image being built: the changes go straight in (see <see cref="OverNewImage"/>).</summary>
    private void ApplyUnlogged(EditChanges changes, Action<CommitProgress>? observer)
    {
        var total = changes.Writes.Count + changes.Zeroes.Count;
        var applier = new Applier(this, observer, total);
        foreach (var zero in changes.Zeroes)
        {
            applier.Zero(zero.Offset, zero.Length);
        }
        foreach (var write in changes.Writes)
        {
            applier.Write(write.Offset, write.Data);
        }
        observer?.Invoke(new CommitProgress(CommitStage.Applied, total, total));
    }

    /// <summary>Writes into the file at the filesystem's base offset; zeroes by punching holes, or without allocating what is already zero.</summary>
    private sealed class Applier(EditableImage image, Action<CommitProgress>? observer, int total) : IEditApplier
    {
        private const int Chunk = 1 << 16;
        private const int Piece = 4096;
        private int _done;

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            Check(offset, data.Length);
            try
            {
                RandomAccess.Write(image._handle, data, image.BaseOffset + offset);
            }
            catch (IOException e)
            {
                throw Failed(e);
            }
            Step();
        }

        /// <summary>
        /// Makes a range read as zeros: a regular file gets a hole punched (the image gets sparser), a device
        /// whose hardware zeroes cheaply gets BLKZEROOUT. Otherwise pieces that already read as zeros are left
        /// alone (in a sparse image they are holes, and writing zeros there would allocate them) and the rest
        /// are overwritten, so the image never gets less sparse.
        /// </summary>
        public void Zero(long offset, long length)
        {
            Check(offset, length);
            var platform = PlatformIo.Current;
            if (platform.ZeroesCheaply(image._handle, image._kind) && platform.TryZeroRange(image._handle, image._kind, image.BaseOffset + offset, length))
            {
                Step();
                return;
            }
            var buffer = new byte[Chunk];
            var zeros = new byte[Chunk];
            try
            {
                for (long done = 0; done < length;)
                {
                    var n = (int)Math.Min(Chunk, length - done);
                    var at = image.BaseOffset + offset + done;
                    var read = RandomAccess.Read(image._handle, buffer.AsSpan(0, n), at);
                    for (var p = 0; p < n; p += Piece)
                    {
                        var size = Math.Min(Piece, n - p);
                        var piece = buffer.AsSpan(p, Math.Min(size, Math.Max(0, read - p)));
                        if (piece.IndexOfAnyExcept((byte)0) >= 0)
                        {
                            RandomAccess.Write(image._handle, zeros.AsSpan(0, size), at + p);
                        }
                    }
                    done += n;
                }
            }
            catch (IOException e)
            {
                throw Failed(e);
            }
            Step();
        }

        private void Check(long offset, long length)
        {
            if (offset < 0 || length < 0 || offset + length > image.Length)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage, $"{image.Description}: an edit of {length} bytes at {offset} lies outside the filesystem's {image.Length} bytes");
            }
        }

        private void Step()
        {
            _done++;
            observer?.Invoke(new CommitProgress(CommitStage.Applying, _done, total));
        }

        private ImageToolsException Failed(IOException e) => image.RedoLogPath == null
            ? new(ErrorKind.WriteFailed, $"{image.Path}: writing the edit failed: {e.Message}", e) { Path = image.Path }
            : new(ErrorKind.WriteFailed, $"{image.Path}: writing the edit failed: {e.Message}; the redo log {image.RedoLogPath} completes it when the image is opened again", e) { Path = image.Path };
    }

    public void Dispose()
    {
        if (_ownsHandle)
        {
            _handle.Dispose();
        }
    }
}

/// <summary>A read-only stream over a window of an open file handle (positioned reads; no shared file position).</summary>
internal sealed class HandleWindowStream(SafeFileHandle handle, long offset, long length) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset1, int count) => Read(buffer.AsSpan(offset1, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= length || buffer.IsEmpty)
        {
            return 0;
        }
        var n = RandomAccess.Read(handle, buffer[..(int)Math.Min(buffer.Length, length - _position)], offset + _position);
        _position += n;
        return n;
    }

    public override long Seek(long delta, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => delta,
            SeekOrigin.Current => _position + delta,
            SeekOrigin.End => length + delta,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset1, int count) => throw new NotSupportedException();
}
