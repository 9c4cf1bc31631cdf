using System.Buffers.Binary;
using System.Security.Cryptography;
using ImageTools.Core.Platform;

namespace ImageTools.Core.Ext.Editor;

/// <summary>What a redo log says it applies to.</summary>
/// <param name="ImageLength">Length of the image file (or device) the edit was planned on.</param>
/// <param name="BaseOffset">Byte offset of the filesystem in it (the partition's start, or 0).</param>
/// <param name="FilesystemUuid">s_uuid of the filesystem, which no edit changes.</param>
public sealed record RedoLogHeader(long ImageLength, long BaseOffset, byte[] FilesystemUuid);

/// <summary>
/// The redo log that makes applying an edit crash-safe: every byte the edit will write and every range it
/// will zero, with what it applies to, sealed by a SHA-256 trailer. It is written beside the image as
/// <c>NAME.partial</c>, forced to disk, then renamed to its final name and the directory synced: from that
/// moment the edit is committed. Applying it is idempotent (it holds absolute contents, never
/// increments), so an interrupted application is completed by applying the log again; only then is the log
/// deleted. A log that never got its final name (or whose trailer does not verify) was never committed:
/// the image was not touched, and the log is discarded.
/// <code>
/// header   "IMAGETOOLS-REDO\n" (16) | version u32 = 1 | reserved u32 | image length i64 | base offset i64
///          | filesystem UUID (16) | record count i64
/// record   kind u8 (1 write, 2 zero) | 7 bytes 0 | offset i64 | length i64 | data (writes only)
/// trailer  "END-REDO" (8) | SHA-256 of everything before it (32)
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
    private const uint Version = 1;
    private const int HeaderSize = 16 + 4 + 4 + 8 + 8 + 16 + 8;
    private const int RecordHeaderSize = 1 + 7 + 8 + 8;
    private const int TrailerSize = 8 + 32;
    private const byte KindWrite = 1;
    private const byte KindZero = 2;

    /// <summary>Writes and commits the log at <paramref name="path"/> (via PATH.partial, fsync, rename, directory fsync).</summary>
    public static void Write(string path, RedoLogHeader header, EditChanges changes)
    {
        var partial = path + PartialSuffix;
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
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

    /// <summary>
    /// Checks a committed log and returns its header; throws <see cref="ErrorKind.CorruptImage"/> when it is
    /// damaged (a committed log is never damaged unless the disk is: the user must decide what to do).
    /// </summary>
    public static RedoLogHeader ReadHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Verify(file, path);
        file.Position = 0;
        var head = new byte[HeaderSize];
        file.ReadExactly(head);
        return new RedoLogHeader(
            BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(24)),
            BinaryPrimitives.ReadInt64LittleEndian(head.AsSpan(32)),
            head.AsSpan(40, 16).ToArray());
    }

    /// <summary>Applies every record of a committed (verified) log through <paramref name="apply"/>, streaming the data.</summary>
    public static void Replay(string path, IEditApplier apply)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Verify(file, path);
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
            for (long done = 0; done < length;)
            {
                var n = (int)Math.Min(buffer.Length, length - done);
                file.ReadExactly(buffer.AsSpan(0, n));
                apply.Write(offset + done, buffer.AsSpan(0, n));
                done += n;
            }
        }
    }

    private static void Verify(FileStream file, string path)
    {
        ImageToolsException Bad(string why) =>
            new(ErrorKind.CorruptImage, $"{path}: the redo log of an interrupted edit is damaged ({why}); the image may be half edited: "
                + "restore it from a copy, or delete the log if the image is known to be intact") { Path = path };

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
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
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
        if (!trailer.AsSpan(0, 8).SequenceEqual(TrailerMagic) || !trailer.AsSpan(8).SequenceEqual(hash.GetHashAndReset()))
        {
            throw Bad("its checksum does not match");
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
