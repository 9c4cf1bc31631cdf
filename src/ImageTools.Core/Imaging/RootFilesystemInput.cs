using ImageTools.Core.Platform;
using System.Text;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Imaging;

/// <summary>What fsmaker's ROOTIMAGE is.</summary>
public enum RootInputKind
{
    /// <summary>An ext2/3/4 filesystem image (or a block device holding one), possibly compressed: copied bit for bit.</summary>
    FilesystemImage,

    /// <summary>A directory tree: built into a new filesystem by the ext writer.</summary>
    Directory,

    /// <summary>A tar archive (possibly compressed): built into a new filesystem by the ext writer.</summary>
    TarArchive,
}

/// <summary>
/// ROOTIMAGE identified by its content, never by its name: a directory, an ext2/3/4 image (compressed or
/// not: the superblock is read through the decompressor), a tar archive (compressed or not), or anything
/// else, which is refused with a message saying what it is (an ISO, a whole disk, a qcow2 image...) using
/// the inspector's probes.
/// </summary>
public sealed record RootFilesystemInput
{
    public required string Path { get; init; }

    public required RootInputKind Kind { get; init; }

    /// <summary>The compression of the file (None for a directory or a plain file).</summary>
    public CompressionFormat Compression { get; init; }

    /// <summary>For an image: its superblock.</summary>
    public Superblock? Superblock { get; init; }

    /// <summary>For an image: the filesystem's size (blocks × block size), which is what is copied.</summary>
    public long FilesystemBytes { get; init; }

    /// <summary>For an uncompressed image: the file's (or device's) size; null when compressed.</summary>
    public long? ImageBytes { get; init; }

    /// <summary>"ext2", "ext3" or "ext4" for an image.</summary>
    public string? FilesystemType { get; init; }

    /// <summary>How many leading bytes are looked at (the inspector's probes want this many).</summary>
    private const int HeadLength = KnownSignatures.ProbeLength;

