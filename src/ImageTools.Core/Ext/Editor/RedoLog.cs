using System.Buffers.Binary;
using System.Security.Cryptography;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Ext.Editor;

/// <summary>What a redo log says it applies to.</summary>
/// <param name="ImageLength">Length of the image file (or device) the edit was planned on.</param>
/// <param name="BaseOffset">Byte offset of the filesystem in it (the partition's start, or 0).</param>
/// <param name="FilesystemUuid">s_uuid of the filesystem, which no edit changes.</param>
/// <param name="ImageInode">The image file's inode number (0 where the OS has none): the log is for that file, not a copy.</param>
public sealed record RedoLogHeader(long ImageLength, long BaseOffset, byte[] FilesystemUuid, ulong ImageInode = 0);

/// <summary>
/// The redo log that makes applying an edit crash-safe: every byte the edit will write and every range it
/// will zero, with what it applies to, sealed by a keyed hash. It is written beside the image as
/// <c>NAME.partial</c>, forced to disk, then renamed to its final name and the directory synced: from that
/// moment the edit is committed. Applying it is idempotent (it holds absolute contents, never
/// increments), so an interrupted application is completed by applying the log again; only then is the log
/// deleted. A log that never got its final name was never committed: the image was not touched, and the log
/// is discarded.
/// <para><b>Only a log this program wrote for this image is ever replayed</b> (a log beside an image in a shared
/// folder could have been planted by another user to write into the image). Before anything is applied:
/// the log must be a regular file (not a link) owned by the image's owner or by the user running the program,
/// writable by nobody else; its trailer must be an HMAC-SHA256 under the running user's own redo-log key
/// (<see cref="RedoLogKey"/>, a random secret in a file only that user can read), which nobody else can
/// compute; its header must name this image (file length, filesystem offset and UUID, inode number); and
/// every 512-byte sector it writes must hold either what the edit found there when it was planned (a
/// truncated SHA-256 of it is in the log) or what the edit writes: an image changed since (or another image)
/// is refused, not overwritten.</para>
/// <code>
/// header   "IMAGETOOLS-REDO\n" (16) | version u32 = 2 | reserved u32 | image length i64 | base offset i64
///          | filesystem UUID (16) | record count i64 | image inode u64
/// record   kind u8 (1 write, 2 zero) | 7 bytes 0 | offset i64 | length i64
///          | writes only: per 512-byte sector, the first 16 bytes of SHA-256 of its content before the edit
///            (with the ranges the log zeroes read as zeros) | data
/// trailer  "END-REDO" (8) | HMAC-SHA256 of everything before it under the user's redo-log key (32)
/// </code>
/// All numbers little-endian; offsets are relative to the filesystem (add the base offset for the file).
/// </summary>
public static class RedoLog
{
    /// <summary>What is appended to an image's path to name its redo log.</summary>
    public const string Suffix = ".imagetools-redo";

    private const string PartialSuffix = ".partial";
    private static readonly byte[] Magic = "IMAGETOOLS-REDO\n"u8.ToArray();
    private static readonly byte[] TrailerMagic = "END-REDO"u8.ToArray();
    private const uint Version = 2;
    private const int HeaderSize = 16 + 4 + 4 + 8 + 8 + 16 + 8 + 8;
    private const int RecordHeaderSize = 1 + 7 + 8 + 8;
    private const int TrailerSize = 8 + 32;
    private const byte KindWrite = 1;
    private const byte KindZero = 2;

    /// <summary>The unit whose state before the edit is recorded (a disk sector: what a torn write can leave).</summary>
    public const int SectorSize = 512;

    /// <summary>Bytes of SHA-256 kept per sector.</summary>
    private const int SectorHashSize = 16;

    /// <summary>Reads the image's current bytes at a filesystem offset (for the state-before-the-edit hashes).</summary>
    public delegate void CurrentReader(long offset, Span<byte> into);

    /// <summary>A new log's text for <paramref name="path"/>'s refusal messages: how to get rid of a log that is not to be replayed.</summary>
    public static string HowToDiscard(string path) =>
        $"if no edit of this image by ImageTools was interrupted, delete the log ('rm -- {path}') and check the image (e2fsck -fn); "
        + "if one was, run the same command again as the same user";

    /// <summary>Writes and commits the log at <paramref name="path"/> (via PATH.partial, fsync, rename, directory fsync).</summary>
    public static void Write(string path, RedoLogHeader header, EditChanges changes, CurrentReader readCurrent) =>
        Write(path, header, changes, readCurrent, RedoLogKey.Get(create: true)!);

    /// <summary>Writes a log sealed with <paramref name="key"/> (tests use it to forge a log under another key).</summary>
    internal static void Write(string path, RedoLogHeader header, EditChanges changes, CurrentReader readCurrent, byte[] key)
    {
        var zeroes = changes.Zeroes.OrderBy(z => z.Offset).ToArray();
        var partial = path + PartialSuffix;
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            if (File.Exists(partial) || Directory.Exists(partial))
            {
                File.Delete(partial);
            }
            var create = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16,
            };
            if (!OperatingSystem.IsWindows())
            {
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var file = new FileStream(partial, create))
            using (var hash = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key))
            {
                void Put(ReadOnlySpan<byte> bytes)
                {
                    file.Write(bytes);
                    hash.AppendData(bytes);
                }
                var head = new byte[HeaderSize];
                Magic.CopyTo(head, 0);
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(16), Version);
                BinaryPrimitives.WriteInt64LittleEndian(head.AsSpan(24), header.ImageLength);
                BinaryPrimitives.WriteInt64LittleEndian(head.AsSpan(32), header.BaseOffset);
                header.FilesystemUuid.AsSpan(0, 16).CopyTo(head.AsSpan(40));
                BinaryPrimitives.WriteInt64LittleEndian(head.AsSpan(56), changes.Writes.Count + changes.Zeroes.Count);
                BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(64), header.ImageInode);
                Put(head);
                var record = new byte[RecordHeaderSize];
                foreach (var zero in changes.Zeroes)
                {
                    record.AsSpan().Clear();
                    record[0] = KindZero;
                    BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(8), zero.Offset);
                    BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(16), zero.Length);
                    Put(record);
                }
                foreach (var write in changes.Writes)
                {
                    record.AsSpan().Clear();
                    record[0] = KindWrite;
                    BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(8), write.Offset);
                    BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(16), write.Data.Length);
                    Put(record);
                    Put(SectorHashes(write.Offset, write.Data.Length, zeroes, readCurrent));
                    Put(write.Data);
                }
                file.Write(TrailerMagic);
                file.Write(hash.GetHashAndReset());
                file.Flush();
                PlatformIo.Current.FlushToDisk(file.SafeFileHandle);
            }
            File.Move(partial, path, overwrite: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(partial);
            throw new ImageToolsException(ErrorKind.WriteFailed, $"{path}: cannot write the redo log beside the image: {e.Message}", e) { Path = path };
        }
        DurableFiles.FlushDirectory(directory);
    }

    /// <summary>Truncated SHA-256 of each sector of [offset, offset + length) as it reads now, with the log's zeroed ranges as zeros.</summary>
    private static byte[] SectorHashes(long offset, int length, ByteRange[] zeroes, CurrentReader readCurrent)
    {
        var sectors = (length + SectorSize - 1) / SectorSize;
        var hashes = new byte[sectors * SectorHashSize];
        var current = new byte[length];
        readCurrent(offset, current);
        ClearZeroed(offset, current, zeroes);
        Span<byte> digest = stackalloc byte[32];
        for (var i = 0; i < sectors; i++)
        {
            var piece = current.AsSpan(i * SectorSize, Math.Min(SectorSize, length - i * SectorSize));
            SHA256.HashData(piece, digest);
            digest[..SectorHashSize].CopyTo(hashes.AsSpan(i * SectorHashSize));
        }
        return hashes;
    }

    /// <summary>Clears the bytes of <paramref name="data"/> (read at <paramref name="offset"/>) that a zero record covers.</summary>
    private static void ClearZeroed(long offset, Span<byte> data, ByteRange[] sortedZeroes)
    {
        var end = offset + data.Length;
        // The first zero range that could reach offset.
        int lo = 0, hi = sortedZeroes.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sortedZeroes[mid].End <= offset)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        for (var i = lo; i < sortedZeroes.Length && sortedZeroes[i].Offset < end; i++)
        {
            var from = Math.Max(offset, sortedZeroes[i].Offset);
            var to = Math.Min(end, sortedZeroes[i].End);
            if (to > from)
            {
                data.Slice((int)(from - offset), (int)(to - from)).Clear();
            }
        }
    }

    /// <summary>
    /// Refuses a committed log that is not certainly this program's, for this image (see the class summary):
    /// its owner and mode, then its keyed hash (which also proves it undamaged). <paramref name="imageOwner"/>
    /// is the image's owner, null where the OS has no owners.
    /// </summary>
    public static void CheckTrusted(string path, uint? imageOwner)
    {
        ImageToolsException Refuse(string why) =>
            new(ErrorKind.CorruptImage, $"{path}: refusing to replay this redo log: {why}; nothing was written. {HowToDiscard(path)}") { Path = path };

        if (FileMetadataReader.IsComplete)
        {
            var facts = FileMetadataReader.Get(path);
            if (facts.Kind != FileNodeKind.RegularFile)
            {
                throw Refuse($"it is a {facts.Kind}, not a regular file");
            }
            var me = FileMetadataReader.EffectiveUserId;
            if (facts.Uid != imageOwner && facts.Uid != me)
            {
                throw Refuse($"it belongs to user {facts.Uid}, neither the image's owner ({imageOwner}) nor you ({me}): another user may have put it there");
            }
            if ((facts.Permissions & 0x12) != 0)
            {
                throw Refuse($"others may write to it (mode {Convert.ToString(facts.Permissions & 0xFFF, 8)}): another user may have changed it");
            }
        }
        if (RedoLogKey.Get(create: false) is not { } key)
        {
            throw Refuse($"this user has no redo-log key ({RedoLogKey.Location ?? "no home directory"}), so the log was not written by ImageTools run as this user");
        }
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Verify(file, path, key);
    }

    /// <summary>
    /// Checks, before anything is applied, that every sector the log writes holds either its content before
    /// the edit or its content after: the image is the one the edit was planned on, perhaps half applied.
    /// </summary>
    public static void CheckState(string path, string description, CurrentReader readCurrent)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        file.Position = 0;
        var head = new byte[HeaderSize];
        file.ReadExactly(head);
        var count = BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(56));
        var record = new byte[RecordHeaderSize];
        var zeroes = new List<ByteRange>();
        var writes = new List<(long Offset, long Length, long HashAt)>();
        for (long i = 0; i < count; i++)
        {
            file.ReadExactly(record);
            var offset = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(8));
            var length = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(16));
            if (record[0] == KindZero)
            {
                zeroes.Add(new ByteRange(offset, length));
                continue;
            }
            writes.Add((offset, length, file.Position));
            file.Position += (length + SectorSize - 1) / SectorSize * SectorHashSize + length;
        }
        var sorted = zeroes.OrderBy(z => z.Offset).ToArray();
        Span<byte> digest = stackalloc byte[32];
        var storedHash = new byte[SectorHashSize];
        var after = new byte[SectorSize];
        var now = new byte[SectorSize];
        foreach (var (offset, length, hashAt) in writes)
        {
            var sectors = (length + SectorSize - 1) / SectorSize;
            for (long s = 0; s < sectors; s++)
            {
                var at = offset + s * SectorSize;
                var n = (int)Math.Min(SectorSize, length - s * SectorSize);
                file.Position = hashAt + s * SectorHashSize;
                file.ReadExactly(storedHash);
                file.Position = hashAt + sectors * SectorHashSize + s * SectorSize;
                file.ReadExactly(after.AsSpan(0, n));
                readCurrent(at, now.AsSpan(0, n));
                if (now.AsSpan(0, n).SequenceEqual(after.AsSpan(0, n)))
                {
                    continue;
                }
                ClearZeroed(at, now.AsSpan(0, n), sorted);
                SHA256.HashData(now.AsSpan(0, n), digest);
                if (!digest[..SectorHashSize].SequenceEqual(storedHash))
                {
                    throw new ImageToolsException(ErrorKind.CorruptImage,
                        $"{path}: refusing to replay this redo log: {description} at byte {at} of the filesystem holds neither what the logged edit found there nor what it writes "
                        + $"(the image was changed since, or the log is for another copy); nothing was written. {HowToDiscard(path)}") { Path = path };
                }
            }
        }
    }

    /// <summary>
    /// Checks a committed log and returns its header; throws <see cref="ErrorKind.CorruptImage"/> when it is
    /// damaged (a committed log is never damaged unless the disk is: the user must decide what to do).
    /// </summary>
    public static RedoLogHeader ReadHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var key = RedoLogKey.Get(create: false)
            ?? throw new ImageToolsException(ErrorKind.CorruptImage, $"{path}: refusing to replay this redo log: this user has no redo-log key; {HowToDiscard(path)}") { Path = path };
        Verify(file, path, key);
        file.Position = 0;
        var head = new byte[HeaderSize];
        file.ReadExactly(head);
        return new RedoLogHeader(
            BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(24)),
            BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(32)),
            head.AsSpan(40, 16).ToArray(),
            BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(64)));
    }

    /// <summary>Applies every record of a committed (verified) log through <paramref name="apply"/>, streaming the data.</summary>
    public static void Replay(string path, IEditApplier apply)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Verify(file, path, RedoLogKey.Get(create: false) ?? throw new InvalidOperationException("checked by CheckTrusted"));
        file.Position = 0;
        var head = new byte[HeaderSize];
        file.ReadExactly(head);
        var count = BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(56));
        var record = new byte[RecordHeaderSize];
        var buffer = new byte[1 << 16];
        for (long i = 0; i < count; i++)
        {
            file.ReadExactly(record);
            var offset = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(8));
            var length = BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(16));
            if (record[0] == KindZero)
            {
                apply.Zero(offset, length);
                continue;
            }
            file.Position += (length + SectorSize - 1) / SectorSize * SectorHashSize;
            for (long done = 0; done < length;)
            {
                var n = (int)Math.Min(buffer.Length, length - done);
                file.ReadExactly(buffer.AsSpan(0, n));
                apply.Write(offset + done, buffer.AsSpan(0, n));
                done += n;
            }
        }
    }

    private static void Verify(FileStream file, string path, byte[] key)
    {
        ImageToolsException Bad(string why) =>
            new(ErrorKind.CorruptImage, $"{path}: the redo log of an interrupted edit is damaged ({why}); the image may be half edited: "
                + "restore it from a copy, or delete the log if the image is known to be intact ('rm -- " + path + "', then e2fsck -fn the image)") { Path = path };

        if (file.Length < HeaderSize + TrailerSize)
        {
            throw Bad("too short");
        }
        var head = new byte[HeaderSize];
        file.ReadExactly(head);
        if (!head.AsSpan(0, 16).SequenceEqual(Magic) || BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(16)) != Version)
        {
            throw Bad("not a redo log of this version");
        }
        file.Position = 0;
        using var hash = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        var buffer = new byte[1 << 16];
        var body = file.Length - TrailerSize;
        for (long done = 0; done < body;)
        {
            var n = (int)Math.Min(buffer.Length, body - done);
            file.ReadExactly(buffer.AsSpan(0, n));
            hash.AppendData(buffer.AsSpan(0, n));
            done += n;
        }
        var trailer = new byte[TrailerSize];
        file.ReadExactly(trailer);
        if (!trailer.AsSpan(0, 8).SequenceEqual(TrailerMagic) || !CryptographicOperations.FixedTimeEquals(trailer.AsSpan(8), hash.GetHashAndReset()))
        {
            throw Bad("its keyed checksum does not match: it is damaged, or was not written by ImageTools run as this user");
        }
    }

    /// <summary>Deletes a committed log once its edit is on disk, and syncs the directory.</summary>
    public static void Delete(string path)
    {
        File.Delete(path);
        DurableFiles.FlushDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Removes an uncommitted PATH.partial left by a crash while the log was being written (the image was never touched).</summary>
    public static bool DiscardUncommitted(string path) => TryDelete(path + PartialSuffix);

    private static bool TryDelete(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
                return true;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return false;
    }
}

/// <summary>Something an edit's bytes are applied to (the image file, through its base offset).</summary>
public interface IEditApplier
{
    void Write(long offset, ReadOnlySpan<byte> data);

    void Zero(long offset, long length);
}