    /// <summary>Identifies <paramref name="path"/>; throws with what it is when it is not a usable root.</summary>
    public static RootFilesystemInput Identify(string path)
    {
        if (System.IO.Directory.Exists(path))
        {
            return new RootFilesystemInput { Path = path, Kind = RootInputKind.Directory };
        }
        var identity = Platform.PlatformIo.Current.Identify(path, ErrorKind.SourceUnreadable, "ROOTIMAGE");
        switch (identity.Kind)
        {
            case Platform.FileKind.Missing:
                throw new ImageToolsException(ErrorKind.NotFound, $"ROOTIMAGE {path}: no such file or directory") { Path = path };
            case Platform.FileKind.Pipe or Platform.FileKind.CharacterDevice or Platform.FileKind.Socket:
                // A stream cannot be looked at without consuming it: only a tar archive can be built from one
                // (the archive reader says so if it is not one).
                return new RootFilesystemInput { Path = path, Kind = RootInputKind.TarArchive };
        }

        byte[] head;
        CompressionFormat compression;
        long? imageBytes;
        using (var file = ImageFile.OpenRead(path))
        {
            imageBytes = file.Length;
            head = ReadHead(file, path);
            compression = Streams.Compression.Detect(head);
            if (compression == CompressionFormat.None)
            {
                return FromHead(path, head, compression, imageBytes, file);
            }
        }
        // Compressed: look at the start of what it decompresses to (the rest is streamed later).
        using (var raw = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16))
        using (var unpacked = Streams.Compression.OpenDecompressor(raw, compression))
        {
            try
            {
                var buffer = new byte[HeadLength];
                var n = unpacked.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                head = buffer[..n];
            }
            catch (Exception e) when (e is InvalidDataException or IOException or SharpCompress.Common.SharpCompressException or ZstdSharp.ZstdException or InvalidOperationException)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"ROOTIMAGE {path}: it is {Streams.Compression.NameOf(compression)}-compressed but does not decompress: {e.Message}", e) { Path = path };
            }
        }
        return FromHead(path, head, compression, null, null);
    }

    private static RootFilesystemInput FromHead(string path, byte[] head, CompressionFormat compression, long? imageBytes, Stream? seekable)
    {
        var compressed = compression == CompressionFormat.None ? "" : $" ({Streams.Compression.NameOf(compression)}-compressed)";
        if (HasExtMagic(head))
        {
            var sb = Superblock.Read(head.AsSpan(Superblock.PrimaryOffset, Superblock.Size));
            var kind = ExtFeatureSupport.Classify(sb);
            if (kind == ExtKind.JournalDevice)
            {
                throw new ImageToolsException(ErrorKind.WrongInputKind,
                    $"ROOTIMAGE {path}{compressed} is an external ext3/ext4 journal device (feature journal_dev), not a filesystem") { Path = path };
            }
            sb.Validate($"ROOTIMAGE {path}{compressed}", imageBytes);
            var fsBytes = checked((long)sb.BlocksCount * sb.BlockSize);
            if (imageBytes is long length && length < fsBytes)
            {
                throw new ImageToolsException(ErrorKind.CorruptImage,
                    $"ROOTIMAGE {path}: the ext filesystem in it is {fsBytes} bytes ({sb.BlocksCount} blocks of {sb.BlockSize}) but the image holds only {length}: it is truncated") { Path = path };
            }
            return new RootFilesystemInput
            {
                Path = path,
                Kind = RootInputKind.FilesystemImage,
                Compression = compression,
                Superblock = sb,
                FilesystemBytes = fsBytes,
                ImageBytes = imageBytes,
                FilesystemType = ExtFeatureSupport.NameOf(kind),
            };
        }
        if (IsTar(head))
        {
            return new RootFilesystemInput { Path = path, Kind = RootInputKind.TarArchive, Compression = compression };
        }
        throw new ImageToolsException(ErrorKind.WrongInputKind,
            $"ROOTIMAGE {path}{compressed} is {Describe(head, seekable, path)}; fsmaker needs an ext2/3/4 filesystem image, a directory or a tar archive of the root tree") { Path = path };
    }

    /// <summary>What the bytes are, in words, from the inspector's probes (the whole file when it can seek, else the first bytes).</summary>
    private static string Describe(byte[] head, Stream? seekable, string path)
    {
        ContentReport content;
        try
        {
            content = ImageInspector.InspectContent(seekable ?? new MemoryStream(head, writable: false), path, nesting: 1);
        }
        catch (ImageToolsException)
        {
            content = new ContentReport();
        }
        if (head.Length == 0)
        {
            return "empty";
        }
        if (content.Iso is { } iso)
        {
            return $"an ISO 9660 image (volume \"{iso.VolumeIdentifier}\"{(iso.Bootable ? ", El Torito bootable" : "")}), a CD/DVD image, not a root filesystem";
        }
        if (content.PartitionTable is { } table)
        {
            var parts = table.Partitions.Select(p => $"{p.Number}: {p.Content?.Formats.FirstOrDefault() ?? p.TypeName}");
            return $"a whole disk image with an {table.Scheme} partition table ({string.Join(", ", parts)}), not a root filesystem; " +
                   "give the root partition's filesystem (copy it out with dd or sparsecopy, or export its tree with fsmaker export)";
        }
        if (content.OtherFormat is { } other)
        {
            return other;
        }
        var hex = Convert.ToHexString(head.AsSpan(0, Math.Min(16, head.Length))).ToLowerInvariant();
        var spaced = string.Join(' ', Enumerable.Range(0, hex.Length / 2).Select(i => hex.Substring(i * 2, 2)));
        return content.Unrecognised?.Meaning is { } meaning
            ? $"{meaning} (first bytes {spaced})"
            : $"not a format fsmaker recognises (first bytes {spaced})";
    }

    private static byte[] ReadHead(Stream file, string path)
    {
        try
        {
            var head = new byte[(int)Math.Min(HeadLength, file.Length)];
            file.Position = 0;
            file.ReadExactly(head);
            return head;
        }
        catch (IOException e)
        {
            throw new ImageToolsException(ErrorKind.SourceUnreadable, $"ROOTIMAGE {path}: cannot read it: {e.Message}", e) { Path = path };
        }
    }

    private static bool HasExtMagic(ReadOnlySpan<byte> head)
    {
        const int magicOffset = Superblock.PrimaryOffset + 0x38;
        return head.Length >= Superblock.PrimaryOffset + Superblock.Size && head[magicOffset] == 0x53 && head[magicOffset + 1] == 0xEF;
    }

    /// <summary>POSIX ustar and GNU tar headers carry "ustar" at offset 257 of the first 512-byte header.</summary>
    private static bool IsTar(ReadOnlySpan<byte> head) =>
        head.Length >= 512 && head.Slice(257, 5).SequenceEqual("ustar"u8);

    public override string ToString() => Kind switch
    {
        RootInputKind.Directory => $"directory {Path}",
        RootInputKind.TarArchive => $"tar archive {Path}" + (Compression == CompressionFormat.None ? "" : $" ({Streams.Compression.NameOf(Compression)})"),
        _ => $"{FilesystemType} image {Path}" + (Compression == CompressionFormat.None ? "" : $" ({Streams.Compression.NameOf(Compression)})"),
    };

    /// <summary>The volume label of an image's filesystem, for messages.</summary>
    internal string Label => Superblock == null ? "" : Encoding.UTF8.GetString(Superblock.VolumeNameBytes).TrimEnd('\0');
}
